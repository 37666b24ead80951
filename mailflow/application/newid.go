// Package application checks a new personal ID application against every
// rule of the seeds, the same way whether it came as a mail form or as a
// row of a bulk registration CSV.
package application

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// NewID is a checked new personal ID application.
type NewID struct {
	Fields      map[string]string // what may be stored: no secret
	Password    string
	DesiredID   string
	IdentityKey string // normalised names and birth date: one ID per person
}

// IDTaken reports whether an ID is issued or reserved by an open request.
type IDTaken func(id string) (bool, error)

// CheckNewID applies every rule to the fields of a new ID form (keys of
// forms.KindNewID); now is the desk's local time, for birth dates. Every
// problem is returned, refusals and warnings apart.
func CheckNewID(f map[string]string, now time.Time, taken IDTaken) (app NewID, problems, warnings []rules.Problem, err error) {
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
	app.Fields = map[string]string{}
	for _, key := range []string{"family_name", "given_name", "institution", "department"} {
		if v := strings.TrimSpace(f[key]); v != "" {
			if len([]rune(v)) > 100 {
				add([]rules.Problem{TooLong(key, 100)})
			}
			app.Fields[key] = v
		}
	}
	for _, key := range []string{"family_reading", "given_reading"} {
		if !missing[key] {
			kana, ps := rules.NormalizeReading(key, f[key])
			add(ps)
			app.Fields[key] = kana
		}
	}
	if !missing["sex"] {
		sex, ps := rules.ParseSex("sex", f["sex"])
		add(ps)
		app.Fields["sex"] = sex.String()
	}
	var birth string
	if !missing["birth_date"] {
		date, ps := rules.ParseDate("birth_date", f["birth_date"], now)
		add(ps)
		if len(ps) == 0 {
			birth = date.String()
			app.Fields["birth_date"] = birth
		}
	}
	if !missing["email"] {
		email, ps := rules.CheckEmail("email", f["email"])
		add(ps)
		app.Fields["email"] = email
	}
	if !missing["eligibility"] {
		n, ps := rules.ParseEligibility("eligibility", f["eligibility"])
		add(ps)
		if len(ps) == 0 {
			app.Fields["eligibility"] = strconv.Itoa(n)
		}
	}
	id := strings.TrimSpace(f["desired_id"])
	if !missing["desired_id"] {
		idProblems := rules.CheckID("desired_id", id, rules.Personal)
		add(idProblems)
		if !hasRefusal(idProblems) && taken != nil {
			isTaken, err := taken(id)
			if err != nil {
				return app, nil, nil, err
			}
			if isTaken {
				add([]rules.Problem{IDTakenProblem(id)})
			}
		}
		app.DesiredID = id
	}
	if !missing["password"] {
		app.Password = f["password"]
		add(rules.CheckPassword("password", app.Password, id))
		if !missing["password_confirm"] && f["password_confirm"] != app.Password {
			add([]rules.Problem{ConfirmMismatch("password_confirm")})
		}
	}
	if birth != "" {
		app.IdentityKey = IdentityKey(f["family_name"], f["given_name"], birth)
	}
	return app, problems, warnings, nil
}

// IdentityKey is how a person is found again: names after NFKC without
// spaces, and the birth date as yyyy-mm-dd.
func IdentityKey(family, given, birth string) string {
	return rules.NormalizeName(family) + "|" + rules.NormalizeName(given) + "|" + birth
}

func hasRefusal(ps []rules.Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// IDTakenProblem says an ID is not free.
func IDTakenProblem(id string) rules.Problem {
	return rules.Problem{Field: "desired_id", Code: "id.taken",
		JA: fmt.Sprintf("ID「%s」はすでに使われているか、申請中です。別のIDをご指定ください。", id),
		EN: fmt.Sprintf("The ID %q is already taken or applied for. Please choose another.", id)}
}

// TooLong says a text field is longer than max characters.
func TooLong(field string, max int) rules.Problem {
	return rules.Problem{Field: field, Code: "text.too_long",
		JA: fmt.Sprintf("%d文字以内でご記入ください。", max),
		EN: fmt.Sprintf("Please use at most %d characters.", max)}
}

// ConfirmMismatch says the password and its confirmation differ.
func ConfirmMismatch(field string) rules.Problem {
	return rules.Problem{Field: field, Code: "password.confirm_mismatch",
		JA: "確認用のパスワードが一致しません。", EN: "The two passwords do not match."}
}
