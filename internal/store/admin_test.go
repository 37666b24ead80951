package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openAtVersion makes a database at path migrated only up to version,
// holding one request, as an older madoguchi left it.
func openAtVersion(t *testing.T, path string, version int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for v := 1; v <= version; v++ {
		matches, err := filepathGlobEmbedded(fmt.Sprintf("%04d_", v))
		if err != nil || len(matches) != 1 {
			t.Fatalf("migration %d: %v %v", v, matches, err)
		}
		script, err := migrations.ReadFile("migrations/" + matches[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(script)); err != nil {
			t.Fatalf("migration %s: %v", matches[0], err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO requests (reference, kind, state, applicant, created_at, updated_at)
		VALUES ('MDG-2026-000001', 'new_id', 'awaiting_documents', 'taro@hosp.example', 1, 1)`); err != nil {
		t.Fatal(err)
	}
}

func filepathGlobEmbedded(prefix string) ([]string, error) {
	entries, err := migrations.ReadDir("migrations")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, err
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Migrating a database that holds data first copies it to
// <db>.before-vNNNN (0600); a second upgrade never overwrites that copy.
func TestMigrationBacksUpFirst(t *testing.T) {
	newest, _, err := newestMigration()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "desk.db")
	openAtVersion(t, path, 5)
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	backup := fmt.Sprintf("%s.before-v%04d", path, newest)
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatalf("no backup before migrating: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if v := userVersion(t, backup); v != 5 {
		t.Errorf("backup at version %d, want 5 (as it was before)", v)
	}
	old, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var ref string
	if err := old.QueryRow(`SELECT reference FROM requests`).Scan(&ref); err != nil || ref != "MDG-2026-000001" {
		t.Errorf("backup row: %q, %v", ref, err)
	}
	old.Close()

	// Opening the migrated database again changes nothing: no new copy.
	s, err = Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// An older database again (a restore, then the upgrade once more):
	// the first copy is kept and the new one gets a suffix.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	openAtVersion(t, path, 7)
	s, err = Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := userVersion(t, backup); v != 5 {
		t.Errorf("first backup overwritten: now at version %d", v)
	}
	if v := userVersion(t, backup+"-2"); v != 7 {
		t.Errorf("second backup at version %d, want 7", v)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.before-*"))
	if len(matches) != 2 {
		t.Errorf("backups: %v", matches)
	}
}

// A new, empty database file is migrated without a copy.
func TestMigrationOfNewDatabaseMakesNoBackup(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), filepath.Join(dir, "desk.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.before-*")); len(matches) != 0 {
		t.Errorf("backup of an empty database: %v", matches)
	}
}

// A database a newer madoguchi migrated is refused, naming both versions,
// and left as it was.
func TestMigrationRefusesNewerDatabase(t *testing.T) {
	newest, newestName, err := newestMigration()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "desk.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", newest+3)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open: %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{fmt.Sprintf("schema version %d", newest+3), fmt.Sprintf("versions up to %d (%s)", newest, newestName), path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if v := userVersion(t, path); v != newest+3 {
		t.Errorf("version changed to %d", v)
	}
}

func TestBackupRefusesExistingFileAndCopies(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dest, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dest); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
	if b, _ := os.ReadFile(dest); string(b) != "keep me" {
		t.Errorf("existing file changed: %q", b)
	}
	os.Remove(dest)
	if err := s.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup: %v, %v", fi, err)
	}
}

func TestListRequestsAndRetry(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		var open, closed *Request
		var plain, code int64
		err := s.Tx(ctx, func(tx *Tx) error {
			open = &Request{Reference: "MDG-2026-000001", Kind: "new_id", State: StateAwaitingDocuments, Applicant: "a@x.example",
				Fields: map[string]string{"family_name": "山田", "password": "leak", "access_code": "123"}, PasswordHash: "$argon2id$x", CreatedAt: now}
			closed = &Request{Reference: "MDG-2026-000002", Kind: "password_reset", State: StateCodeSent, Applicant: "b@x.example", CreatedAt: now}
			for _, r := range []*Request{open, closed} {
				if err := tx.CreateRequest(r); err != nil {
					return err
				}
			}
			if err := tx.SetRequestState(closed, StateCompleted, now, true); err != nil {
				return err
			}
			n := Notice{MessageID: "n1@x", Date: now, From: "desk@x", To: []string{"a@x.example"}, Subject: "s", Body: "b"}
			var err error
			if plain, err = tx.Enqueue(Queued{Notice: n, Kind: "k", RequestID: open.ID}); err != nil {
				return err
			}
			n.MessageID = "n2@x"
			code, err = tx.Enqueue(Queued{Notice: n, Kind: "reset_code", RequestID: closed.ID, Sensitive: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.ListRequests(ctx, RequestFilter{})
		if err != nil || len(list) != 1 || list[0].Reference != open.Reference {
			t.Errorf("open requests: %+v, %v", list, err)
		}
		list, _ = s.ListRequests(ctx, RequestFilter{State: StateCompleted})
		if len(list) != 1 || list[0].Reference != closed.Reference || list[0].ClosedAt.IsZero() {
			t.Errorf("completed requests: %+v", list)
		}
		list, _ = s.ListRequests(ctx, RequestFilter{Kind: "password_reset"})
		if len(list) != 0 {
			t.Errorf("open password resets: %+v", list)
		}

		rep, err := s.RequestReportByReference(ctx, open.Reference)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Fields) != 1 || rep.Fields["family_name"] != "山田" {
			t.Errorf("fields shown: %v", rep.Fields)
		}
		if len(rep.Notices) != 1 || rep.Notices[0].MessageID != "n1@x" || rep.Notices[0].State != OutboxPending {
			t.Errorf("notices: %+v", rep.Notices)
		}
		if _, err := s.RequestReportByReference(ctx, "MDG-1999-000001"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown reference: %v", err)
		}

		pending, _ := s.OutboxByState(ctx, OutboxPending)
		if len(pending) != 2 || pending[1].TextRemoved || !pending[1].Sensitive {
			t.Errorf("pending: %+v", pending)
		}
		retry := func(id int64) error {
			return s.Tx(ctx, func(tx *Tx) error { _, err := tx.RetryFailedNotice(id, now); return err })
		}
		if err := retry(plain); err == nil || !strings.Contains(err.Error(), "is pending, not failed") {
			t.Errorf("retry of a pending notice: %v", err)
		}
		if err := retry(999); !errors.Is(err, ErrNotFound) {
			t.Errorf("retry of no notice: %v", err)
		}
		s.MarkFailed(ctx, plain, "550 no")
		s.MarkFailed(ctx, code, "550 no")
		if err := retry(code); !errors.Is(err, ErrTextRemoved) {
			t.Errorf("retry of a scrubbed notice: %v", err)
		}
		if err := retry(plain); err != nil {
			t.Fatal(err)
		}
		pending, _ = s.OutboxByState(ctx, OutboxPending)
		if len(pending) != 1 || pending[0].ID != plain || pending[0].Attempts != 0 || !pending[0].NextAttemptAt.Equal(now) {
			t.Errorf("after retry: %+v", pending)
		}
	})
}

// Forgetting a quarantined message keeps the documents kept from it.
func TestForgetQuarantined(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		rec := &Seen{Mailbox: "INBOX", UIDValidity: 1, UID: 4, ContentSHA256: "aa", MessageID: "q@x", ReceivedAt: now,
			Outcome: "quarantined", Reason: "broken MIME", Destination: "quarantine"}
		dup := &Seen{Mailbox: "INBOX", UIDValidity: 1, UID: 5, ContentSHA256: "aa", MessageID: "q@x", ReceivedAt: now,
			Outcome: "duplicate", Reason: "same", Destination: "quarantine"}
		var id, dupID int64
		err := s.Tx(ctx, func(tx *Tx) error {
			var err error
			if id, err = tx.RecordSeen(rec); err != nil {
				return err
			}
			if dupID, err = tx.RecordSeen(dup); err != nil {
				return err
			}
			_, err = tx.exec(`INSERT INTO documents (seen_id, filename, content_type, size, sha256, data, accepted, received_at)
				VALUES (?, 'a.pdf', 'application/pdf', 1, 'x', ?, 0, 1)`, id, []byte{0})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		q, _ := s.Quarantined(ctx, 5)
		if len(q) != 1 || q[0].Outcome != "duplicate" {
			t.Fatalf("uid 5: %+v", q)
		}
		if orig, err := s.OriginalOf(ctx, q[0]); err != nil || orig.SeenID != id {
			t.Errorf("original of the duplicate: %+v, %v", orig, err)
		}
		forget := func(id int64) error { return s.Tx(ctx, func(tx *Tx) error { return tx.ForgetQuarantined(id) }) }
		if err := forget(dupID); err == nil {
			t.Error("a duplicate's record was cleared")
		}
		if err := forget(id); err != nil {
			t.Fatal(err)
		}
		if err := forget(id); err == nil {
			t.Error("cleared twice")
		}
		var docs int
		s.queryRowOnce(ctx, `SELECT count(*) FROM documents WHERE seen_id IS NULL`).Scan(&docs)
		if docs != 1 {
			t.Errorf("%d unlinked documents, want 1", docs)
		}
		if err := s.Tx(ctx, func(tx *Tx) error {
			e, err := tx.EarlierRecords("INBOX", 0, 0, "aa", "q@x")
			if err == nil && (e.ByContent != nil || e.ByMessageID != nil) {
				return fmt.Errorf("found %+v", e)
			}
			return err
		}); err != nil {
			t.Errorf("the desk still finds the message as seen: %v", err)
		}
	})
}
