package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // database/sql driver: the store stays on database/sql for both engines
)

// postgresMaxConns bounds one desk's connections. A desk runs its mailbox
// reader, its sender, its jobs and the operators' reads at once; several
// desks (and instances) share the server's max_connections.
const postgresMaxConns = 4

// postgresRelaxedConns bounds the connections whose commits do not wait
// for the disk (the desk's handling of a message, the sender's marks),
// beside postgresMaxConns.
const postgresRelaxedConns = 2

// postgresVersionQuery reads the applied migration number; PostgreSQL has
// no PRAGMA user_version, so a one-row table in the desk's schema keeps it.
const postgresVersionQuery = `SELECT COALESCE(MAX(version), 0) FROM schema_version`

// ErrNoKeyFile means a PostgreSQL store was opened without its seal key.
var ErrNoKeyFile = errors.New("a PostgreSQL database needs database.key_file, a file of 32 random bytes that every instance shares")

// OpenPostgres opens the PostgreSQL database at url and migrates the
// desk's tables in opts.Schema, made if missing.
//
// Each desk has its own schema in the one database, and every connection
// of its pool starts with search_path set to it: the store's queries name
// tables unqualified, as they do in a desk's own SQLite file, and two desks
// never see each other's rows.
//
// The seal key is read from opts.KeyPath and never made here: instances
// sharing the database must seal and open with the same key, and one that
// made its own would seal notices no other instance can send (they would
// end as failed). The file is made once by hand and copied to each.
func OpenPostgres(ctx context.Context, url string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Schema == "" {
		return nil, errors.New("open PostgreSQL database: no schema named for the desk")
	}
	if opts.KeyPath == "" {
		return nil, ErrNoKeyFile
	}
	key, err := readKey(opts.KeyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing (make it once, e.g. head -c 32 /dev/urandom > %s; chmod 600 %s, and give every instance a copy)",
			ErrNoKeyFile, opts.KeyPath, opts.KeyPath, opts.KeyPath)
	}
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	connConfig, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("open PostgreSQL database: database.url is not a valid postgres:// URL")
	}
	schema := pgx.Identifier{opts.Schema}.Sanitize()
	// Sent in the startup message of every connection the pool opens, so no
	// connection ever runs a query against another schema.
	connConfig.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*connConfig)
	db.SetMaxOpenConns(postgresMaxConns)
	// database/sql keeps only two idle connections by default: the others
	// were closed after each burst and opened again (TCP, SCRAM, every
	// statement prepared anew) many times a second under load.
	db.SetMaxIdleConns(postgresMaxConns)
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL database: create schema %s: %w", schema, err)
	}
	// The desk's waiting commits (a claim, Flush, every Tx) are what make
	// the no-wait ones safe. A server whose default does not wait at all
	// gets "local" on these connections; any other default (on, or one
	// that also waits for standbys) is kept.
	var serverLevel string
	if err := db.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&serverLevel); err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL database: %w", err)
	}
	if serverLevel == "off" {
		db.Close()
		connConfig.RuntimeParams["synchronous_commit"] = "local"
		db = stdlib.OpenDB(*connConfig)
		db.SetMaxOpenConns(postgresMaxConns)
		db.SetMaxIdleConns(postgresMaxConns)
	}
	s := newStore(db, &dialect{postgres: true}, seal, log)
	// The relaxed writes' pool (see Store.relaxed): the setting travels in
	// each connection's startup message, so a write costs one round trip
	// and no wait for the server's WAL flush.
	relaxedConfig := connConfig.Copy()
	relaxedConfig.RuntimeParams["synchronous_commit"] = "off"
	s.relaxedDB = stdlib.OpenDB(*relaxedConfig)
	s.relaxedDB.SetMaxOpenConns(postgresRelaxedConns)
	s.relaxedDB.SetMaxIdleConns(postgresRelaxedConns)
	if err := s.start(ctx); err != nil {
		s.relaxedDB.Close()
		db.Close()
		return nil, err
	}
	s.analyzer = startAnalyzer(s, log)
	return s, nil
}

// migratePostgres applies the PostgreSQL migrations newer than the
// schema_version, all in one transaction (PostgreSQL's DDL is
// transactional, so a failed upgrade leaves the old schema whole). An
// advisory lock on the schema's name makes instances that start together
// migrate one after the other.
func (s *Store) migratePostgres(ctx context.Context) error {
	files, err := migrationFiles(postgresMigrations)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('madoguchi migrate ' || current_schema()))`); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, postgresVersionQuery).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if n := len(files); n > 0 && current > files[n-1].version {
		return fmt.Errorf("%w: the schema has version %d, this madoguchi knows versions up to %d (%s); run the newer madoguchi",
			ErrSchemaTooNew, current, files[n-1].version, files[n-1].name)
	}
	for _, m := range files {
		if m.version <= current {
			continue
		}
		script, err := migrations.ReadFile(postgresMigrations + "/" + m.name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(script)); err != nil {
			return fmt.Errorf("migration postgres/%s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("migration postgres/%s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
