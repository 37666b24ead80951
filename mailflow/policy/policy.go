// Package policy is the desk's one table of who may change what. For every
// request kind it lists the states, the transitions between them, the
// party that may cause each one and the proof that party must give. The
// handlers, the scheduler and bulk registration ask the table before they
// move a request; nobody writes a state by hand. `madoguchi policy` prints
// it, and README's "Security model" is this table.
package policy

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/madoguchi/madoguchi/internal/store"
)

// Party is who causes a transition.
type Party string

const (
	// Anyone is whoever writes to the desk: a From header is only a claim.
	Anyone Party = "anyone"
	// Applicant is the address that opened the request, writing on its
	// thread (a signed form, the number of a provisional application).
	Applicant Party = "applicant"
	// Holder is the holder of an existing account, proved by an access
	// code mailed to the address on record coming back.
	Holder Party = "holder"
	// Operator is a configured operator address.
	Operator Party = "operator"
	// ProgramAdmin is a configured program administrator (bulk).
	ProgramAdmin Party = "program-admin"
	// Job is a scheduled job, by the clock.
	Job Party = "job"
)

// Proof is what the party must show for the transition to count.
type Proof string

const (
	// ProofNone: nothing; the transition changes no existing account.
	ProofNone Proof = "none"
	// ProofMX: an aligned dkim, spf or dmarc pass in the topmost
	// Authentication-Results header with our authserv-id.
	ProofMX Proof = "aligned pass in our MX's topmost Authentication-Results"
	// ProofCode: the access code mailed to the address on record (and
	// ID@domain) comes back on the request's thread.
	ProofCode Proof = "access code sent to the address on record comes back"
	// ProofNewAddress: a second code, mailed to the new address, comes back.
	ProofNewAddress Proof = "access code sent to the new address comes back"
	// ProofThread: the mail comes from the request's own address on its
	// thread (evidence the operators still check).
	ProofThread Proof = "from the request's address, on its thread"
	// ProofToken: the number mailed to the applicant's address comes back.
	ProofToken Proof = "number mailed to the applicant's address comes back"
	// ProofClock: the deadline passed.
	ProofClock Proof = "deadline passed"
)

// Event names what happens. Operator events are also the command verbs.
type Event string

const (
	Open              Event = "open"
	Register          Event = "register" // bulk registration: the account at once
	Approve           Event = "approve"
	Reject            Event = "reject"
	NeedDocuments     Event = "need-documents"
	DocumentsReceived Event = "documents-received" // by FAX, recorded by an operator
	DocumentsMailed   Event = "documents-mailed"   // a scan attached to a reply
	PhoneVerified     Event = "phone-verified"
	Cancel            Event = "cancel"
	CodeConfirmed     Event = "code-confirmed"
	AddressPending    Event = "address-pending" // the holder confirmed; the new address must too
	AddressConfirmed  Event = "address-confirmed"
	CodeLocked        Event = "code-locked"
	CodeExpired       Event = "code-expired"
	TokenConfirmed    Event = "token-confirmed"
	TokenExpired      Event = "token-expired"
	Conflict          Event = "conflict" // the change became impossible meanwhile (new ID taken)
	Expire            Event = "expire"
	Answer            Event = "answer"    // an operator's reply: sent to the asker
	FollowUp          Event = "follow-up" // the asker writes again on the thread
	Close             Event = "close"
)

// Request states. The store keeps them; the new ones live here.
const (
	StateNew                  = "" // before the request exists
	StateAwaitingDocuments    = store.StateAwaitingDocuments
	StateDocumentsReceived    = store.StateDocumentsReceived
	StateUnderReview          = store.StateUnderReview
	StateCodeSent             = store.StateCodeSent
	StateAwaitingNewAddress   = "awaiting_new_address"
	StateAwaitingAnswer       = "awaiting_answer" // an inquiry waits for an operator
	StateAnswered             = "answered"        // an operator answered; the asker may write again
	StateTokenSent            = store.StateTokenSent
	StateAwaitingVerification = store.StateAwaitingVerification
	StateVerified             = store.StateVerified
	StateApproved             = store.StateApproved
	StateRejected             = store.StateRejected
	StateExpired              = store.StateExpired
	StateCompleted            = store.StateCompleted
	StateLocked               = store.StateLocked
	StateCancelled            = store.StateCancelled
)

