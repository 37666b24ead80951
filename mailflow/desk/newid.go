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
		err := d.queue(in, notice{kind: "new_id_invalid", to: []string{in.from}, data: noticeData{
			Problems: lines(forms.KindNewID, in.lang, problems),
			Warnings: lines(forms.KindNewID, in.lang, warnings),
			Form:     forms.Blank(forms.KindNewID, in.lang),
		}})
		if err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, fmt.Sprintf("new ID application refused: %d problems", len(problems)))
	}

	// One personal ID per person (000, 001 FAQ 1.2).
	existing, err := in.tx.AccountsByIdentity(app.identityKey)
	if err != nil {
		return result{}, err
	}
	for _, a := range existing {
		if a.Kind == store.AccountPersonal {
			if err := d.queue(in, notice{kind: "new_id_existing_account", to: []string{in.from}, ccOperators: true}); err != nil {
				return result{}, err
			}
			return d.finish(in, outcomeAnswered, "applicant already holds a personal ID")
		}
	}
	if pending, err := in.tx.OpenRequestByIdentity(KindNewID, app.identityKey); err == nil {
		if err := d.queue(in, notice{kind: "new_id_already_pending", to: []string{in.from}, data: noticeData{Ref: pending.Reference}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, "application already pending as "+pending.Reference)
	} else if !errors.Is(err, store.ErrNotFound) {
		return result{}, err
	}

	// Hash last: it is the one expensive step, so refused forms never pay it.
	hash, capped, err := d.hashFor(in, app.password)
	if err != nil {
		return result{}, err
	}
	if capped {
		return d.tooManyRequests(in, KindNewID, "password hashes for "+in.from+" this hour")
	}
	ref, err := in.tx.NextReference(d.cfg.Desk.ReferencePrefix, in.now.In(d.cfg.Desk.Location).Year())
	if err != nil {
		return result{}, err
	}
	req := &store.Request{
		Reference: ref, Kind: KindNewID, State: store.StateAwaitingDocuments, Applicant: in.from,
		Lang: in.lang, Fields: app.fields, PasswordHash: hash, DesiredID: app.desiredID,
		IdentityKey: app.identityKey, ThreadRoot: in.msg.MessageID, CreatedAt: in.now,
	}
	if err := in.tx.CreateRequest(req); err != nil {
		return result{}, err
	}
	in.request, in.requestID = req, req.ID
	if err := in.tx.LinkThreadMessage(in.msg.MessageID, req.ID); err != nil {
		return result{}, err
	}
	if err := in.tx.Audit(in.now, in.from, req.ID, "created", "new ID application for "+app.desiredID); err != nil {
		return result{}, err
	}
	d.emit("state", ref, "new request %s: new ID %q for %s -> %s", ref, app.desiredID, in.from, req.State)

	staff := d.institutionStaff(app.fields["institution"])
	n := notice{kind: "new_id_received", to: []string{in.from}, ccOperators: true, attachments: []store.NoticeAttachment{d.printableForm(req)}, data: noticeData{
		Name:     app.fields["family_name"] + " " + app.fields["given_name"],
		ID:       app.desiredID,
		Warnings: lines(forms.KindNewID, in.lang, warnings),
		Staff:    staff,
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
		func(id string) (bool, error) { return d.idTaken(in, id) })
	app = newIDApplication{fields: checked.Fields, password: checked.Password, desiredID: checked.DesiredID, identityKey: checked.IdentityKey}
	return app, problems, warnings, err
}

// idTaken reports whether an ID is issued or reserved by an open request.
func (d *Desk) idTaken(in *inbound, id string) (bool, error) {
	if used, err := in.tx.LoginEverUsed(id); err != nil || used {
		return used, err
	}
	if _, err := in.tx.OpenRequestByDesiredID(id); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return false, nil
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
