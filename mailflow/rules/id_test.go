package rules

import (
	"slices"
	"testing"
)

func codes(ps []Problem) []string {
	var cs []string
	for _, p := range ps {
		cs = append(cs, p.Code)
	}
	slices.Sort(cs)
	return cs
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		id   string
		kind IDKind
		want []string
	}{
		{"yamada-tk", Personal, nil},
		{"a-b", Personal, nil},
		{"abcdefghij-klmnopqrs", Personal, nil}, // 20 characters
		{"ab", Personal, []string{"id.length", "id.no_hyphen"}},
		{"abcdefghij-klmnopqrst", Personal, []string{"id.length"}},
		{"Yamada-tk", Personal, []string{"id.upper"}},
		{"yamada_tk", Personal, []string{"id.no_hyphen", "id.underscore"}},
		{"yamada.tk-x", Personal, []string{"id.invalid_char"}},
		{"やまだ-tk", Personal, []string{"id.invalid_char", "id.first_letter"}},
		{"yamadatk", Personal, []string{"id.no_hyphen"}},
		{"yamada-t-k", Personal, []string{"id.many_hyphens"}},
		{"1yamada-tk", Personal, []string{"id.digits", "id.first_letter"}},
		{"-yamada", Personal, []string{"id.first_letter"}},
		{"yamada-", Personal, []string{"id.hyphen_last"}},
		{"yamada-tk2", Personal, []string{"id.digits"}},
		{"tanaka-com", Personal, []string{"id.com_reserved"}},
		{"tanaka-com", Group, []string{"id.com_reserved"}},
		{"acme-com", Outsourcing, nil},
		{"acme-tk", Outsourcing, []string{"id.outsourcing_form"}},
		{"Sato_Hanako", Personal, []string{"id.no_hyphen", "id.underscore", "id.upper"}},
		{"Sato_Hanako_From_Tokyo", Personal, []string{"id.length", "id.no_hyphen", "id.underscore", "id.upper"}},
		{"", Personal, []string{"required"}},
	}
	for _, tt := range tests {
		ps := CheckID("desired_id", tt.id, tt.kind)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if got := codes(ps); !slices.Equal(got, want) {
			t.Errorf("CheckID(%q, %v) = %v, want %v", tt.id, tt.kind, got, want)
		}
		for _, p := range ps {
			if p.Field != "desired_id" || p.JA == "" || p.EN == "" {
				t.Errorf("CheckID(%q): incomplete problem %+v", tt.id, p)
			}
			if p.Warning != (p.Code == "id.digits") {
				t.Errorf("CheckID(%q): %s has Warning=%v", tt.id, p.Code, p.Warning)
			}
		}
	}
}

func TestIDKind(t *testing.T) {
	for k, want := range map[IDKind]string{Personal: "personal", Outsourcing: "outsourcing", Position: "position",
		Business: "business", Management: "management", Group: "group", IDKind(99): "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("IDKind(%d).String() = %q, want %q", int(k), got, want)
		}
		if got := k.SelfService(); got != (k == Personal) {
			t.Errorf("%v.SelfService() = %v", k, got)
		}
	}
}

func TestProblemText(t *testing.T) {
	p := Problem{JA: "日本語", EN: "English"}
	if p.Text("en") != "English" || p.Text("ja") != "日本語" || p.Text("") != "日本語" {
		t.Errorf("Text picks the wrong language: %q %q", p.Text("en"), p.Text("ja"))
	}
}

func TestRequired(t *testing.T) {
	for _, v := range []string{"", " ", "\u3000\t"} {
		if ps := Required("f", v); len(ps) != 1 || ps[0].Code != "required" || ps[0].Field != "f" {
			t.Errorf("Required(%q) = %+v", v, ps)
		}
	}
	if ps := Required("f", " x "); ps != nil {
		t.Errorf("Required(\" x \") = %+v", ps)
	}
}
