package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A query a transaction runs unprepared is prepared once the transaction
// has committed, and later transactions run the prepared statement with
// the right results. Preparing inside the transaction would wait for the
// one connection the transaction holds.
func TestStatementsArePreparedAfterTheirFirstTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const q = `SELECT COUNT(*) FROM seen_messages WHERE mailbox = ?`
		count := func() int {
			var n int
			err := s.Tx(ctx, func(tx *Tx) error {
				return tx.queryRow(q, "INBOX").Scan(&n)
			})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if s.stmts.lookup(q) != nil {
			t.Fatal("statement cached before it was ever run")
		}
		if n := count(); n != 0 {
			t.Fatalf("count %d on an empty table", n)
		}
		if s.stmts.lookup(q) == nil {
			t.Fatal("statement not prepared after its transaction committed")
		}
		for uid := uint32(1); uid <= 3; uid++ {
			err := s.Tx(ctx, func(tx *Tx) error {
				_, err := tx.RecordSeen(&Seen{Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: fmt.Sprintf("<%d@x>", uid),
					ContentSHA256: fmt.Sprint(uid), Outcome: "answered", Destination: "processed", ReceivedAt: time.Now()})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := count(); n != 3 {
			t.Fatalf("prepared statement counted %d rows, want 3", n)
		}
	})
}

// Transactions and statements outside them run from several goroutines
// against the one connection without waiting on each other for ever.
func TestStatementCacheDoesNotDeadlock(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := 0; g < 2; g++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					err := s.Tx(ctx, func(tx *Tx) error {
						_, err := tx.NextReference(fmt.Sprintf("G%d", g), 2026)
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					if _, err := s.Outbox(ctx, OutboxPending); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var last string
		err := s.Tx(ctx, func(tx *Tx) error {
			var err error
			last, err = tx.NextReference("G0", 2026)
			return err
		})
		// The counter is per year, whatever the prefix: 2 x 50 before this one.
		if err != nil || last != "G0-2026-000101" {
			t.Fatalf("next reference %q, %v; want G0-2026-000101 after 100 from two goroutines", last, err)
		}
	})
}
