package store

import (
	"fmt"
	"strings"
)

// On PostgreSQL every statement is a round trip to another process, which
// on a busy machine waits for a core each time; with SQLite a statement is
// a function call. A desk transaction appends rows that nothing in the
// same transaction reads back unless it names their table: audit lines,
// thread links, limit events, hash work. On PostgreSQL those rows are held
// in the Tx and travel with the transaction's next statement as
// data-modifying WITH clauses (PostgreSQL runs them to completion whatever
// the main statement reads), or alone just before the commit. A statement
// that names a held table, or could remove a row a held one refers to,
// sends them first, on their own. So the transaction's effects and their
// order within each table are the same; only the round trips are fewer.
// SQLite writes them at once.

// heldInsert is one row of a held INSERT.
type heldInsert struct {
	table string // a statement naming this table sends the held rows first
	head  string // INSERT INTO table (columns) VALUES
	row   string // (?, ?, ...)
	tail  string // ON CONFLICT ... DO NOTHING, or ""
	args  []any
}

// maxHeldRows bounds the rows waiting in one transaction: a bulk
// registration audits hundreds of rows, and one statement's parameters are
// limited (65,535 on PostgreSQL).
const maxHeldRows = 64

// insertLater runs INSERT head row tail with args: at once on SQLite,
// with the next statement on PostgreSQL. The statement must return
// nothing the caller needs (no RETURNING, no rows-affected count).
func (t *Tx) insertLater(table, head, row, tail string, args ...any) error {
	if !t.dialect.postgres {
		_, err := t.exec(joinInsert(head, row, tail), args...)
		return err
	}
	t.held = append(t.held, heldInsert{table: table, head: head, row: row, tail: tail, args: args})
	if len(t.held) >= maxHeldRows {
		return t.sendHeld()
	}
	return nil
}

func joinInsert(head, row, tail string) string {
	if tail == "" {
		return head + " " + row
	}
	return head + " " + row + " " + tail
}

// sendHeld writes the held rows in one statement of their own.
func (t *Tx) sendHeld() error {
	if len(t.held) == 0 {
		return nil
	}
	with, args := t.heldWith()
	t.held = t.held[:0]
	if _, err := t.tx.ExecContext(t.ctx, t.dialect.sql(with+"SELECT 1"), t.dialect.args(args)...); err != nil {
		return fmt.Errorf("write held rows: %w", err)
	}
	return nil
}

// carry prepares query to run: unchanged when nothing is held; with the
// held rows in front of it when it can carry them; otherwise after
// sending them on their own. carried reports the second case, where the
// query is no longer one the statement cache knows.
func (t *Tx) carry(query string, args []any) (string, []any, bool, error) {
	if len(t.held) == 0 {
		return query, args, false, nil
	}
	if !t.canCarry(query) {
		return query, args, false, t.sendHeld()
	}
	with, heldArgs := t.heldWith()
	t.held = t.held[:0]
	return with + query, append(heldArgs, args...), true, nil
}

// canCarry reports whether the held rows can ride in front of query: a
// plain SELECT, INSERT or UPDATE (a DELETE could remove a row a held one
// refers to) that does not read a held table (the main statement of a
// PostgreSQL WITH does not see the rows its clauses insert) and has no
// WITH of its own.
func (t *Tx) canCarry(query string) bool {
	verb, _, _ := strings.Cut(strings.TrimLeft(query, " \t\n"), " ")
	verb, _, _ = strings.Cut(verb, "\n")
	if !strings.EqualFold(verb, "SELECT") && !strings.EqualFold(verb, "INSERT") && !strings.EqualFold(verb, "UPDATE") {
		return false
	}
	for _, h := range t.held {
		if strings.Contains(query, h.table) {
			return false
		}
	}
	return true
}

// heldWith is the WITH clause that inserts the held rows, one clause per
// kind of row, rows in the order they were held, and its parameters.
func (t *Tx) heldWith() (string, []any) {
	type group struct {
		head, tail string
		rows       []string
		args       []any
	}
	var groups []*group
	byStatement := map[string]*group{}
	for _, h := range t.held {
		key := h.head + "\x00" + h.tail
		g := byStatement[key]
		if g == nil {
			g = &group{head: h.head, tail: h.tail}
			byStatement[key] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, h.row)
		g.args = append(g.args, h.args...)
	}
	var b strings.Builder
	var args []any
	b.WriteString("WITH ")
	for i, g := range groups {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "held_%d AS (%s)", i+1, joinInsert(g.head, strings.Join(g.rows, ", "), g.tail))
		args = append(args, g.args...)
	}
	b.WriteString(" ")
	return b.String(), args
}