// Request kinds, as forms.Kind spells them.
const (
	KindNewID               = "new_id"
	KindPasswordReset       = "password_reset"
	KindOperatorReset       = "operator_reset"
	KindIndiceReset         = "indice_reset"
	KindRename              = "rename"
	KindAffiliation         = "affiliation"
	KindDeletion            = "deletion"         // by the holder, confirmed by a code
	KindDeletionByOther     = "deletion_other"   // by a third party, reviewed with documents
	KindAffiliationByForm   = "affiliation_form" // from an address not on record: a signed form operators check
	KindMerge               = "merge"
	KindHandover            = "handover"
	KindFacilityApplication = "facility_application"
	KindFacilityService     = "facility_service"
	KindInquiry             = "inquiry" // a question in free text, answered by an operator
)

// Transition is one row of the table.
type Transition struct {
	Kind   string
	From   string
	Event  Event
	To     string
	By     Party
	Proof  Proof
	Closes bool
	// Changes says what changes besides the state (an account, an
	// address); empty when only the request moves.
	Changes string
}

// signedForm is the life of a request that waits for a signed form and an
// operator's decision.
func signedForm(kind string, scan bool, approved string) []Transition {
	t := []Transition{
		{kind, StateNew, Open, StateAwaitingDocuments, Anyone, ProofNone, false, ""},
		{kind, StateAwaitingDocuments, DocumentsReceived, StateDocumentsReceived, Operator, ProofMX, false, ""},
		{kind, StateDocumentsReceived, NeedDocuments, StateAwaitingDocuments, Operator, ProofMX, false, ""},
		{kind, StateDocumentsReceived, Approve, StateApproved, Operator, ProofMX, true, approved},
		{kind, StateAwaitingDocuments, Reject, StateRejected, Operator, ProofMX, true, ""},
		{kind, StateDocumentsReceived, Reject, StateRejected, Operator, ProofMX, true, ""},
		{kind, StateAwaitingDocuments, Expire, StateExpired, Job, ProofClock, true, ""},
	}
	if scan {
		t = append(t, Transition{kind, StateAwaitingDocuments, DocumentsMailed, StateDocumentsReceived, Applicant, ProofThread, false, ""})
	}
	return t
}

// byCode is the life of a holder's change confirmed by an access code.
func byCode(kind, changes string) []Transition {
	return []Transition{
		{kind, StateNew, Open, StateCodeSent, Anyone, ProofNone, false, "a code to the address on record"},
		{kind, StateCodeSent, CodeConfirmed, StateCompleted, Holder, ProofCode, true, changes},
		{kind, StateCodeSent, CodeLocked, StateLocked, Holder, ProofMX, true, "the code is cleared"},
		{kind, StateCodeSent, CodeExpired, StateExpired, Job, ProofClock, true, "the code is cleared"},
	}
}

// reviewed is the life of a request operators decide without a form.
func reviewed(kind, approved string) []Transition {
	return []Transition{
		{kind, StateNew, Open, StateUnderReview, Anyone, ProofNone, false, ""},
		{kind, StateUnderReview, Approve, StateApproved, Operator, ProofMX, true, approved},
		{kind, StateUnderReview, Reject, StateRejected, Operator, ProofMX, true, ""},
	}
}

