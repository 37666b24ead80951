package desk

import (
	"strings"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// identity is a person as the reset and review forms state it (seed 002):
// names, their readings, sex and birth date.
type identity struct {
	family, given               string
	familyReading, givenReading string // katakana
	sex                         string
	birth                       string // yyyy-mm-dd
}

// key is what accounts are looked up by: names after NFKC and without
// spaces, and the birth date.
func (p identity) key() string {
	return application.IdentityKey(p.family, p.given, p.birth)
}

func (p identity) fields() map[string]string {
	return map[string]string{"family_name": p.family, "given_name": p.given, "family_reading": p.familyReading,
		"given_reading": p.givenReading, "sex": p.sex, "birth_date": p.birth}
}

// checkIdentity reads and checks the identity fields of a form; every
// problem is returned, by field.
func (d *Desk) checkIdentity(in *inbound, f map[string]string) (identity, []rules.Problem) {
	var p identity
	var problems []rules.Problem
	for _, key := range []string{"family_name", "given_name", "family_reading", "given_reading", "sex", "birth_date"} {
		problems = append(problems, rules.Required(key, f[key])...)
	}
	if len(problems) > 0 {
		return p, problems
	}
	p.family, p.given = strings.TrimSpace(f["family_name"]), strings.TrimSpace(f["given_name"])
	var ps []rules.Problem
	p.familyReading, ps = rules.NormalizeReading("family_reading", f["family_reading"])
	problems = append(problems, ps...)
	p.givenReading, ps = rules.NormalizeReading("given_reading", f["given_reading"])
	problems = append(problems, ps...)
	sex, ps := rules.ParseSex("sex", f["sex"])
	problems = append(problems, ps...)
	p.sex = sex.String()
	date, ps := rules.ParseDate("birth_date", f["birth_date"], in.now.In(d.cfg.Desk.Location))
	problems = append(problems, ps...)
	if len(ps) == 0 {
		p.birth = date.String()
	}
	return p, problems
}

// matchAccounts finds the accounts of a person: same names and birth date,
// same readings (hiragana and katakana compare equal) and sex, and the
// given login when one was stated.
func matchAccounts(tx *store.Tx, p identity, login string) ([]*store.Account, error) {
	candidates, err := tx.AccountsByIdentity(p.key())
	if err != nil {
		return nil, err
	}
	var out []*store.Account
	for _, a := range candidates {
		fr, _ := rules.NormalizeReading("", a.FamilyReading)
		gr, _ := rules.NormalizeReading("", a.GivenReading)
		if fr != p.familyReading || gr != p.givenReading || a.Sex != p.sex {
			continue
		}
		if login != "" && a.Login != login {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// registeredAddresses are where codes and completion notices go: the
// registered address and the ID's own mailbox, never an unregistered From;
// for 30 days after an address change, the previous address too.
func (d *Desk) registeredAddresses(a *store.Account) []string {
	out := []string{strings.ToLower(a.Login + "@" + d.cfg.Desk.Domain)}
	if a.Email != "" && !strings.EqualFold(a.Email, out[0]) {
		out = append([]string{strings.ToLower(a.Email)}, out...)
	}
	if a.PreviousEmail != "" && d.now().Before(a.EmailChangedAt.Add(previousAddressGrace)) && !containsFold(out, a.PreviousEmail) {
		out = append(out, strings.ToLower(a.PreviousEmail))
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
