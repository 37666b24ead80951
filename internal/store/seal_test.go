package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// secretCode is what the attacker greps the database files for.
const secretCode = "4711081512"

var sealNow = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// openFile opens a store on a real file with a fast checkpoint rhythm.
func openFile(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.checkpoints.mu.Lock()
	s.checkpoints.every = 10 * time.Millisecond
	s.checkpoints.mu.Unlock()
	t.Cleanup(func() { s.Close() })
	return s
}

func codeNotice(messageID, body string) Notice {
	return Notice{MessageID: messageID, Date: sealNow, From: "desk@x.example", To: []string{"taro@hosp.example"},
		Subject: "Access code", Body: body,
		Attachments: []NoticeAttachment{{Filename: "code-" + secretCode + ".txt", ContentType: "text/plain", Data: []byte("x")}}}
}

func enqueue(t *testing.T, s *Store, q Queued) int64 {
	t.Helper()
	var id int64
	err := s.Tx(context.Background(), func(tx *Tx) error {
		var err error
		id, err = tx.Enqueue(q)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dbFiles are the files SQLite keeps for the database at path.
func dbFiles(path string) []string { return []string{path, path + "-wal", path + "-shm"} }

// filesContaining names the database files whose raw bytes hold needle.
func filesContaining(t *testing.T, path string, needle []byte) []string {
	t.Helper()
	var found []string
	for _, f := range dbFiles(path) {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, needle) {
			found = append(found, filepath.Base(f))
		}
	}
	return found
}

// waitWALEmpty waits for the checkpoint a scrub asks for.
func waitWALEmpty(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path + "-wal")
		if errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL was not truncated after a scrub: %v, %d bytes", err, fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func rawColumn(t *testing.T, s *Store, column string, id int64) string {
	t.Helper()
	var v string
	if err := s.queryRowOnce(context.Background(), `SELECT `+column+` FROM outbox WHERE id = ?`, id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The attacker's trial: a code in a sensitive notice is never in the
// database files in clear text, not while it waits, not after it was sent
// or failed, and not when the reply cap held it back; the sender still
// reads it. After the scrub even the sealed text is gone.
func TestSensitiveNoticeNeverInDatabaseFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "desk.db")
	s := openFile(t, path, Options{})
	code := []byte(secretCode)

	// The long body spills into overflow pages, which are freed on scrub.
	long := "Access code: " + secretCode + "\n" + strings.Repeat("padding line\n", 1000)
	sentID := enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("sent@desk", "Access code: "+secretCode)})
	failedID := enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("failed@desk", long)})
	enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Suppressed: true, Reason: "reply cap",
		Notice: codeNotice("held@desk", "Access code: "+secretCode)})
	if f := filesContaining(t, path, code); len(f) > 0 {
		t.Fatalf("the code is in %v before sending", f)
	}

	due, err := s.Due(ctx, sealNow, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %d notices, %v; want the two pending ones", len(due), err)
	}
	for _, n := range due {
		if !strings.Contains(n.Body, secretCode) || len(n.Attachments) != 1 || !strings.Contains(n.Attachments[0].Filename, secretCode) {
			t.Fatalf("the sender must get the clear notice: %q %+v", n.Body[:min(40, len(n.Body))], n.Attachments)
		}
	}
	sealedBodies := [][]byte{[]byte(rawColumn(t, s, "body", sentID)), []byte(rawColumn(t, s, "body", failedID))}

	if err := s.MarkSent(ctx, sentID, sealNow); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, failedID, "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if f := filesContaining(t, path, code); len(f) > 0 {
		t.Fatalf("the code is in %v after sending", f)
	}
	waitWALEmpty(t, path)
	for _, sealed := range sealedBodies {
		// A prefix is enough: the whole value would also match a page
		// that kept only part of it.
		if f := filesContaining(t, path, sealed[:40]); len(f) > 0 {
			t.Fatalf("the sealed text is still in %v after the scrub and checkpoint", f)
		}
	}
	if held, _ := s.Outbox(ctx, OutboxSuppressed); len(held) != 1 {
		t.Fatalf("the held-back notice must stay for operators: %+v", held)
	}
}

// The same holds for the checkpoint alone: TRUNCATE leaves a 0-byte WAL.
func TestCheckpointWALTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desk.db")
	s := openFile(t, path, Options{})
	s.checkpoints.stop() // only the checkpoint called here
	enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("a@desk", "code "+secretCode)})
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("a write must leave frames in the WAL first: %v", err)
	}
	if err := s.CheckpointWAL(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("WAL after checkpoint: %v", err)
	}
}