// Table returns every transition of every request kind.
func Table() []Transition {
	var t []Transition
	t = append(t, signedForm(KindNewID, true, "account created")...)
	t = append(t, Transition{KindNewID, StateNew, Register, StateApproved, ProgramAdmin, ProofMX, true, "account created (bulk registration)"})
	t = append(t, signedForm(KindOperatorReset, true, "general password replaced")...)
	t = append(t, signedForm(KindIndiceReset, false, "INDICE (and general) password replaced")...)
	t = append(t, signedForm(KindDeletionByOther, true, "account closed")...)
	t = append(t, byCode(KindPasswordReset, "general password replaced")...)
	t = append(t, byCode(KindRename, "ID renamed, old address forwarded")...)
	t = append(t, Transition{KindRename, StateCodeSent, Conflict, StateRejected, Holder, ProofCode, true, "new ID taken meanwhile"})
	t = append(t, byCode(KindDeletion, "account closed")...)
	t = append(t, byCode(KindAffiliation, "institution and department updated")...)
	t = append(t,
		Transition{KindAffiliation, StateCodeSent, AddressPending, StateAwaitingNewAddress, Holder, ProofCode, false, "institution and department updated; a code to the new address"},
		Transition{KindAffiliation, StateAwaitingNewAddress, AddressConfirmed, StateCompleted, Holder, ProofNewAddress, true, "registered address replaced"},
		Transition{KindAffiliation, StateAwaitingNewAddress, CodeExpired, StateExpired, Job, ProofClock, true, "the address stays as it was"},
	)
	t = append(t, signedForm(KindAffiliationByForm, true, "institution, department and registered address replaced")...)
	t = append(t, reviewed(KindMerge, "duplicate IDs closed into the one kept")...)
	t = append(t, reviewed(KindHandover, "holder of a non-personal ID replaced")...)
	t = append(t,
		Transition{KindFacilityApplication, StateNew, Open, StateTokenSent, Anyone, ProofNone, false, "a number to the applicant's address"},
		Transition{KindFacilityApplication, StateTokenSent, TokenConfirmed, StateAwaitingVerification, Applicant, ProofToken, false, ""},
		Transition{KindFacilityApplication, StateTokenSent, TokenExpired, StateExpired, Applicant, ProofThread, true, ""},
		Transition{KindFacilityApplication, StateAwaitingVerification, PhoneVerified, StateVerified, Operator, ProofMX, false, ""},
		Transition{KindFacilityApplication, StateVerified, Approve, StateApproved, Operator, ProofMX, true, "facility user created"},
		Transition{KindFacilityApplication, StateAwaitingVerification, Reject, StateRejected, Operator, ProofMX, true, ""},
		Transition{KindFacilityApplication, StateVerified, Reject, StateRejected, Operator, ProofMX, true, ""},
	)
	t = append(t, reviewed(KindFacilityService, "filing service started")...)
	t = append(t, Transition{KindFacilityService, StateUnderReview, Cancel, StateCancelled, Operator, ProofMX, true, "filing service cancelled"})
	// An inquiry changes no account: anyone may ask (operators get the
	// question with the asker's own requests), only the asker writes on
	// (operators get it again), and only what an operator writes below
	// "reply:" is mailed to the asker.
	t = append(t,
		Transition{KindInquiry, StateNew, Open, StateAwaitingAnswer, Anyone, ProofNone, false, ""},
		Transition{KindInquiry, StateAwaitingAnswer, Answer, StateAnswered, Operator, ProofMX, false, ""},
		Transition{KindInquiry, StateAnswered, Answer, StateAnswered, Operator, ProofMX, false, ""},
		Transition{KindInquiry, StateAnswered, FollowUp, StateAwaitingAnswer, Applicant, ProofThread, false, ""},
		Transition{KindInquiry, StateAwaitingAnswer, Close, StateCompleted, Operator, ProofMX, true, ""},
		Transition{KindInquiry, StateAnswered, Close, StateCompleted, Operator, ProofMX, true, ""},
	)
	return t
}

// Rules answers questions about the table; build it once with New.
type Rules struct {
	byKey map[key]Transition
	all   []Transition
}

type key struct {
	kind, from string
	event      Event
}

// New indexes the table.
func New() *Rules {
	r := &Rules{byKey: map[key]Transition{}, all: Table()}
	for _, t := range r.all {
		r.byKey[key{t.Kind, t.From, t.Event}] = t
	}
	return r
}

// ErrNotAllowed is returned for a move the table does not have, or whose
// proof the mail did not give.
type ErrNotAllowed struct {
	Kind, From string
	Event      Event
	// By and Missing are set when the move exists but its proof is missing.
	By      Party
	Missing Proof
}

