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

// Account lifecycle requests (seed 001 FAQ 2.6, 2.7, 3.1-3.3).
const (
	KindRename      = string(forms.KindRename)
	KindAffiliation = string(forms.KindAffiliation)
	KindDeletion    = string(forms.KindDeletion)
	KindMerge       = string(forms.KindMerge)
	KindHandover    = string(forms.KindHandover)

	reasonRename      = "rename"
	reasonDeletion    = "deletion"
	reasonAffiliation = "affiliation"
	reasonMerge       = "merge"
	reasonHandover    = "handover"

	// codePurposeNewAddress is the code that confirms a new address.
	codePurposeNewAddress = "new_address"
	// previousAddressGrace: after an address change, codes also go to the
	// old address this long, so a takeover does not go unnoticed.
	previousAddressGrace = 30 * 24 * time.Hour

	// One rename per 365 days (001 FAQ 2.6).
	renameInterval = 365 * 24 * time.Hour
)

// holderAccount is the active account an ID names, when the message comes
// from one of its registered addresses. Whether the ID exists is not told
// to anyone else: both failures get the same answer.
func (d *Desk) holderAccount(in *inbound, login string) (*store.Account, bool, error) {
	a, err := in.tx.AccountByLogin(login)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if a.Status != store.AccountActive || !containsFold(d.registeredAddresses(a), in.from) {
		return nil, false, nil
	}
	return a, true, nil
}

