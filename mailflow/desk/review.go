package desk

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// Requests that operators review before anything changes (seeds 001 FAQ
// 2.1-2.2, 002, 003).
const (
	KindOperatorReset = string(forms.KindOperatorReset)
	KindIndiceReset   = string(forms.KindIndiceReset)

	reasonOperatorReset = "operator reset"
	reasonIndiceReset   = "indice reset"

	scopeIndice = "indice" // the INDICE password only; the ID is needed
	scopeBoth   = "both"   // INDICE and general; the ID may be unknown
)

// reviewedReset is a checked operator or INDICE reset request.
type reviewedReset struct {
	person   identity
	login    string
	scope    string
	password string
	matches  []*store.Account
	fields   map[string]string
}

// checkReviewedReset reads the identity, the ID when given, the scope
// (INDICE only) and the new password, and finds the accounts it may be.
func (d *Desk) checkReviewedReset(in *inbound, kind forms.Kind, f map[string]string) (reviewedReset, []rules.Problem, error) {
	var r reviewedReset
	var problems []rules.Problem
	r.person, problems = d.checkIdentity(in, f)
	r.login = d.loginFrom(f["id"])
	if kind == forms.KindIndiceReset {
		var ps []rules.Problem
		r.scope, ps = parseScope(f["scope"])
		problems = append(problems, ps...)
		if r.scope == scopeIndice && r.login == "" {
			problems = append(problems, rules.Problem{Field: "id", Code: "indice.id_required",
				JA: "「INDICEのみ」の再設定にはIDが必要です。IDがご不明の場合は「INDICEと一般」をお選びください。",
				EN: "An INDICE-only reset needs the ID. If you do not know it, choose INDICE and general."})
		}
	}
	var err error
	if len(problems) == 0 {
		if r.matches, err = matchAccounts(in.tx, r.person, r.login); err != nil {
			return r, nil, err
		}
	}
	r.password = f["new_password"]
	pwProblems := rules.Required("new_password", r.password)
	if len(pwProblems) == 0 {
		login := r.login
		if login == "" && len(r.matches) == 1 {
			login = r.matches[0].Login
		}
		pwProblems = rules.CheckPassword("new_password", r.password, login)
		if f["new_password_confirm"] != r.password {
			pwProblems = append(pwProblems, application.ConfirmMismatch("new_password_confirm"))
		}
	}
	problems = append(problems, pwProblems...)
	r.fields = r.person.fields()
	for _, k := range []string{"past_institutions", "schools", "societies", "licences"} {
		if v := strings.TrimSpace(f[k]); v != "" {
			r.fields[k] = v
		}
	}
	if r.login != "" {
		r.fields["id"] = r.login
	}
	if r.scope != "" {
		r.fields["scope"] = r.scope
	}
	return r, problems, nil
}

// parseScope reads "INDICEのみ" / "INDICEと一般" and their English forms.
func parseScope(v string) (string, []rules.Problem) {
	s := strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(v)), ""))
	switch {
	case s == "":
		return "", rules.Required("scope", v)
	case strings.Contains(s, "一般") || strings.Contains(s, "general") || strings.Contains(s, "both") ||
		strings.Contains(s, "両方") || strings.Contains(s, "同時"):
		return scopeBoth, nil
	case strings.Contains(s, "indice") || strings.Contains(s, "症例登録"):
		return scopeIndice, nil
	}
	return "", []rules.Problem{{Field: "scope", Code: "indice.scope",
		JA: "「INDICEのみ」または「INDICEと一般」とご記入ください。", EN: "Write \"INDICE only\" or \"INDICE and general\"."}}
}

// operatorReset takes the reset that the access code could not do: staff
// check the identity and the signed form, then approve (seed 002).
func (d *Desk) operatorReset(in *inbound, form forms.Form) (result, error) {
	return d.reviewedReset(in, form, forms.KindOperatorReset, reasonOperatorReset)
}

// indiceReset takes an INDICE password reset (seed 003): always with the
// signed form by FAX.
func (d *Desk) indiceReset(in *inbound, form forms.Form) (result, error) {
	return d.reviewedReset(in, form, forms.KindIndiceReset, reasonIndiceReset)
}

