package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example as shipped: no two desks write one file, and each derived
// path is the top-level one with the desk's name added.
func TestExampleDesksWriteTheirOwnFiles(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, func(string) string { return "secret" })
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if len(cfg.AllDesks()) < 2 {
		t.Fatalf("the example has %d desks; it shows two", len(cfg.AllDesks()))
	}
	writer := map[string]string{}
	for _, dc := range cfg.AllDesks() {
		keys := map[string]bool{}
		for _, w := range dc.WrittenFiles() {
			keys[w.Key] = true
			if prev, shared := writer[w.Path]; shared {
				t.Errorf("%s is written by %s and by desk %s (%s)", w.Path, prev, dc.Name, w.Key)
			}
			writer[w.Path] = "desk " + dc.Name + " (" + w.Key + ")"
		}
		for _, key := range []string{"database.path", "forwarding.postfix_map", "forwarding.csv", "jobs.status_text", "jobs.status_html"} {
			if !keys[key] {
				t.Errorf("desk %s writes no %s", dc.Name, key)
			}
		}
	}
	f := cfg.Desks[0]
	for _, c := range []struct{ got, want string }{
		{f.Database.Path, "/var/lib/madoguchi/madoguchi-facility.db"},
		{f.Forwarding.PostfixMap, "/var/lib/madoguchi/virtual_forwarding-facility"},
		{f.Forwarding.CSV, "/var/lib/madoguchi/forwarding-facility.csv"},
		{f.Jobs.StatusText, "/var/lib/madoguchi/status-facility.txt"},
		{f.Jobs.StatusHTML, "/var/lib/madoguchi/status-facility.html"},
	} {
		if c.got != c.want {
			t.Errorf("facility desk: %s, want %s", c.got, c.want)
		}
	}
}

// checkBase is a valid two-desk file; each case below adds or replaces
// lines.
const checkBase = `desk: {address: touroku@example.jp, domain: example.jp}
imap: {address: "imap.example.jp:993", username: touroku, password_env: IMAP_PW}
smtp:
  address: "smtp.example.jp:587"
  username: touroku
  password_env: SMTP_PW
database: {path: /var/lib/madoguchi/desk.db}
forwarding: {postfix_map: /var/lib/madoguchi/virtual, csv: /var/lib/madoguchi/forwarding.csv}
jobs: {status_text: /var/lib/madoguchi/status.txt}
operators: [ops@example.jp]
operator_auth: {authserv_id: mx.example.jp}
desks:
  - name: facility
    service: facility
    desk: {address: canreg@example.jp}
    imap: {username: canreg, password_env: FACILITY_PW}
    operators: [canreg-ops@example.jp]
    facility: {facility_list: /etc/madoguchi/facilities.csv}
`

var allSecrets = map[string]string{"IMAP_PW": "i", "SMTP_PW": "s", "FACILITY_PW": "f"}

func without(vars map[string]string, drop ...string) map[string]string {
	out := map[string]string{}
	for k, v := range vars {
		out[k] = v
	}
	for _, d := range drop {
		delete(out, d)
	}
	return out
}