// notFromHolder answers a lifecycle request that did not come from the
// ID's registered address (or named no such ID).
func (d *Desk) notFromHolder(in *inbound, kind forms.Kind, reason string) (result, error) {
	if err := d.queue(in, notice{kind: "lifecycle_refused", to: []string{in.from}, data: &lifecycleRefused{Title: d.title(kind, in.lang)}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reason+": not from the ID's registered address")
}

func (d *Desk) title(kind forms.Kind, lang string) string {
	spec, _ := forms.SpecFor(kind)
	if lang == "en" {
		return spec.TitleEN
	}
	return spec.TitleJA
}

// sendConfirmCode opens a request that waits for an access code sent to
// the account's registered addresses.
func (d *Desk) sendConfirmCode(in *inbound, acct *store.Account, req *store.Request, purpose, reason string, data *confirmCode) (result, error) {
	over, sent, err := d.spend(in, counterCodeRequests, d.cfg.Limits.CodeRequestsPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		return d.tooManyRequests(in, reason, fmt.Sprintf("%d requests from %s in the last hour", sent, in.from))
	}
	issued, err := in.tx.CodesIssuedSince(acct.ID, in.now.Add(-24*time.Hour))
	if err != nil {
		return result{}, err
	}
	if issued >= d.cfg.Limits.CodesPerAccountPerDay {
		return d.tooManyRequests(in, reason, fmt.Sprintf("%d codes for %s in the last day", issued, acct.Login))
	}
	req.AccountID = acct.ID
	if _, err := d.openRequest(in, req); err != nil {
		return result{}, err
	}
	code, c, err := in.tx.IssueAccessCode(acct.ID, req.ID, purpose, d.cfg.AccessCodes.Digits, in.now, d.cfg.AccessCodes.ValidFor)
	if err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new request %s: %s of %s -> %s", req.Reference, req.Kind, acct.Login, req.State)
	data.ID, data.accessCode = acct.Login, d.accessCode(code, c.ExpiresAt)
	data.Title = d.title(forms.Kind(req.Kind), in.lang)
	if err := d.queue(in, notice{kind: "confirm_code", to: d.registeredAddresses(acct), sensitive: true, data: data}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reason+": code sent ("+req.Reference+")")
}

// rename handles an ID rename: the new ID passes every ID rule and is
// free, one rename in 365 days, confirmed by an access code.
func (d *Desk) rename(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	login, newID := d.loginFrom(f["id"]), d.loginFrom(f["new_id"])
	problems := append(rules.Required("id", login), rules.Required("new_id", newID)...)
	forward, ps := parseYesNo("forwarding", f["forwarding"], true)
	problems = append(problems, ps...)
	if newID != "" {
		problems = append(problems, rules.CheckID("new_id", newID, rules.Personal)...)
		if newID == login {
			problems = append(problems, rules.Problem{Field: "new_id", Code: "id.same",
				JA: "現在のIDと同じです。", EN: "It is the same as the current ID."})
		}
	}
	if hasRefusal(problems) {
		return d.formRefused(in, forms.KindRename, problems, reasonRename)
	}
	acct, ok, err := d.holderAccount(in, login)
	if err != nil || !ok {
		if err != nil {
			return result{}, err
		}
		return d.notFromHolder(in, forms.KindRename, reasonRename)
	}
	lc, err := in.tx.Lifecycle(acct.ID)
	if err != nil {
		return result{}, err
	}
	if next := lc.RenamedAt.Add(renameInterval); !lc.RenamedAt.IsZero() && in.now.Before(next) {
		if err := d.queue(in, notice{kind: "rename_too_soon", to: []string{in.from}, data: &renameTooSoon{
			ID: acct.Login, RenamedAt: lc.RenamedAt, NextRename: next,
		}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reasonRename+": renamed less than 365 days ago")
	}
	if taken, err := d.loginTaken(in, newID, 0); err != nil {
		return result{}, err
	} else if taken {
		return d.formRefused(in, forms.KindRename, []rules.Problem{newIDTaken(newID)}, reasonRename)
	}
	fwd := "yes"
	if !forward {
		fwd = "no"
	}
	req := &store.Request{Kind: KindRename, DesiredID: newID, Fields: map[string]string{"id": login, "new_id": newID, "forwarding": fwd}}
	return d.sendConfirmCode(in, acct, req, KindRename, reasonRename, &confirmCode{
		NewID: newID, Forwarding: forward, Warnings: lines(forms.KindRename, in.lang, warningsOf(problems)),
	})
}

// loginTaken reports whether an ID was ever issued (deleted and renamed
// IDs included: IDs are never issued twice) or is reserved by an open
// request other than the one given.
func (d *Desk) loginTaken(in *inbound, login string, exceptRequest int64) (bool, error) {
	if used, err := in.tx.LoginEverUsed(login); err != nil || used {
		return used, err
	}
	r, err := in.tx.OpenRequestByDesiredID(login)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && r.ID != exceptRequest, err
}

func newIDTaken(id string) rules.Problem {
	p := application.IDTakenProblem(id)
	p.Field = "new_id"
	return p
}

// completeRename carries out a confirmed rename.
func (d *Desk) completeRename(in *inbound, acct *store.Account) error {
	req := in.request
	newID, oldID := req.Fields["new_id"], acct.Login
	if taken, err := d.loginTaken(in, newID, req.ID); err != nil {
		return err
	} else if taken {
		if err := d.move(in, policy.Conflict, "desk", "new ID taken meanwhile"); err != nil {
			return err
		}
		return d.queue(in, notice{kind: "request_invalid", to: []string{in.from}, data: &formProblems{
			Title: d.title(forms.KindRename, in.lang), Problems: lines(forms.KindRename, in.lang, []rules.Problem{newIDTaken(newID)}),
			Form: forms.Blank(forms.KindRename, in.lang),
		}})
	}
	if err := in.tx.RenameAccount(acct.ID, newID, in.now); err != nil {
		return err
	}
	data := &renameDone{OldID: oldID, NewID: newID}
	if req.Fields["forwarding"] != "no" {
		fw := &store.Forwarding{AccountID: acct.ID, RequestID: req.ID, OldLogin: oldID, NewLogin: newID,
			StartsAt: in.now, EndsAt: in.now.Add(d.cfg.Forwarding.Duration)}
		if err := in.tx.AddForwarding(fw); err != nil {
			return err
		}
		data.Forwarding, data.ForwardingUntil = true, fw.EndsAt
	}
	in.forwardingChanged = true
	if err := d.move(in, policy.CodeConfirmed, in.from, "renamed "+oldID+" -> "+newID); err != nil {
		return err
	}
	acct.Login = newID
	return d.queue(in, notice{kind: "rename_done", to: d.registeredAddresses(acct), data: data})
}

// deletion handles an ID deletion: by the holder, confirmed by an access
// code; by anyone else, only through operator review with documents.
func (d *Desk) deletion(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	login := d.loginFrom(f["id"])
	problems := rules.Required("id", login)
	holder, ps := parseRequester(f["requester"])
	problems = append(problems, ps...)
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindDeletion, problems, reasonDeletion)
	}
	reason := strings.TrimSpace(f["reason"])
	spam := mentionsSpam(reason)
	fields := map[string]string{"id": login, "requester": map[bool]string{true: "holder", false: "other"}[holder], "reason": reason}
	if !holder {
		// Someone else (the holder died, left...): staff decide with documents.
		req := &store.Request{Kind: KindDeletion, Fields: fields}
		if a, err := in.tx.AccountByLogin(login); err == nil && a.Status == store.AccountActive {
			req.AccountID = a.ID
		}
		if _, err := d.openRequest(in, req); err != nil {
			return result{}, err
		}
		d.emit("state", req.Reference, "new request %s: deletion of %s by a third party -> %s", req.Reference, login, req.State)
		if err := d.queue(in, notice{kind: "deletion_received", to: []string{in.from}, ccOperators: true,
			attachments: []store.NoticeAttachment{d.printableForm(req)}, data: &aboutID{ID: login}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reasonDeletion+": third-party request "+req.Reference)
	}
	acct, ok, err := d.holderAccount(in, login)
	if err != nil {
		return result{}, err
	}
	if !ok {
		return d.notFromHolder(in, forms.KindDeletion, reasonDeletion)
	}
	req := &store.Request{Kind: KindDeletion, Fields: fields}
	return d.sendConfirmCode(in, acct, req, KindDeletion, reasonDeletion, &confirmCode{Spam: spam})
}

// completeDeletion closes the account; its ID is never issued again.
func (d *Desk) completeDeletion(in *inbound, acct *store.Account, actor string) error {
	to := d.registeredAddresses(acct)
	if err := in.tx.CloseAccount(acct.ID, store.AccountDeleted, 0, in.now); err != nil {
		return err
	}
	if n, err := in.tx.EndForwardings(acct.ID, in.now); err != nil {
		return err
	} else if n > 0 {
		in.forwardingChanged = true
	}
	if err := in.tx.SetRequestAccount(in.request, acct.ID); err != nil {
		return err
	}
	// The holder's own deletion is confirmed by the code; a third party's
	// is approved by an operator.
	event := policy.CodeConfirmed
	if policyKind(in.request) == policy.KindDeletionByOther {
		event = policy.Approve
	}
	if err := d.move(in, event, actor, "account "+acct.Login+" deleted"); err != nil {
		return err
	}
	if !containsFold(to, in.request.Applicant) {
		to = append([]string{in.request.Applicant}, to...)
	}
	return d.queue(in, notice{kind: "deletion_done", to: to, lang: in.request.Lang, ccOperators: event == policy.Approve,
		data: &aboutID{ID: acct.Login}})
}

// affiliation updates the account's institution, department and address;
// an institution with its own staff gets the affiliation-change form.
func (d *Desk) affiliation(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	login := d.loginFrom(f["id"])
	var problems []rules.Problem
	for _, k := range []string{"id", "institution", "department", "email"} {
		problems = append(problems, rules.Required(k, f[k])...)
	}
	email, ps := "", []rules.Problem(nil)
	if strings.TrimSpace(f["email"]) != "" {
		email, ps = rules.CheckEmail("email", f["email"])
		problems = append(problems, ps...)
	}
	institution, department := strings.TrimSpace(f["institution"]), strings.TrimSpace(f["department"])
	for k, v := range map[string]string{"institution": institution, "department": department} {
		if len([]rune(v)) > 100 {
			problems = append(problems, application.TooLong(k, 100))
		}
	}
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindAffiliation, problems, reasonAffiliation)
	}
	acct, ok, err := d.holderAccount(in, login)
	if err != nil {
		return result{}, err
	}
	if !ok {
		// A holder who no longer reads the address on record proves it
		// with a signed form that operators check. The answer is the same
		// whether the ID exists or not.
		return d.affiliationByForm(in, login, institution, department, email)
	}
	// The holder proves the change with a code to the address on record;
	// a new address then proves itself with a second code.
	req := &store.Request{Kind: KindAffiliation, Fields: map[string]string{"id": login, "institution": institution, "department": department, "email": email}}
	items := []string{institution + " " + department}
	if email != "" && !strings.EqualFold(email, acct.Email) {
		items = append(items, email)
	}
	return d.sendConfirmCode(in, acct, req, KindAffiliation, reasonAffiliation, &confirmCode{Changes: items})
}