func TestSealOpensOnlyForItsRowAndKey(t *testing.T) {
	a, err := newSealer(randomKey())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newSealer(randomKey())
	sealed := a.seal("m1@desk", sealedBodyColumn, "code "+secretCode)
	if strings.Contains(sealed, secretCode) || !isSealed(sealed) {
		t.Fatalf("sealed value %q", sealed)
	}
	if got, err := a.open("m1@desk", sealedBodyColumn, sealed); err != nil || got != "code "+secretCode {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, tc := range []struct {
		name, messageID, column, value string
		opener                         *sealer
	}{
		{"wrong key", "m1@desk", sealedBodyColumn, sealed, b},
		{"other row", "m2@desk", sealedBodyColumn, sealed, a},
		{"other column", "m1@desk", sealedAttachmentsColumn, sealed, a},
		{"altered", "m1@desk", sealedBodyColumn, sealed[:len(sealed)-2] + "AA", a},
		{"not base64", "m1@desk", sealedBodyColumn, sealedPrefix + "!!", a},
		{"cut short", "m1@desk", sealedBodyColumn, sealedPrefix + "AAAA", a},
	} {
		if got, err := tc.opener.open(tc.messageID, tc.column, tc.value); !errors.Is(err, errSealBroken) || got != "" {
			t.Errorf("%s: %q %v; want errSealBroken and nothing", tc.name, got, err)
		}
	}
	if _, err := newSealer(make([]byte, 16)); err == nil {
		t.Error("a short key must be refused")
	}
}

// A sealed body copied onto another row does not open: the row is failed,
// never sent with the other row's (or garbled) text.
func TestSealedBodyMovedToAnotherRowIsNotSent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		first := enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("a@desk", "code for a")})
		second := enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("b@desk", "code for b")})
		plain := enqueue(t, s, Queued{Kind: "new_id_received", Notice: Notice{MessageID: "c@desk", Date: sealNow,
			From: "desk@x.example", To: []string{"c@hosp.example"}, Subject: "received", Body: "received"}})
		if _, err := s.execOnce(ctx, `UPDATE outbox SET body = (SELECT body FROM outbox WHERE id = ?) WHERE id = ?`, first, second); err != nil {
			t.Fatal(err)
		}
		due, err := s.Due(ctx, sealNow, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 2 || due[0].ID != first || due[0].Body != "code for a" || due[1].ID != plain {
			t.Fatalf("due %+v; want the intact sealed row and the plain one", due)
		}
		failed, _ := s.Outbox(ctx, OutboxFailed)
		if len(failed) != 1 || failed[0].ID != second || !strings.Contains(failed[0].LastError, "sealed with a key that is gone") {
			t.Fatalf("failed rows %+v; want the moved one with a clear reason", failed)
		}
		if body := rawColumn(t, s, "body", second); isSealed(body) {
			t.Fatalf("a failed sensitive row keeps no sealed text: %q", body)
		}
	})
}

func TestKeyFileMadePrivateAndReused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "desk.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("a@desk", "code "+secretCode)})
	s.Close()
	key, err := os.ReadFile(path + ".key")
	if err != nil || len(key) != keySize {
		t.Fatalf("key file: %d bytes, %v", len(key), err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path + ".key"); fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
		}
	}
	if leftovers, _ := filepath.Glob(path + ".key.new-*"); len(leftovers) > 0 {
		t.Fatalf("temporary key files left: %v", leftovers)
	}

	s = openFile(t, path, Options{})
	if again, _ := os.ReadFile(path + ".key"); !bytes.Equal(again, key) {
		t.Fatal("reopening replaced the key")
	}
	due, err := s.Due(ctx, sealNow, 10)
	if err != nil || len(due) != 1 || due[0].Body != "code "+secretCode {
		t.Fatalf("after reopening the notice must open: %+v %v", due, err)
	}
}

