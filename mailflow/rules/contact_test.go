package rules

import "testing"

func TestParseEligibility(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"1", 1}, {"5", 5}, {"１", 1}, {"(3)", 3}, {"（３）", 3}, {"2.", 2}, {" 4 ", 4}, {"④", 4},
		{"0", 0}, {"6", 0}, {"12", 0}, {"one", 0}, {"", 0}, {"()", 0},
	}
	for _, tt := range tests {
		got, ps := ParseEligibility("eligibility", tt.in)
		if got != tt.want || (len(ps) == 0) != (tt.want != 0) {
			t.Errorf("ParseEligibility(%q) = %d, %v; want %d", tt.in, got, codes(ps), tt.want)
		}
		if tt.want == 0 && tt.in != "" && (len(ps) != 1 || ps[0].Code != "eligibility.range") {
			t.Errorf("ParseEligibility(%q) problems = %v", tt.in, codes(ps))
		}
	}
}

func TestCheckEmail(t *testing.T) {
	tests := []struct {
		in, want, code string
	}{
		{"hanako@west.example.ac.jp", "hanako@west.example.ac.jp", ""},
		{" Hanako@West.Example.AC.JP ", "Hanako@west.example.ac.jp", ""},
		{"ｈａｎａｋｏ＠ｗｅｓｔ．ｅｘａｍｐｌｅ．ｊｐ", "hanako@west.example.jp", ""},
		{"山田 <hanako@example.jp>", "hanako@example.jp", ""},
		{"hanako.y+lab@mail-1.example.jp", "hanako.y+lab@mail-1.example.jp", ""},
		{"hanako@west", "", "email.domain"},
		{"hanako@-west.jp", "", "email.domain"},
		{"hanako@west..jp", "", "email.invalid"},
		{"hanako@[192.0.2.1]", "", "email.domain"},
		{"hanako@192.0.2.1", "", "email.domain"},
		{"hanako@例え.jp", "", "email.domain"},
		{"はなこ@example.jp", "", "email.invalid"},
		{"hanako", "", "email.invalid"},
		{"hanako@", "", "email.invalid"},
		{"@example.jp", "", "email.invalid"},
		{"a@b@example.jp", "", "email.invalid"},
		{"", "", "required"},
	}
	for _, tt := range tests {
		got, ps := CheckEmail("email", tt.in)
		code := ""
		if len(ps) > 0 {
			code = ps[0].Code
		}
		if got != tt.want || code != tt.code || len(ps) > 1 {
			t.Errorf("CheckEmail(%q) = %q, %v; want %q, %q", tt.in, got, codes(ps), tt.want, tt.code)
		}
	}
}
