package rules

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		pw, id string
		want   []string
	}{
		{"Gk7vQz2x#Lp", "yamada-tk", nil},
		{"Rw9mTq4z!Hv", "smith-al", nil},
		{"Hq3wZr8n!", "suzuki-ic", nil},
		{"Gk7vQz2", "yamada-tk", []string{"password.length"}},
		{"Gk7vQz2x Lp", "yamada-tk", []string{"password.invalid_char"}},
		{"Gk7vQz2xé", "yamada-tk", []string{"password.invalid_char"}},
		{"GK7VQZ2X#lp", "yamada-tk", []string{"password.no_lower"}},
		{"gk7vqz2x#Lp", "yamada-tk", []string{"password.no_upper"}},
		{"GkTvQzWx#9p", "yamada-tk", []string{"password.no_digit"}},
		{"Gk7vQz2x#Yamada-TK", "yamada-tk", []string{"password.contains_id"}},
		{"Gk7vQz2x#yamada-tk", "", nil}, // no ID yet: nothing to compare
		{"Gk7vQz2x#Apple", "yamada-tk", []string{"password.dictionary"}},
		{"Gk7v2XhOUSEq", "yamada-tk", []string{"password.dictionary"}}, // inside a longer run of letters
		{"Gk7v#Lpabcdz", "yamada-tk", []string{"password.sequence"}},
		{"Gk7v#LpZYXW", "yamada-tk", []string{"password.sequence"}},
		{"Gk7v#Lp6543", "yamada-tk", []string{"password.keyboard", "password.sequence"}}, // digit runs are key runs too
		{"Gk7v#Lp:ASDF", "yamada-tk", []string{"password.keyboard"}},
		{"Gk7v#Lp!rewq", "yamada-tk", []string{"password.keyboard"}},
		{"Gk7v#Lp!zxcv", "yamada-tk", []string{"password.keyboard"}},
		{"Gk2v#Lp!7890", "yamada-tk", []string{"password.keyboard"}},
		{"Gk2v#Lp!0987", "yamada-tk", []string{"password.keyboard"}},
		{"Gk2v#Lp!op@[", "yamada-tk", []string{"password.keyboard"}}, // JIS row
		{"Gk2v#Lp!kl;'", "yamada-tk", []string{"password.keyboard"}}, // US row
		{"abcd1234", "", []string{"password.keyboard", "password.no_upper", "password.sequence"}},
		{"", "", []string{"password.length", "password.no_digit", "password.no_lower", "password.no_upper"}},
	}
	for _, tt := range tests {
		ps := CheckPassword("password", tt.pw, tt.id)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if got := codes(ps); !slices.Equal(got, want) {
			t.Errorf("CheckPassword(%q, %q) = %v, want %v", tt.pw, tt.id, got, want)
		}
		for _, p := range ps {
			if p.Field != "password" || p.Warning {
				t.Errorf("CheckPassword(%q): bad problem %+v", tt.pw, p)
			}
			if tt.pw != "" && (strings.Contains(p.JA, tt.pw) || strings.Contains(p.EN, tt.pw)) {
				t.Errorf("CheckPassword(%q): problem text contains the password: %+v", tt.pw, p)
			}
		}
	}
}

func TestDictionary(t *testing.T) {
	ws := dictionary()
	if ws.len() < 2000 {
		t.Fatalf("dictionary has %d words, want at least 2000", ws.len())
	}
	for i := range ws.len() {
		w := ws.word(i)
		if len(w) < minWordLen || !all(w, isLowerLetter) {
			t.Fatalf("dictionary word %q is not %d+ lower-case letters", w, minWordLen)
		}
		if i > 0 && ws.word(i-1) >= w {
			t.Fatalf("dictionary words %q and %q are not sorted and distinct", ws.word(i-1), w)
		}
		if !ws.has(w) {
			t.Fatalf("has(%q) = false for a word of the dictionary", w)
		}
	}
	for _, absent := range []string{"", "a", "zzzzzzzzzzzz", "aaaaa", "applex"} {
		if ws.has(absent) {
			t.Errorf("has(%q) = true", absent)
		}
	}
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"apple", true}, {"xxapplexx", true}, {"appl", false}, {"app1e", false}, {"gkvqz", false}, {"", false},
	} {
		if got := ws.containsWord(tt.s); got != tt.want {
			t.Errorf("containsWord(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestCheckFacilityPassword(t *testing.T) {
	tests := []struct {
		pw   string
		want []string
	}{
		{"abc123!x", nil},
		{"ab12!", []string{"facility_password.length"}},
		{"abcdefg1", []string{"facility_password.no_symbol"}},
		{"abcdefg!", []string{"facility_password.no_digit"}},
		{"1234567!", []string{"facility_password.no_letter"}},
		{"abc 123!", []string{"facility_password.invalid_char"}},
		{"ａｂｃ１２３！ｘ", []string{"facility_password.invalid_char", "facility_password.no_digit",
			"facility_password.no_letter", "facility_password.no_symbol"}},
	}
	for _, tt := range tests {
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if got := codes(CheckFacilityPassword("facility_password", tt.pw)); !slices.Equal(got, want) {
			t.Errorf("CheckFacilityPassword(%q) = %v, want %v", tt.pw, got, want)
		}
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	dictionary()
	for b.Loop() {
		CheckPassword("password", "Gk7vQz2x#LpmnbvcxzqwrtypsdfghjklZ", "yamada-tk")
	}
}
