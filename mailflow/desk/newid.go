package desk

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
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
	app, problems, warnings := d.checkNewID(in, form)
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
	hash, err := secret.Hash(app.password, d.hash)
	if err != nil {
		return result{}, err
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
	n := notice{kind: "new_id_received", to: []string{in.from}, ccOperators: true, data: noticeData{
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
func (d *Desk) checkNewID(in *inbound, form forms.Form) (app newIDApplication, problems, warnings []rules.Problem) {
	f := form.Fields
	spec, _ := forms.SpecFor(forms.KindNewID)
	for _, field := range spec.Fields {
		if field.Required {
			problems = append(problems, rules.Required(field.Key, f[field.Key])...)
		}
	}
	missing := map[string]bool{}
	for _, p := range problems {
		missing[p.Field] = true
	}
	add := func(ps []rules.Problem) {
		for _, p := range ps {
			if p.Warning {
				warnings = append(warnings, p)
			} else {
				problems = append(problems, p)
			}
		}
	}
	app.fields = map[string]string{}
	for _, key := range []string{"family_name", "given_name", "institution", "department"} {
		if v := strings.TrimSpace(f[key]); v != "" {
			if len([]rune(v)) > 100 {
				add([]rules.Problem{tooLong(key, 100)})
			}
			app.fields[key] = v
		}
	}
	for _, key := range []string{"family_reading", "given_reading"} {
		if !missing[key] {
			kana, ps := rules.NormalizeReading(key, f[key])
			add(ps)
			app.fields[key] = kana
		}
	}
	if !missing["sex"] {
		sex, ps := rules.ParseSex("sex", f["sex"])
		add(ps)
		app.fields["sex"] = sex.String()
	}
	var birth string
	if !missing["birth_date"] {
		date, ps := rules.ParseDate("birth_date", f["birth_date"], in.now.In(d.cfg.Desk.Location))
		add(ps)
		if len(ps) == 0 {
			birth = date.String()
			app.fields["birth_date"] = birth
		}
	}
	if !missing["email"] {
		email, ps := rules.CheckEmail("email", f["email"])
		add(ps)
		app.fields["email"] = email
	}
	if !missing["eligibility"] {
		n, ps := rules.ParseEligibility("eligibility", f["eligibility"])
		add(ps)
		if len(ps) == 0 {
			app.fields["eligibility"] = strconv.Itoa(n)
		}
	}
	id := strings.TrimSpace(f["desired_id"])
	if !missing["desired_id"] {
		idProblems := rules.CheckID("desired_id", id, rules.Personal)
		add(idProblems)
		if !hasRefusal(idProblems) {
			if taken, err := d.idTaken(in, id); err != nil || taken {
				add([]rules.Problem{idTakenProblem(id)})
			}
		}
		app.desiredID = id
	}
	if !missing["password"] {
		app.password = f["password"]
		add(rules.CheckPassword("password", app.password, id))
		if !missing["password_confirm"] && f["password_confirm"] != app.password {
			add([]rules.Problem{{Field: "password_confirm", Code: "password.confirm_mismatch",
				JA: "確認用のパスワードが一致しません。", EN: "The two passwords do not match."}})
		}
	}
	if birth != "" {
		app.identityKey = rules.NormalizeName(f["family_name"]) + "|" + rules.NormalizeName(f["given_name"]) + "|" + birth
	}
	return app, problems, warnings
}

func hasRefusal(ps []rules.Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// idTaken reports whether an ID is issued or reserved by an open request.
func (d *Desk) idTaken(in *inbound, id string) (bool, error) {
	if _, err := in.tx.AccountByLogin(id); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if _, err := in.tx.OpenRequestByDesiredID(id); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return false, nil
}

func idTakenProblem(id string) rules.Problem {
	return rules.Problem{Field: "desired_id", Code: "id.taken",
		JA: fmt.Sprintf("ID「%s」はすでに使われているか、申請中です。別のIDをご指定ください。", id),
		EN: fmt.Sprintf("The ID %q is already taken or applied for. Please choose another.", id)}
}

func tooLong(field string, max int) rules.Problem {
	return rules.Problem{Field: field, Code: "text.too_long",
		JA: fmt.Sprintf("%d文字以内でご記入ください。", max),
		EN: fmt.Sprintf("Please use at most %d characters.", max)}
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
