package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
)

const migrateDBUsage = "usage: madoguchi migrate-db -config FILE --to postgres://USER@HOST/DB --key-file FILE [--desk NAME]\n"

// runMigrateDB is `madoguchi migrate-db`: each desk's SQLite database is
// copied into its schema of an empty PostgreSQL database, with its seal
// key. Exit 0 when every desk was copied and its counts match, 1 on
// failure, 2 on bad usage.
func runMigrateDB(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate-db", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML) of the desks on SQLite")
	to := fs.String("to", "", "the PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DB")
	keyFile := fs.String("key-file", "", "the seal key file the desks on PostgreSQL will use (database.key_file); made from the SQLite key if missing")
	deskName := fs.String("desk", "", "copy only this desk (default: every desk of the configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *cfgPath == "" || *to == "" || *keyFile == "" {
		fmt.Fprint(stderr, migrateDBUsage)
		return 2
	}
	if u, err := url.Parse(*to); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// Not quoted: it may hold a password.
		fmt.Fprint(stderr, "madoguchi migrate-db: --to is not a PostgreSQL URL like postgres://madoguchi@db.example:5432/madoguchi\n")
		return 2
	}
	m := &dbMigration{target: *to, keyFile: *keyFile, stdout: stdout, stderr: stderr}
	if err := m.run(ctx, *cfgPath, *deskName); err != nil {
		fmt.Fprintf(stderr, "madoguchi migrate-db: %s\n", redactURL(err.Error(), *to))
		return 1
	}
	return 0
}

// dbMigration is one run of migrate-db.
type dbMigration struct {
	target, keyFile string
	stdout, stderr  io.Writer
}

// migratedDesk is where a copied desk now lives.
type migratedDesk struct {
	name, schema, keyFile string
}

func (m *dbMigration) run(ctx context.Context, cfgPath, deskName string) error {
	cfg, err := loadOpsConfig(cfgPath, false)
	if err != nil {
		return err
	}
	desks, err := selectDesks(cfg, deskName)
	if err != nil {
		return err
	}
	several := len(cfg.AllDesks()) > 1
	// Everything that can be checked without touching a database is,
	// for every desk, before the first is copied.
	for _, dc := range desks {
		if dc.Database.Postgres() {
			return fmt.Errorf("desk %s already uses PostgreSQL (database.url); migrate-db copies a desk's SQLite database (database.path)", dc.Name)
		}
		if dc.Database.Path == ":memory:" {
			return fmt.Errorf("desk %s: database.path is :memory:, there is nothing to copy", dc.Name)
		}
	}
	var done []migratedDesk
	for _, dc := range desks {
		key := m.keyFile
		if several {
			key = deskKeyFile(m.keyFile, dc.Name)
		}
		if err := m.copyDesk(ctx, dc, key); err != nil {
			if len(done) > 0 {
				names := make([]string, len(done))
				for i, d := range done {
					names[i] = d.name
				}
				return fmt.Errorf("desk %s: %w\n(desks %s were copied and stay so; copy the rest with --desk NAME)", dc.Name, err, strings.Join(names, ", "))
			}
			return fmt.Errorf("desk %s: %w", dc.Name, err)
		}
		done = append(done, migratedDesk{name: dc.Name, schema: dc.PostgresSchema(), keyFile: key})
	}
	m.printNextSteps(done, several)
	return nil
}

// deskKeyFile gives each desk of several its own key file, "-NAME" before
// the extension as the configuration names a desk's other files: each
// SQLite desk sealed its notices under a key of its own.
func deskKeyFile(path, desk string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + desk + ext
}

