package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// A sent mark commits without waiting for the disk, and the connection
// is back at the configured level for the desk's own commits, even when
// the mark's context ended.
func TestRelaxedWritesRestoreSynchronous(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"), Options{Synchronous: "full"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := enqueueOne(t, s)
	level := func() int {
		t.Helper()
		var v int
		if err := s.queryRow(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var seen int
	err = s.relaxed(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&seen)
	})
	if err != nil || seen != 1 {
		t.Errorf("inside a relaxed write synchronous is %d (%v), want 1 (NORMAL)", seen, err)
	}
	if err := s.MarkRetry(ctx, id, time.Now(), "4xx"); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	err = s.relaxed(cancelled, func(q querier) error {
		cancel()
		return cancelled.Err()
	})
	if err == nil {
		t.Error("the relaxed write's error was lost")
	}
	if err := s.MarkSent(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if v := level(); v != 2 {
		t.Errorf("after relaxed writes synchronous is %d, want 2 (FULL)", v)
	}
	rows, err := s.Outbox(ctx, OutboxSent)
	if err != nil || len(rows) != 1 || rows[0].Attempts != 2 {
		t.Errorf("outbox after the marks: %+v %v", rows, err)
	}
}

// On PostgreSQL the relaxed writes run on connections that started with
// synchronous_commit off, in the desk's schema, and the desk's own
// transactions keep the server's setting.
func TestRelaxedWritesPostgres(t *testing.T) {
	s := openPostgresTest(t)
	ctx := context.Background()
	var relaxedLevel, schema string
	err := s.relaxed(ctx, func(q querier) error {
		if err := q.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&relaxedLevel); err != nil {
			return err
		}
		return q.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema)
	})
	if err != nil {
		t.Fatal(err)
	}
	if relaxedLevel != "off" {
		t.Errorf("synchronous_commit in a relaxed write = %q, want off", relaxedLevel)
	}
	var deskLevel, deskSchema string
	err = s.Tx(ctx, func(tx *Tx) error {
		if err := tx.queryRowOnce(`SHOW synchronous_commit`).Scan(&deskLevel); err != nil {
			return err
		}
		return tx.queryRowOnce(`SELECT current_schema()`).Scan(&deskSchema)
	})
	if err != nil {
		t.Fatal(err)
	}
	if deskLevel == "off" {
		t.Error("the desk's own transactions run with synchronous_commit off")
	}
	if schema != deskSchema {
		t.Errorf("relaxed writes run in schema %q, the desk's transactions in %q", schema, deskSchema)
	}
	// A sent mark through the relaxed pool is what the desk then reads.
	id := enqueueOne(t, s)
	if err := s.MarkSent(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	sent, err := s.Outbox(ctx, OutboxSent)
	if err != nil || len(sent) != 1 {
		t.Fatalf("sent rows after the mark: %d (%v), want 1", len(sent), err)
	}
}

// TxNoWait commits on PostgreSQL without waiting for the disk, and Flush
// returns only once the WAL is on disk past that commit; on SQLite both are
// the ordinary, waiting kind.
func TestTxNoWaitAndFlush(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var level string
		var lsn string
		err := s.TxNoWait(ctx, func(tx *Tx) error {
			if err := tx.Audit(time.Now(), "desk", 0, "no-wait", ""); err != nil {
				return err
			}
			if !s.dialect.postgres {
				return nil
			}
			return tx.queryRowOnce(`SHOW synchronous_commit`).Scan(&level)
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.dialect.postgres {
			if level != "off" {
				t.Errorf("synchronous_commit in TxNoWait = %q, want off", level)
			}
			if err := s.db.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if s.dialect.postgres {
			var flushed bool
			if err := s.db.QueryRowContext(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&flushed); err != nil {
				t.Fatal(err)
			}
			if !flushed {
				t.Errorf("after Flush the WAL on disk ends before %s, where the no-wait commit was", lsn)
			}
		}
		err = s.Tx(ctx, func(tx *Tx) error {
			log, err := tx.AuditLog(0)
			if err == nil && auditActions(log) != "no-wait" {
				t.Errorf("audit after the no-wait commit: %q", auditActions(log))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// enqueueOne queues one notice and returns its row id.
func enqueueOne(t *testing.T, s *Store) int64 {
	t.Helper()
	var id int64
	err := s.Tx(context.Background(), func(tx *Tx) error {
		var err error
		id, err = tx.Enqueue(Queued{Kind: "k", Notice: Notice{MessageID: "m1@x", Date: time.Now(), From: "d@x", To: []string{"a@x"}, Subject: "s", Body: "b"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
