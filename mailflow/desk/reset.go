package desk

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// KindPasswordReset is the self-service reset of the general password by
// an access code (seed 002).
const KindPasswordReset = string(forms.KindPasswordReset)

const (
	codePurposeReset = "password_reset"
	// reasonPasswordReset prefixes the recorded outcome of every reset
	// request, which is what the per-sender limit counts.
	reasonPasswordReset = "password reset"
	// The general password works downstream one hour after it was set.
	resetActiveDelay = time.Hour
)

// Code reply outcomes, as the code_refused notice names them.
const (
	codeWrong       = "wrong"
	codeLocked      = "locked"
	codeExpired     = "expired"
	codeMissing     = "missing"
	codeWrongSender = "wrong_sender"
	codeNoRequest   = "no_request"
	codeDone        = "done"
	// A wrong code from a sender our MX did not prove: not counted.
	codeWrongUnproved = "wrong_unproved"
	// Too many codes from unproved senders: this one was not checked.
	codeUnchecked = "unchecked"
)

// unprovedChecksPerRequest caps the codes tried on one request by mail
// whose sender was not proved, so guessing by forged mail stays hopeless
// while the holder's own tries are untouched.
const unprovedChecksPerRequest = 10

// passwordReset handles the reset form: the identity (and the ID when the
// holder knows it) must match exactly one personal account; then a code
// goes to that account's registered addresses only.
func (d *Desk) passwordReset(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	person, problems := d.checkIdentity(in, f)
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindPasswordReset, problems, reasonPasswordReset)
	}
	over, sent, err := d.spend(in, counterCodeRequests, d.cfg.Limits.CodeRequestsPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		return d.tooManyRequests(in, reasonPasswordReset, fmt.Sprintf("%d requests from %s in the last hour", sent, in.from))
	}

	login := d.loginFrom(f["id"])
	matches, err := matchAccounts(in.tx, person, login)
	if err != nil {
		return result{}, err
	}
	if len(matches) != 1 || matches[0].Kind != store.AccountPersonal {
		// One notice for every failure: which reason applied is not told,
		// so the desk cannot be used to probe who holds an ID.
		why := "no matching account"
		switch {
		case len(matches) > 1:
			why = fmt.Sprintf("%d matching accounts", len(matches))
		case len(matches) == 1:
			why = "account kind " + matches[0].Kind + " needs review"
		}
		if err := in.tx.Audit(in.now, "desk", 0, "reset_refused", in.from+": "+why); err != nil {
			return result{}, err
		}
		if err := d.queue(in, notice{kind: "reset_failed", to: []string{in.from}, data: &resetFailed{
			Form: forms.Blank(forms.KindOperatorReset, in.lang),
		}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reasonPasswordReset+": no self-service match ("+why+")")
	}
	acct := matches[0]
	issued, err := in.tx.CodesIssuedSince(acct.ID, in.now.Add(-24*time.Hour))
	if err != nil {
		return result{}, err
	}
	if issued >= d.cfg.Limits.CodesPerAccountPerDay {
		return d.tooManyRequests(in, reasonPasswordReset, fmt.Sprintf("%d codes for %s in the last day", issued, acct.Login))
	}

	req, err := d.openRequest(in, &store.Request{Kind: KindPasswordReset,
		Fields: map[string]string{"id": acct.Login}, AccountID: acct.ID})
	if err != nil {
		return result{}, err
	}
	code, c, err := in.tx.IssueAccessCode(acct.ID, req.ID, codePurposeReset, d.cfg.AccessCodes.Digits, in.now, d.cfg.AccessCodes.ValidFor)
	if err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new request %s: password reset for %s -> %s", req.Reference, acct.Login, req.State)
	to := d.registeredAddresses(acct)
	if err := d.queue(in, notice{kind: "reset_code", to: to, sensitive: true, data: &resetCode{
		ID: acct.Login, accessCode: d.accessCode(code, c.ExpiresAt), Form: forms.Blank(forms.KindAccessCode, in.lang),
	}}); err != nil {
		return result{}, err
	}
	if !containsFold(to, in.from) {
		if err := d.queue(in, notice{kind: "reset_code_sent", to: []string{in.from}}); err != nil {
			return result{}, err
		}
	}
	return d.finish(in, outcomeAnswered, reasonPasswordReset+": code sent ("+req.Reference+")")
}

// openRequest gives r a reference, stores it as the message's thread and
// audits its creation.
func (d *Desk) openRequest(in *inbound, r *store.Request) (*store.Request, error) {
	t, err := d.rules.Move(policyKind(r), policy.StateNew, policy.Open, in)
	if err != nil {
		return nil, err
	}
	ref, err := in.tx.NextReference(d.cfg.Desk.ReferencePrefix, in.now.In(d.cfg.Desk.Location).Year())
	if err != nil {
		return nil, err
	}
	r.State, r.Reference, r.Applicant, r.Lang, r.ThreadRoot, r.CreatedAt = t.To, ref, in.from, in.lang, in.msg.MessageID, in.now
	if err := in.tx.CreateRequest(r); err != nil {
		return nil, err
	}
	if r.AccountID != 0 {
		if err := in.tx.SetRequestAccount(r, r.AccountID); err != nil {
			return nil, err
		}
	}
	in.request, in.requestID = r, r.ID
	if err := in.tx.LinkThreadMessage(in.msg.MessageID, r.ID); err != nil {
		return nil, err
	}
	if err := in.tx.Audit(in.now, in.from, r.ID, "created", fmt.Sprintf("%s -> %s (open by %s)", r.Kind, r.State, t.By)); err != nil {
		return nil, err
	}
	return r, nil
}

