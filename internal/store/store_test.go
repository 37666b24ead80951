package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// An empty (version 0) database migrates to the newest schema, and opening
// it again changes nothing.
func TestMigrateFromEmpty(t *testing.T) {
	ctx := context.Background()
	files, err := migrationFiles(sqliteMigrations)
	if err != nil {
		t.Fatal(err)
	}
	newest := len(files) // migrations are numbered 1..n without gaps
	checkVersion := func(t *testing.T, s *Store) {
		t.Helper()
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != newest {
			t.Fatalf("schema version %d, %v; want %d", v, err, newest)
		}
	}
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "t.db")
		for i := 0; i < 2; i++ {
			s, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkVersion(t, s)
			s.Close()
		}
	})
	t.Run("Postgres", func(t *testing.T) {
		url, opts := postgresTestOptions(t)
		for i := 0; i < 2; i++ {
			s, err := OpenPostgres(ctx, url, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkVersion(t, s)
			s.Close()
		}
	})
}

func TestReferencesCountPerYear(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		var got []string
		err := s.Tx(context.Background(), func(tx *Tx) error {
			for _, y := range []int{2026, 2026, 2027, 2026} {
				r, err := tx.NextReference("MDG", y)
				if err != nil {
					return err
				}
				got = append(got, r)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"MDG-2026-000001", "MDG-2026-000002", "MDG-2027-000001", "MDG-2026-000003"}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("reference %d = %s, want %s", i, got[i], want[i])
			}
		}
	})
}

// The same mailbox position cannot be recorded twice: that is what makes
// processing exactly-once.
func TestSeenIsUnique(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rec := &Seen{Mailbox: "INBOX", UIDValidity: 7, UID: 1, ContentSHA256: "ab", MessageID: "m1@x",
			ReceivedAt: time.Now(), Outcome: "answered", Destination: "processed"}
		if err := s.Tx(ctx, func(tx *Tx) error { _, err := tx.RecordSeen(rec); return err }); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *Tx) error { _, err := tx.RecordSeen(rec); return err }); err == nil {
			t.Fatal("second record of the same UID accepted")
		}
		err := s.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.SeenByUID("INBOX", 7, 1); err != nil {
				return err
			}
			if _, err := tx.SeenByUID("INBOX", 8, 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("other UIDVALIDITY found: %v", err)
			}
			e, err := tx.EarlierRecords("INBOX", 7, 1, "ab", "")
			if err != nil || e.ByUID == nil || e.ByContent == nil || e.ByContent.UID != 1 || e.ByMessageID != nil {
				t.Errorf("by place and hash: %+v %v", e, err)
			}
			e, err = tx.EarlierRecords("INBOX", 8, 1, "other", "m1@x")
			if err != nil || e.ByUID != nil || e.ByContent != nil || e.ByMessageID == nil || e.ByMessageID.UID != 1 {
				t.Errorf("by Message-ID: %+v %v", e, err)
			}
			// A record of a duplicate is not the original: the first
			// record of the content is.
			dup := &Seen{Mailbox: "INBOX", UIDValidity: 7, UID: 2, ContentSHA256: "ab", MessageID: "m1@x",
				ReceivedAt: time.Now(), Outcome: "duplicate", Destination: "processed"}
			if _, err := tx.RecordSeen(dup); err != nil {
				return err
			}
			e, err = tx.EarlierRecords("INBOX", 7, 2, "ab", "m1@x")
			if err != nil || e.ByUID == nil || e.ByUID.UID != 2 || e.ByContent.UID != 1 || e.ByMessageID.UID != 1 {
				t.Errorf("after a duplicate: %+v %v", e, err)
			}
			// An empty Message-ID finds nothing by Message-ID.
			e, err = tx.EarlierRecords("INBOX", 9, 9, "zz", "")
			if err != nil || e != (Earlier{}) {
				t.Errorf("nothing to find: %+v %v", e, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A failed transaction leaves nothing behind: no request without its notice.
func TestTxRollsBackEverything(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *Tx) error {
			r := &Request{Reference: "MDG-2026-000001", Kind: "new_id", State: StateAwaitingDocuments, Applicant: "a@x", Fields: map[string]string{}, CreatedAt: now}
			if err := tx.CreateRequest(r); err != nil {
				return err
			}
			if _, err := tx.Enqueue(Queued{Kind: "k", RequestID: r.ID, Notice: Notice{MessageID: "n1@x", Date: now, From: "d@x", To: []string{"a@x"}, Subject: "s", Body: "b"}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		rows, _ := s.Outbox(ctx, "")
		if len(rows) != 0 {
			t.Fatalf("outbox has %d rows after rollback", len(rows))
		}
	})
}

func TestOutboxLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		err := s.Tx(ctx, func(tx *Tx) error {
			for i, id := range []string{"n1@x", "n2@x"} {
				n := Notice{MessageID: id, Date: now.Add(time.Duration(i) * time.Second), From: "d@x", To: []string{"a@x"}, Cc: []string{"o@x"},
					Subject: "件名", Body: "本文", References: []string{"r@x"}, Attachments: []NoticeAttachment{{Filename: "f.pdf", ContentType: "application/pdf", Data: []byte("%PDF")}}}
				if _, err := tx.Enqueue(Queued{Notice: n, Kind: "k"}); err != nil {
					return err
				}
			}
			_, err := tx.Enqueue(Queued{Notice: Notice{MessageID: "n3@x", Date: now, From: "d@x", To: []string{"a@x"}}, Kind: "k", Suppressed: true, Reason: "cap"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		due, err := s.Due(ctx, now.Add(time.Second), 10)
		if err != nil || len(due) != 2 {
			t.Fatalf("due = %d, %v; want 2 (suppressed never due)", len(due), err)
		}
		if due[0].MessageID != "n1@x" || due[0].Cc[0] != "o@x" || string(due[0].Attachments[0].Data) != "%PDF" || due[0].Subject != "件名" {
			t.Errorf("notice did not round-trip: %+v", due[0])
		}
		if err := s.MarkRetry(ctx, due[0].ID, now.Add(time.Hour), "451 try later"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, due[1].ID, now); err != nil {
			t.Fatal(err)
		}
		next, ok, err := s.NextDue(ctx)
		if err != nil || !ok || !next.Equal(now.Add(time.Hour)) {
			t.Errorf("next due = %v %v %v", next, ok, err)
		}
		if err := s.MarkFailed(ctx, due[0].ID, "550 no such user"); err != nil {
			t.Fatal(err)
		}
		failed, _ := s.Outbox(ctx, OutboxFailed)
		if len(failed) != 1 || failed[0].Attempts != 2 || failed[0].LastError != "550 no such user" {
			t.Errorf("failed rows: %+v", failed)
		}
		var n int
		s.Tx(ctx, func(tx *Tx) error { n, err = tx.RepliesSince("a@x", now.Add(-time.Hour)); return err })
		if n != 2 {
			t.Errorf("replies counted %d, want 2 (suppressed not counted)", n)
		}
	})
}

// A database whose path holds a # or ? is opened at that path, not at the
// path cut before them.
func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#b?c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "desk.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	file, err := s.mainFile(context.Background())
	if err != nil || file != path {
		t.Fatalf("database file %q, %v; want %q", file, err, path)
	}
}
