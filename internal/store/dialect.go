package store

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The store's SQL is written once, in a form SQLite and PostgreSQL both
// accept (ON CONFLICT, RETURNING, COALESCE), with SQLite's ? placeholders.
// dialect turns it into what the open engine wants: for PostgreSQL the ?
// become $1, $2, ... and SQLite's planner hint INDEXED BY is dropped.
// Everything else that differs is a branch in Go, kept to a few places
// (rowLock, migrations, the SQLite-only file handling).
type dialect struct {
	postgres bool

	mu      sync.Mutex
	rebound map[string]string // query as written -> query for PostgreSQL
}

// maxReboundQueries bounds the cache of rewritten queries; the queries are
// constants or built from a few fixed parts (an IN list per length), so it
// is never reached in practice, and a miss past it only costs a rewrite.
const maxReboundQueries = 1024

// sql returns query as the engine wants it. The rewrite runs once per
// query string: the desk runs the same few hundred queries over and over.
func (d *dialect) sql(query string) string {
	if !d.postgres {
		return query
	}
	d.mu.Lock()
	out, ok := d.rebound[query]
	d.mu.Unlock()
	if ok {
		return out
	}
	out = rebindForPostgres(query)
	d.mu.Lock()
	if d.rebound == nil {
		d.rebound = map[string]string{}
	}
	if len(d.rebound) < maxReboundQueries {
		d.rebound[query] = out
	}
	d.mu.Unlock()
	return out
}

// args makes the parameters fit the engine. PostgreSQL's text holds
// neither NUL nor invalid UTF-8, which hostile mail carries into subjects
// and bodies (SQLite stores them as given): both become U+FFFD there,
// instead of the message failing on every attempt.
func (d *dialect) args(args []any) []any {
	if !d.postgres {
		return args
	}
	var out []any
	for i, a := range args {
		s, ok := a.(string)
		if !ok || utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	if out == nil {
		return args
	}
	return out
}

// rowLock is the clause that locks the rows a read-modify-write selects.
// SQLite needs none (and has no such clause): its one writer holds the
// whole database from BEGIN IMMEDIATE on. Under PostgreSQL's READ
// COMMITTED two connections could otherwise both read a row, both decide
// on what they read, and both write.
func (d *dialect) rowLock() string {
	if d.postgres {
		return " FOR UPDATE"
	}
	return ""
}

// clockMillis is the database's own clock in milliseconds since the
// epoch, as one row's column ms: the leases and heartbeats of instances on
// several machines are timed by it, so their clocks need not agree.
func (d *dialect) clockMillis() string {
	if d.postgres {
		return `(SELECT CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT) AS ms)`
	}
	return `(SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER) AS ms)`
}

// skipLocked is the clause that lets concurrent claimers pass over rows
// another transaction has locked instead of waiting for them. SQLite has
// one writer, which serialises the claimers anyway.
func (d *dialect) skipLocked() string {
	if d.postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// rowLockOf locks only the rows of the table alias in a join.
func (d *dialect) rowLockOf(alias string) string {
	if d.postgres {
		return " FOR UPDATE OF " + alias
	}
	return ""
}

// rebindForPostgres numbers the ? placeholders ($1, $2, ...) and removes
// INDEXED BY hints. Quoted strings, quoted identifiers and comments are
// copied as they are, so a ? inside them stays (the store's SQL has none;
// TestNoPlaceholderInsideLiterals keeps it so).
func rebindForPostgres(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := closingQuote(query, i)
			b.WriteString(query[i:end])
			i = end - 1
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			b.WriteString(query[i : i+end])
			i += end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		case (c == 'I' || c == 'i') && startsWord(query, i) && hasWordFold(query[i:], "INDEXED BY"):
			// INDEXED BY name: SQLite's planner hint; PostgreSQL
			// plans on its own and has no such syntax.
			rest := strings.TrimLeft(query[i+len("INDEXED BY"):], " \t\n")
			j := 0
			for j < len(rest) && isIdentByte(rest[j]) {
				j++
			}
			i = len(query) - len(rest) + j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// closingQuote returns the index just past the quoted run that starts at
// i; a doubled quote inside it is an escaped quote.
func closingQuote(query string, i int) int {
	q := query[i]
	for j := i + 1; j < len(query); j++ {
		if query[j] != q {
			continue
		}
		if j+1 < len(query) && query[j+1] == q {
			j++
			continue
		}
		return j + 1
	}
	return len(query)
}

func startsWord(s string, i int) bool { return i == 0 || !isIdentByte(s[i-1]) }

// hasWordFold reports whether s starts with the words w (case-insensitive,
// any run of blanks between them) followed by a blank.
func hasWordFold(s, w string) bool {
	fields := strings.Fields(w)
	for _, f := range fields {
		if len(s) < len(f) || !strings.EqualFold(s[:len(f)], f) {
			return false
		}
		s = s[len(f):]
		if len(s) == 0 || (s[0] != ' ' && s[0] != '\t' && s[0] != '\n') {
			return false
		}
		s = strings.TrimLeft(s, " \t\n")
	}
	return true
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
