package desk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// KindNewID is the request kind of a new personal ID application.
const KindNewID = string(forms.KindNewID)

// newIDApplication is a new personal ID application, checked.
type newIDApplication struct {
	fields      map[string]string // what is stored: no secret
	password    string
	desiredID   string
	identityKey string
}

// newID handles a new personal ID application (seeds 000, 001): every rule
// is checked and every problem reported at once; a valid application gets
// its reference and waits for the signed form.
func (d *Desk) newID(in *inbound, form forms.Form) (result, error) {
	app, problems, warnings, err := d.checkNewID(in, form)
	if err != nil {
		return result{}, err
	}
	if len(problems) > 0 {
		err := d.queue(in, notice{kind: "new_id_invalid", to: []string{in.from}, data: &formProblems{
			Problems: lines(forms.KindNewID, in.lang, problems),
			Warnings: lines(forms.KindNewID, in.lang, warnings),
			Form:     forms.Blank(forms.KindNewID, in.lang),
		}})
		if err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, fmt.Sprintf("new ID application refused: %d problems", len(problems)))
	}

	// One personal ID per person (000, 001 FAQ 1.2). The answer goes to
	// the From address, which anyone can write: only the address that holds
	// the ID, or that filed the pending application, is told of it. Anyone
	// else gets the same answer as a first application, and the operators
	// (and the holder, at the address on record) get the match.
	match, err := d.identityMatch(in, app.identityKey)
	if err != nil {
		return result{}, err
	}
	if match.toldSender {
		if err := d.queue(in, match.notice); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, match.why)
	}

	// Hash last: it is the one expensive step, so refused forms never pay it.
	hash, capped, err := d.hashFor(in, app.password)
	if err != nil {
		return result{}, err
	}
	if capped {
		return d.tooManyRequests(in, KindNewID, "password hashes for "+in.from+" this hour")
	}
	req, err := d.openRequest(in, &store.Request{Kind: KindNewID, Fields: app.fields, PasswordHash: hash,
		DesiredID: app.desiredID, IdentityKey: app.identityKey})
	if err != nil {
		return result{}, err
	}
	ref := req.Reference
	d.emit("state", ref, "new request %s: new ID %q for %s -> %s", ref, app.desiredID, in.from, req.State)
	if err := d.tellMatch(in, match); err != nil {
		return result{}, err
	}

	staff := d.institutionStaff(app.fields["institution"])
	n := notice{kind: "new_id_received", to: []string{in.from}, ccOperators: true, attachments: []store.NoticeAttachment{d.printableForm(req)}, data: &newIDReceived{
		Name:      app.fields["family_name"] + " " + app.fields["given_name"],
		DesiredID: app.desiredID,
		Warnings:  lines(forms.KindNewID, in.lang, warnings),
		Staff:     staff,
	}}
	if staff != nil {
		n.extraCc = []string{staff.Staff}
	}
	if err := d.queue(in, n); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, "new ID application "+ref)
}

// checkNewID applies every rule of SPEC.md to the form.
func (d *Desk) checkNewID(in *inbound, form forms.Form) (app newIDApplication, problems, warnings []rules.Problem, err error) {
	checked, problems, warnings, err := application.CheckNewID(form.Fields, in.now.In(d.cfg.Desk.Location),
		func(id string) (bool, error) { return d.loginTaken(in, id, 0) })
	app = newIDApplication{fields: checked.Fields, password: checked.Password, desiredID: checked.DesiredID, identityKey: checked.IdentityKey}
	return app, problems, warnings, err
}

// lines turns problems into the template's "label: text" lines.
func lines(kind forms.Kind, lang string, ps []rules.Problem) []problemLine {
	var out []problemLine
	for _, p := range ps {
		out = append(out, problemLine{Label: fieldLabel(kind, p.Field, lang), Text: p.Text(lang)})
	}
	return out
}

// institutionStaff finds a configured institution with its own staff by
// the name the applicant wrote (normalised, either containing the other).
func (d *Desk) institutionStaff(name string) *config.Institution {
	n := rules.NormalizeName(name)
	if n == "" {
		return nil
	}
	for i := range d.cfg.Institutions {
		inst := &d.cfg.Institutions[i]
		if k := rules.NormalizeName(inst.Name); k != "" && (strings.Contains(n, k) || strings.Contains(k, n)) {
			return inst
		}
	}
	return nil
}

// identityMatch is what the desk knows of the person named by a new-ID
// application: an account or a pending application.
type identityMatch struct {
	account *store.Account
	pending *store.Request
	// toldSender: the From address is the one that holds the account or
	// filed the pending application, so the answer may say so.
	toldSender bool
	notice     notice
	why        string
}

func (d *Desk) identityMatch(in *inbound, identityKey string) (identityMatch, error) {
	var m identityMatch
	existing, err := in.tx.AccountsByIdentity(identityKey)
	if err != nil {
		return m, err
	}
	for _, a := range existing {
		if a.Kind == store.AccountPersonal && a.Status == store.AccountActive {
			m.account = a
			if containsFold(d.registeredAddresses(a), in.from) {
				m.toldSender, m.why = true, "applicant already holds a personal ID"
				m.notice = notice{kind: "new_id_existing_account", to: []string{in.from}, ccOperators: true, data: &aboutID{ID: a.Login}}
			}
			return m, nil
		}
	}
	pending, err := in.tx.OpenRequestByIdentity(KindNewID, identityKey)
	if errors.Is(err, store.ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	m.pending = pending
	if strings.EqualFold(pending.Applicant, in.from) {
		m.toldSender, m.why = true, "application already pending as "+pending.Reference
		m.notice = notice{kind: "new_id_already_pending", to: []string{in.from}, data: &plain{common{Ref: pending.Reference}}}
	}
	return m, nil
}

// tellMatch tells the operators that a new application names a person who
// holds an ID or has one pending, and tells the holder at the address on
// record; the applicant was answered as any first application.
func (d *Desk) tellMatch(in *inbound, m identityMatch) error {
	if m.account == nil && m.pending == nil {
		return nil
	}
	data := &operatorIdentityMatch{DesiredID: in.request.DesiredID}
	found := ""
	if m.account != nil {
		data.HolderID, found = m.account.Login, "account "+m.account.Login
	} else {
		data.PendingRef, found = m.pending.Reference, "pending "+m.pending.Reference
	}
	if err := in.tx.Audit(in.now, "desk", in.request.ID, "identity_match", found); err != nil {
		return err
	}
	if err := d.queue(in, notice{kind: "operator_identity_match", to: d.cfg.Operators, lang: d.cfg.Desk.Language, data: data}); err != nil {
		return err
	}
	if m.account == nil {
		return nil
	}
	return d.queue(in, notice{kind: "new_id_existing_account", to: d.registeredAddresses(m.account), lang: in.lang,
		data: &aboutID{ID: m.account.Login}})
}