func (d *Desk) reviewedReset(in *inbound, form forms.Form, kind forms.Kind, reason string) (result, error) {
	r, problems, err := d.checkReviewedReset(in, kind, form.Fields)
	if err != nil {
		return result{}, err
	}
	if len(problems) > 0 {
		return d.formRefused(in, kind, problems, reason)
	}
	// Each of these costs a password hash: the per-sender limit keeps one
	// sender from spending the desk's CPU.
	over, n, err := d.spend(in, counterReviewRequests, d.cfg.Limits.CodeRequestsPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		return d.tooManyRequests(in, reason, fmt.Sprintf("%d requests from %s in the last hour", n, in.from))
	}
	if kind == forms.KindIndiceReset && r.scope == scopeIndice && len(r.matches) == 1 && r.matches[0].IndicePasswordHash == "" {
		// Seed 003: an ID without an INDICE password is told where INDICE
		// and NCD access come from instead.
		if err := d.queue(in, notice{kind: "indice_not_issued", to: []string{in.from}, data: &aboutID{ID: r.matches[0].Login}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reason+": no INDICE password issued for "+r.matches[0].Login)
	}
	if pending, err := in.tx.OpenRequestByIdentity(string(kind), r.person.key()); err == nil {
		spec, _ := forms.SpecFor(kind)
		title := spec.TitleJA
		if in.lang == "en" {
			title = spec.TitleEN
		}
		if err := d.queue(in, notice{kind: "already_pending", to: []string{in.from}, data: &alreadyPending{common: common{Ref: pending.Reference}, Title: title}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reason+": already pending as "+pending.Reference)
	} else if !errors.Is(err, store.ErrNotFound) {
		return result{}, err
	}

	hash, capped, err := d.hashFor(in, r.password)
	if err != nil {
		return result{}, err
	}
	if capped {
		return d.tooManyRequests(in, reason, "password hashes for "+in.from+" this hour")
	}
	req := &store.Request{Kind: string(kind), Fields: r.fields,
		PasswordHash: hash, IdentityKey: r.person.key()}
	if len(r.matches) == 1 {
		req.AccountID = r.matches[0].ID
	}
	if _, err := d.openRequest(in, req); err != nil {
		return result{}, err
	}
	// Operators see what the desk found; the applicant is not told.
	found := "no unique matching account: operators must name the ID when approving"
	if len(r.matches) == 1 {
		found = "matches account " + r.matches[0].Login
	}
	if err := in.tx.Audit(in.now, "desk", req.ID, "identity_match", found); err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new request %s: %s for %s -> %s (%s)", req.Reference, kind, in.from, req.State, found)
	if err := d.queue(in, notice{kind: string(kind) + "_received", to: []string{in.from}, ccOperators: true,
		attachments: []store.NoticeAttachment{d.printableForm(req)}, data: &reviewedResetReceived{
			Name: r.person.family + " " + r.person.given, ID: r.login, Scope: r.scope,
		}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reason+": received "+req.Reference)
}

// approveReset sets the password of a reviewed reset on the account the
// operator named ("approve: ID") or the one the identity matches.
func (d *Desk) approveReset(in *inbound, actor, text string) error {
	req := in.request
	acct, err := d.resetAccount(in, text)
	if err != nil {
		return err
	}
	activeAt := in.now.Add(resetActiveDelay)
	scope := req.Fields["scope"]
	switch {
	case req.Kind == KindOperatorReset:
		err = in.tx.SetPassword(acct.ID, req.PasswordHash, activeAt)
	case scope == scopeIndice && acct.IndicePasswordHash == "":
		return errRefused{
			"ID " + acct.Login + " にはINDICE用パスワードが発行されていません。「INDICEと一般」の申請が必要です。reject で理由を伝えてください。",
			"The ID " + acct.Login + " has no INDICE password; an INDICE-and-general request is needed. Reject with that reason.",
		}
	default:
		err = in.tx.SetIndicePassword(acct.ID, req.PasswordHash, activeAt)
		if err == nil && scope == scopeBoth {
			err = in.tx.SetPassword(acct.ID, req.PasswordHash, activeAt)
		}
	}
	if err != nil {
		return err
	}
	if err := in.tx.SetRequestAccount(req, acct.ID); err != nil {
		return err
	}
	if err := d.move(in, policy.Approve, actor, "password of "+acct.Login+" reset ("+req.Kind+" "+scope+")"); err != nil {
		return err
	}
	if err := d.clearSecret(in); err != nil {
		return err
	}
	to := []string{req.Applicant}
	for _, a := range d.registeredAddresses(acct) {
		if !containsFold(to, a) {
			to = append(to, a)
		}
	}
	return d.queue(in, notice{kind: "reset_approved", to: to, lang: req.Lang, ccOperators: true, data: &resetApproved{
		ID: acct.Login, PasswordActiveAt: activeAt, Scope: scope, OperatorReset: req.Kind == KindOperatorReset,
	}})
}

// resetAccount is the account a reviewed reset is for.
func (d *Desk) resetAccount(in *inbound, text string) (*store.Account, error) {
	req := in.request
	if words := strings.Fields(text); len(words) > 0 {
		login := d.loginFrom(words[0])
		a, err := in.tx.AccountByLogin(login)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errRefused{"ID " + login + " は登録されていません。", "There is no ID " + login + "."}
		}
		return a, err
	}
	if req.AccountID != 0 {
		return in.tx.AccountByID(req.AccountID)
	}
	if login := req.Fields["id"]; login != "" {
		if a, err := in.tx.AccountByLogin(login); err == nil {
			return a, nil
		}
	}
	return nil, errRefused{
		"本人確認の情報から一つのIDに特定できません。「approve: ID」のようにIDを指定してください。",
		"The identity does not point to exactly one ID. Name it, as in \"approve: ID\".",
	}
}
