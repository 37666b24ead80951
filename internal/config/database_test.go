package config

import (
	"strings"
	"testing"
)

// database: exactly one of path (SQLite) and url (PostgreSQL); url needs
// key_file; the refusals name the key and the rule, never the password.
func TestDatabaseSection(t *testing.T) {
	const base = `
desk: {address: d@example.jp, domain: example.jp}
imap: {address: "127.0.0.1:143", username: u, password: p}
smtp: {address: "127.0.0.1:25"}
operators: [o@example.jp]
operator_auth: {authserv_id: mx.example.jp}
`
	for _, c := range []struct {
		name, database, problem string
	}{
		{"sqlite", `{path: /tmp/x.db}`, ""},
		{"postgres", `{url: "postgres://m:secret@db.example:5432/madoguchi", key_file: /etc/madoguchi/seal.key}`, ""},
		{"neither", `{synchronous: full}`, "database.path: is required (the SQLite file), unless database.url"},
		{"both", `{path: /tmp/x.db, url: "postgres://db.example/m", key_file: /k}`, "database.url: is set together with database.path: give exactly one"},
		{"no key", `{url: "postgres://m:secret@db.example/m"}`, "database.key_file: is required with database.url"},
		{"key without url", `{path: /tmp/x.db, key_file: /k}`, "database.key_file: is only for database.url"},
		{"not postgres", `{url: "mysql://m:secret@db.example/m", key_file: /k}`, "database.url: is not a PostgreSQL URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+"database: "+c.database+"\n"), env(nil))
			if c.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Database.Postgres() != strings.Contains(c.database, "url:") {
					t.Errorf("Postgres() = %v for %s", cfg.Database.Postgres(), c.database)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.problem) {
				t.Fatalf("error %v; want %q", err, c.problem)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the refusal shows the password: %v", err)
			}
		})
	}
}

// Each desk of a PostgreSQL configuration has its own schema in the one
// database, named after the desk; none gets a file of its own.
func TestDesksGetTheirOwnSchema(t *testing.T) {
	cfg, err := Parse([]byte(`
desk: {address: d@example.jp, domain: example.jp}
imap: {address: "127.0.0.1:143", username: u, password: p}
smtp: {address: "127.0.0.1:25"}
database: {url: "postgres://db.example/madoguchi", key_file: /etc/madoguchi/seal.key}
operators: [o@example.jp]
operator_auth: {authserv_id: mx.example.jp}
desks:
  - {name: second, desk: {address: s@example.jp}, imap: {username: s}}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var schemas []string
	for _, d := range cfg.AllDesks() {
		schemas = append(schemas, d.PostgresSchema())
		if d.Database.URL != cfg.Database.URL || d.Database.KeyFile != "/etc/madoguchi/seal.key" || d.Database.Path != "" {
			t.Errorf("desk %s database %+v", d.Name, d.Database)
		}
	}
	if got := strings.Join(schemas, " "); got != "madoguchi_id madoguchi_second" {
		t.Errorf("schemas %s", got)
	}
}
