package policy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// evidence gives exactly one party's proof.
type evidence struct {
	by    Party
	proof Proof
}

func (e evidence) Gives(by Party, p Proof) bool { return by == e.by && p == e.proof }

// The table is whole: every kind can be opened, every state it names can
// be reached, a closed state leads nowhere, and no move is listed twice.
func TestTableIsWhole(t *testing.T) {
	r := New()
	seen := map[key]bool{}
	reached := map[string]map[string]bool{}
	closing := map[string]map[string]bool{}
	for _, tr := range r.Transitions() {
		k := key{tr.Kind, tr.From, tr.Event}
		if seen[k] {
			t.Errorf("%s %q %s listed twice", tr.Kind, tr.From, tr.Event)
		}
		seen[k] = true
		if reached[tr.Kind] == nil {
			reached[tr.Kind], closing[tr.Kind] = map[string]bool{StateNew: true}, map[string]bool{}
		}
		reached[tr.Kind][tr.To] = true
		if tr.Closes {
			closing[tr.Kind][tr.To] = true
		}
		if tr.Proof == ProofNone && tr.By != Anyone {
			t.Errorf("%s %s by %s needs no proof", tr.Kind, tr.Event, tr.By)
		}
		if tr.By == Anyone && tr.Event != Open {
			t.Errorf("%s: anyone may cause %s, which changes an existing request", tr.Kind, tr.Event)
		}
	}
	for _, tr := range r.Transitions() {
		if !reached[tr.Kind][tr.From] {
			t.Errorf("%s: state %s has moves but nothing leads to it", tr.Kind, tr.From)
		}
		if closing[tr.Kind][tr.From] {
			t.Errorf("%s: closed state %s has a move %s", tr.Kind, tr.From, tr.Event)
		}
	}
	for _, kind := range r.Kinds() {
		_, open := r.Find(kind, StateNew, Open)
		_, register := r.Find(kind, StateNew, Register)
		if !open && !register {
			t.Errorf("%s cannot be opened", kind)
		}
	}
}

// Every change to an existing account needs an operator proved by our MX
// or the holder proved by a code; nothing else changes one.
func TestAccountChangesNeedProof(t *testing.T) {
	for _, tr := range New().Transitions() {
		if tr.Changes == "" || tr.Event == Open || tr.By == Job {
			continue
		}
		ok := (tr.By == Operator || tr.By == ProgramAdmin) && tr.Proof == ProofMX ||
			tr.By == Holder && (tr.Proof == ProofCode || tr.Proof == ProofNewAddress || tr.Proof == ProofMX && tr.To == StateLocked)
		if !ok {
			t.Errorf("%s %s -> %s changes %q on %s's word with %q", tr.Kind, tr.From, tr.To, tr.Changes, tr.By, tr.Proof)
		}
	}
}

// Move gives a transition only to the evidence the table asks for.
func TestMoveAsksForTheProof(t *testing.T) {
	r := New()
	for _, tc := range []struct {
		kind, from string
		event      Event
		ev         evidence
		want       string // "" when refused
	}{
		{KindNewID, StateDocumentsReceived, Approve, evidence{Operator, ProofMX}, StateApproved},
		{KindNewID, StateDocumentsReceived, Approve, evidence{Anyone, ProofNone}, ""},
		{KindNewID, StateDocumentsReceived, Approve, evidence{Applicant, ProofThread}, ""},
		{KindNewID, StateAwaitingDocuments, Approve, evidence{Operator, ProofMX}, ""}, // no such move
		{KindNewID, StateAwaitingDocuments, DocumentsMailed, evidence{Applicant, ProofThread}, StateDocumentsReceived},
		{KindIndiceReset, StateAwaitingDocuments, DocumentsMailed, evidence{Applicant, ProofThread}, ""}, // FAX only
		{KindPasswordReset, StateCodeSent, CodeConfirmed, evidence{Holder, ProofCode}, StateCompleted},
		{KindPasswordReset, StateCodeSent, CodeConfirmed, evidence{Holder, ProofMX}, ""},
		{KindPasswordReset, StateCodeSent, CodeLocked, evidence{Holder, ProofMX}, StateLocked},
		{KindPasswordReset, StateCodeSent, CodeLocked, evidence{Anyone, ProofNone}, ""},
		{KindAffiliation, StateAwaitingNewAddress, AddressConfirmed, evidence{Holder, ProofCode}, ""},
		{KindAffiliation, StateAwaitingNewAddress, AddressConfirmed, evidence{Holder, ProofNewAddress}, StateCompleted},
		{KindNewID, StateNew, Register, evidence{ProgramAdmin, ProofMX}, StateApproved},
		{KindNewID, StateNew, Register, evidence{Operator, ProofMX}, ""},
		{KindNewID, StateAwaitingDocuments, Expire, JobEvidence{}.as(), StateExpired},
	} {
		got, err := r.Move(tc.kind, tc.from, tc.event, tc.ev)
		var na *ErrNotAllowed
		switch {
		case tc.want == "" && !errors.As(err, &na):
			t.Errorf("%s %s %s by %v: allowed (%+v), want refused", tc.kind, tc.from, tc.event, tc.ev, got)
		case tc.want != "" && (err != nil || got.To != tc.want):
			t.Errorf("%s %s %s by %v: %v %v, want %s", tc.kind, tc.from, tc.event, tc.ev, got.To, err, tc.want)
		}
	}
}

func (JobEvidence) as() evidence { return evidence{Job, ProofClock} }

// Commands lists what an operator may do in a state, for the notices.
func TestCommands(t *testing.T) {
	r := New()
	for _, tc := range []struct {
		kind, state string
		want        string
	}{
		{KindNewID, StateAwaitingDocuments, "documents-received reject"},
		{KindNewID, StateDocumentsReceived, "need-documents approve reject"},
		{KindFacilityApplication, StateAwaitingVerification, "phone-verified reject"},
		{KindFacilityService, StateUnderReview, "approve reject cancel"},
		{KindPasswordReset, StateCodeSent, ""},
	} {
		var got []string
		for _, e := range r.Commands(tc.kind, tc.state) {
			got = append(got, string(e))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("Commands(%s, %s) = %v, want %s", tc.kind, tc.state, got, tc.want)
		}
	}
}

func TestPrintNamesEveryKind(t *testing.T) {
	var b bytes.Buffer
	r := New()
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, k := range r.Kinds() {
		if !strings.Contains(b.String(), k) {
			t.Errorf("printed policy lacks %s", k)
		}
	}
}
