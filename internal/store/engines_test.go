package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// postgresURLEnv names the PostgreSQL server the Postgres variants of the
// tests use (scripts/postgres.sh starts one); without it they skip.
const postgresURLEnv = "MADOGUCHI_POSTGRES_URL"

// forEachStore runs test against a fresh SQLite store and a fresh
// PostgreSQL one, as the subtests SQLite and Postgres (CI runs the second
// with -run /Postgres).
func forEachStore(t *testing.T, test func(t *testing.T, s *Store)) {
	t.Run("SQLite", func(t *testing.T) { test(t, openTest(t)) })
	t.Run("Postgres", func(t *testing.T) { test(t, openPostgresTest(t)) })
}

// openPostgresTest opens a store in a schema of its own, dropped when the
// test ends, or skips the test when no server is named.
func openPostgresTest(t *testing.T) *Store {
	t.Helper()
	url, opts := postgresTestOptions(t)
	s, err := OpenPostgres(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresTestOptions names the server, a fresh schema (dropped when the
// test ends) and a fresh key file; it skips the test when no server is
// named.
func postgresTestOptions(t *testing.T) (string, Options) {
	t.Helper()
	url := os.Getenv(postgresURLEnv)
	if url == "" {
		t.Skip(postgresURLEnv + " is not set: the PostgreSQL variant needs a server (eval \"$(scripts/postgres.sh)\" starts one)")
	}
	schema := "madoguchi_test_" + randomHex(6)
	keyPath := filepath.Join(t.TempDir(), "seal.key")
	if err := createKeyFile(keyPath, randomKey()); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after the stores' Close.
	t.Cleanup(func() { dropSchema(t, url, schema) })
	return url, Options{Schema: schema, KeyPath: keyPath}
}

func dropSchema(t *testing.T, url, schema string) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Errorf("drop test schema: %v", err)
		return
	}
	defer db.Close()
	if _, err := db.Exec(`DROP SCHEMA IF EXISTS ` + pgx.Identifier{schema}.Sanitize() + ` CASCADE`); err != nil {
		t.Errorf("drop test schema %s: %v", schema, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
