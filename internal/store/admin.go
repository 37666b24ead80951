package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The operators' commands (madoguchi requests, request, outbox, quarantine,
// backup) read and change the store through this file. Nothing here
// returns a secret: no password hash, no sealed or scrubbed body.

// RequestRow is a request as operators see it.
type RequestRow struct {
	ID        int64
	Reference string
	Kind      string
	State     string
	Applicant string
	Lang      string
	DesiredID string
	CreatedAt time.Time
	UpdatedAt time.Time
	ClosedAt  time.Time
}

// RequestFilter selects requests for ListRequests. Without a state only
// open requests are listed; a state lists every request in it, open or
// closed (approved and rejected requests are closed).
type RequestFilter struct {
	State string
	Kind  string
}

// ListRequests lists the requests the filter selects, oldest first.
func (s *Store) ListRequests(ctx context.Context, f RequestFilter) ([]RequestRow, error) {
	rows, err := s.queryOnce(ctx, `SELECT id, reference, kind, state, applicant, lang, desired_id,
		created_at, updated_at, closed_at FROM requests
		WHERE (? = '' AND closed_at IS NULL OR state = ?) AND (? = '' OR kind = ?)
		ORDER BY created_at, id`, f.State, f.State, f.Kind, f.Kind)
	list, err := scanAll(rows, err, scanRequestRow)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return list, nil
}

func scanRequestRow(row rowScanner) (RequestRow, error) {
	var r RequestRow
	var created, updated int64
	var closed sql.NullInt64
	err := row.Scan(&r.ID, &r.Reference, &r.Kind, &r.State, &r.Applicant, &r.Lang, &r.DesiredID, &created, &updated, &closed)
	r.CreatedAt, r.UpdatedAt, r.ClosedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC(), fromUnix(closed)
	return r, err
}

// RequestReport is one request with everything recorded about it, each
// list in time order.
type RequestReport struct {
	Request RequestRow
	// Fields is what the form said, less anything that looks like a
	// secret (the store never keeps one there; this is a second guard).
	Fields   map[string]string
	Messages []ThreadMessage // mail received on the thread
	Notices  []ThreadNotice  // our notices for it
	// Linked are Message-IDs on the thread that have no record of their
	// own here (mail we were copied on, or records already cleared).
	Linked []string
	Audit  []AuditEntry
}

// ThreadMessage is one received mail linked to a request.
type ThreadMessage struct {
	SeenID      int64
	ReceivedAt  time.Time
	MessageID   string
	From        string
	Subject     string
	Outcome     string
	Reason      string
	Mailbox     string
	UID         uint32
	Destination string
}

// ThreadNotice is one outbox row of a request, without its body.
type ThreadNotice struct {
	ID           int64
	CreatedAt    time.Time
	Kind         string
	To           []string
	Cc           []string
	Subject      string
	State        string
	MessageID    string
	Attempts     int
	SentAt       time.Time
	LastError    string
	BouncedAt    time.Time
	BounceDetail string
}

