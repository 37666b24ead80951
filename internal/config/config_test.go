package config

import (
	"os"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestExampleIsValid(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, env(map[string]string{"MADOGUCHI_IMAP_PASSWORD": "i", "MADOGUCHI_SMTP_PASSWORD": "s", "MADOGUCHI_FACILITY_IMAP_PASSWORD": "f"}))
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if cfg.IMAP.Password != "i" || cfg.SMTP.Password != "s" {
		t.Errorf("passwords from the environment not applied")
	}
	if len(cfg.Desks) != 1 || cfg.Desks[0].Service != "facility" || cfg.Desks[0].IMAP.Password != "f" {
		t.Errorf("the example's second desk: %+v", cfg.Desks)
	}
	if cfg.Desk.Location.String() != "Asia/Tokyo" || !cfg.OperatorAuthRequired() || len(cfg.Operators) != 2 {
		t.Errorf("unexpected values: %+v", cfg.Desk)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
desk: {address: d@example.jp, domain: example.jp}
imap: {address: "127.0.0.1:143", username: u, password: p}
smtp: {address: "127.0.0.1:25"}
database: {path: /tmp/x.db}
operators: [o@example.jp]
operator_auth: {authserv_id: mx.example.jp}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{cfg.Desk.Timezone, "Asia/Tokyo"}, {cfg.IMAP.Mailbox, "INBOX"}, {cfg.IMAP.TLS, "tls"},
		{cfg.SMTP.TLS, "starttls"}, {cfg.SMTP.Charset, "utf-8"}, {cfg.Desk.ReferencePrefix, "MDG"},
	} {
		if c.got != c.want {
			t.Errorf("default %q, want %q", c.got, c.want)
		}
	}
}

// Every problem is reported at once, each naming its key.
func TestProblemsNameTheKey(t *testing.T) {
	_, err := Parse([]byte(`
desk: {address: "not an address", domain: "", timezone: Mars/Olympus}
imap: {address: "nohostport", tls: maybe, username: u, password_env: UNSET_VAR}
smtp: {address: "127.0.0.1:25", charset: latin1}
database: {path: ""}
operators: []
`), env(nil))
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"desk.address", "desk.domain", "desk.timezone", "imap.address", "imap.tls",
		"imap.password_env", "smtp.charset", "database.path", "operators", "operator_auth.authserv_id"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("no problem named %s in:\n%v", key, err)
		}
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	_, err := Parse([]byte("desk:\n  adress: typo@example.jp\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("unknown key not named: %v", err)
	}
}