func (m *dbMigration) copyDesk(ctx context.Context, dc *config.Config, keyFile string) error {
	dbPath := dc.Database.Path
	fmt.Fprintf(m.stderr, "desk %s: copying %s into schema %s of %s\n", dc.Name, dbPath, dc.PostgresSchema(), redactedURL(m.target))
	created, err := store.InstallKeyFile(dbPath, keyFile)
	if err != nil {
		return err
	}
	keyNote := fmt.Sprintf("seal key %s copied to %s", store.KeyPathFor(dbPath), keyFile)
	if !created {
		keyNote = fmt.Sprintf("seal key: %s already holds the key of %s", keyFile, store.KeyPathFor(dbPath))
	}
	fmt.Fprintf(m.stderr, "desk %s: %s\n", dc.Name, keyNote)
	res, err := store.CopyToPostgres(ctx, dbPath, m.target, store.CopyOptions{
		Schema:  dc.PostgresSchema(),
		KeyPath: keyFile,
		Progress: func(table string, rows int64, took time.Duration) {
			fmt.Fprintf(m.stderr, "desk %s: %-22s %9d rows  %s\n", dc.Name, table, rows, took.Round(time.Millisecond))
		},
		Note: func(table, note string) { fmt.Fprintf(m.stderr, "desk %s: %s: %s\n", dc.Name, table, note) },
	})
	if res != nil {
		m.printCounts(dc, res)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.stdout, "%s\n", keyNote)
	return nil
}

// printCounts prints a desk's table of row counts; it is printed on a
// mismatch too, to show which tables differ.
func (m *dbMigration) printCounts(dc *config.Config, res *store.CopyResult) {
	fmt.Fprintf(m.stdout, "desk %s: %s -> PostgreSQL schema %s (schema version %d)\n", dc.Name, dc.Database.Path, dc.PostgresSchema(), res.Version)
	width := len("TABLE")
	for _, tc := range res.Tables {
		width = max(width, len(tc.Table))
	}
	fmt.Fprintf(m.stdout, "  %-*s %10s %10s\n", width, "TABLE", "SQLITE", "POSTGRESQL")
	var total int64
	mismatched := 0
	for _, tc := range res.Tables {
		note := ""
		switch {
		case tc.Where == "sqlite":
			note = "  only in SQLite"
		case tc.Where == "postgres":
			note = "  only in PostgreSQL"
		case tc.SQLite != tc.Postgres:
			note = "  MISMATCH"
			mismatched++
		}
		total += tc.SQLite
		fmt.Fprintf(m.stdout, "  %-*s %10d %10d%s\n", width, tc.Table, tc.SQLite, tc.Postgres, note)
	}
	if mismatched == 0 {
		fmt.Fprintf(m.stdout, "%d tables, %d rows: the counts match\n", len(res.Tables), total)
	}
}

func (m *dbMigration) printNextSteps(done []migratedDesk, several bool) {
	fmt.Fprintf(m.stdout, "\nNext: keep madoguchi stopped (what a desk wrote to SQLite after the copy is not in PostgreSQL); in the configuration, replace database.path with\n")
	fmt.Fprintf(m.stdout, "  database:\n    url: %s   (with the password)\n", redactedURL(m.target))
	if !several {
		fmt.Fprintf(m.stdout, "    key_file: %s\n", m.keyFile)
	} else {
		// Each SQLite desk sealed its notices under a key of its own.
		fmt.Fprintln(m.stdout, "and give each desk its own key file (the top-level desk at the top level, the others in their desks: entries):")
		for _, d := range done {
			fmt.Fprintf(m.stdout, "  desk %s: database: {key_file: %s}   (schema %s)\n", d.name, d.keyFile, d.schema)
		}
	}
	fmt.Fprintln(m.stdout, "Copy the key files to every instance (mode 0600), then start madoguchi. The SQLite files are unchanged.")
}

// redactedURL is the URL as it may be printed: without its password.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(the --to URL)"
	}
	return u.Redacted()
}

// redactURL removes the URL's password from msg, wherever a library may
// have quoted it.
func redactURL(msg, raw string) string {
	msg = strings.ReplaceAll(msg, raw, redactedURL(raw))
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return msg
	}
	if password, ok := u.User.Password(); ok && password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
		if escaped := url.PathEscape(password); escaped != password {
			msg = strings.ReplaceAll(msg, escaped, "xxxxx")
		}
	}
	return msg
}
