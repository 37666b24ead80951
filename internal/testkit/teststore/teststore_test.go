package teststore

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
)

// Each engine's store is fresh: a request written in one test is not in
// the next.
func TestForEachGivesFreshStores(t *testing.T) {
	for i := 0; i < 2; i++ {
		ForEach(t, func(t *testing.T, st *store.Store) {
			ctx := context.Background()
			err := st.Tx(ctx, func(tx *store.Tx) error {
				ref, err := tx.NextReference("MDG", 2026)
				if err != nil {
					return err
				}
				if ref != "MDG-2026-000001" {
					t.Errorf("first reference %s: the store is not fresh", ref)
				}
				return tx.CreateRequest(&store.Request{Reference: ref, Kind: "new_id", State: store.StateAwaitingDocuments,
					Applicant: "a@x.example", CreatedAt: time.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The database section a configuration gets opens a store of its engine.
func TestDatabaseYAMLOpensThroughTheConfiguration(t *testing.T) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			cfg, err := config.Parse([]byte(`desk: {address: desk@madoguchi.test, domain: id.madoguchi.test}
imap: {address: "127.0.0.1:1", tls: none, username: desk, password: pw}
smtp: {address: "127.0.0.1:1", tls: none}
database: `+DatabaseYAML(t, e)+`
operators: [ops@madoguchi.test]
operator_auth: {authserv_id: mx.madoguchi.test}
`), os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Database.Postgres() != (e == Postgres) {
				t.Fatalf("database %+v for %s", cfg.Database, e)
			}
			ctx := context.Background()
			var st *store.Store
			if e == Postgres {
				st, err = store.OpenPostgres(ctx, cfg.Database.URL, store.Options{Schema: cfg.PostgresSchema(), KeyPath: cfg.Database.KeyFile})
			} else {
				st, err = store.Open(ctx, cfg.Database.Path, store.Options{})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if v, err := st.SchemaVersion(ctx); err != nil || v == 0 {
				t.Fatalf("schema version %d, %v", v, err)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	for value, want := range map[string]Engine{"": SQLite, "sqlite": SQLite, "postgres": Postgres, "PostgreSQL": Postgres} {
		t.Setenv(EngineEnv, value)
		if got := FromEnv(t); got != want {
			t.Errorf("%s=%q: %s, want %s", EngineEnv, value, got, want)
		}
	}
	if !strings.HasPrefix(string(Postgres), "Postgres") {
		t.Error("the Postgres subtests must match -run /Postgres")
	}
}
