package rules

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// acceptedIDRe is what CheckID lets through without a refusal.
var acceptedIDRe = regexp.MustCompile(`^[a-z][a-z0-9]*-[a-z0-9]+$`)

func FuzzCheckPassword(f *testing.F) {
	for _, s := range []string{"Gk7vQz2x#Lp", "Rw9mTq4z!Hv", "Hq3wZr8n!", "abcd1234", "password", "", "ﾊﾟｽﾜｰﾄﾞ1A", "Yamada-TK99x", "\x00\xff"} {
		f.Add(s, "yamada-tk")
	}
	f.Add("Gk7vQz2x#Lp", "")
	f.Fuzz(func(t *testing.T, pw, id string) {
		ps := CheckPassword("password", pw, id)
		for _, p := range ps {
			// Texts come only from the fixed table, so no part of pw can leak.
			m, ok := passwordMessages[p.Code]
			if !ok || p.JA != m.ja || p.EN != m.en || p.Field != "password" || p.Warning {
				t.Fatalf("CheckPassword(%q): unexpected problem %+v", pw, p)
			}
			if len(pw) >= 3 && !strings.Contains(m.ja+m.en, pw) && (strings.Contains(p.JA, pw) || strings.Contains(p.EN, pw)) {
				t.Fatalf("CheckPassword(%q): problem text contains the password", pw)
			}
		}
		if len(ps) == 0 && (len(pw) < passwordMinLen || !printableASCII(pw)) {
			t.Fatalf("CheckPassword(%q) accepted a short or non-ASCII password", pw)
		}
	})
}

func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"yamada-tk", "Sato_Hanako", "acme-com", "a-b", "-", "", "1-a", "やまだ-tk", "a--b", "\xff-a"} {
		f.Add(s, int(Personal))
	}
	f.Add("acme-com", int(Outsourcing))
	f.Fuzz(func(t *testing.T, id string, kind int) {
		k := IDKind(kind)
		ps := CheckID("desired_id", id, k)
		refused := false
		for _, p := range ps {
			if p.Field != "desired_id" || p.JA == "" || p.EN == "" {
				t.Fatalf("CheckID(%q): incomplete problem %+v", id, p)
			}
			refused = refused || !p.Warning
		}
		if refused {
			return
		}
		if n := utf8.RuneCountInString(id); !acceptedIDRe.MatchString(id) || n < idMinLen || n > idMaxLen {
			t.Fatalf("CheckID(%q) accepted an ID outside the rules", id)
		}
		if strings.HasSuffix(id, outsourcingSuffix) != (k == Outsourcing) {
			t.Fatalf("CheckID(%q, %v) accepted a wrong -com use", id, k)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"1985/04/01", "19850401", "昭和６０年４月１日", "S60.4.1", "平成元年1月8日", "昭和64年1月8日",
		"2001/02/30", "令和99年99月99日", "", "年月日", "M1.1.1"} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 15, 10, 0, 0, 0, time.FixedZone("JST", 9*60*60))
	f.Fuzz(func(t *testing.T, s string) {
		d, ps := ParseDate("birth_date", s, now)
		if len(ps) > 0 {
			if d != (Date{}) || len(ps) != 1 {
				t.Fatalf("ParseDate(%q) = %v with %d problems", s, d, len(ps))
			}
			return
		}
		if !d.valid() || d.Time(time.UTC).After(now) || d.Year < now.Year()-maxAge {
			t.Fatalf("ParseDate(%q) accepted %v", s, d)
		}
		// The canonical form must read back to the same date.
		if d2, ps := ParseDate("birth_date", d.String(), now); d2 != d || len(ps) != 0 {
			t.Fatalf("ParseDate(%q) = %v does not round-trip: %v %v", s, d, d2, ps)
		}
	})
}
