package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/demo"
)

// offlineDesk is a configuration whose servers are never contacted.
func offlineDesk(t *testing.T, extra string) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "desk.db")
	cfgPath = filepath.Join(dir, "madoguchi.yaml")
	if err := os.WriteFile(cfgPath, []byte(demo.Config("127.0.0.1:1", "127.0.0.1:1", dbPath)+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

// A backup taken while the database is open elsewhere (the daemon) opens
// as a database of its own with the copied key: the rows are there and a
// pending sealed notice still opens.
func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	cfgPath, dbPath := offlineDesk(t, "")
	live, err := store.Open(ctx, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	now := time.Now().UTC().Truncate(time.Second)
	err = live.Tx(ctx, func(tx *store.Tx) error {
		r := &store.Request{Reference: "MDG-2026-000042", Kind: "password_reset", State: store.StateCodeSent,
			Applicant: "taro@hosp.example", CreatedAt: now}
		if err := tx.CreateRequest(r); err != nil {
			return err
		}
		_, err := tx.Enqueue(store.Queued{Kind: "reset_code", RequestID: r.ID, Sensitive: true, Notice: store.Notice{
			MessageID: "code-42@madoguchi.example", Date: now, From: "desk@madoguchi.example", To: []string{"taro@hosp.example"},
			Subject: "Access code", Body: "Your code is 8731942006."}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	dest := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	if code := runCommand(ctx, []string{"backup", dest, "-config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{
		"desk id: " + dbPath + " copied to " + dest, "seal key " + dbPath + ".key copied to " + dest + ".key",
		"without the key a restored copy cannot send the pending notices that carry a secret", "1 waiting now",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, p := range []string{dest, dest + ".key"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, fi, err)
		}
	}
	key, _ := os.ReadFile(dbPath + ".key")
	if copied, _ := os.ReadFile(dest + ".key"); !bytes.Equal(key, copied) || len(key) == 0 {
		t.Error("the key copy differs from the key")
	}
	// The sealed text is not in the copy in clear.
	if raw, _ := os.ReadFile(dest); bytes.Contains(raw, []byte("8731942006")) {
		t.Error("the backup holds the access code in clear text")
	}

	// Never over an existing file.
	before, _ := os.ReadFile(dest)
	stdout.Reset()
	stderr.Reset()
	if code := runCommand(ctx, []string{"backup", "-config", cfgPath, dest}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), dest+" exists") {
		t.Errorf("second backup to the same file: exit %d, %q", code, stderr.String())
	}
	if after, _ := os.ReadFile(dest); !bytes.Equal(before, after) {
		t.Error("the existing backup changed")
	}

	restored, err := store.Open(ctx, dest, store.Options{KeyPath: dest + ".key"})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	due, err := restored.Due(ctx, now.Add(time.Minute), 10)
	if err != nil || len(due) != 1 || due[0].Body != "Your code is 8731942006." {
		t.Fatalf("sealed notice in the restored copy: %+v, %v", due, err)
	}
	reqs, err := restored.ListRequests(ctx, store.RequestFilter{})
	if err != nil || len(reqs) != 1 || reqs[0].Reference != "MDG-2026-000042" {
		t.Errorf("requests in the restored copy: %+v, %v", reqs, err)
	}
	// The backup is in the live database's audit log.
	var audit []store.AuditEntry
	live.Tx(ctx, func(tx *store.Tx) error { audit, _ = tx.AuditLog(0); return nil })
	if len(audit) != 1 || audit[0].Action != "backup" || audit[0].Actor != "cli:"+userName() || !strings.Contains(audit[0].Detail, dest) {
		t.Errorf("audit: %+v", audit)
	}
}

func TestBackupNeedsOneDesk(t *testing.T) {
	cfgPath, _ := offlineDesk(t, "desks:\n  - name: second\n    desk:\n      address: second@madoguchi.example\n    imap:\n      username: second\n")
	dest := filepath.Join(t.TempDir(), "b.db")
	var stdout, stderr bytes.Buffer
	code := runCommand(context.Background(), []string{"backup", dest, "-config", cfgPath}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "name one with -desk") {
		t.Errorf("exit %d, %q", code, stderr.String())
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("a backup was written")
	}
	stderr.Reset()
	if code := runCommand(context.Background(), []string{"backup", dest, "-config", cfgPath, "-desk", "second"}, &stdout, &stderr); code != 0 {
		t.Fatalf("backup of one desk: exit %d, %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "desk second: ") || !strings.Contains(stdout.String(), "desk-second.db copied") {
		t.Errorf("output: %q", stdout.String())
	}
}

// The daemon does not start on a database a newer madoguchi migrated.
func TestRunRefusesNewerDatabase(t *testing.T) {
	cfgPath, dbPath := offlineDesk(t, "")
	db, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 9999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// run sets process-wide runtime knobs before it opens the database.
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	defer func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runCommand(ctx, []string{"run", "-config", cfgPath}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s", code, &stderr)
	}
	if !strings.Contains(stderr.String(), "schema version 9999") || !strings.Contains(stderr.String(), "this madoguchi knows versions up to") {
		t.Errorf("run's error does not name both versions: %q", stderr.String())
	}
	if ctx.Err() != nil {
		t.Error("run did not stop at once")
	}
	var v int
	db, _ = sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	defer db.Close()
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 9999 {
		t.Errorf("user_version now %d, %v", v, err)
	}
}

// A desk on PostgreSQL is backed up with pg_dump: backup says so and
// writes nothing.
func TestBackupOfPostgresDeskRefused(t *testing.T) {
	cfgPath, dbPath := offlineDesk(t, "")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	postgres := strings.Replace(string(data), "  path: "+dbPath+"\n",
		"  url: postgres://m:secret@127.0.0.1:1/madoguchi\n  key_file: "+filepath.Join(t.TempDir(), "seal.key")+"\n", 1)
	if postgres == string(data) {
		t.Fatal("the demo configuration's database section changed; adjust this test")
	}
	if err := os.WriteFile(cfgPath, []byte(postgres), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	var stdout, stderr bytes.Buffer
	if code := runBackup(context.Background(), []string{dest, "-config", cfgPath}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "pg_dump") || !strings.Contains(msg, "madoguchi_id") || strings.Contains(msg, "secret") {
		t.Errorf("stderr %q: want the pg_dump rule and the schema, no password", msg)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("a backup file was written")
	}
}