// loginFrom reads an ID as holders write it: any case, sometimes with the
// mail domain after it.
func (d *Desk) loginFrom(v string) string {
	login := strings.ToLower(strings.TrimSpace(norm.NFKC.String(v)))
	return strings.TrimSuffix(login, "@"+strings.ToLower(d.cfg.Desk.Domain))
}

// codeReply handles the holder's answer on a reset thread: the code and
// the new password twice.
func (d *Desk) codeReply(in *inbound) (result, error) {
	req := in.request
	form := in.form()
	in.secrets = secretValues(form)
	acct, err := in.tx.AccountByID(req.AccountID)
	if err != nil {
		return result{}, fmt.Errorf("reset %s: account: %w", req.Reference, err)
	}
	expected := d.registeredAddresses(acct)
	if req.State == policy.StateAwaitingNewAddress {
		expected = []string{req.Fields["email"]} // the second code went there only
	}
	if !containsFold(expected, in.from) {
		// The code went only to the registered addresses; a reply from
		// elsewhere is not tried, so a stranger cannot use up the holder's
		// tries.
		if err := in.tx.Audit(in.now, "desk", req.ID, "code_wrong_sender", in.from); err != nil {
			return result{}, err
		}
		return d.codeRefused(in, codeWrongSender, nil, 0, "reply from an unregistered address")
	}
	in.fromRecord = true
	if !req.Open() {
		status := map[string]string{store.StateCompleted: codeDone, store.StateLocked: codeLocked}[req.State]
		if status == "" {
			status = codeExpired
		}
		return d.codeRefused(in, status, nil, 0, "request already "+req.State)
	}
	c, err := in.tx.LatestAccessCode(req.ID)
	if errors.Is(err, store.ErrNotFound) {
		return d.codeRefused(in, codeExpired, nil, 0, "no code")
	} else if err != nil {
		return result{}, err
	}
	presented := digitsOnly(form.Fields["access_code"])
	if presented == "" {
		return d.codeRefused(in, codeMissing, c, 0, "no access code in the reply")
	}
	// A From header on record is only a claim: a wrong code counts toward
	// the lock only from a sender our MX proved, so forged replies cannot
	// lock the holder out; unproved tries are capped per request instead.
	countWrong := in.Gives(policy.Holder, policy.ProofMX)
	if !countWrong {
		over, _, err := d.spendOn(in, counterUnprovedChecks, req.Reference, unprovedChecksPerRequest, d.cfg.AccessCodes.ValidFor)
		if err != nil {
			return result{}, err
		}
		if over {
			return d.codeRefused(in, codeUnchecked, c, 0, "too many codes from unproved senders: not checked")
		}
	}
	check, left, err := in.tx.CheckAccessCode(c, presented, in.now, d.cfg.AccessCodes.MaxTries, countWrong)
	if err != nil {
		return result{}, err
	}
	switch check {
	case store.CodeWrong:
		if !countWrong {
			if err := in.tx.Audit(in.now, in.from, req.ID, "code_wrong_unproved", "not counted: sender not proved by our MX"); err != nil {
				return result{}, err
			}
			return d.codeRefused(in, codeWrongUnproved, c, left, "wrong access code from an unproved sender (not counted)")
		}
		if err := in.tx.Audit(in.now, in.from, req.ID, "code_wrong", fmt.Sprintf("%d tries left", left)); err != nil {
			return result{}, err
		}
		return d.codeRefused(in, codeWrong, c, left, "wrong access code")
	case store.CodeNowLocked:
		if err := d.move(in, policy.CodeLocked, in.from, "wrong access code for the last allowed time: code cleared"); err != nil {
			return result{}, err
		}
		return d.codeRefused(in, codeLocked, nil, 0, "locked after wrong codes")
	case store.CodeTimedOut, store.CodeGone:
		in.proved.clock = true
		if err := d.move(in, policy.CodeExpired, "desk", "access code no longer valid ("+c.State+")"); err != nil {
			return result{}, err
		}
		return d.codeRefused(in, codeExpired, nil, 0, "access code expired")
	}

	in.proved.code = req.State == store.StateCodeSent
	in.proved.newAddress = req.State == policy.StateAwaitingNewAddress
	switch req.Kind {
	case KindRename, KindDeletion, KindAffiliation:
		if err := in.tx.UseAccessCode(c, in.now); err != nil {
			return result{}, err
		}
		switch {
		case req.Kind == KindRename:
			err = d.completeRename(in, acct)
		case req.Kind == KindDeletion:
			err = d.completeDeletion(in, acct, in.from)
		case in.proved.newAddress:
			err = d.confirmNewAddress(in, acct)
		default:
			err = d.completeAffiliation(in, acct)
		}
		if err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, req.Kind+": confirmed by access code")
	}

	pw, confirm := form.Fields["new_password"], form.Fields["new_password_confirm"]
	problems := rules.Required("new_password", pw)
	if len(problems) == 0 {
		problems = rules.CheckPassword("new_password", pw, acct.Login)
		if pw != confirm {
			problems = append(problems, application.ConfirmMismatch("new_password_confirm"))
		}
	}
	if len(problems) > 0 {
		// The code stays usable until it expires: only the password was wrong.
		if err := d.queue(in, notice{kind: "reset_password_invalid", to: []string{in.from}, data: &resetPasswordInvalid{
			Problems: lines(forms.KindAccessCode, in.lang, problems), ExpiresAt: c.ExpiresAt,
			Form: forms.Blank(forms.KindAccessCode, in.lang),
		}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, fmt.Sprintf("%s: new password refused (%d problems)", reasonPasswordReset, len(problems)))
	}
	hash, capped, err := d.hashFor(in, pw)
	if err != nil {
		return result{}, err
	}
	if capped {
		return d.tooManyRequests(in, reasonPasswordReset, "password hashes for "+in.from+" this hour")
	}
	activeAt := in.now.Add(resetActiveDelay)
	if err := in.tx.SetPassword(acct.ID, hash, activeAt); err != nil {
		return result{}, err
	}
	if err := in.tx.UseAccessCode(c, in.now); err != nil {
		return result{}, err
	}
	if err := d.move(in, policy.CodeConfirmed, in.from, "general password of "+acct.Login+" reset by access code"); err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "reset_done", to: d.registeredAddresses(acct), data: &resetDone{
		ID: acct.Login, PasswordActiveAt: activeAt,
	}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonPasswordReset+": completed")
}