// affiliationByForm opens an affiliation change that waits for the signed
// form, for a holder writing from an address not on record.
func (d *Desk) affiliationByForm(in *inbound, login, institution, department, email string) (result, error) {
	if email == "" {
		email = in.from // the address the holder writes from and reads
	}
	req := &store.Request{Kind: KindAffiliation, Fields: map[string]string{"id": login, "institution": institution,
		"department": department, "email": email, "proof": "form"}}
	if a, err := in.tx.AccountByLogin(login); err == nil && a.Status == store.AccountActive {
		req.AccountID = a.ID
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return result{}, err
	}
	if _, err := d.openRequest(in, req); err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new request %s: affiliation of %s by signed form -> %s", req.Reference, login, req.State)
	if err := d.queue(in, notice{kind: "affiliation_form_received", to: []string{in.from}, ccOperators: true,
		attachments: []store.NoticeAttachment{d.printableForm(req)}, data: &aboutID{ID: login}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonAffiliation+": by signed form "+req.Reference)
}

// approveAffiliationByForm carries out an affiliation change whose signed
// form operators checked: the address they approved becomes the
// registered one, and both addresses are told.
func (d *Desk) approveAffiliationByForm(in *inbound, actor string) error {
	req := in.request
	if req.AccountID == 0 {
		return errRefused{"ID " + req.Fields["id"] + " は登録されていません。reject で理由を伝えてください。",
			"There is no ID " + req.Fields["id"] + "; reject with a reason."}
	}
	acct, err := in.tx.AccountByID(req.AccountID)
	if err != nil {
		return err
	}
	if acct.Status != store.AccountActive {
		return errRefused{"ID " + acct.Login + " はすでに削除されています。", "The ID " + acct.Login + " is already closed."}
	}
	f := req.Fields
	oldAddresses := d.registeredAddresses(acct)
	if err := in.tx.UpdateAffiliation(acct.ID, f["institution"], f["department"]); err != nil {
		return err
	}
	if !strings.EqualFold(f["email"], acct.Email) {
		if err := in.tx.ChangeEmail(acct.ID, f["email"], in.now); err != nil {
			return err
		}
		acct.PreviousEmail, acct.Email, acct.EmailChangedAt = acct.Email, f["email"], in.now
	}
	if err := d.move(in, policy.Approve, actor, "affiliation of "+acct.Login+" by signed form; address "+acct.Email); err != nil {
		return err
	}
	to := d.registeredAddresses(acct)
	for _, a := range oldAddresses {
		if !containsFold(to, a) {
			to = append(to, a)
		}
	}
	return d.affiliationDone(in, acct, to)
}

// completeAffiliation carries out an affiliation change whose code came
// back from the address on record: the institution changes now; a new
// address waits for its own code.
func (d *Desk) completeAffiliation(in *inbound, acct *store.Account) error {
	req := in.request
	f := req.Fields
	if err := in.tx.UpdateAffiliation(acct.ID, f["institution"], f["department"]); err != nil {
		return err
	}
	if f["email"] == "" || strings.EqualFold(f["email"], acct.Email) {
		if err := d.move(in, policy.CodeConfirmed, in.from, fmt.Sprintf("affiliation of %s: %s / %s", acct.Login, f["institution"], f["department"])); err != nil {
			return err
		}
		return d.affiliationDone(in, acct, d.registeredAddresses(acct))
	}
	if err := d.move(in, policy.AddressPending, in.from, "affiliation of "+acct.Login+" updated; new address "+f["email"]+" to be confirmed"); err != nil {
		return err
	}
	code, c, err := in.tx.IssueAccessCode(acct.ID, req.ID, codePurposeNewAddress, d.cfg.AccessCodes.Digits, in.now, d.cfg.AccessCodes.ValidFor)
	if err != nil {
		return err
	}
	return d.queue(in, notice{kind: "address_confirm_code", to: []string{f["email"]}, sensitive: true, lang: req.Lang, data: &addressConfirmCode{
		ID: acct.Login, Title: d.title(forms.KindAffiliation, req.Lang), accessCode: d.accessCode(code, c.ExpiresAt),
	}})
}

// confirmNewAddress makes a confirmed new address the registered one;
// both addresses are told, and for a while codes go to the old one too.
func (d *Desk) confirmNewAddress(in *inbound, acct *store.Account) error {
	oldAddresses := d.registeredAddresses(acct)
	email := in.request.Fields["email"]
	if err := in.tx.ChangeEmail(acct.ID, email, in.now); err != nil {
		return err
	}
	if err := d.move(in, policy.AddressConfirmed, in.from, "registered address of "+acct.Login+" is now "+email); err != nil {
		return err
	}
	acct.PreviousEmail, acct.Email, acct.EmailChangedAt = acct.Email, email, in.now
	to := d.registeredAddresses(acct)
	for _, a := range oldAddresses {
		if !containsFold(to, a) {
			to = append(to, a) // the old address learns of the change too
		}
	}
	return d.affiliationDone(in, acct, to)
}

func (d *Desk) affiliationDone(in *inbound, acct *store.Account, to []string) error {
	f := in.request.Fields
	data := &affiliationDone{ID: acct.Login, Affiliation: f["institution"] + " " + f["department"]}
	n := notice{kind: "affiliation_done", to: to, ccOperators: true, lang: in.request.Lang, data: data}
	if !acct.EmailChangedAt.IsZero() && acct.EmailChangedAt.Equal(in.now) {
		data.NewAddress, data.PreviousAddressUntil = acct.Email, in.now.Add(previousAddressGrace)
	}
	if staff := d.institutionStaff(f["institution"]); staff != nil {
		data.Staff, n.extraCc = staff, []string{staff.Staff}
	}
	return d.queue(in, n)
}

// merge asks staff to merge duplicate IDs of one person into one.
func (d *Desk) merge(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	login := d.loginFrom(f["id"])
	others := splitIDs(d, f["other_ids"])
	problems := append(rules.Required("id", login), rules.Required("other_ids", f["other_ids"])...)
	for _, o := range others {
		if o == login {
			problems = append(problems, rules.Problem{Field: "other_ids", Code: "merge.self",
				JA: "残すIDと同じIDが含まれています。", EN: "It lists the ID to keep."})
		}
	}
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindMerge, problems, reasonMerge)
	}
	acct, ok, err := d.holderAccount(in, login)
	if err != nil {
		return result{}, err
	}
	if !ok {
		return d.notFromHolder(in, forms.KindMerge, reasonMerge)
	}
	req := &store.Request{Kind: KindMerge, AccountID: acct.ID,
		Fields: map[string]string{"id": login, "other_ids": strings.Join(others, ",")}}
	return d.reviewReceived(in, req, reasonMerge, &review{ID: login, MergedIDs: others})
}

