package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Moving a desk from SQLite to PostgreSQL (madoguchi migrate-db): every
// table of the SQLite file is copied into the desk's empty schema, in one
// PostgreSQL transaction, and the row counts of both sides are compared
// before it commits. The tables come from the SQLite file's own schema, so
// a table a later migration adds is copied without anyone listing it here.

// ErrTargetNotEmpty means the desk's PostgreSQL schema already holds rows;
// a copy never merges into or overwrites a database in use.
var ErrTargetNotEmpty = errors.New("the PostgreSQL schema is not empty")

// ErrCopyVersion means the SQLite database is not at this build's schema
// version, so its tables would not match the ones the build makes in
// PostgreSQL.
var ErrCopyVersion = errors.New("the SQLite database's schema version is not this madoguchi's")

// ErrKeyDiffers means the target key file holds another key than the
// SQLite database's.
var ErrKeyDiffers = errors.New("the key file holds another key")

// ErrCountMismatch means a table's row counts differed after the copy (it
// was rolled back).
var ErrCountMismatch = errors.New("row counts differ after the copy")

// CopyOptions say where a desk's SQLite database goes.
type CopyOptions struct {
	// Schema is the desk's PostgreSQL schema (made if missing).
	Schema string
	// KeyPath is the seal key file the PostgreSQL desk will use; it must
	// hold the SQLite database's key (see InstallKeyFile).
	KeyPath string
	// Progress, if set, hears each table as it is copied.
	Progress func(table string, rows int64, took time.Duration)
	// Note, if set, hears what the admin should know but is no failure
	// (text made valid for PostgreSQL, a table only one side has).
	Note func(table, note string)
}

// TableCount is one table's rows on each side after a copy.
type TableCount struct {
	Table    string
	SQLite   int64
	Postgres int64
	// Where is "" for a table both sides have, else the one side that has
	// it ("sqlite" or "postgres"); such a table was not copied.
	Where string
}

// CopyResult is what a copy did.
type CopyResult struct {
	Version int          // the schema version of both sides
	Tables  []TableCount // by table name
}

// InstallKeyFile makes dst hold the SQLite database's seal key (the file
// KeyPathFor(dbPath)), so the PostgreSQL desk opens the notices sealed in
// SQLite. An existing dst with the same key is used as it is; one with
// another key is refused. created reports that dst was written.
func InstallKeyFile(dbPath, dst string) (created bool, err error) {
	src := KeyPathFor(dbPath)
	key, err := readKey(src)
	if err != nil {
		return false, fmt.Errorf("the SQLite database's seal key: %w", err)
	}
	have, err := readKey(dst)
	switch {
	case err == nil && bytes.Equal(have, key):
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%w: %s is not %s; the notices sealed in SQLite would not open with it (name another file, or remove it if nothing uses it)",
			ErrKeyDiffers, dst, src)
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	if err := createKeyFile(dst, key); err != nil {
		return false, err
	}
	return true, nil
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() (int, error) {
	files, err := migrationFiles(sqliteMigrations)
	if err != nil || len(files) == 0 {
		return 0, err
	}
	return files[len(files)-1].version, nil
}

// CopyToPostgres copies the SQLite database at dbPath into the desk's
// schema of the PostgreSQL database at databaseURL. The SQLite file is only read,
// in one snapshot; the daemon should be stopped, or what it writes after
// the snapshot stays behind.
func CopyToPostgres(ctx context.Context, dbPath, databaseURL string, opts CopyOptions) (*CopyResult, error) {
	if opts.Schema == "" {
		return nil, errors.New("copy: no schema named for the desk")
	}
	latest, err := LatestSchemaVersion()
	if err != nil {
		return nil, err
	}
	src, err := openCopySource(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// One read transaction: the tables are copied and counted as of one
	// moment, even if something writes the file meanwhile.
	srcTx, err := src.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dbPath, err)
	}
	defer srcTx.Rollback()
	var version int
	if err := srcTx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return nil, fmt.Errorf("read %s: %w", dbPath, err)
	}
	if version != latest {
		return nil, fmt.Errorf("%w: %s has version %d, this madoguchi makes version %d; %s", ErrCopyVersion, dbPath, version, latest, versionAdvice(version, latest))
	}
	tables, err := sqliteTables(ctx, srcTx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dbPath, err)
	}

	// The store's own open makes the schema and its tables, exactly as a
	// desk started on PostgreSQL would, and checks the key file.
	target, err := OpenPostgres(ctx, databaseURL, Options{Schema: opts.Schema, KeyPath: opts.KeyPath})
	if err != nil {
		return nil, err
	}
	target.Close()

	connConfig, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("copy: the target is not a valid postgres:// URL")
	}
	connConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	conn, err := pgx.ConnectConfig(ctx, connConfig)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	c := &copier{ctx: ctx, src: srcTx, schema: opts.Schema, opts: opts}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	c.dst = tx
	result, err := c.run(tables, latest)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return result, nil
}

