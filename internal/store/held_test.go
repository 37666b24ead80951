package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Rows held for the next statement (PostgreSQL) are written all the same:
// a statement that reads their table sees them, in the order they were
// written, whatever carried them; the commit writes what is left; more
// rows than one statement holds are all written.
func TestHeldRowsAreWrittenInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		var requestID int64
		err := s.Tx(ctx, func(tx *Tx) error {
			_, r := accountWithRequest(t, tx, now)
			requestID = r.ID
			for _, action := range []string{"first", "second"} {
				if err := tx.Audit(now, "desk", r.ID, action, ""); err != nil {
					return err
				}
			}
			// A statement on another table carries them (PostgreSQL).
			if _, err := tx.SeenByUID("INBOX", 1, 1); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("seen lookup: %v", err)
			}
			if s.dialect.postgres && len(tx.held) != 0 {
				t.Errorf("%d rows still held after a statement that could carry them", len(tx.held))
			}
			if err := tx.Audit(now, "desk", r.ID, "third", ""); err != nil {
				return err
			}
			// Reading the table sends them first.
			log, err := tx.AuditLog(r.ID)
			if err != nil {
				return err
			}
			if got := auditActions(log); got != "first second third" {
				t.Errorf("audit read inside the transaction: %q, want first second third", got)
			}
			// The same thread link twice, and one to read back.
			for _, id := range []string{"<a@x>", "<a@x>", "<b@x>"} {
				if err := tx.LinkThreadMessage(id, r.ID); err != nil {
					return err
				}
			}
			got, err := tx.RequestByThreadMessage("<b@x>")
			if err != nil || got.ID != r.ID {
				return fmt.Errorf("thread link read back: %v, %v", got, err)
			}
			// Left held at the end: the commit writes them.
			for i := range 3 * maxHeldRows {
				if err := tx.Audit(now, "desk", r.ID, fmt.Sprintf("bulk%d", i), ""); err != nil {
					return err
				}
			}
			return tx.CountEvent("hashes", "taro@hosp.example", 2, now)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Tx(ctx, func(tx *Tx) error {
			log, err := tx.AuditLog(requestID)
			if err != nil {
				return err
			}
			want := []string{"first", "second", "third"}
			for i := range 3 * maxHeldRows {
				want = append(want, fmt.Sprintf("bulk%d", i))
			}
			if got := auditActions(log); got != strings.Join(want, " ") {
				t.Errorf("audit after commit: %d entries %q..., want %d in order", len(log), got[:min(len(got), 60)], len(want))
			}
			n, err := tx.CountedSince("hashes", "taro@hosp.example", now)
			if err != nil || n != 2 {
				t.Errorf("counted %d (%v), want 2", n, err)
			}
			for _, id := range []string{"<a@x>", "<b@x>"} {
				if r, err := tx.RequestByThreadMessage(id); err != nil || r.ID != requestID {
					t.Errorf("thread link %s: %v, %v", id, r, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A held row that cannot be written (here: an audit line naming a request
// that does not exist) fails the transaction, with the database's reason,
// and nothing of the transaction stays, whichever statement carried it.
func TestHeldRowFailureFailsTheTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		for _, next := range []struct {
			name string
			run  func(tx *Tx) error
		}{
			{"carried by a single-row read", func(tx *Tx) error {
				_, err := tx.SeenByUID("INBOX", 1, 1)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				return err
			}},
			{"sent on its own before a read of its table", func(tx *Tx) error {
				_, err := tx.AuditLog(0)
				return err
			}},
			{"sent at the commit", func(tx *Tx) error { return nil }},
		} {
			t.Run(next.name, func(t *testing.T) {
				err := s.Tx(ctx, func(tx *Tx) error {
					if err := tx.CountEvent("marker", next.name, 1, now); err != nil {
						return err
					}
					if err := tx.Audit(now, "desk", 987654321, "orphan", ""); err != nil {
						return err
					}
					return next.run(tx)
				})
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
					t.Fatalf("transaction error = %v, want the foreign key failure", err)
				}
				err = s.Tx(ctx, func(tx *Tx) error {
					n, err := tx.CountedSince("marker", next.name, now)
					if err == nil && n != 0 {
						t.Errorf("the failed transaction left %d marker events", n)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// Only plain reads and writes of other tables carry held rows: a DELETE
// could remove a row they refer to, and a statement naming their table
// would not see them.
func TestCanCarry(t *testing.T) {
	tx := &Tx{dialect: &dialect{postgres: true}, held: []heldInsert{{table: "audit_log"}}}
	for query, want := range map[string]bool{
		"SELECT id FROM requests WHERE id = ?":                                  true,
		"\n\t\tselect 1":                                                        true,
		"INSERT INTO outbox (a) VALUES (?)":                                     true,
		"UPDATE requests SET state = ? WHERE id = ?":                            true,
		"SELECT at FROM audit_log":                                              false,
		"DELETE FROM requests WHERE id = ?":                                     false,
		"WITH x AS (SELECT 1) SELECT * FROM x":                                  false,
		"SELECT 1 FROM requests WHERE id IN (SELECT request_id FROM audit_log)": false,
	} {
		if got := tx.canCarry(query); got != want {
			t.Errorf("canCarry(%q) = %v, want %v", query, got, want)
		}
	}
}

func auditActions(log []AuditEntry) string {
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	return strings.Join(actions, " ")
}

// A notice queued without asking for its row id is held like the audit
// lines on PostgreSQL, counted by the reply cap's query in the same
// transaction, linked to its request's thread, and in the outbox after the
// commit, sealed when sensitive.
func TestQueuedNoticesAreHeldAndCounted(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		notice := func(id string) Notice {
			return Notice{MessageID: id, Date: now, From: "desk@x", To: []string{"taro@hosp.example"}, Subject: "s", Body: "secret body " + id}
		}
		var requestID int64
		err := s.Tx(ctx, func(tx *Tx) error {
			_, r := accountWithRequest(t, tx, now)
			requestID = r.ID
			if err := tx.Queue(Queued{Kind: "ack", RequestID: r.ID, Notice: notice("q1@x")}); err != nil {
				return err
			}
			if err := tx.Queue(Queued{Kind: "code", RequestID: r.ID, Sensitive: true, Urgent: true, Notice: notice("q2@x")}); err != nil {
				return err
			}
			if s.dialect.postgres && len(tx.held) == 0 {
				t.Error("queued notices were written at once on PostgreSQL")
			}
			n, err := tx.RepliesSince("taro@hosp.example", now.Add(-time.Hour))
			if err != nil || n != 2 {
				t.Errorf("reply cap count inside the transaction: %d (%v), want 2", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pending, err := s.Outbox(ctx, OutboxPending)
		if err != nil || len(pending) != 2 {
			t.Fatalf("pending notices after commit: %d (%v), want 2", len(pending), err)
		}
		err = s.Tx(ctx, func(tx *Tx) error {
			r, err := tx.RequestByThreadMessage("q2@x")
			if err != nil || r.ID != requestID {
				t.Errorf("the queued notice is not on its request's thread: %v, %v", r, err)
			}
			var stored string
			if err := tx.queryRowOnce(`SELECT body FROM outbox WHERE message_id = ?`, "q2@x").Scan(&stored); err != nil {
				return err
			}
			if strings.Contains(stored, "secret body") {
				t.Error("a sensitive queued notice is stored in clear text")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		due, err := s.Due(ctx, now.Add(time.Minute), 10)
		if err != nil || len(due) != 2 || due[0].MessageID != "q2@x" || due[0].Body != "secret body q2@x" {
			t.Fatalf("due notices: %+v (%v), want the urgent one first, unsealed", due, err)
		}
	})
}
