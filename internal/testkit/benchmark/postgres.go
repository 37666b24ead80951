package benchmark

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/madoguchi/madoguchi/internal/store"
)

// pgTarget is a database of the bench's own on the PostgreSQL server it
// was given (-db): made fresh for the run, dropped at its end, so a run
// never meets an earlier run's rows.
type pgTarget struct {
	server  string // the URL as given
	url     string // the run's own database on that server
	name    string
	keyFile string
	version string // the server's, for the report
}

// newPGTarget makes the run's database and the seal key every store of
// the run shares.
func newPGTarget(ctx context.Context, server, dir string) (*pgTarget, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("-db: want a postgres:// URL")
	}
	b := make([]byte, 6)
	rand.Read(b)
	p := &pgTarget{server: server, name: "madoguchi_bench_" + hex.EncodeToString(b), keyFile: filepath.Join(dir, "seal.key")}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(p.keyFile, key, 0o600); err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", server)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SHOW server_version`).Scan(&p.version); err != nil {
		return nil, fmt.Errorf("-db: %s", pgMessage(err))
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+pgx.Identifier{p.name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("-db: the bench makes a database of its own and drops it after the run; the role needs CREATEDB: %s", pgMessage(err))
	}
	u.Path = "/" + p.name
	p.url = u.String()
	return p, nil
}

// pgMessage is the server's error without anything that could quote the
// URL (and its password).
func pgMessage(err error) string {
	if s := err.Error(); !strings.Contains(s, "://") {
		return s
	}
	return "cannot connect to the server"
}

// drop removes the run's database.
func (p *pgTarget) drop() error {
	db, err := sql.Open("pgx", p.server)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{p.name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// databaseYAML is the desk configuration's database: section for it.
func (p *pgTarget) databaseYAML() string {
	return fmt.Sprintf("database:\n  url: %q\n  key_file: %q\n", p.url, p.keyFile)
}

// openStore opens a store of the run's database in its own schema.
func (p *pgTarget) openStore(ctx context.Context, schema string) (*store.Store, error) {
	return store.OpenPostgres(ctx, p.url, store.Options{Schema: schema, KeyPath: p.keyFile})
}

// stageRawInsert is the server's own limit for what the desk does per
// message: commit. One-row INSERTs of a notice-sized text, each its own
// transaction (autocommit), on one connection.
func stageRawInsert(ctx context.Context, p *pgTarget, n int) (Stage, error) {
	db, err := sql.Open("pgx", p.url)
	if err != nil {
		return Stage{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw_inserts (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		return Stage{}, fmt.Errorf("raw insert stage: %s", pgMessage(err))
	}
	body := strings.Repeat("申請書式のご案内 ", 60)
	start := time.Now()
	for i := 0; i < n; i++ {
		if i%1000 == 0 && ctx.Err() != nil {
			return Stage{}, ctx.Err()
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO raw_inserts (body) VALUES ($1)`, body); err != nil {
			return Stage{}, fmt.Errorf("raw insert stage: %s", pgMessage(err))
		}
	}
	return newStage("PostgreSQL raw", "one-row INSERT of a notice-sized text, autocommit, one connection", "msg", n, time.Since(start)), nil
}