// Every rule run applies is applied at load, in one pass over every desk;
// each problem names its key (and desk when there are several).
func TestLoadRefuses(t *testing.T) {
	for _, c := range []struct {
		name, old, new string
		env            map[string]string
		want           []string // each must appear; none: the file is valid
	}{
		{"valid", "", "", allSecrets, nil},
		{"invalid cron", "jobs: {", `jobs: {digest: "0 25 * * *", `, allSecrets, []string{`line 9: jobs.digest: "0 25 * * *" is not a cron schedule`, "above maximum", "(desks id, facility)"}},
		{"cron with four fields", "jobs: {", `jobs: {reminders: "0 9 * *", `, allSecrets, []string{"jobs.reminders:", "expected exactly 5 fields"}},
		{"facility cron", "facility: {", `facility: {verify_reminders: "61 * * * *", `, allSecrets, []string{"line 18: desks[0].facility.verify_reminders:", "(desk facility)"}},
		{"id desk ignores the facility cron", "desk: {address: touroku", "facility: {verify_reminders: nonsense}\ndesk: {address: touroku", allSecrets, []string{`line 1: facility.verify_reminders: "nonsense" is not a cron schedule`, "(desk facility)"}},
		{"missing facility_list", "    facility: {facility_list: /etc/madoguchi/facilities.csv}\n", "", allSecrets, []string{"line 13: desks[0].facility.facility_list: is required for a facility desk"}},
		{"smtp without AUTH needs no password", "  username: touroku\n", "", without(allSecrets, "SMTP_PW"), nil},
		{"smtp with AUTH needs its password", "", "", without(allSecrets, "SMTP_PW"), []string{"line 6: smtp.password_env: environment variable SMTP_PW is empty or unset (desks id, facility)"}},
		{"every desk's secret in one pass", "", "", nil, []string{"line 2: imap.password_env:", "(desk id)", "line 16: desks[0].imap.password_env: environment variable FACILITY_PW", "smtp.password_env"}},
		{"two desks share the forwarding map", "    operators: [canreg-ops@example.jp]\n", "    operators: [canreg-ops@example.jp]\n    forwarding: {postfix_map: /var/lib/madoguchi/virtual}\n",
			allSecrets, []string{"line 18: desks[0].forwarding.postfix_map: /var/lib/madoguchi/virtual is also written by desk id (forwarding.postfix_map, line 8)", "(desk facility)"}},
		{"two desks share the database", "    operators: [canreg-ops@example.jp]\n", "    operators: [canreg-ops@example.jp]\n    database: {path: /var/lib/madoguchi/desk.db}\n",
			allSecrets, []string{"desks[0].database.path: /var/lib/madoguchi/desk.db is also written by desk id (database.path, line 7)"}},
		{"one desk writes one file twice", "jobs: {", "jobs: {status_html: /var/lib/madoguchi/forwarding.csv, ", allSecrets, []string{"jobs.status_html: /var/lib/madoguchi/forwarding.csv is also this desk's forwarding.csv, line 8"}},
		{"two desks named alike", "  - name: facility\n", "  - name: id\n", allSecrets, []string{`line 13: desks[0].name: "id" is the name of another desk`}},
		{"name with a slash", "  - name: facility\n", "  - name: a/b\n", allSecrets, []string{`desks[0].name: "a/b" must not contain slashes`}},
		{"unknown key in a desk", "    service: facility\n", "    service: facility\n    servce: id\n", allSecrets, []string{"line 15: desks[0].servce: unknown key"}},
		{"desks not a list", "desks:\n  - name: facility\n", "desks:\n  facility:\n", allSecrets, []string{"line 12: desks: must be a list of desks"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := checkBase
			if c.old != "" {
				if !strings.Contains(text, c.old) {
					t.Fatalf("the case's line %q is not in the base", c.old)
				}
				text = strings.Replace(text, c.old, c.new, 1)
			}
			_, err := Parse([]byte(text), func(k string) string { return c.env[k] })
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused:\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", text)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in:\n%v", w, err)
				}
			}
		})
	}
}

// Lines are those of the file as written, also deep in a desks: block
// (they were those of the file re-encoded without comments).
func TestLinesWithDesks(t *testing.T) {
	padding := strings.Repeat("# a comment that moves the desks down\n", 60)
	text := strings.Replace(checkBase, "desks:\n", padding+"desks:\n", 1)
	for _, c := range []struct {
		name, old, new string
		want           string // with LINE for the line of the changed text
	}{
		{"unknown key", "    service: facility\n", "    service: facility\n    servce: id\n", "line LINE: desks[0].servce: unknown key"},
		{"wrong type", "    service: facility\n", "    service: facility\n    limits: {max_attachments: many}\n", "line LINE: desks[0].limits.max_attachments: cannot unmarshal"},
		{"bad value", "    desk: {address: canreg@example.jp}\n", "    desk: {address: not-an-address}\n", `line LINE: desks[0].desk.address: "not-an-address" is not a bare e-mail address`},
		{"bad cron", "    service: facility\n", "    service: facility\n    jobs: {digest: \"0 25 * * *\"}\n", "line LINE: desks[0].jobs.digest:"},
		{"missing env", "    imap: {username: canreg, password_env: FACILITY_PW}\n", "    imap: {username: canreg, password_env: UNSET_PW}\n", "line LINE: desks[0].imap.password_env: environment variable UNSET_PW"},
	} {
		t.Run(c.name, func(t *testing.T) {
			changed := strings.Replace(text, c.old, c.new, 1)
			line := strings.Count(changed[:strings.Index(changed, c.new)+len(c.new)-1], "\n") + 1
			if line < 70 {
				t.Fatalf("the case's key is on line %d: the test wants it on line 70 or later", line)
			}
			_, err := Parse([]byte(changed), env(allSecrets))
			want := strings.ReplaceAll(c.want, "LINE", fmt.Sprint(line))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want %q in:\n%v", want, err)
			}
		})
	}
}

// A key set at the top level and broken for every desk is reported once,
// naming the desks; the findings come in the order of the file.
func TestProblemsInFileOrderOncePerKey(t *testing.T) {
	text := strings.Replace(checkBase, "jobs: {", `jobs: {digest: "x", `, 1)
	text = strings.Replace(text, "desk: {address: canreg@example.jp}", "desk: {address: canreg}", 1)
	_, err := Parse([]byte(text), env(without(allSecrets, "SMTP_PW")))
	p, ok := err.(Problems)
	if !ok {
		t.Fatalf("err %T %v", err, err)
	}
	want := []string{"line 6: smtp.password_env:", "line 9: jobs.digest:", "line 15: desks[0].desk.address:"}
	if len(p) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(p), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(p[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, p[i], w)
		}
	}
}
