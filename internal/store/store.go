// Package store keeps the desk's state in SQLite (the default) or
// PostgreSQL: seen messages, requests, accounts, documents, the outbox and
// the audit log. Every state change and the notices it causes are written
// in one transaction (see Store.Tx). Both engines run the same SQL through
// one API; dialect.go says what differs.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// The migrations of each engine, with the same numbers.
const (
	sqliteMigrations   = "migrations"
	postgresMigrations = "migrations/postgres"
)

// Options tune the database connection.
type Options struct {
	// Synchronous is "full" (default: a commit survives power loss) or
	// "normal" (faster; in WAL mode a power loss may lose the last commits,
	// a process crash does not).
	Synchronous string
	// KeyPath is the file holding the key that seals sensitive notices;
	// default the database path plus ".key". It is made (0600) on first
	// open. A ":memory:" database uses a key that lives in memory.
	// PostgreSQL needs it set, and the file must exist (see OpenPostgres).
	KeyPath string
	// Schema is the PostgreSQL schema that holds the desk's tables
	// (OpenPostgres); SQLite ignores it.
	Schema string
	// Logger receives warnings about the key and unreadable sealed
	// notices (never their text); nil discards them.
	Logger *slog.Logger
}

// Store is the open database.
type Store struct {
	db      *sql.DB
	dialect *dialect
	stmts   *stmtCache
	seal    *sealer
	log     *slog.Logger
	// checkpoints is nil under PostgreSQL, which has no WAL file of ours
	// to truncate.
	checkpoints *walCheckpointer
	// synchronous is SQLite's configured level (FULL, NORMAL), which
	// relaxed writes return to.
	synchronous string
	// relaxedDB is PostgreSQL's pool for relaxed writes: its connections
	// start with synchronous_commit off. nil under SQLite.
	relaxedDB *sql.DB
	// analyzer keeps PostgreSQL's statistics of young tables fresh
	// (analyze.go). nil under SQLite.
	analyzer *analyzer
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")

// busyTimeoutMillis is how long a statement waits for another process's
// lock before failing.
const busyTimeoutMillis = 10000

// Open opens (creating if needed) and migrates the database at path.
// Sensitive notices are sealed under the key at opts.KeyPath; the database
// file and its -wal and -shm are readable by the owner only.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var key []byte
	if path == ":memory:" {
		key = randomKey()
	} else {
		hadData, err := createPrivate(path)
		if err != nil {
			return nil, err
		}
		keyPath := opts.KeyPath
		if keyPath == "" {
			keyPath = path + ".key"
		}
		var created bool
		if key, created, err = loadOrCreateKey(keyPath); err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		if created && hadData {
			log.Warn("store: the key file was missing, a new one was made; pending notices sealed with the old key will be marked failed, not sent",
				"key_file", keyPath)
		}
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	sync := strings.ToUpper(opts.Synchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL", "EXTRA", "OFF":
	default:
		return nil, fmt.Errorf("open database %s: synchronous %q is not full or normal", path, opts.Synchronous)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	// Overwrite deleted and replaced content, so a scrubbed notice does not
	// linger in free pages of the file (the WAL is truncated for that, see
	// walCheckpointer).
	q.Add("_pragma", "secure_delete(1)")
	q.Add("_pragma", "synchronous("+sync+")")
	// IMMEDIATE takes the write lock at BEGIN, so two processes never
	// deadlock upgrading read locks; busy_timeout then queues them.
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+sqliteURIPath(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// SQLite has one writer; one connection keeps the pool from fighting
	// over the lock inside this process.
	db.SetMaxOpenConns(1)
	s := newStore(db, &dialect{}, seal, log)
	s.synchronous = sync
	s.checkpoints = &walCheckpointer{run: s.CheckpointWAL, every: checkpointEvery, log: log}
	if err := s.start(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// Frames left in the WAL by an earlier run (a crash, an older version
	// that kept secrets in clear text) go now rather than at the next scrub.
	s.checkpoints.request()
	return s, nil
}

func newStore(db *sql.DB, d *dialect, seal *sealer, log *slog.Logger) *Store {
	return &Store{db: db, dialect: d, stmts: &stmtCache{db: db, dialect: d}, seal: seal, log: log}
}

// start migrates the schema and secures the outbox, on either engine.
func (s *Store) start(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return err
	}
	return s.secureOutbox(ctx)
}

// sqliteURIPath escapes what a file: URI would read as its query (?) or
// fragment (#) rather than as part of the path: SQLite opened another
// file, the path cut at the #, for a database in a directory named after
// a subtest ("TestX/SQLite#01").
func sqliteURIPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// createPrivate makes the database file 0600 before SQLite opens it:
// SQLite gives -wal and -shm the mode of the main file, so they are
// private too. An existing file, and its -wal and -shm, lose any group or
// world access. hadData reports that the database already held something.
func createPrivate(path string) (hadData bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return false, f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("create database file: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("open database %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := makePrivate(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return fi.Size() > 0, nil
}

// Close closes the database.
func (s *Store) Close() error {
	// SQLite checkpoints and removes the WAL when the last connection
	// closes, so a checkpoint still waiting is not needed.
	if s.checkpoints != nil {
		s.checkpoints.stop()
	}
	s.analyzer.stop()
	s.stmts.close()
	if s.relaxedDB != nil {
		s.relaxedDB.Close()
	}
	return s.db.Close()
}

// CheckpointWAL copies the WAL into the database file and truncates it, so
// replaced content (a scrubbed notice, even sealed) is left nowhere. It
// fails when another process's reader kept it from finishing. Under
// PostgreSQL it does nothing: the server owns its files.
func (s *Store) CheckpointWAL(ctx context.Context) error {
	if s.dialect.postgres {
		return nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer conn.Close()
	// TRUNCATE waits for other processes' readers; the desk's only
	// connection must not be held for the full busy timeout meanwhile.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 200"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var busy, walFrames, copied int
	cpErr := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &walFrames, &copied)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeoutMillis)); err != nil {
		// A connection left with the short timeout would fail writes that
		// meet another process: drop it, the pool opens a fresh one.
		conn.Raw(func(any) error { return driver.ErrBadConn })
		return fmt.Errorf("checkpoint: restore busy timeout: %w", err)
	}
	if cpErr != nil {
		return fmt.Errorf("checkpoint: %w", cpErr)
	}
	if busy != 0 {
		return errCheckpointBusy
	}
	return nil
}

// errCheckpointBusy means another process kept a checkpoint from finishing.
var errCheckpointBusy = errors.New("checkpoint: another process is using the database; try again later")

// checkpointEvery bounds how often scrubs trigger a WAL checkpoint, so a
// burst of sent codes costs one checkpoint, not one each. The WAL only
// ever held sealed text, so the checkpoint need not be quick; it holds the
// store's one connection while it copies, so it must not be frequent.
const checkpointEvery = 30 * time.Second

// walCheckpointer runs a checkpoint soon after a scrub, in the background
// and at most once per every, so MarkSent never waits for one.
// With SetMaxOpenConns(1) the checkpoint takes the store's only connection
// and so never runs inside (or conflicts with) a transaction of this process.
type walCheckpointer struct {
	run   func(context.Context) error
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	timer   *time.Timer // armed: a checkpoint is coming
	last    time.Time   // when the last one ended
	stopped bool
	running sync.WaitGroup
}

// request asks for a checkpoint; requests before it runs share it. A nil
// checkpointer (PostgreSQL) ignores it.
func (c *walCheckpointer) request() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.timer != nil {
		return
	}
	c.running.Add(1)
	c.timer = time.AfterFunc(max(0, c.every-time.Since(c.last)), c.fire)
}

func (c *walCheckpointer) fire() {
	defer c.running.Done()
	err := c.run(context.Background())
	c.mu.Lock()
	c.timer, c.last = nil, time.Now()
	c.mu.Unlock()
	if err != nil {
		// Another process's long read is routine; anything else is not.
		level := slog.LevelWarn
		if errors.Is(err, errCheckpointBusy) {
			level = slog.LevelDebug
		}
		c.log.Log(context.Background(), level, "store: WAL checkpoint did not finish; will try again", "err", err)
		c.request()
	}
}

// stop cancels a waiting checkpoint and waits for a running one.
func (c *walCheckpointer) stop() {
	c.mu.Lock()
	c.stopped = true
	if c.timer != nil && c.timer.Stop() {
		c.running.Done()
	}
	c.mu.Unlock()
	c.running.Wait()
}

// migrationFile is one numbered migration script.
type migrationFile struct {
	version int
	name    string
}

// migrationFiles lists the migrations in dir, oldest first.
func migrationFiles(dir string) ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []migrationFile
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		version, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", e.Name())
		}
		out = append(out, migrationFile{version: version, name: e.Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the embedded migrations newer than the schema version.
func (s *Store) migrate(ctx context.Context) error {
	if s.dialect.postgres {
		return s.migratePostgres(ctx)
	}
	files, err := migrationFiles(sqliteMigrations)
	if err != nil {
		return err
	}
	var current int
	if err := s.queryRow(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	// Before anything changes: a database from a newer binary is refused,
	// one about to be migrated is copied to <db>.before-vNNNN.
	if err := s.prepareMigration(ctx, current); err != nil {
		return err
	}
	for _, m := range files {
		if m.version <= current {
			continue
		}
		script, err := migrations.ReadFile(sqliteMigrations + "/" + m.name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(script)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		current = m.version
	}
	return nil
}

// SchemaVersion reports the applied migration number.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	query := "PRAGMA user_version"
	if s.dialect.postgres {
		query = postgresVersionQuery
	}
	err := s.queryRowOnce(ctx, query).Scan(&v)
	return v, err
}

// Tx runs fn in one write transaction: everything fn does commits together
// or not at all, and the commit waits for the disk.
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) error {
	return s.tx(ctx, s.db, s.stmts, fn)
}

// TxNoWait is Tx for the desk's handling of a message, whose commit need
// not wait for the disk because nothing it did leaves the process before
// a Flush: the message is filed after one, and a notice is sent only
// after the sender's claim, which waits for the disk and so for every
// commit before it. On PostgreSQL it runs on the connections that start
// with synchronous_commit off (the WAL flush, a millisecond or more, no
// longer holds up the next message); a crash of madoguchi loses nothing,
// a crash of the database's machine loses the last such commits, whose
// messages are still in the mailbox with none of their notices sent, and
// are handled again. On SQLite it is Tx.
func (s *Store) TxNoWait(ctx context.Context, fn func(*Tx) error) error {
	if s.relaxedDB == nil {
		return s.Tx(ctx, fn)
	}
	// The statement cache holds statements of the other pool; pgx keeps
	// its own per connection.
	return s.tx(ctx, s.relaxedDB, nil, fn)
}

// Flush returns once every commit before it is on disk. On PostgreSQL it
// commits a transaction that wrote to the WAL (a transactional logical
// decoding message: no table, no row, and any role may) with the
// server's synchronous_commit, which waits for the WAL up to its commit
// record, after every earlier commit. A transaction that only took an id
// would not wait: the server flushes only for one that wrote WAL. SQLite's
// commits already wait.
func (s *Store) Flush(ctx context.Context) error {
	if s.relaxedDB == nil {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `SELECT pg_logical_emit_message(true, 'madoguchi flush', '')`); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

func (s *Store) tx(ctx context.Context, db *sql.DB, stmts *stmtCache, fn func(*Tx) error) error {
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, ctx: ctx, stmts: stmts, seal: s.seal, dialect: s.dialect}
	err = fn(tx)
	if err == nil {
		err = tx.sendHeld()
	}
	if err != nil {
		sqlTx.Rollback()
		if tx.heldErr != nil {
			return fmt.Errorf("%w (and then: %v)", tx.heldErr, err)
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if stmts != nil {
		stmts.prepareWanted(ctx)
	}
	return nil
}

// Tx is an open transaction. Its methods are the only way handlers change
// state.
type Tx struct {
	tx      *sql.Tx
	ctx     context.Context
	stmts   *stmtCache
	seal    *sealer
	dialect *dialect

	held    []heldInsert // PostgreSQL: rows to insert with the next statement (held.go)
	heldErr error        // why sending them failed, when a single-row query could not say
}

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// scanAll reads every row of a query with scan and closes the rows; err is
// the query's own error.
func scanAll[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// flag stores a Go bool in an INTEGER column as 0 or 1, the form SQLite
// keeps and the queries compare with (sensitive = 1); PostgreSQL's driver
// would not turn a bool into a BIGINT on its own.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
