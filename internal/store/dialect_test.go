package store

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRebindForPostgres(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?,?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2,$3)`},
		{`SELECT 'a?b', "c?" FROM t WHERE x = ?`, `SELECT 'a?b', "c?" FROM t WHERE x = $1`},
		{`SELECT 'it''s ?' WHERE y = ?`, `SELECT 'it''s ?' WHERE y = $1`},
		{"SELECT 1 -- why?\nWHERE z = ?", "SELECT 1 -- why?\nWHERE z = $1"},
		{"SELECT * FROM requests INDEXED BY requests_open_by_state\n\t\tWHERE a = ?", "SELECT * FROM requests \n\t\tWHERE a = $1"},
		{`SELECT indexed_by_me FROM t WHERE reindexed = ?`, `SELECT indexed_by_me FROM t WHERE reindexed = $1`},
	} {
		if got := rebindForPostgres(c.in); got != c.want {
			t.Errorf("rebind %q\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	d := &dialect{postgres: true}
	if a, b := d.sql(`SELECT ?`), d.sql(`SELECT ?`); a != "SELECT $1" || b != a || len(d.rebound) != 1 {
		t.Errorf("cached rewrite: %q %q, %d cached", a, b, len(d.rebound))
	}
	if got := (&dialect{}).sql(`SELECT ?`); got != `SELECT ?` {
		t.Errorf("SQLite query changed: %q", got)
	}
}

// No SQL of the store has a ? inside a quoted string or a comment: the
// rewrite for PostgreSQL leaves those alone, so such a ? would be a
// placeholder SQLite binds and PostgreSQL does not.
func TestNoPlaceholderInsideLiterals(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !looksLikeSQL(s) {
				return true
			}
			checked++
			if at := placeholderInLiteral(s); at >= 0 {
				t.Errorf("%s: a ? inside a quoted string or comment of %q", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
	if checked < 50 {
		t.Fatalf("only %d SQL strings found; is the check still looking at the store's files?", checked)
	}
}

func looksLikeSQL(s string) bool {
	for _, w := range []string{"SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE ", "FROM "} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// placeholderInLiteral is the offset of a ? within a quoted run or a
// comment of query, -1 when there is none.
func placeholderInLiteral(query string) int {
	for i := 0; i < len(query); i++ {
		switch {
		case query[i] == '\'' || query[i] == '"':
			end := closingQuote(query, i)
			if j := strings.IndexByte(query[i:end], '?'); j >= 0 {
				return i + j
			}
			i = end - 1
		case strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			if j := strings.IndexByte(query[i:i+end], '?'); j >= 0 {
				return i + j
			}
			i += end - 1
		}
	}
	return -1
}

// Both engines have the same migrations, by number.
func TestMigrationNumbersMatch(t *testing.T) {
	numbers := func(dir string) []int {
		files, err := migrationFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, f := range files {
			out = append(out, f.version)
		}
		return out
	}
	lite, pg := numbers(sqliteMigrations), numbers(postgresMigrations)
	if !slices.Equal(lite, pg) {
		t.Fatalf("SQLite migrations %v, PostgreSQL migrations %v: each needs its twin (migrations/postgres/NNNN_*.sql)", lite, pg)
	}
	for i, v := range lite {
		if v != i+1 {
			t.Fatalf("migrations %v: numbered 1..n without gaps", lite)
		}
	}
}

// After migrating, both engines have the same tables with the same
// columns in the same order (schema_version is PostgreSQL's user_version).
func TestMigratedSchemasMatch(t *testing.T) {
	lite := openTest(t)
	want := tableColumns(t, lite, `SELECT m.name, p.name FROM sqlite_schema m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if len(want) < 15 {
		t.Fatalf("only %d SQLite tables", len(want))
	}
	t.Run("Postgres", func(t *testing.T) {
		pg := openPostgresTest(t)
		got := tableColumns(t, pg, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> 'schema_version' ORDER BY table_name, ordinal_position`)
		for table, cols := range want {
			if !slices.Equal(got[table], cols) {
				t.Errorf("table %s: SQLite columns %v, PostgreSQL columns %v", table, cols, got[table])
			}
		}
		for table := range got {
			if _, ok := want[table]; !ok {
				t.Errorf("table %s is only in PostgreSQL", table)
			}
		}
	})
}

func tableColumns(t *testing.T, s *Store, query string) map[string][]string {
	t.Helper()
	rows, err := s.queryOnce(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// PostgreSQL's text holds no NUL and no invalid UTF-8; hostile mail has
// both in its subject and text. They reach it as U+FFFD, and nothing
// else is touched.
func TestArgsFitPostgresText(t *testing.T) {
	pg := &dialect{postgres: true}
	in := []any{"ok", "nul\x00here", "bad\xffutf8", []byte("raw\x00"), int64(7)}
	out := pg.args(in)
	want := []any{"ok", "nul\uFFFDhere", "bad\uFFFDutf8", []byte("raw\x00"), int64(7)}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("args %q, want %q", out, want)
	}
	if in[1] != "nul\x00here" {
		t.Error("args changed the caller's slice")
	}
	clean := []any{"ok", int64(1)}
	if got := pg.args(clean); &got[0] != &clean[0] {
		t.Error("clean arguments were copied")
	}
	if got := (&dialect{}).args(in); &got[0] != &in[0] {
		t.Error("SQLite's arguments were rewritten")
	}
}