// RequestReportByReference gathers a request's thread, notices and audit
// lines. It returns ErrNotFound when no request has the reference.
func (s *Store) RequestReportByReference(ctx context.Context, ref string) (*RequestReport, error) {
	var fields string
	row := s.queryRowOnce(ctx, `SELECT id, reference, kind, state, applicant, lang, desired_id,
		created_at, updated_at, closed_at, fields FROM requests WHERE reference = ?`, ref)
	var rep RequestReport
	var created, updated int64
	var closed sql.NullInt64
	r := &rep.Request
	err := row.Scan(&r.ID, &r.Reference, &r.Kind, &r.State, &r.Applicant, &r.Lang, &r.DesiredID, &created, &updated, &closed, &fields)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", ref, err)
	}
	r.CreatedAt, r.UpdatedAt, r.ClosedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC(), fromUnix(closed)
	if err := json.Unmarshal([]byte(fields), &rep.Fields); err != nil {
		return nil, fmt.Errorf("request %s fields: %w", ref, err)
	}
	for k := range rep.Fields {
		if looksSecret(k) {
			delete(rep.Fields, k)
		}
	}

	rows, err := s.queryOnce(ctx, `SELECT id, received_at, message_id, from_addr, subject, outcome, reason,
		mailbox, uid, destination FROM seen_messages
		WHERE request_id = ? OR message_id IN (SELECT message_id FROM thread_messages WHERE request_id = ?)
		ORDER BY received_at, id`, r.ID, r.ID)
	rep.Messages, err = scanAll(rows, err, func(row rowScanner) (ThreadMessage, error) {
		var m ThreadMessage
		var at int64
		err := row.Scan(&m.SeenID, &at, &m.MessageID, &m.From, &m.Subject, &m.Outcome, &m.Reason, &m.Mailbox, &m.UID, &m.Destination)
		m.ReceivedAt = time.Unix(at, 0).UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the messages of %s: %w", ref, err)
	}

	rows, err = s.queryOnce(ctx, `SELECT id, created_at, notice, to_addrs, cc_addrs, subject, state, message_id,
		attempts, sent_at, last_error, bounced_at, bounce_detail FROM outbox WHERE request_id = ? ORDER BY created_at, id`, r.ID)
	rep.Notices, err = scanAll(rows, err, func(row rowScanner) (ThreadNotice, error) {
		var n ThreadNotice
		var at int64
		var sent, bounced sql.NullInt64
		var to, cc string
		if err := row.Scan(&n.ID, &at, &n.Kind, &to, &cc, &n.Subject, &n.State, &n.MessageID, &n.Attempts, &sent,
			&n.LastError, &bounced, &n.BounceDetail); err != nil {
			return n, err
		}
		n.CreatedAt, n.SentAt, n.BouncedAt = time.Unix(at, 0).UTC(), fromUnix(sent), fromUnix(bounced)
		if err := json.Unmarshal([]byte(to), &n.To); err != nil {
			return n, fmt.Errorf("notice %d recipients: %w", n.ID, err)
		}
		if err := json.Unmarshal([]byte(cc), &n.Cc); err != nil {
			return n, fmt.Errorf("notice %d copies: %w", n.ID, err)
		}
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the notices of %s: %w", ref, err)
	}

	rows, err = s.queryOnce(ctx, `SELECT message_id FROM thread_messages WHERE request_id = ? ORDER BY message_id`, r.ID)
	linked, err := scanAll(rows, err, func(row rowScanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("read the thread of %s: %w", ref, err)
	}
	known := map[string]bool{}
	for _, m := range rep.Messages {
		known[m.MessageID] = true
	}
	for _, n := range rep.Notices {
		known[n.MessageID] = true
	}
	for _, id := range linked {
		if !known[id] {
			rep.Linked = append(rep.Linked, id)
		}
	}

	rows, err = s.queryOnce(ctx, `SELECT at, actor, COALESCE(request_id, 0), action, detail FROM audit_log
		WHERE request_id = ? ORDER BY at, id`, r.ID)
	rep.Audit, err = scanAll(rows, err, func(row rowScanner) (AuditEntry, error) {
		var e AuditEntry
		var at int64
		err := row.Scan(&at, &e.Actor, &e.RequestID, &e.Action, &e.Detail)
		e.At = time.Unix(at, 0).UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit log of %s: %w", ref, err)
	}
	return &rep, nil
}

// looksSecret tells the form fields an operator must never be shown.
func looksSecret(key string) bool {
	key = strings.ToLower(key)
	for _, word := range []string{"password", "code", "token", "secret", "hash"} {
		if strings.Contains(key, word) {
			return true
		}
	}
	return false
}

// OutboxRow is an outbox row as operators see it, without its body.
type OutboxRow struct {
	ID            int64
	MessageID     string
	RequestID     int64
	Reference     string // of the request, "" when the notice has none
	Kind          string
	Recipient     string
	Subject       string
	State         string
	Attempts      int
	LastError     string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// Sensitive notices carry a secret: sealed until sent, then scrubbed.
	Sensitive bool
	// TextRemoved marks a sensitive notice that lost its text when it
	// failed (or was held back): it can never be sent.
	TextRemoved bool
}

// OutboxByState lists the outbox rows in the given states, oldest first.
func (s *Store) OutboxByState(ctx context.Context, states ...string) ([]OutboxRow, error) {
	if len(states) == 0 {
		return nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(states)), ",")
	args := make([]any, len(states))
	for i, st := range states {
		args[i] = st
	}
	rows, err := s.queryOnce(ctx, `SELECT `+outboxRowColumns+` FROM outbox o LEFT JOIN requests r ON r.id = o.request_id
		WHERE o.state IN (`+marks+`) ORDER BY o.id`, args...)
	list, err := scanAll(rows, err, scanOutboxRow)
	if err != nil {
		return nil, fmt.Errorf("list the outbox: %w", err)
	}
	return list, nil
}

// outboxRowColumns read only the start of a sensitive body, to tell a
// sealed one from one whose text was removed; never a plain body.
const outboxRowColumns = `o.id, o.message_id, COALESCE(o.request_id, 0), COALESCE(r.reference, ''), o.notice, o.recipient,
	o.subject, o.state, o.attempts, o.last_error, o.created_at, o.next_attempt_at,
	o.sensitive, CASE WHEN o.sensitive = 1 THEN substr(o.body, 1, 32) ELSE '' END`

func scanOutboxRow(row rowScanner) (OutboxRow, error) {
	var o OutboxRow
	var created int64
	var next sql.NullInt64
	var bodyStart string
	err := row.Scan(&o.ID, &o.MessageID, &o.RequestID, &o.Reference, &o.Kind, &o.Recipient, &o.Subject, &o.State,
		&o.Attempts, &o.LastError, &created, &next, &o.Sensitive, &bodyStart)
	o.CreatedAt, o.NextAttemptAt = time.Unix(created, 0).UTC(), fromUnix(next)
	o.TextRemoved = o.Sensitive && !isSealed(bodyStart)
	return o, err
}

// ErrTextRemoved means a failed notice carried a secret (an access code,
// an initial password) and its text was removed when it failed, so it
// cannot be sent again.
var ErrTextRemoved = errors.New("it carried a secret and its text was removed when it failed; it cannot be sent again (the applicant must ask again)")

// RetryFailedNotice puts a failed notice back to pending, due at now, with
// a fresh round of attempts. It returns the row as it was.
func (t *Tx) RetryFailedNotice(id int64, now time.Time) (OutboxRow, error) {
	o, err := scanOutboxRow(t.queryRowOnce(`SELECT `+outboxRowColumns+`
		FROM outbox o LEFT JOIN requests r ON r.id = o.request_id WHERE o.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("notice %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("read notice %d: %w", id, err)
	}
	if o.State != OutboxFailed {
		return o, fmt.Errorf("notice %d is %s, not failed: nothing to retry", id, o.State)
	}
	if o.TextRemoved {
		return o, fmt.Errorf("notice %d: %w", id, ErrTextRemoved)
	}
	if _, err := t.execOnce(`UPDATE outbox SET state = ?, attempts = 0, next_attempt_at = ?
		WHERE id = ? AND state = ?`, OutboxPending, unix(now), id, OutboxFailed); err != nil {
		return o, fmt.Errorf("put notice %d back to pending: %w", id, err)
	}
	return o, nil
}

// QuarantinedMessage is the record of a message filed to the quarantine
// folder.
type QuarantinedMessage struct {
	SeenID        int64
	Mailbox       string
	UIDValidity   uint32
	UID           uint32
	MessageID     string
	From          string
	Subject       string
	Outcome       string // quarantined, or duplicate (a copy of a quarantined message)
	Reason        string
	ReceivedAt    time.Time
	RequestID     int64
	ContentSHA256 string
	// Masked: the folder holds a copy with its secrets masked, not the
	// original (intake's X-Madoguchi-Copy-Of header names the original).
	Masked bool
}

const quarantinedColumns = `id, mailbox, uid_validity, uid, message_id, from_addr, subject, outcome, reason,
	received_at, COALESCE(request_id, 0), content_sha256, replacement IS NOT NULL`

func scanQuarantined(row rowScanner) (QuarantinedMessage, error) {
	var q QuarantinedMessage
	var at int64
	err := row.Scan(&q.SeenID, &q.Mailbox, &q.UIDValidity, &q.UID, &q.MessageID, &q.From, &q.Subject, &q.Outcome,
		&q.Reason, &at, &q.RequestID, &q.ContentSHA256, &q.Masked)
	q.ReceivedAt = time.Unix(at, 0).UTC()
	return q, err
}

// Quarantined lists the messages filed to quarantine, oldest first; uid
// non-zero lists only those with that UID (in the mailbox they came from).
func (s *Store) Quarantined(ctx context.Context, uid uint32) ([]QuarantinedMessage, error) {
	rows, err := s.queryOnce(ctx, `SELECT `+quarantinedColumns+` FROM seen_messages
		WHERE destination = 'quarantine' AND (? = 0 OR uid = ?) ORDER BY received_at, id`, uid, uid)
	list, err := scanAll(rows, err, scanQuarantined)
	if err != nil {
		return nil, fmt.Errorf("list quarantined messages: %w", err)
	}
	return list, nil
}

// OriginalOf finds the record a duplicate was judged a copy of, as the
// desk found it (same bytes, else same Message-ID).
func (s *Store) OriginalOf(ctx context.Context, dup QuarantinedMessage) (QuarantinedMessage, error) {
	q, err := scanQuarantined(s.queryRowOnce(ctx, `SELECT `+quarantinedColumns+` FROM seen_messages
		WHERE outcome <> 'duplicate' AND (content_sha256 = ? OR message_id = ? AND message_id <> '')
		ORDER BY content_sha256 <> ?, id LIMIT 1`, dup.ContentSHA256, dup.MessageID, dup.ContentSHA256))
	if errors.Is(err, sql.ErrNoRows) {
		return q, ErrNotFound
	}
	return q, err
}

// ForgetQuarantined deletes the record of a quarantined message, so that
// when the message is back in the mailbox the desk handles it afresh
// instead of filing it as a duplicate of itself. Documents kept from it
// stay with their request. The caller writes the audit line.
func (t *Tx) ForgetQuarantined(seenID int64) error {
	if _, err := t.execOnce(`UPDATE documents SET seen_id = NULL WHERE seen_id = ?`, seenID); err != nil {
		return fmt.Errorf("unlink documents of message %d: %w", seenID, err)
	}
	res, err := t.execOnce(`DELETE FROM seen_messages
		WHERE id = ? AND destination = 'quarantine' AND outcome <> 'duplicate'`, seenID)
	if err != nil {
		return fmt.Errorf("clear the record of message %d: %w", seenID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("clear the record of message %d: it is no longer a quarantined message", seenID)
	}
	return nil
}

// KeyPathFor is where Open keeps the seal key of the database at dbPath
// when Options.KeyPath is not set.
func KeyPathFor(dbPath string) string { return dbPath + ".key" }

// ErrBackupPostgres means Backup was asked of a PostgreSQL store: the
// server's own tools copy it consistently, and the key file is copied with
// it by hand.
var ErrBackupPostgres = errors.New("madoguchi backup copies a SQLite database; back up a PostgreSQL database with pg_dump (pg_dump --schema=SCHEMA), and keep a copy of database.key_file with it")

// Backup writes a consistent copy of the database to path while the desk
// may be running (VACUUM INTO reads one snapshot). The copy is created
// 0600; an existing file is never overwritten. The seal key is not in the
// copy: sealed notices open only with the key file beside the database.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.dialect.postgres {
		return ErrBackupPostgres
	}
	if err := s.vacuumInto(ctx, path); err != nil {
		return fmt.Errorf("back up to %s: %w", path, err)
	}
	return nil
}

func (s *Store) vacuumInto(ctx context.Context, path string) error {
	// VACUUM INTO accepts an existing empty file: making it here with
	// O_EXCL refuses to overwrite anything and sets the mode first.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(path)
		}
	}()
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return err
	}
	if err := syncFile(path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	done = true
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrSchemaTooNew means the database was migrated by a newer madoguchi
// than this one: running on it could undo or corrupt what that version
// wrote.
var ErrSchemaTooNew = errors.New("database is newer than this madoguchi")

// prepareMigration runs before the migrations: it refuses a database whose
// schema is newer than the newest embedded migration, and copies one that
// is about to be migrated (and holds anything) to <db>.before-vNNNN, NNNN
// the version the migrations lead to, so a failed upgrade can be undone by
// putting the copy back. A name already taken (an upgrade tried before)
// gets a numbered suffix: no earlier copy is overwritten.
func (s *Store) prepareMigration(ctx context.Context, current int) error {
	newest, newestName, err := newestMigration()
	if err != nil {
		return err
	}
	path, err := s.mainFile(ctx)
	if err != nil {
		return fmt.Errorf("read database file name: %w", err)
	}
	if current > newest {
		return fmt.Errorf("%w: %s has schema version %d, this madoguchi knows versions up to %d (%s); run the newer madoguchi, or restore the backup made before the upgrade (%s.before-v%04d)",
			ErrSchemaTooNew, path, current, newest, newestName, path, current)
	}
	if current == newest || path == "" {
		return nil
	}
	var objects int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&objects); err != nil {
		return fmt.Errorf("check database before migrating: %w", err)
	}
	if objects == 0 {
		return nil // a new, empty database: nothing to keep
	}
	base := fmt.Sprintf("%s.before-v%04d", path, newest)
	backup := base
	for i := 2; ; i++ {
		err = s.vacuumInto(ctx, backup)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		backup = fmt.Sprintf("%s-%d", base, i)
	}
	if err != nil {
		return fmt.Errorf("back up %s before migrating from version %d to %d: %w", path, current, newest, err)
	}
	s.log.Info("store: database backed up before migrating", "backup", backup, "from_version", current, "to_version", newest)
	return nil
}

// newestMigration is the number and file name of the newest embedded
// migration (of SQLite; PostgreSQL's have the same numbers).
func newestMigration() (int, string, error) {
	files, err := migrationFiles(sqliteMigrations)
	if err != nil || len(files) == 0 {
		return 0, "", err
	}
	last := files[len(files)-1]
	return last.version, last.name, nil
}

// mainFile is the path of the open database file, "" in memory.
func (s *Store) mainFile(ctx context.Context) (string, error) {
	var file string
	err := s.db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	return file, err
}
