package desk

import (
	"reflect"
	"testing"
)

func TestParseCommands(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []command
	}{
		{"approve\n", []command{{verb: "approve", line: "approve"}}},
		{"Approve\n\n> quoted approve\n", []command{{verb: "approve", line: "Approve"}}},
		{"承認\n", []command{{verb: "approve", line: "承認"}}},
		{"reject: 所属が確認できません\n", []command{{verb: "reject", text: "所属が確認できません", line: "reject: 所属が確認できません"}}},
		{"却下：所属が確認できません\n", []command{{verb: "reject", text: "所属が確認できません", line: "却下:所属が確認できません"}}},
		{"documents-received\napprove\n", []command{{verb: "documents-received", line: "documents-received"}, {verb: "approve", line: "approve"}}},
		{"need more documents: ID copy\n", []command{{verb: "need-documents", text: "ID copy", line: "need more documents: ID copy"}}},
		{"ＦＡＸ受領\n", []command{{verb: "documents-received", line: "FAX受領"}}},
		{"note: called the applicant\n", []command{{verb: "note", text: "called the applicant", line: "note: called the applicant"}}},
		{"approved-ish, see below\n", nil},
		{"Thanks, I will check.\napprove\n", nil},
		{"> approve\n", nil},
		{"", nil},
	} {
		got, _ := parseCommands(tc.body)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCommands(%q) = %+v, want %+v", tc.body, got, tc.want)
		}
	}
}

func TestMaskSecrets(t *testing.T) {
	got := maskSecrets("pw Gk7vQz2x#Lp and again Gk7vQz2x#Lp; short ab", []string{"Gk7vQz2x#Lp", "ab"})
	if got != "pw ******** and again ********; short ab" {
		t.Errorf("maskSecrets = %q", got)
	}
}
