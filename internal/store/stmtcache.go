package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the statements the desk runs over and over prepared.
// Parsing SQL cost about a tenth of the desk's own CPU per message before
// (madoguchi bench); the driver keeps a prepared single statement's
// handle, so reusing the *sql.Stmt skips the parse.
type stmtCache struct {
	db      *sql.DB
	dialect *dialect
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	wanted  map[string]bool
}

// maxCachedStmts bounds the cache; the queries are constants or built from
// a few fixed parts, so it is never reached in practice.
const maxCachedStmts = 512

// lookup returns the prepared statement for query, if there is one.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// get returns the prepared statement for query, preparing it on a miss.
// It must not be called inside a transaction: with one connection,
// preparing waits for the connection the transaction holds. It returns nil
// when the statement cannot be prepared or cached (the caller then runs
// the query unprepared, which reports the error if there is one).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil {
		return st
	}
	c.mu.Lock()
	full := len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if full {
		return nil
	}
	// Prepared without the lock: it waits for the connection, which a
	// transaction that wants the lock may hold.
	st, err := c.db.PrepareContext(ctx, c.dialect.sql(query))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		st.Close()
		return old
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

// want notes a query a transaction ran unprepared; prepareWanted prepares
// them once the transaction has given the connection back.
func (c *stmtCache) want(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wanted == nil {
		c.wanted = map[string]bool{}
	}
	if len(c.wanted) < maxCachedStmts {
		c.wanted[query] = true
	}
}

func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for query := range wanted {
		c.get(ctx, query)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// exec runs a statement outside a transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := s.stmts.get(ctx, query); st != nil {
		return st.ExecContext(ctx, s.dialect.args(args)...)
	}
	return s.db.ExecContext(ctx, s.dialect.sql(query), s.dialect.args(args)...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmts.get(ctx, query); st != nil {
		return st.QueryContext(ctx, s.dialect.args(args)...)
	}
	return s.db.QueryContext(ctx, s.dialect.sql(query), s.dialect.args(args)...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.stmts.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, s.dialect.args(args)...)
	}
	return s.db.QueryRowContext(ctx, s.dialect.sql(query), s.dialect.args(args)...)
}

// The unprepared variants run a query without the statement cache: the
// operators' commands, whose queries run once.
func (s *Store) execOnce(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.dialect.sql(query), s.dialect.args(args)...)
}

func (s *Store) queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.dialect.sql(query), s.dialect.args(args)...)
}

func (s *Store) queryRowOnce(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.dialect.sql(query), s.dialect.args(args)...)
}

// The Tx variants first send or carry the rows held for PostgreSQL (see
// held.go); a carrying query skips the statement cache, being no longer
// the query it caches.

func (t *Tx) execOnce(query string, args ...any) (sql.Result, error) {
	query, args, _, err := t.carry(query, args)
	if err != nil {
		return nil, err
	}
	return t.tx.ExecContext(t.ctx, t.dialect.sql(query), t.dialect.args(args)...)
}

func (t *Tx) queryRowOnce(query string, args ...any) *sql.Row {
	query, args, _ = t.carryForRow(query, args)
	return t.tx.QueryRowContext(t.ctx, t.dialect.sql(query), t.dialect.args(args)...)
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	query, args, carried, err := t.carry(query, args)
	if err != nil {
		return nil, err
	}
	if st := t.cached(query, carried); st != nil {
		return t.tx.StmtContext(t.ctx, st).ExecContext(t.ctx, t.dialect.args(args)...)
	}
	return t.tx.ExecContext(t.ctx, t.dialect.sql(query), t.dialect.args(args)...)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	query, args, carried, err := t.carry(query, args)
	if err != nil {
		return nil, err
	}
	if st := t.cached(query, carried); st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryContext(t.ctx, t.dialect.args(args)...)
	}
	return t.tx.QueryContext(t.ctx, t.dialect.sql(query), t.dialect.args(args)...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	query, args, carried := t.carryForRow(query, args)
	if st := t.cached(query, carried); st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, t.dialect.args(args)...)
	}
	return t.tx.QueryRowContext(t.ctx, t.dialect.sql(query), t.dialect.args(args)...)
}

// cached returns the prepared statement for query, or notes it to prepare
// after the transaction; nil for a query carrying held rows.
func (t *Tx) cached(query string, carried bool) *sql.Stmt {
	if carried || t.stmts == nil {
		return nil
	}
	if st := t.stmts.lookup(query); st != nil {
		return st
	}
	t.stmts.want(query)
	return nil
}

// carryForRow is carry for the single-row queries, whose *sql.Row cannot
// carry an error of ours: when sending the held rows fails, the query runs
// in the aborted transaction and fails too, and the transaction reports
// the held rows' error (heldErr) as the cause.
func (t *Tx) carryForRow(query string, args []any) (string, []any, bool) {
	q, a, carried, err := t.carry(query, args)
	if err != nil {
		t.heldErr = err
		return query, args, false
	}
	return q, a, carried
}