// Options.KeyPath puts the key elsewhere; a damaged key file stops Open
// instead of being replaced.
func TestKeyPathOptionAndDamagedKey(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "elsewhere.key")
	s, err := Open(context.Background(), filepath.Join(dir, "desk.db"), Options{KeyPath: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "desk.db.key")); err == nil {
		t.Fatal("the default key path must not be used when KeyPath is set")
	}
	os.WriteFile(keyPath, []byte("short"), 0o600)
	if s, err := Open(context.Background(), filepath.Join(dir, "desk.db"), Options{KeyPath: keyPath}); err == nil {
		s.Close()
		t.Fatal("a damaged key file must stop Open")
	}
	if got, _ := os.ReadFile(keyPath); string(got) != "short" {
		t.Fatal("a damaged key file must not be replaced")
	}
}

// A key file that went missing (or was swapped) leaves pending sealed
// notices unreadable: they are marked failed with a clear reason, never
// sent garbled, and the warning names no secret.
func TestLostKeyFailsPendingSealedNotices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		loseKey  func(keyPath string) error
		wantWarn string
	}{
		{"missing", os.Remove, "the key file was missing"},
		{"replaced", func(p string) error { return os.WriteFile(p, randomKey(), 0o600) }, "cannot be opened"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "desk.db")
			s, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			pending := enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("a@desk", "code "+secretCode)})
			plain := enqueue(t, s, Queued{Kind: "new_id_received", Notice: Notice{MessageID: "b@desk", Date: sealNow,
				From: "desk@x.example", To: []string{"b@hosp.example"}, Subject: "received", Body: "received"}})
			s.Close()
			if err := tc.loseKey(path + ".key"); err != nil {
				t.Fatal(err)
			}

			var logs bytes.Buffer
			s = openFile(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			due, err := s.Due(ctx, sealNow, 10)
			if err != nil || len(due) != 1 || due[0].ID != plain {
				t.Fatalf("due %+v %v; want only the plain notice", due, err)
			}
			failed, _ := s.Outbox(ctx, OutboxFailed)
			if len(failed) != 1 || failed[0].ID != pending || !strings.Contains(failed[0].LastError, "sealed with a key that is gone") {
				t.Fatalf("failed rows %+v", failed)
			}
			if key, err := os.ReadFile(path + ".key"); err != nil || len(key) != keySize {
				t.Fatalf("a usable key file must exist again: %v", err)
			}
			if !strings.Contains(logs.String(), tc.wantWarn) || strings.Contains(logs.String(), secretCode) {
				t.Fatalf("log:\n%s", logs.String())
			}
		})
	}
}

// The database, its -wal and -shm, and the key are the owner's only, also
// when an older version left the database world-readable.
func TestDatabaseFilesPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	path := filepath.Join(t.TempDir(), "desk.db")
	check := func(when string) {
		t.Helper()
		for _, f := range append(dbFiles(path), path+".key") {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s mode %v, want 0600", when, filepath.Base(f), fi.Mode().Perm())
			}
		}
	}
	s := openFile(t, path, Options{})
	enqueue(t, s, Queued{Kind: "reset_code", Notice: codeNotice("a@desk", "hello")})
	check("new database")

	// An older version made them world-readable; another process keeps
	// -wal and -shm in place while this one opens.
	for _, f := range append(dbFiles(path), path+".key") {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again := openFile(t, path, Options{})
	enqueue(t, again, Queued{Kind: "reset_code", Notice: codeNotice("b@desk", "hello")})
	check("reopened world-readable database")
}

