package desk

import (
	"strings"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/authresults"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// proofs are what the mail in hand has proved, set as the desk learns it.
// The policy table decides which proof each transition needs; nothing here
// is set from a header alone.
type proofs struct {
	// operator: a configured operator address with an aligned pass in our
	// MX's topmost Authentication-Results.
	operator bool
	// admin: a program administrator, proved the same way.
	admin bool
	// sender: the From address itself has an aligned pass from our MX.
	sender bool
	// code: the access code mailed to the address on record came back.
	code bool
	// newAddress: the code mailed to a new address came back.
	newAddress bool
	// token: the facility number mailed to the applicant came back.
	token bool
	// clock: a deadline passed (a late reply finds its code run out).
	clock bool
}

// mailProofs is what a mail proves of its sender by itself: our MX's
// verdict on the From address, and so whether a configured operator or
// program administrator wrote it. Codes and numbers are proved later, by
// the handler that checks them.
func (d *Desk) mailProofs(m *message.Message, from string) (proofs, authresults.Verdict) {
	v := d.senderVerdict(m)
	return proofs{
		sender:   v.Pass,
		operator: v.Pass && d.cfg.IsOperator(from),
		admin:    v.Pass && d.cfg.IsProgramAdministrator(from),
	}, v
}

// Gives implements policy.Evidence for the mail in hand.
func (in *inbound) Gives(by policy.Party, p policy.Proof) bool {
	switch {
	case by == policy.Anyone && p == policy.ProofNone:
		return true
	case by == policy.Operator && p == policy.ProofMX:
		return in.proved.operator
	case by == policy.ProgramAdmin && p == policy.ProofMX:
		return in.proved.admin
	case by == policy.Holder && p == policy.ProofCode:
		return in.proved.code
	case by == policy.Holder && p == policy.ProofNewAddress:
		return in.proved.newAddress
	case by == policy.Holder && p == policy.ProofMX:
		// A wrong code counts against the holder only from an address
		// proved to be the holder's.
		return in.proved.sender && in.fromRecord
	case by == policy.Applicant && p == policy.ProofThread:
		return in.request != nil && strings.EqualFold(in.from, in.request.Applicant)
	case by == policy.Applicant && p == policy.ProofToken:
		return in.proved.token
	case by == policy.Job && p == policy.ProofClock:
		return in.proved.clock
	}
	return false
}

// policyKind is the table's kind of a request.
func policyKind(r *store.Request) string { return policy.KindOf(r) }
