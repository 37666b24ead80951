// Package teststore gives tests a fresh store on either engine: SQLite in
// a temporary directory, or PostgreSQL on the server MADOGUCHI_POSTGRES_URL
// names (scripts/postgres.sh starts one), in a schema or database of the
// test's own that is dropped when the test ends. Without the variable the
// PostgreSQL variants skip, so go test ./... needs nothing but Go.
//
// Two ways to use it:
//   - ForEach runs a test once per engine, as the subtests SQLite and
//     Postgres (CI runs the second with -run /Postgres);
//   - Open(t, FromEnv(t)) and DatabaseYAML(t, FromEnv(t)) follow
//     MADOGUCHI_TEST_STORE, so a whole package of flow tests runs against
//     PostgreSQL with MADOGUCHI_TEST_STORE=postgres and unchanged tests.
package teststore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to make and drop schemas

	"github.com/madoguchi/madoguchi/internal/store"
)

// The environment the package reads.
const (
	// PostgresURLEnv names the PostgreSQL server; its user must be allowed
	// to create schemas and databases.
	PostgresURLEnv = "MADOGUCHI_POSTGRES_URL"
	// EngineEnv picks the engine of FromEnv: "postgres", or "sqlite" (the
	// default when unset).
	EngineEnv = "MADOGUCHI_TEST_STORE"
)

// Engine is a store engine; its value is the subtest name ForEach gives.
type Engine string

// The engines.
const (
	SQLite   Engine = "SQLite"
	Postgres Engine = "Postgres"
)

// FromEnv is the engine EngineEnv names.
func FromEnv(t testing.TB) Engine {
	t.Helper()
	switch v := strings.ToLower(os.Getenv(EngineEnv)); v {
	case "", "sqlite":
		return SQLite
	case "postgres", "postgresql":
		return Postgres
	default:
		t.Fatalf("%s=%q: want sqlite or postgres", EngineEnv, v)
		return ""
	}
}

// ForEach runs test against a fresh store of each engine, as subtests
// named after the engines.
func ForEach(t *testing.T, test func(t *testing.T, st *store.Store)) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) { test(t, Open(t, e)) })
	}
}

// Open returns a fresh, migrated store of the engine, closed when the test
// ends. A PostgreSQL store lives in a schema of its own, dropped then.
func Open(t testing.TB, engine Engine) *store.Store {
	t.Helper()
	ctx := context.Background()
	var st *store.Store
	var err error
	switch engine {
	case SQLite:
		st, err = store.Open(ctx, filepath.Join(t.TempDir(), "desk.db"), store.Options{Synchronous: "normal"})
	case Postgres:
		server := postgresURL(t)
		schema := uniqueName("madoguchi_test_")
		t.Cleanup(func() { dropIn(t, server, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`) })
		st, err = store.OpenPostgres(ctx, server, store.Options{Schema: schema, KeyPath: KeyFile(t)})
	default:
		t.Fatalf("unknown store engine %q", engine)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// DatabaseYAML is the value of a configuration's database: key for a
// fresh database of the engine, in YAML's flow style, for tests that open
// the store through the configuration (app.New). For PostgreSQL it is a
// database of the test's own on the server, dropped when the test ends,
// so every desk of the configuration has its usual schema in it.
func DatabaseYAML(t testing.TB, engine Engine) string {
	t.Helper()
	switch engine {
	case SQLite:
		return fmt.Sprintf("{path: %q, synchronous: normal}", filepath.Join(t.TempDir(), "desk.db"))
	case Postgres:
		server := postgresURL(t)
		name := uniqueName("madoguchi_test_")
		quoted := pgx.Identifier{name}.Sanitize()
		if err := execIn(server, `CREATE DATABASE `+quoted); err != nil {
			t.Fatalf("create test database: %v", err)
		}
		// FORCE ends connections a store left open (PostgreSQL 13 and later).
		t.Cleanup(func() { dropIn(t, server, `DROP DATABASE IF EXISTS `+quoted+` WITH (FORCE)`) })
		u, err := url.Parse(server)
		if err != nil {
			t.Fatalf("%s: not a URL", PostgresURLEnv)
		}
		u.Path = "/" + name
		return fmt.Sprintf("{url: %q, key_file: %q}", u.String(), KeyFile(t))
	default:
		t.Fatalf("unknown store engine %q", engine)
		return ""
	}
}

// KeyFile makes a seal key file (32 random bytes) for a PostgreSQL store.
func KeyFile(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	path := filepath.Join(t.TempDir(), "seal.key")
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// postgresURL is the server's URL, or skips the test without one.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresURLEnv)
	if u == "" {
		t.Skip(PostgresURLEnv + " is not set: the PostgreSQL variant needs a server (eval \"$(scripts/postgres.sh)\" starts one)")
	}
	return u
}

func uniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// execIn runs one statement on its own connection to the server.
func execIn(server, statement string) error {
	db, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(statement)
	return err
}

func dropIn(t testing.TB, server, statement string) {
	if err := execIn(server, statement); err != nil {
		t.Errorf("clean up the test's PostgreSQL objects: %v", err)
	}
}

// TablesHolding names the tables of a PostgreSQL database (every schema
// but the system's) with a row whose text contains needle, as written or
// as bytea's hex: the secrets-at-rest check that reads a SQLite file
// byte by byte, for a database that is not a file.
func TablesHolding(t testing.TB, databaseURL, needle string) []string {
	t.Helper()
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []pgx.Identifier
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, pgx.Identifier{schema, name})
	}
	rows.Close()
	var out []string
	for _, table := range tables {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM `+table.Sanitize()+` AS r WHERE strpos(r::text, $1) > 0 OR strpos(r::text, $2) > 0`,
			needle, hex.EncodeToString([]byte(needle))).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, strings.Join(table, "."))
		}
	}
	return out
}