// Rows written before sealing existed: a pending sensitive notice is sealed
// at open and still sent; a held-back one loses its text (migration 8).
func TestClearSensitiveRowsFromBeforeSealing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "desk.db")
	// The database as version 7 left it.
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for v := 1; v <= 7; v++ {
		names, _ := fs.Glob(migrations, fmt.Sprintf("migrations/%04d_*.sql", v))
		script, err := migrations.ReadFile(names[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(string(script)); err != nil {
			t.Fatal(err)
		}
	}
	insert := `INSERT INTO outbox (message_id, notice, recipient, created_at, date, from_addr, to_addrs, cc_addrs,
		subject, body, attachments, state, next_attempt_at, sensitive)
		VALUES (?, 'reset_code', 't@x', 0, 0, 'desk@x.example', '["t@x"]', '[]', 's', ?, '[]', ?, ?, 1)`
	if _, err := old.Exec(insert, "old-pending@desk", "code "+secretCode, OutboxPending, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(insert, "old-held@desk", "code "+secretCode, OutboxSuppressed, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`PRAGMA user_version = 7`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s := openFile(t, path, Options{})
	due, err := s.Due(ctx, sealNow, 10)
	if err != nil || len(due) != 1 || due[0].Body != "code "+secretCode {
		t.Fatalf("the old pending notice must still be sent: %+v %v", due, err)
	}
	var n int
	s.Tx(ctx, func(tx *Tx) error {
		n, err = tx.CountContaining(secretCode)
		return err
	})
	if n != 0 {
		t.Fatalf("%d rows still hold the code in clear text", n)
	}
	var held string
	s.db.QueryRow(`SELECT body FROM outbox WHERE message_id = 'old-held@desk'`).Scan(&held)
	if held != suppressedSensitiveBody {
		t.Fatalf("the migration must write the same text as Enqueue: %q", held)
	}
}

// An in-memory database seals with a key that lives in memory.
func TestMemoryDatabaseSeals(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, ":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := enqueue(t, s, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("a@desk", "code "+secretCode)})
	if body := rawColumn(t, s, "body", id); !isSealed(body) {
		t.Fatalf("stored body %q", body)
	}
	if due, err := s.Due(ctx, sealNow, 10); err != nil || len(due) != 1 || due[0].Body != "code "+secretCode {
		t.Fatalf("due %+v %v", due, err)
	}
	if _, err := os.Stat(":memory:.key"); err == nil {
		t.Fatal("no key file for an in-memory database")
	}
}

func BenchmarkEnqueue(b *testing.B) {
	body := strings.Repeat("A notice of ordinary length, in Japanese and English. ", 20) + secretCode
	for _, sensitive := range []bool{false, true} {
		name := "plain"
		if sensitive {
			name = "sensitive"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "desk.db"), Options{Synchronous: "normal"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			i := 0
			for b.Loop() {
				i++
				err := s.Tx(context.Background(), func(tx *Tx) error {
					n := Notice{MessageID: fmt.Sprintf("m%d@desk", i), Date: sealNow, From: "desk@x.example", To: []string{"t@x"}, Subject: "s", Body: body}
					_, err := tx.Enqueue(Queued{Kind: "reset_code", Sensitive: sensitive, Notice: n})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A PostgreSQL store never makes its key: without the file it refuses to
// open, naming the setting; instances given the same file open each
// other's sealed notices.
func TestPostgresKeyFileIsRequiredAndShared(t *testing.T) {
	t.Run("Postgres", func(t *testing.T) {
		ctx := context.Background()
		url, opts := postgresTestOptions(t)
		missing := opts
		missing.KeyPath = filepath.Join(t.TempDir(), "none.key")
		for _, o := range []Options{{Schema: opts.Schema}, missing} {
			if s, err := OpenPostgres(ctx, url, o); !errors.Is(err, ErrNoKeyFile) || !strings.Contains(err.Error(), "database.key_file") {
				if s != nil {
					s.Close()
				}
				t.Fatalf("key %q: %v; want a refusal naming database.key_file", o.KeyPath, err)
			}
		}
		if _, err := os.Stat(missing.KeyPath); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a key file was made: %v", err)
		}
		first, err := OpenPostgres(ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		id := enqueue(t, first, Queued{Kind: "reset_code", Sensitive: true, Notice: codeNotice("a@desk", "code 1234")})
		second, err := OpenPostgres(ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		due, err := second.Due(ctx, sealNow, 10)
		if err != nil || len(due) != 1 || due[0].ID != id || due[0].Body != "code 1234" {
			t.Fatalf("the other instance's due notices: %+v, %v", due, err)
		}
		if body := rawColumn(t, second, "body", id); !isSealed(body) {
			t.Fatalf("stored body %q is not sealed", body)
		}
	})
}

// What SQLite does with files has no PostgreSQL counterpart: a checkpoint
// is nothing to do, a backup is pg_dump's job and says so.
func TestPostgresFileFeatures(t *testing.T) {
	t.Run("Postgres", func(t *testing.T) {
		s := openPostgresTest(t)
		ctx := context.Background()
		if err := s.CheckpointWAL(ctx); err != nil {
			t.Errorf("checkpoint: %v", err)
		}
		dest := filepath.Join(t.TempDir(), "copy.db")
		if err := s.Backup(ctx, dest); !errors.Is(err, ErrBackupPostgres) || !strings.Contains(err.Error(), "pg_dump") {
			t.Errorf("backup: %v; want the pg_dump rule", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("backup wrote %s: %v", dest, err)
		}
	})
}
