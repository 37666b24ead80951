package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// querier is what a relaxed write runs its statements on: the pinned
// SQLite connection or a PostgreSQL transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// relaxed runs fn with its commit not waiting for the disk: SQLite's
// synchronous=NORMAL (in WAL mode the commit reaches the WAL, fsync
// waits for the next checkpoint), PostgreSQL's synchronous_commit=off
// (the commit is in the server's WAL buffers, written within
// wal_writer_delay). A crash of the daemon loses nothing; a crash of the
// database's machine may lose the last such commits. It is only for
// writes whose loss repeats work the rules allow to repeat: a notice's sent mark (the notice goes again,
// under its Message-ID, as after a crash between DATA and the mark), the
// retry times and, on SQLite, the sender's claims (on PostgreSQL a claim
// waits for the disk: see claiming). With the desk's own commits at
// synchronous=full, these were half the fsyncs of a backlog run.
//
// fn gets the statements as written for the engine (s.dialect.sql) and
// must not use the store's other methods: on SQLite it holds the one
// connection.
func (s *Store) relaxed(ctx context.Context, fn func(q querier) error) error {
	if s.dialect.postgres {
		// Autocommit on connections that started with
		// synchronous_commit off: one round trip a statement, where
		// SET LOCAL in a transaction cost three more.
		return fn(s.relaxedDB)
	}
	if s.synchronous == "NORMAL" || s.synchronous == "OFF" {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return fn(conn)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	fnErr := fn(conn)
	// Back to the configured level even when ctx ended: the desk's own
	// commits on this connection must wait for the disk again.
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = `+s.synchronous); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn }) // a fresh connection gets the configured level
		return fmt.Errorf("restore synchronous=%s: %w", s.synchronous, err)
	}
	return fnErr
}
