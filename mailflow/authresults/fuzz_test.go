package authresults

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		id, results, err := Parse(value)
		if err != nil {
			if results != nil {
				t.Fatalf("results %v returned with error %v", results, err)
			}
			return
		}
		if id == "" {
			t.Fatal("empty authserv-id without an error")
		}
		for _, r := range results {
			if r.Method == "" || r.Value == "" || r.Value != strings.ToLower(r.Value) {
				t.Fatalf("malformed result %+v", r)
			}
		}
	})
}

func FuzzCheck(f *testing.F) {
	for _, s := range samples {
		f.Add(s, attackForged, op)
	}
	f.Add(attackMX, attackForged, "ops@madoguchi.test")
	f.Fuzz(func(t *testing.T, top, lower, from string) {
		v := Check([]string{top, lower}, mx, from)
		own := ""
		for _, h := range []string{top, lower} {
			if id, _, _ := Parse(h); equalFoldASCII(id, mx) {
				own = h
				break
			}
		}
		if v.Pass {
			// A pass comes from a token really written in the MX's header.
			ownLower := strings.ToLower(own)
			if !strings.Contains(ownLower, v.Method) || !strings.Contains(ownLower, "pass") {
				t.Fatalf("pass by %s, not in the MX's header %q", v.Method, own)
			}
		}
		if own == top {
			// Once the MX has spoken, nothing below it changes the verdict.
			alone := Check([]string{top}, mx, from)
			if alone.Pass != v.Pass || alone.Method != v.Method || alone.Why != v.Why {
				t.Fatalf("lower header changed the verdict: %+v, alone %+v", v, alone)
			}
		}
	})
}