func versionAdvice(have, want int) string {
	if have > want {
		return "it was written by a newer madoguchi: run migrate-db of that version"
	}
	return "run this madoguchi once against the SQLite database first (madoguchi once -config FILE migrates it), then copy"
}

// openCopySource opens an existing SQLite file without migrating it or
// making it: a copy reads what is there.
func openCopySource(ctx context.Context, path string) (*sql.DB, error) {
	if path == ":memory:" {
		return nil, errors.New("copy: the database is :memory:, there is nothing to copy")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("the SQLite database: %w", err)
	}
	// mode=rw: never make a file that is not there.
	q := url.Values{}
	q.Add("mode", "rw")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	db, err := sql.Open("sqlite", "file:"+sqliteURIPath(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// sqliteTable is a table of the source with its columns in order.
type sqliteTable struct {
	name    string
	columns []string
}

// sqliteTables lists the desk's tables; SQLite's own (sqlite_sequence,
// sqlite_stat1) are bookkeeping, as is the schema version, which SQLite
// keeps in a pragma rather than a table.
func sqliteTables(ctx context.Context, tx *sql.Tx) ([]sqliteTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []sqliteTable
	for _, name := range names {
		rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, name)
		cols, err := scanAll(rows, err, func(r rowScanner) (string, error) {
			var c string
			return c, r.Scan(&c)
		})
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		out = append(out, sqliteTable{name: name, columns: cols})
	}
	return out, nil
}

// copier is one desk's copy: the SQLite snapshot and the PostgreSQL
// transaction.
type copier struct {
	ctx    context.Context
	src    *sql.Tx
	dst    pgx.Tx
	schema string
	opts   CopyOptions
}

// postgresColumn is a column of the target table.
type postgresColumn struct {
	name, dataType string
	generated      bool // computed by PostgreSQL; nothing may be written to it
}

// foreignKey is a constraint dropped for the copy and made again after it.
type foreignKey struct {
	table, name, definition string
}

func (c *copier) run(tables []sqliteTable, version int) (*CopyResult, error) {
	var pgVersion int
	if err := c.dst.QueryRow(c.ctx, postgresVersionQuery).Scan(&pgVersion); err != nil {
		return nil, fmt.Errorf("read the PostgreSQL schema version: %w", err)
	}
	if pgVersion != version {
		return nil, fmt.Errorf("%w: the PostgreSQL schema %s has version %d, this madoguchi makes version %d", ErrCopyVersion, c.schema, pgVersion, version)
	}
	pgTables, err := c.postgresTables()
	if err != nil {
		return nil, err
	}
	// Nothing else may write the desk's tables until the copy commits:
	// another migrate-db, or an instance started too early.
	if len(pgTables) > 0 {
		names := make([]string, 0, len(pgTables))
		for t := range pgTables {
			names = append(names, pgx.Identifier{t}.Sanitize())
		}
		sort.Strings(names)
		if _, err := c.dst.Exec(c.ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return nil, fmt.Errorf("lock the schema's tables: %w", err)
		}
	}
	if err := c.refuseNonEmpty(pgTables); err != nil {
		return nil, err
	}

	// PostgreSQL checks a reference when a row is written; the desk's
	// tables refer to each other in a cycle (requests and accounts) and to
	// themselves (accounts.merged_into), so no table order works. The
	// foreign keys are dropped for the copy and made again in the same
	// transaction, which checks every row against them then.
	fks, err := c.foreignKeys()
	if err != nil {
		return nil, err
	}
	for _, fk := range fks {
		if _, err := c.dst.Exec(c.ctx, `ALTER TABLE `+pgx.Identifier{fk.table}.Sanitize()+` DROP CONSTRAINT `+pgx.Identifier{fk.name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("table %s: set aside the rule %s for the copy: %w", fk.table, fk.name, err)
		}
	}

	result := &CopyResult{Version: version}
	inSQLite := map[string]bool{}
	for _, t := range tables {
		inSQLite[t.name] = true
		count, err := c.sourceCount(t.name)
		if err != nil {
			return nil, err
		}
		cols, ok := pgTables[t.name]
		if !ok {
			if count > 0 {
				return nil, fmt.Errorf("table %s: %d rows in SQLite, but no such table in PostgreSQL's schema version %d; this madoguchi's two migrations disagree", t.name, count, version)
			}
			c.note(t.name, "only in SQLite, and empty: nothing to copy")
			result.Tables = append(result.Tables, TableCount{Table: t.name, Where: "sqlite"})
			continue
		}
		start := time.Now()
		copied, err := c.copyTable(t, cols)
		if err != nil {
			return nil, err
		}
		if c.opts.Progress != nil {
			c.opts.Progress(t.name, copied, time.Since(start))
		}
		result.Tables = append(result.Tables, TableCount{Table: t.name, SQLite: count})
	}
	for name := range pgTables {
		if !inSQLite[name] {
			c.note(name, "only in PostgreSQL: left empty")
			result.Tables = append(result.Tables, TableCount{Table: name, Where: "postgres"})
		}
	}
	sort.Slice(result.Tables, func(i, j int) bool { return result.Tables[i].Table < result.Tables[j].Table })

	for _, fk := range fks {
		if _, err := c.dst.Exec(c.ctx, `ALTER TABLE `+pgx.Identifier{fk.table}.Sanitize()+` ADD CONSTRAINT `+pgx.Identifier{fk.name}.Sanitize()+` `+fk.definition); err != nil {
			return nil, fmt.Errorf("table %s: rule %s (%s) does not hold for the copied rows: %s", fk.table, fk.name, fk.definition, postgresMessage(err))
		}
	}
	if err := c.resetIdentities(tables); err != nil {
		return nil, err
	}

	var mismatched []string
	for i := range result.Tables {
		tc := &result.Tables[i]
		if tc.Where == "sqlite" {
			continue
		}
		if err := c.dst.QueryRow(c.ctx, `SELECT count(*) FROM `+pgx.Identifier{tc.Table}.Sanitize()).Scan(&tc.Postgres); err != nil {
			return nil, fmt.Errorf("table %s: count the copied rows: %w", tc.Table, err)
		}
		if tc.Postgres != tc.SQLite {
			mismatched = append(mismatched, fmt.Sprintf("%s (SQLite %d, PostgreSQL %d)", tc.Table, tc.SQLite, tc.Postgres))
		}
	}
	if len(mismatched) > 0 {
		return result, fmt.Errorf("%w, nothing was kept: %s", ErrCountMismatch, strings.Join(mismatched, ", "))
	}
	return result, nil
}

func (c *copier) note(table, note string) {
	if c.opts.Note != nil {
		c.opts.Note(table, note)
	}
}

// postgresTables are the desk's tables in the target schema with their
// columns; schema_version is the migrations' bookkeeping.
func (c *copier) postgresTables() (map[string][]postgresColumn, error) {
	rows, err := c.dst.Query(c.ctx, `SELECT table_name, column_name, data_type, is_generated = 'ALWAYS'
		FROM information_schema.columns
		WHERE table_schema = $1 AND table_name <> 'schema_version'
		  AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE')
		ORDER BY table_name, ordinal_position`, c.schema)
	if err != nil {
		return nil, fmt.Errorf("list the PostgreSQL tables: %w", err)
	}
	defer rows.Close()
	out := map[string][]postgresColumn{}
	for rows.Next() {
		var table string
		var col postgresColumn
		if err := rows.Scan(&table, &col.name, &col.dataType, &col.generated); err != nil {
			return nil, fmt.Errorf("list the PostgreSQL tables: %w", err)
		}
		out[table] = append(out[table], col)
	}
	return out, rows.Err()
}

// refuseNonEmpty names every table of the target that holds a row.
func (c *copier) refuseNonEmpty(pgTables map[string][]postgresColumn) error {
	var full []string
	for name := range pgTables {
		var hasRow bool
		if err := c.dst.QueryRow(c.ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{name}.Sanitize()+`)`).Scan(&hasRow); err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		if hasRow {
			full = append(full, name)
		}
	}
	if len(full) == 0 {
		return nil
	}
	sort.Strings(full)
	return fmt.Errorf("%w: schema %s has rows in %s; a copy goes only into an empty schema (drop it, DROP SCHEMA %s CASCADE, if it holds nothing you need)",
		ErrTargetNotEmpty, c.schema, strings.Join(full, ", "), pgx.Identifier{c.schema}.Sanitize())
}

func (c *copier) foreignKeys() ([]foreignKey, error) {
	rows, err := c.dst.Query(c.ctx, `SELECT cl.relname, co.conname, pg_get_constraintdef(co.oid)
		FROM pg_constraint co
		JOIN pg_class cl ON cl.oid = co.conrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		WHERE co.contype = 'f' AND n.nspname = $1
		ORDER BY cl.relname, co.conname`, c.schema)
	if err != nil {
		return nil, fmt.Errorf("list the foreign keys: %w", err)
	}
	defer rows.Close()
	var out []foreignKey
	for rows.Next() {
		var fk foreignKey
		if err := rows.Scan(&fk.table, &fk.name, &fk.definition); err != nil {
			return nil, fmt.Errorf("list the foreign keys: %w", err)
		}
		out = append(out, fk)
	}
	return out, rows.Err()
}

func (c *copier) sourceCount(table string) (int64, error) {
	var n int64
	if err := c.src.QueryRowContext(c.ctx, `SELECT count(*) FROM `+sqliteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("table %s: count the SQLite rows: %w", table, err)
	}
	return n, nil
}

// copyTable streams the table's rows into PostgreSQL with COPY. Columns
// are matched by name; one PostgreSQL has and SQLite does not keeps its
// default.
func (c *copier) copyTable(t sqliteTable, pgCols []postgresColumn) (int64, error) {
	byName := map[string]postgresColumn{}
	for _, col := range pgCols {
		byName[col.name] = col
	}
	var types []string
	for _, name := range t.columns {
		col, ok := byName[name]
		if !ok {
			return 0, fmt.Errorf("table %s: column %s is in SQLite but not in PostgreSQL; this madoguchi's two migrations disagree", t.name, name)
		}
		if col.generated {
			return 0, fmt.Errorf("table %s: column %s is computed by PostgreSQL and cannot be copied into", t.name, name)
		}
		types = append(types, col.dataType)
	}
	quoted := make([]string, len(t.columns))
	for i, name := range t.columns {
		quoted[i] = sqliteIdent(name)
	}
	rows, err := c.src.QueryContext(c.ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM `+sqliteIdent(t.name))
	if err != nil {
		return 0, fmt.Errorf("table %s: read: %w", t.name, err)
	}
	defer rows.Close()
	values := make([]any, len(t.columns))
	ptrs := make([]any, len(values))
	for i := range values {
		ptrs[i] = &values[i]
	}
	var rowNum, replaced int64
	var convErr error
	next := func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		rowNum++
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out := make([]any, len(values))
		for i, v := range values {
			conv, changed, err := toPostgres(v, types[i])
			if err != nil {
				convErr = fmt.Errorf("table %s, row %d, column %s: %w", t.name, rowNum, t.columns[i], err)
				return nil, convErr
			}
			if changed {
				replaced++
			}
			out[i] = conv
		}
		return out, nil
	}
	n, err := c.dst.CopyFrom(c.ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromFunc(next))
	if convErr != nil {
		return 0, convErr
	}
	if err != nil {
		return 0, fmt.Errorf("table %s: copy: %s", t.name, postgresMessage(err))
	}
	if replaced > 0 {
		c.note(t.name, fmt.Sprintf("%d text values held NUL or invalid UTF-8, which PostgreSQL's text cannot; written with U+FFFD, as the desk writes them on PostgreSQL", replaced))
	}
	return n, nil
}

// toPostgres turns a value SQLite gave into one the column's PostgreSQL
// type takes. SQLite keeps whatever was written; PostgreSQL's types are
// strict. changed reports text that had to be made valid.
func toPostgres(v any, dataType string) (out any, changed bool, err error) {
	if v == nil {
		return nil, false, nil
	}
	switch dataType {
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, false, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), false, nil
			}
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, false, nil
			}
		}
	case "boolean":
		// Written by the desk as 0 or 1 (flag).
		if x, ok := v.(int64); ok && (x == 0 || x == 1) {
			return x == 1, false, nil
		}
	case "bytea":
		// Byte for byte, whatever SQLite's storage class.
		switch x := v.(type) {
		case []byte:
			return x, false, nil
		case string:
			return []byte(x), false, nil
		}
	case "text", "character varying", "character", "json", "jsonb":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			return nil, false, fmt.Errorf("a %T cannot go into %s", v, dataType)
		}
		valid := postgresText(s)
		return valid, valid != s, nil
	case "double precision", "real", "numeric":
		switch x := v.(type) {
		case float64:
			return x, false, nil
		case int64:
			return float64(x), false, nil
		}
	case "timestamp with time zone", "timestamp without time zone":
		// The desk's times are Unix seconds in SQLite.
		switch x := v.(type) {
		case int64:
			return time.Unix(x, 0).UTC(), false, nil
		case time.Time:
			return x, false, nil
		}
	default:
		return v, false, nil
	}
	return nil, false, fmt.Errorf("the value %s cannot go into PostgreSQL's %s", describeValue(v), dataType)
}

// describeValue shows a bad value's kind and size, never its content: it
// may be an applicant's data.
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("(text, %d bytes)", len(x))
	case []byte:
		return fmt.Sprintf("(blob, %d bytes)", len(x))
	default:
		return fmt.Sprintf("(%T)", v)
	}
}

// postgresText makes s fit PostgreSQL's text as dialect.args does for
// what the desk writes: NUL and invalid UTF-8 become U+FFFD.
func postgresText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// resetIdentities moves every identity (and serial) column's sequence
// past the copied ids, so the next row PostgreSQL numbers does not
// collide with one copied from SQLite. A table SQLite numbered with
// AUTOINCREMENT also never reuses an id it handed out and deleted
// (sqlite_sequence keeps the highest).
func (c *copier) resetIdentities(tables []sqliteTable) error {
	autoincrement := map[string]int64{}
	var hasSequence bool
	if err := c.src.QueryRowContext(c.ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence')`).Scan(&hasSequence); err != nil {
		return fmt.Errorf("read sqlite_sequence: %w", err)
	}
	if hasSequence {
		rows, err := c.src.QueryContext(c.ctx, `SELECT name, seq FROM sqlite_sequence`)
		if err != nil {
			return fmt.Errorf("read sqlite_sequence: %w", err)
		}
		for rows.Next() {
			var name string
			var seq int64
			if err := rows.Scan(&name, &seq); err != nil {
				rows.Close()
				return fmt.Errorf("read sqlite_sequence: %w", err)
			}
			autoincrement[name] = seq
		}
		rows.Close()
	}
	rows, err := c.dst.Query(c.ctx, `SELECT cl.relname, a.attname, pg_get_serial_sequence(format('%I.%I', n.nspname, cl.relname), a.attname)
		FROM pg_attribute a
		JOIN pg_class cl ON cl.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		WHERE n.nspname = $1 AND cl.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		  AND pg_get_serial_sequence(format('%I.%I', n.nspname, cl.relname), a.attname) IS NOT NULL
		ORDER BY cl.relname`, c.schema)
	if err != nil {
		return fmt.Errorf("list the identity columns: %w", err)
	}
	type identity struct{ table, column, sequence string }
	var ids []identity
	for rows.Next() {
		var id identity
		if err := rows.Scan(&id.table, &id.column, &id.sequence); err != nil {
			rows.Close()
			return fmt.Errorf("list the identity columns: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the identity columns: %w", err)
	}
	for _, id := range ids {
		_, err := c.dst.Exec(c.ctx, `SELECT setval($1, GREATEST(COALESCE((SELECT MAX(`+pgx.Identifier{id.column}.Sanitize()+`) FROM `+pgx.Identifier{id.table}.Sanitize()+`), 0), $2::bigint) + 1, false)`,
			id.sequence, autoincrement[id.table])
		if err != nil {
			return fmt.Errorf("table %s: move the numbering of %s past the copied rows: %w", id.table, id.column, err)
		}
	}
	return nil
}

// postgresMessage is a PostgreSQL error with its detail (which row broke
// which rule), without pgx's wrapping.
func postgresMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Detail != "" {
			return pgErr.Message + " (" + pgErr.Detail + ")"
		}
		return pgErr.Message
	}
	return err.Error()
}

// sqliteIdent quotes a SQLite identifier.
func sqliteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
