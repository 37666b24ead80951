package bulk

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// CommitOptions say who registers and when.
type CommitOptions struct {
	Now             time.Time      // UTC
	Actor           string         // the administrator's address, or "cli:USER"
	ReferencePrefix string         // e.g. "MDG"
	Location        *time.Location // desk time zone: the year of the references; default UTC
	// ActiveAfter is when the password becomes usable after the import;
	// default 7 days, as for an approved application (seed 001).
	ActiveAfter time.Duration
	Lang        string // of the requests created; default "ja"
	// Register is the policy table's transition the caller was allowed
	// (a program administrator proved by our MX); the command line, run
	// by the admin on the server, gets it from the table by default.
	Register policy.Transition
}

// Result is the outcome of one input row.
type Result struct {
	Line               int
	Login              string // the desired ID as written, created or not
	Created            bool
	Problems, Warnings []rules.Problem
}

// DefaultActiveAfter is the delay of an approved application.
const DefaultActiveAfter = 7 * 24 * time.Hour

// Commit checks the valid rows against the database and registers them
// inside the caller's transaction: for each, an approved and closed new ID
// request, its account and an audit line. Rows refused here are reported
// in their Result. A database error is returned as is: the caller's
// transaction then rolls back every row, so nothing is half-done.
func Commit(tx *store.Tx, prepared []Prepared, opts CommitOptions) ([]Result, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.ActiveAfter == 0 {
		opts.ActiveAfter = DefaultActiveAfter
	}
	if opts.Lang == "" {
		opts.Lang = "ja"
	}
	if opts.Register.To == "" {
		opts.Register, _ = policy.New().Find(policy.KindNewID, policy.StateNew, policy.Register)
	}
	year := opts.Now.In(opts.Location).Year()
	results := make([]Result, len(prepared))
	for i, p := range prepared {
		res := Result{Line: p.Row.Line, Login: p.App.DesiredID,
			Problems: append([]rules.Problem(nil), p.Problems...), Warnings: append([]rules.Problem(nil), p.Warnings...)}
		if len(res.Problems) == 0 && p.Hash == "" {
			return nil, fmt.Errorf("bulk: line %d has no password hash (not prepared)", p.Row.Line)
		}
		if len(res.Problems) == 0 {
			ps, err := dbProblems(tx, p.App)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", p.Row.Line, err)
			}
			res.Problems = ps
		}
		if len(res.Problems) == 0 {
			if err := register(tx, p, opts, year); err != nil {
				return nil, fmt.Errorf("line %d: %w", p.Row.Line, err)
			}
			res.Created = true
		}
		results[i] = res
	}
	return results, nil
}

// dbProblems are the rules that need the database, as for a single
// application: the ID free, and no personal ID or pending application for
// the same person. Rows registered earlier in the same transaction count.
func dbProblems(tx *store.Tx, app application.NewID) ([]rules.Problem, error) {
	var ps []rules.Problem
	taken, err := found(tx.AccountByLogin(app.DesiredID))
	if err != nil {
		return nil, err
	}
	if !taken {
		if taken, err = found(tx.OpenRequestByDesiredID(app.DesiredID)); err != nil {
			return nil, err
		}
	}
	if taken {
		ps = append(ps, application.IDTakenProblem(app.DesiredID))
	}
	accounts, err := tx.AccountsByIdentity(app.IdentityKey)
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		if a.Kind == store.AccountPersonal {
			ps = append(ps, HasAccountProblem())
			return ps, nil
		}
	}
	pending, err := tx.OpenRequestByIdentity(string(forms.KindNewID), app.IdentityKey)
	switch {
	case err == nil:
		ps = append(ps, PendingProblem(pending.Reference))
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return ps, nil
}

func found[T any](_ T, err error) (bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// register writes the request, the account and the audit line of a row.
func register(tx *store.Tx, p Prepared, opts CommitOptions, year int) error {
	ref, err := tx.NextReference(opts.ReferencePrefix, year)
	if err != nil {
		return err
	}
	f := p.App.Fields
	req := &store.Request{
		Reference: ref, Kind: string(forms.KindNewID), State: opts.Register.To, Applicant: opts.Actor,
		Lang: opts.Lang, Fields: f, DesiredID: p.App.DesiredID, IdentityKey: p.App.IdentityKey, CreatedAt: opts.Now,
	}
	if err := tx.CreateRequest(req); err != nil {
		return err
	}
	// Approved on creation (the policy table's register transition):
	// closing it frees nothing and reserves nothing, the account holds the
	// ID from now on.
	if err := tx.SetRequestState(req, opts.Register.To, opts.Now, opts.Register.Closes); err != nil {
		return err
	}
	acct := &store.Account{
		Login: p.App.DesiredID, Kind: store.AccountPersonal, FamilyName: f["family_name"], GivenName: f["given_name"],
		FamilyReading: f["family_reading"], GivenReading: f["given_reading"], IdentityKey: p.App.IdentityKey,
		Sex: f["sex"], BirthDate: f["birth_date"], Institution: f["institution"], Department: f["department"],
		Email: f["email"], PasswordHash: p.Hash, PasswordActiveAt: opts.Now.Add(opts.ActiveAfter),
		CreatedAt: opts.Now, RequestID: req.ID,
	}
	if acct.Eligibility, err = strconv.Atoi(f["eligibility"]); err != nil {
		return fmt.Errorf("eligibility %q: %w", f["eligibility"], err)
	}
	if err := tx.CreateAccount(acct); err != nil {
		return err
	}
	if err := tx.SetRequestAccount(req, acct.ID); err != nil {
		return err
	}
	return tx.Audit(opts.Now, opts.Actor, req.ID, "bulk_created",
		fmt.Sprintf("bulk registration line %d: account %s created", p.Row.Line, acct.Login))
}

// HasAccountProblem refuses a second personal ID for a person.
func HasAccountProblem() rules.Problem {
	return rules.Problem{Code: "identity.has_account",
		JA: "この方はすでに個人用IDをお持ちです。", EN: "This person already holds a personal ID."}
}

// PendingProblem refuses a row whose person has an application in progress.
func PendingProblem(ref string) rules.Problem {
	return rules.Problem{Code: "identity.pending",
		JA: fmt.Sprintf("この方の新規ID申請が受付中です(受付番号 %s)。", ref),
		EN: fmt.Sprintf("A new ID application of this person is in progress (reference %s).", ref)}
}
