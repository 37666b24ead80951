package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to make and drop the test's database

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
)

// emptyPostgresDatabase makes a database of the test's own on the server
// MADOGUCHI_POSTGRES_URL names (dropped when the test ends) and returns
// its URL, or skips the test without a server. The desks' schemas have
// fixed names, so a test gets a database, not a schema.
func emptyPostgresDatabase(t *testing.T) string {
	t.Helper()
	server := os.Getenv(teststore.PostgresURLEnv)
	if server == "" {
		t.Skip(teststore.PostgresURLEnv + " is not set: migrate-db needs a PostgreSQL server (eval \"$(scripts/postgres.sh)\" starts one)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "madoguchi_migrate_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", server)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + pgx.Identifier{name}.Sanitize() + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// runMigrate runs migrate-db and returns its exit status and output.
func runMigrate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runCommand(context.Background(), append([]string{"migrate-db"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// A desk run on SQLite by the real desk code moves to PostgreSQL and runs
// on there: every table is copied and counted, the pending sealed notice
// is sent with the copied key, the next application gets the next
// reference, and a second copy into the now full database is refused.
func TestMigrateDBMovesADesk(t *testing.T) {
	target := emptyPostgresDatabase(t)
	d, ref := applied(t)
	d.deliver(t, samples.Mail{From: "Alice Smith <alice@univ.example>", Subject: "Re: [" + ref + "] signed form",
		Body: "The signed form is attached.", Attachments: []samples.Attachment{{Filename: "form.pdf", ContentType: "application/pdf", Data: samples.ScannedPDF()}}})
	d.pass(t)
	// A notice with a secret still waiting: it is sealed in SQLite, and
	// must open with the key the command hands to PostgreSQL.
	now := time.Now().UTC()
	err := d.store(t).Tx(context.Background(), func(tx *store.Tx) error {
		r, err := tx.RequestByReference(ref)
		if err != nil {
			return err
		}
		_, err = tx.Enqueue(store.Queued{Kind: "reset_code", RequestID: r.ID, Sensitive: true, Notice: store.Notice{
			MessageID: "code-1@id.madoguchi.example", Date: now, From: "desk@madoguchi.example", To: []string{"alice@univ.example"},
			Subject: "Access code", Body: "Your code is 5550172942."}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sqliteTables := sqliteTableNames(t, d.dbPath)

	keyFile := filepath.Join(t.TempDir(), "seal.key")
	code, out, errOut := runMigrate(t, "-config", d.cfgPath, "--to", target, "--key-file", keyFile)
	if code != 0 {
		t.Fatalf("migrate-db: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	password := urlPassword(t, target)
	if password != "" && strings.Contains(out+errOut, password) {
		t.Errorf("the output shows the database password:\n%s\n%s", out, errOut)
	}
	// Every table of the SQLite file is in the summary, with equal counts.
	line := regexp.MustCompile(`(?m)^[ \t]*(\w+)[ \t]+(\d+)[ \t]+(\d+)[ \t]*(.*)$`)
	counted := map[string]bool{}
	for _, m := range line.FindAllStringSubmatch(out, -1) {
		counted[m[1]] = true
		if m[2] != m[3] || m[4] != "" {
			t.Errorf("summary line %q: want equal counts", m[0])
		}
	}
	for _, table := range sqliteTables {
		if !counted[table] {
			t.Errorf("table %s is not in the summary:\n%s", table, out)
		}
	}
	for _, want := range []string{"the counts match", "seal key " + d.dbPath + ".key copied to " + keyFile, "key_file: " + keyFile} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "desk id: documents") {
		t.Errorf("no progress on stderr:\n%s", errOut)
	}
	if sqliteKey, _ := os.ReadFile(d.dbPath + ".key"); !bytes.Equal(mustRead(t, keyFile), sqliteKey) {
		t.Error("the key file is not the SQLite database's key")
	}

	// The desk now runs on PostgreSQL.
	cfg := mustRead(t, d.cfgPath)
	pgCfg := strings.Replace(string(cfg), "database:\n  path: "+d.dbPath+"\n",
		fmt.Sprintf("database:\n  url: %s\n  key_file: %s\n", target, keyFile), 1)
	if pgCfg == string(cfg) {
		t.Fatal("the test could not find the database section in the demo configuration")
	}
	d.cfgPath = filepath.Join(d.dir, "postgres.yaml")
	if err := os.WriteFile(d.cfgPath, []byte(pgCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.deliver(t, samples.Mail{From: "山田 太郎 <taro@hosp.example>", Subject: "新規ID申請",
		Body: samples.NewIDJapanese("yamada-tk", "山田", "太郎"), MessageID: "apply-2@hosp.example"})
	d.pass(t)
	// A notice whose seal does not open is marked failed, never sent.
	if !sinkHolds(d, "code-1@id.madoguchi.example") {
		t.Error("the sealed notice copied from SQLite was not sent from PostgreSQL")
	}
	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "requests", "--json"))
	var refs []string
	for _, r := range rows {
		refs = append(refs, r["reference"].(string))
	}
	if len(refs) != 2 || !slices.Contains(refs, ref) || !slices.Contains(refs, mustNextReference(t, ref)) {
		t.Errorf("requests on PostgreSQL: %v; want %s and the next one", refs, ref)
	}

	// Again into the same database: refused, naming the tables.
	code, _, errOut = runMigrate(t, "-config", filepath.Join(d.dir, "madoguchi.yaml"), "--to", target, "--key-file", keyFile)
	if code != 1 || !strings.Contains(errOut, "desk id: the PostgreSQL schema is not empty") || !strings.Contains(errOut, "requests") {
		t.Errorf("second copy: exit %d\n%s", code, errOut)
	}
	if password != "" && strings.Contains(errOut, password) {
		t.Errorf("the error shows the database password:\n%s", errOut)
	}
}

// Every desk of a configuration moves to its own schema, each with its own
// key file (each SQLite desk sealed under its own key); --desk moves one.
func TestMigrateDBEveryDesk(t *testing.T) {
	target := emptyPostgresDatabase(t)
	cfgPath, dbPath := offlineDesk(t, "desks:\n  - name: second\n    desk:\n      address: second@madoguchi.example\n    imap:\n      username: second\n")
	secondPath := strings.TrimSuffix(dbPath, ".db") + "-second.db"
	for _, p := range []string{dbPath, secondPath} {
		st, err := store.Open(context.Background(), p, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Tx(context.Background(), func(tx *store.Tx) error {
			return tx.CreateRequest(&store.Request{Reference: "MDG-2026-000001", Kind: "new_id", State: "awaiting_documents",
				Applicant: "alice@univ.example", CreatedAt: time.Now(), UpdatedAt: time.Now()})
		})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(t.TempDir(), "seal.key")
	code, out, errOut := runMigrate(t, "-config", cfgPath, "--to", target, "--key-file", key, "--desk", "second")
	if code != 0 || !strings.Contains(out, "desk second: ") || strings.Contains(out, "desk id: ") {
		t.Fatalf("--desk second: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMigrate(t, "-config", cfgPath, "--to", target, "--key-file", key)
	if code != 1 || !strings.Contains(errOut, "desk second: the PostgreSQL schema is not empty: schema madoguchi_second has rows in requests") ||
		!strings.Contains(errOut, "desks id were copied and stay so") {
		t.Errorf("every desk after one: exit %d\n%s", code, errOut)
	}
	for desk, db := range map[string]string{"id": dbPath, "second": secondPath} {
		want, _ := os.ReadFile(db + ".key")
		if got, err := os.ReadFile(strings.TrimSuffix(key, ".key") + "-" + desk + ".key"); err != nil || !bytes.Equal(got, want) {
			t.Errorf("desk %s: key file %v; want the desk's SQLite key", desk, err)
		}
	}
	if !strings.Contains(out, "schema madoguchi_id") {
		t.Errorf("desk id was not copied before desk second was refused:\n%s%s", out, errOut)
	}
}

// A SQLite database an older madoguchi wrote is refused with what to do.
func TestMigrateDBRefusesOtherVersion(t *testing.T) {
	target := emptyPostgresDatabase(t)
	cfgPath, dbPath := offlineDesk(t, "")
	st, err := store.Open(context.Background(), dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	latest, _ := store.LatestSchemaVersion()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", latest-1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, errOut := runMigrate(t, "-config", cfgPath, "--to", target, "--key-file", filepath.Join(t.TempDir(), "seal.key"))
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("has version %d, this madoguchi makes version %d", latest-1, latest)) ||
		!strings.Contains(errOut, "run this madoguchi once against the SQLite database first") {
		t.Errorf("older database: exit %d\n%s", code, errOut)
	}
}

// Bad command lines are refused before anything is opened, and a URL that
// may hold a password is never echoed.
func TestMigrateDBUsage(t *testing.T) {
	cfgPath, _ := offlineDesk(t, "")
	key := filepath.Join(t.TempDir(), "seal.key")
	for _, args := range [][]string{
		{"-config", cfgPath, "--key-file", key},
		{"-config", cfgPath, "--to", "postgres://u:pw@db.example/x"},
		{"--to", "postgres://u:pw@db.example/x", "--key-file", key},
		{"-config", cfgPath, "--to", "mysql://u:hunter22@db.example/x", "--key-file", key},
	} {
		code, _, errOut := runMigrate(t, args...)
		if code != 2 || strings.Contains(errOut, "hunter22") {
			t.Errorf("migrate-db %v: exit %d, %q", args, code, errOut)
		}
	}
	if _, err := os.Stat(key); err == nil {
		t.Error("a refused command line wrote the key file")
	}
	if got := redactURL("failed to connect to postgres://u:s3cr%2Ft@h/db: s3cr/t", "postgres://u:s3cr%2Ft@h/db"); strings.Contains(got, "s3cr") {
		t.Errorf("redactURL left the password: %q", got)
	}
}

func sqliteTableNames(t *testing.T, dbPath string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if len(names) < 10 {
		t.Fatalf("only %d tables in %s", len(names), dbPath)
	}
	return names
}

func urlPassword(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := u.User.Password()
	return p
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sinkHolds reports whether a mail the desk sent contains text.
func sinkHolds(d *opsDesk, text string) bool {
	for _, m := range d.sink.Messages() {
		if bytes.Contains(m.Data, []byte(text)) {
			return true
		}
	}
	return false
}

func mustNextReference(t *testing.T, ref string) string {
	t.Helper()
	next, err := samples.NextReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return next
}