func (e *ErrNotAllowed) Error() string {
	from := e.From
	if from == "" {
		from = "(new)"
	}
	if e.Missing != "" {
		return fmt.Sprintf("%s %s: %s needs %s (%s)", e.Kind, from, e.Event, e.By, e.Missing)
	}
	return fmt.Sprintf("%s: no %s from state %s", e.Kind, e.Event, from)
}

// Evidence says whether the mail in hand (or the job) proves that it
// comes from a party, in the way the table asks.
type Evidence interface {
	Gives(by Party, proof Proof) bool
}

// JobEvidence is what a scheduled job proves: the clock, nothing else.
type JobEvidence struct{}

// Gives implements Evidence.
func (JobEvidence) Gives(by Party, proof Proof) bool { return by == Job && proof == ProofClock }

// Move returns the transition of event on a request of kind in state
// from, when the evidence gives the proof the table asks for.
func (r *Rules) Move(kind, from string, event Event, ev Evidence) (Transition, error) {
	t, ok := r.byKey[key{kind, from, event}]
	if !ok {
		return Transition{}, &ErrNotAllowed{Kind: kind, From: from, Event: event}
	}
	if !ev.Gives(t.By, t.Proof) {
		return Transition{}, &ErrNotAllowed{Kind: kind, From: from, Event: event, Missing: t.Proof, By: t.By}
	}
	return t, nil
}

// Find returns the transition of event from a state, without a proof: for
// reports and the jobs' queries.
func (r *Rules) Find(kind, from string, event Event) (Transition, bool) {
	t, ok := r.byKey[key{kind, from, event}]
	return t, ok
}

// Commands lists the operator events valid on a request of kind in
// state, in the table's order, plus note, which is always valid.
func (r *Rules) Commands(kind, state string) []Event {
	var out []Event
	for _, t := range r.all {
		if t.Kind == kind && t.From == state && t.By == Operator {
			out = append(out, t.Event)
		}
	}
	return out
}

// Kinds lists the request kinds of the table.
func (r *Rules) Kinds() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range r.all {
		if !seen[t.Kind] {
			seen[t.Kind] = true
			out = append(out, t.Kind)
		}
	}
	return out
}

// Transitions lists the table.
func (r *Rules) Transitions() []Transition { return append([]Transition(nil), r.all...) }

// Print writes the table for people: one line a transition, grouped by
// kind.
func (r *Rules) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tFROM\tEVENT\tTO\tBY\tPROOF\tCHANGES")
	for _, t := range r.all {
		from, to := t.From, t.To
		if from == "" {
			from = "(new)"
		}
		if t.Closes {
			to += " (closed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Kind, from, t.Event, to, t.By, t.Proof, t.Changes)
	}
	return tw.Flush()
}

// Parties lists each party with the proof the desk asks of it, for the
// header of the printed policy.
func Parties() []string {
	p := []string{
		string(Anyone) + ": opens requests and asks questions; changes no existing account; is never told about someone else",
		string(Applicant) + ": the address that opened a request, on its thread (signed-form scans, the facility number)",
		string(Holder) + ": an account's holder, proved by an access code mailed to the address on record (and ID@domain) coming back",
		string(Operator) + ": a configured operator address, proved by an aligned dkim/spf/dmarc pass in the topmost Authentication-Results of our MX",
		string(ProgramAdmin) + ": a configured program administrator, proved as an operator",
		string(Job) + ": a scheduled job, by the clock",
	}
	sort.Strings(p)
	return p
}

// Describe is one transition in a line, for audit texts.
func (t Transition) Describe() string {
	from := t.From
	if from == "" {
		from = "(new)"
	}
	return strings.Join([]string{from, "->", t.To}, " ")
}

// KindOf is the table's kind of a stored request: a third party's
// deletion lives a life of its own (documents and review, no code).
// An affiliation change from an address not on record is proved by a
// signed form that operators check, not by a code.
func KindOf(r *store.Request) string {
	switch {
	case r.Kind == KindDeletion && r.Fields["requester"] == "other":
		return KindDeletionByOther
	case r.Kind == KindAffiliation && r.Fields["proof"] == "form":
		return KindAffiliationByForm
	}
	return r.Kind
}