// handover asks staff to give a non-personal ID to its new holder.
func (d *Desk) handover(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	login := d.loginFrom(f["id"])
	problems := append(rules.Required("id", login), rules.Required("new_holder", f["new_holder"])...)
	var email string
	if strings.TrimSpace(f["new_holder_email"]) != "" {
		var ps []rules.Problem
		email, ps = rules.CheckEmail("new_holder_email", f["new_holder_email"])
		problems = append(problems, ps...)
	}
	if len(problems) == 0 {
		if a, err := in.tx.AccountByLogin(login); err == nil && a.Kind == store.AccountPersonal {
			problems = append(problems, rules.Problem{Field: "id", Code: "handover.personal",
				JA: "個人用IDは引き継げません。新しい方は個人用IDを新規にお申し込みください。",
				EN: "A personal ID cannot be handed over; the new person applies for a personal ID of their own."})
		}
	}
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindHandover, problems, reasonHandover)
	}
	req := &store.Request{Kind: KindHandover,
		Fields: map[string]string{"id": login, "new_holder": strings.TrimSpace(f["new_holder"]), "new_holder_email": email}}
	if a, err := in.tx.AccountByLogin(login); err == nil && a.Status == store.AccountActive {
		req.AccountID = a.ID
	}
	return d.reviewReceived(in, req, reasonHandover, &review{ID: login, NewHolder: req.Fields["new_holder"]})
}

