package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
)

// checkConfigBase is a valid installation of two desks under DIR. The
// comments put the desks: block past line 70, where its lines were once
// reported wrong.
var checkConfigBase = `desk: {address: touroku@example.jp, domain: example.jp}
imap: {address: "imap.example.jp:993", username: touroku, password_env: T_IMAP_PW}
smtp:
  address: "smtp.example.jp:587"
  username: touroku
  password_env: T_SMTP_PW
database: {path: DIR/db/desk.db}
forwarding: {postfix_map: DIR/out/virtual, csv: DIR/out/forwarding.csv}
jobs: {status_text: DIR/out/status.txt, status_html: DIR/out/status.html}
operators: [ops@example.jp]
operator_auth: {authserv_id: mx.example.jp}
` + strings.Repeat("# the desks: block below starts past line 70\n", 60) + `desks:
  - name: facility
    service: facility
    desk: {address: canreg@example.jp}
    imap: {username: canreg, password_env: T_FACILITY_PW}
    operators: [canreg-ops@example.jp]
    facility: {facility_list: DIR/facilities.csv}
`

// installFixture makes the directories and files the base names, and a
// few broken ones the cases point at.
func installFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"db", "out", "ro", "broken/ja"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"facilities.csv":           "都道府県,医療機関名,コード\n東京都,東都大学病院,131001\n",
		"bad.csv":                  "都道府県,医療機関名\nアトランティス,どこかの病院\n",
		"broken/ja/reset_done.txt": "Subject: パスワードを再設定しました\n\n{{.NoSuchField}}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	return dir
}

var checkSecrets = map[string]string{"T_IMAP_PW": "i", "T_SMTP_PW": "s", "T_FACILITY_PW": "f"}