// codeWithoutThread handles a code sent in a new mail instead of a reply:
// the sender's one active code tells which request it is for.
func (d *Desk) codeWithoutThread(in *inbound, form forms.Form) (result, error) {
	in.secrets = secretValues(form)
	var logins []string
	if at := strings.LastIndex(in.from, "@"); at > 0 && strings.EqualFold(in.from[at+1:], d.cfg.Desk.Domain) {
		logins = append(logins, in.from[:at])
	}
	codes, err := in.tx.ActiveAccessCodesFor("", logins, []string{in.from})
	if err != nil {
		return result{}, err
	}
	if len(codes) != 1 {
		return d.codeRefused(in, codeNoRequest, nil, 0, "access code mail without a thread")
	}
	req, err := in.tx.RequestByID(codes[0].RequestID)
	if err != nil {
		return result{}, err
	}
	in.request, in.requestID, in.lang = req, req.ID, req.Lang
	if err := in.tx.LinkThreadMessage(in.msg.MessageID, req.ID); err != nil {
		return result{}, err
	}
	return d.codeReply(in)
}

// codeRefused answers a code reply that could not be used, and says how
// to go on.
func (d *Desk) codeRefused(in *inbound, status string, c *store.AccessCode, left int, why string) (result, error) {
	kind := forms.KindPasswordReset
	if in.request != nil {
		kind = forms.Kind(in.request.Kind)
	}
	data := &codeRefused{Status: status, TriesLeft: left, Form: forms.Blank(kind, in.lang), Title: d.title(kind, in.lang)}
	if c != nil && c.State == store.CodeActive {
		data.ExpiresAt = c.ExpiresAt
	}
	if err := d.queue(in, notice{kind: "code_refused", to: []string{in.from}, data: data}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonPasswordReset+": "+why)
}

// formRefused answers a request form with problems, each by field.
func (d *Desk) formRefused(in *inbound, kind forms.Kind, problems []rules.Problem, reason string) (result, error) {
	spec, _ := forms.SpecFor(kind)
	title := spec.TitleJA
	if in.lang == "en" {
		title = spec.TitleEN
	}
	var refusals, warnings []rules.Problem
	for _, p := range problems {
		if p.Warning {
			warnings = append(warnings, p)
		} else {
			refusals = append(refusals, p)
		}
	}
	if err := d.queue(in, notice{kind: "request_invalid", to: []string{in.from}, data: &formProblems{
		Title: title, Problems: lines(kind, in.lang, refusals), Warnings: lines(kind, in.lang, warnings),
		Form: forms.Blank(kind, in.lang),
	}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, fmt.Sprintf("%s: form refused (%d problems)", reason, len(refusals)))
}

// tooManyRequests answers a sender over a limit once per message; nothing
// is looked up, hashed or mailed to anyone else.
func (d *Desk) tooManyRequests(in *inbound, reason, detail string) (result, error) {
	if in.refused == "" { // a spent hashing budget says so itself
		in.refused = "requests"
	}
	if err := in.tx.Audit(in.now, "desk", 0, "rate_limited", reason+": "+detail); err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "too_many_requests", to: []string{in.from}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reason+": too many requests ("+detail+")")
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(s) {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
