package desk

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// Every transition of the policy table, tried by every kind of sender
// with a real mail and a real database: the request's state changes only
// for the party and proof the table names. The expectations are written
// out per sender here, not derived from the code under test.
func TestEveryTransitionOnlyForItsParty(t *testing.T) {
	const (
		mx        = "mx.madoguchi.test"
		applicant = "taro@hosp.example"
		operator  = "ops@madoguchi.test"
		admin     = "admin@madoguchi.test"
	)
	ctx := context.Background()
	st, cfg := testStoreAndConfig(t, "program_administrators: ["+admin+"]\n")
	d := New(Options{Config: cfg, Store: st})
	pass := "Authentication-Results: " + mx + "; dkim=pass header.d="
	type gives map[policy.Party]map[policy.Proof]bool
	senders := []struct {
		name    string
		from    string
		headers []string
		checked proofs // what a handler proves after checking a code, number or clock
		gives   gives
	}{
		{"stranger", "stranger@else.example", nil, proofs{},
			gives{policy.Anyone: {policy.ProofNone: true}}},
		{"spoofed From of the applicant", applicant, nil, proofs{},
			gives{policy.Anyone: {policy.ProofNone: true}, policy.Applicant: {policy.ProofThread: true}}},
		{"forged operator", operator, []string{"Authentication-Results: " + mx + "; dkim=none; spf=fail", pass + "madoguchi.test"}, proofs{},
			gives{policy.Anyone: {policy.ProofNone: true}}},
		{"real operator", operator, []string{pass + "madoguchi.test"}, proofs{},
			gives{policy.Anyone: {policy.ProofNone: true}, policy.Operator: {policy.ProofMX: true}}},
		{"program administrator", admin, []string{pass + "madoguchi.test"}, proofs{},
			gives{policy.Anyone: {policy.ProofNone: true}, policy.ProgramAdmin: {policy.ProofMX: true}}},
		{"holder with the code", applicant, []string{pass + "hosp.example"}, proofs{code: true, newAddress: true, token: true},
			gives{policy.Anyone: {policy.ProofNone: true}, policy.Applicant: {policy.ProofThread: true, policy.ProofToken: true},
				policy.Holder: {policy.ProofCode: true, policy.ProofNewAddress: true, policy.ProofMX: true}}},
		{"holder's address, unproved, code checked", applicant, nil, proofs{code: true},
			gives{policy.Anyone: {policy.ProofNone: true}, policy.Applicant: {policy.ProofThread: true}, policy.Holder: {policy.ProofCode: true}}},
		{"the clock", applicant, nil, proofs{clock: true},
			gives{policy.Anyone: {policy.ProofNone: true}, policy.Applicant: {policy.ProofThread: true}, policy.Job: {policy.ProofClock: true}}},
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	seq := 0
	for _, s := range senders {
		raw := samples.Mail{From: s.from, Subject: "Re: walk", Body: "walk\n", Headers: s.headers}.Build()
		msg, err := message.Parse(bytes.NewReader(raw), message.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range d.rules.Transitions() {
			want := s.gives[tr.By][tr.Proof]
			err := st.Tx(ctx, func(tx *store.Tx) error {
				in := &inbound{tx: tx, now: now, msg: msg, from: s.from, fromRecord: s.from == applicant}
				in.proved, _ = d.mailProofs(msg, s.from)
				in.proved.code, in.proved.newAddress = s.checked.code, s.checked.newAddress
				in.proved.token, in.proved.clock = s.checked.token, s.checked.clock
				if tr.From == policy.StateNew {
					_, err := d.rules.Move(tr.Kind, tr.From, tr.Event, in)
					if allowed := err == nil; allowed != want {
						t.Errorf("%s: %s %s allowed %v, want %v (%v)", s.name, tr.Kind, tr.Event, allowed, want, err)
					}
					return nil
				}
				seq++
				req := &store.Request{Reference: fmt.Sprintf("MDG-2026-%06d", seq), Kind: tr.Kind, State: tr.From,
					Applicant: applicant, Lang: "ja", Fields: map[string]string{}, CreatedAt: now}
				switch tr.Kind {
				case policy.KindDeletionByOther:
					req.Kind, req.Fields["requester"] = policy.KindDeletion, "other"
				case policy.KindAffiliationByForm:
					req.Kind, req.Fields["proof"] = policy.KindAffiliation, "form"
				}
				if err := tx.CreateRequest(req); err != nil {
					return err
				}
				in.request, in.requestID = req, req.ID
				moveErr := d.move(in, tr.Event, s.from, "walk")
				stored, err := tx.RequestByID(req.ID)
				if err != nil {
					return err
				}
				wantState := tr.From
				if want {
					wantState = tr.To
				}
				if stored.State != wantState {
					t.Errorf("%s: %s %s -%s-> state %s, want %s (%v)", s.name, tr.Kind, tr.From, tr.Event, stored.State, wantState, moveErr)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}