// check-config finds in one pass what run would refuse, and names each
// problem by key, line and desk. DIR in the texts is the fixture.
func TestCheckConfig(t *testing.T) {
	if lines := strings.Split(checkConfigBase, "\n"); !strings.Contains(lines[78-1], "facility_list") {
		t.Fatalf("line 78 of the base is %q: the wanted lines below are off", lines[78-1])
	}
	for _, c := range []struct {
		name, old, new string
		unset          []string // secrets left out of the environment
		nonRoot        bool     // root writes anywhere
		linux          bool     // /sys refuses new files, to root too
		want           []string // none: valid
	}{
		{name: "valid", want: nil},
		{name: "invalid cron", old: "jobs: {", new: `jobs: {digest: "0 25 * * *", `, want: []string{`line 9: jobs.digest: "0 25 * * *" is not a cron schedule`, "(desks id, facility)"}},
		{name: "missing facility list", old: "DIR/facilities.csv", new: "DIR/none.csv", want: []string{"line 78: desks[0].facility.facility_list: DIR/none.csv cannot be read: no such file", "(desk facility)"}},
		{name: "facility list not parsed", old: "DIR/facilities.csv", new: "DIR/bad.csv", want: []string{"line 78: desks[0].facility.facility_list: DIR/bad.csv: facility list line 2"}},
		{name: "missing database directory", old: "DIR/db/desk.db", new: "DIR/nowhere/desk.db", want: []string{"line 7: database.path: the directory DIR/nowhere does not exist", "(desks id, facility)"}},
		{name: "directory is a file", old: "DIR/out/status.txt", new: "DIR/facilities.csv/status.txt", want: []string{"line 9: jobs.status_text: DIR/facilities.csv is not a directory"}},
		{name: "unwritable directory", old: "DIR/out/virtual", new: "DIR/ro/virtual", nonRoot: true, want: []string{"line 8: forwarding.postfix_map: the directory DIR/ro is not writable by this user"}},
		{name: "directory no one may write to", old: "DIR/out/virtual", new: "/sys/virtual", linux: true, want: []string{"line 8: forwarding.postfix_map: the directory /sys is not writable by this user"}},
		{name: "two desks share a file", old: "    operators: [canreg", new: "    forwarding: {csv: DIR/out/forwarding.csv}\n    operators: [canreg", want: []string{"line 77: desks[0].forwarding.csv: DIR/out/forwarding.csv is also written by desk id (forwarding.csv, line 8)"}},
		{name: "smtp without AUTH needs no password", old: "  username: touroku\n", new: "", unset: []string{"T_SMTP_PW"}, want: nil},
		{name: "every desk's secrets in one pass", unset: []string{"T_IMAP_PW", "T_SMTP_PW", "T_FACILITY_PW"}, want: []string{"line 2: imap.password_env: environment variable T_IMAP_PW is empty or unset (desk id)", "line 6: smtp.password_env:", "line 76: desks[0].imap.password_env: environment variable T_FACILITY_PW"}},
		{name: "unknown key in a desk", old: "    service: facility\n", new: "    service: facility\n    servce: id\n", want: []string{"line 75: desks[0].servce: unknown key"}},
		{name: "broken template override", old: "operators: [ops", new: "templates: {dir: DIR/broken}\noperators: [ops", want: []string{"line 10: templates.dir: DIR/broken/ja/reset_done.txt (sample reset_done)", "NoSuchField", "(desks id, facility)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.nonRoot && os.Geteuid() == 0 {
				t.Skip("root may write to any directory")
			}
			if c.linux && runtime.GOOS != "linux" {
				t.Skip("needs Linux's /sys")
			}
			dir := installFixture(t)
			text := strings.Replace(checkConfigBase, c.old, c.new, 1)
			path := filepath.Join(dir, "madoguchi.yaml")
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "DIR", dir)), 0o644); err != nil {
				t.Fatal(err)
			}
			for k, v := range checkSecrets {
				t.Setenv(k, v)
			}
			for _, k := range c.unset {
				t.Setenv(k, "")
			}
			var stdout, stderr bytes.Buffer
			code := runCommand(context.Background(), []string{"check-config", "-config", path}, &stdout, &stderr)
			if len(c.want) == 0 {
				if code != 0 || !strings.Contains(stdout.String(), "configuration is valid") {
					t.Fatalf("exit %d:\n%s%s", code, stdout.String(), stderr.String())
				}
				return
			}
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s%s", code, stdout.String(), stderr.String())
			}
			for _, w := range c.want {
				if w = strings.ReplaceAll(w, "DIR", dir); !strings.Contains(stderr.String(), w) {
					t.Errorf("no %q in:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// The start (run and once open the desks with app.NewGroup) refuses a
// broken override with its file and the error, before any mail is read.
func TestBrokenOverrideStopsTheStart(t *testing.T) {
	dir := installFixture(t)
	text := strings.Replace(checkConfigBase, "operators: [ops", "templates: {dir: DIR/broken}\noperators: [ops", 1)
	cfg, err := config.Parse([]byte(strings.ReplaceAll(text, "DIR", dir)), func(k string) string { return checkSecrets[k] })
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.NewGroup(context.Background(), cfg, app.Options{})
	if err == nil {
		g.Close()
		t.Fatal("the desks started with a broken override")
	}
	for _, w := range []string{"desk id: templates.dir:", filepath.Join(dir, "broken", "ja", "reset_done.txt"), "NoSuchField"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no %q in: %v", w, err)
		}
	}
}

// run and once refuse to start with what check-config finds: a missing
// database directory is named with its key and line, not left to SQLite's
// "unable to open database file".
func TestRunRefusesWhatCheckConfigRefuses(t *testing.T) {
	for _, cmd := range []string{"run", "once"} {
		dir := installFixture(t)
		text := strings.Replace(checkConfigBase, "DIR/db/desk.db", "DIR/nowhere/desk.db", 1)
		path := filepath.Join(dir, "madoguchi.yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "DIR", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		for k, v := range checkSecrets {
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		if code := runCommand(context.Background(), []string{cmd, "-config", path}, &stdout, &stderr); code != 1 {
			t.Fatalf("%s: exit %d, want 1:\n%s", cmd, code, stderr.String())
		}
		if want := "database.path: the directory " + dir + "/nowhere does not exist"; !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: no %q in:\n%s", cmd, want, stderr.String())
		}
	}
}