// reviewReceived opens an operator-reviewed request and says so.
func (d *Desk) reviewReceived(in *inbound, req *store.Request, reason string, data *review) (result, error) {
	if _, err := d.openRequest(in, req); err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new request %s: %s -> %s", req.Reference, req.Kind, req.State)
	data.Title = d.title(forms.Kind(req.Kind), in.lang)
	if err := d.queue(in, notice{kind: "review_received", to: []string{in.from}, ccOperators: true, data: data}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reason+": received "+req.Reference)
}

// approveMerge closes the duplicate IDs into the one kept.
func (d *Desk) approveMerge(in *inbound, actor string) error {
	req := in.request
	keep, err := in.tx.AccountByID(req.AccountID)
	if err != nil {
		return err
	}
	var merged []string
	for _, login := range strings.Split(req.Fields["other_ids"], ",") {
		a, err := in.tx.AccountByLogin(login)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.Status != store.AccountActive) {
			return errRefused{"ID " + login + " は有効なIDとして登録されていません。reject で理由を伝えてください。",
				"The ID " + login + " is not an active ID; reject with a reason."}
		}
		if err != nil {
			return err
		}
		if err := in.tx.CloseAccount(a.ID, store.AccountMerged, keep.ID, in.now); err != nil {
			return err
		}
		if _, err := in.tx.EndForwardings(a.ID, in.now); err != nil {
			return err
		}
		merged = append(merged, login)
	}
	in.forwardingChanged = true
	if err := d.move(in, policy.Approve, actor, "merged "+strings.Join(merged, ", ")+" into "+keep.Login); err != nil {
		return err
	}
	return d.queue(in, notice{kind: "review_approved", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
		data: &review{ID: keep.Login, MergedIDs: merged, Title: d.title(forms.KindMerge, req.Lang)}})
}

// approveHandover records the new holder of a non-personal ID.
func (d *Desk) approveHandover(in *inbound, actor string) error {
	req := in.request
	if req.AccountID == 0 {
		return errRefused{"ID " + req.Fields["id"] + " は登録されていません。reject で理由を伝えてください。",
			"There is no ID " + req.Fields["id"] + "; reject with a reason."}
	}
	acct, err := in.tx.AccountByID(req.AccountID)
	if err != nil {
		return err
	}
	email := req.Fields["new_holder_email"]
	if email == "" {
		email = acct.Email
	}
	if err := in.tx.SetHolder(acct.ID, req.Fields["new_holder"], "", email); err != nil {
		return err
	}
	if err := d.move(in, policy.Approve, actor, "handed over "+acct.Login+" to "+req.Fields["new_holder"]); err != nil {
		return err
	}
	to := []string{req.Applicant}
	if email != "" && !containsFold(to, email) {
		to = append(to, email)
	}
	return d.queue(in, notice{kind: "review_approved", to: to, lang: req.Lang, ccOperators: true,
		data: &review{ID: acct.Login, NewHolder: req.Fields["new_holder"], Title: d.title(forms.KindHandover, req.Lang)}})
}

func parseYesNo(field, v string, def bool) (bool, []rules.Problem) {
	s := strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(v)), ""))
	switch {
	case s == "":
		return def, nil
	case strings.Contains(s, "不要") || strings.Contains(s, "しない") || strings.Contains(s, "希望しない") || s == "no" || s == "いいえ" || s == "なし":
		return false, nil
	case strings.Contains(s, "希望") || strings.Contains(s, "する") || s == "yes" || s == "はい" || s == "要":
		return true, nil
	}
	return def, []rules.Problem{{Field: field, Code: "choice.yes_no",
		JA: "「希望する」または「不要」とご記入ください。", EN: "Write yes or no."}}
}

func parseRequester(v string) (holder bool, problems []rules.Problem) {
	s := strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(v)), ""))
	switch {
	case s == "":
		return false, rules.Required("requester", v)
	case strings.Contains(s, "以外") || strings.Contains(s, "代理") || strings.Contains(s, "家族") || strings.Contains(s, "other") || strings.Contains(s, "third"):
		return false, nil
	case strings.Contains(s, "本人") || strings.Contains(s, "holder") || strings.Contains(s, "self") || s == "me":
		return true, nil
	}
	return false, []rules.Problem{{Field: "requester", Code: "choice.requester",
		JA: "「本人」または「本人以外」とご記入ください。", EN: "Write holder or someone else."}}
}

func mentionsSpam(reason string) bool {
	s := strings.ToLower(norm.NFKC.String(reason))
	for _, w := range []string{"spam", "スパム", "迷惑", "junk"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func splitIDs(d *Desk, v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(norm.NFKC.String(v), func(r rune) bool {
		return r == ',' || r == '、' || r == ' ' || r == ';' || r == '/'
	}) {
		if id := d.loginFrom(f); id != "" {
			out = append(out, id)
		}
	}
	return out
}

func warningsOf(ps []rules.Problem) []rules.Problem {
	var out []rules.Problem
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

func hasRefusal(ps []rules.Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// approveDeletion deletes the account of a third-party deletion request
// whose documents staff have checked.
func (d *Desk) approveDeletion(in *inbound, actor, text string) error {
	acct, err := d.resetAccount(in, text)
	if err != nil {
		return err
	}
	if acct.Status != store.AccountActive {
		return errRefused{"ID " + acct.Login + " はすでに削除されています。", "The ID " + acct.Login + " is already closed."}
	}
	return d.completeDeletion(in, acct, actor)
}
