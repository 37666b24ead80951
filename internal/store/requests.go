package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Request states shared by the request kinds.
const (
	StateAwaitingDocuments = "awaiting_documents"
	StateDocumentsReceived = "documents_received"
	StateApproved          = "approved"
	StateRejected          = "rejected"
	StateExpired           = "expired"
	// Self-service requests (password reset by access code).
	StateCodeSent  = "code_sent"
	StateCompleted = "completed"
	StateLocked    = "locked"
)

// Request is one application or request on a thread.
type Request struct {
	ID           int64
	Reference    string
	Kind         string
	State        string
	Applicant    string
	Lang         string
	Fields       map[string]string // never holds a secret
	PasswordHash string
	DesiredID    string
	IdentityKey  string
	ThreadRoot   string
	AccountID    int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ClosedAt     time.Time
}

// Open reports whether the request still waits for something.
func (r *Request) Open() bool { return r.ClosedAt.IsZero() }

const requestColumns = `id, reference, kind, state, applicant, lang, fields, password_hash, desired_id,
	identity_key, thread_root, COALESCE(account_id, 0), created_at, updated_at, closed_at`

func scanRequest(row rowScanner) (*Request, error) {
	var r Request
	var fields string
	var created, updated int64
	var closed sql.NullInt64
	err := row.Scan(&r.ID, &r.Reference, &r.Kind, &r.State, &r.Applicant, &r.Lang, &fields, &r.PasswordHash,
		&r.DesiredID, &r.IdentityKey, &r.ThreadRoot, &r.AccountID, &created, &updated, &closed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(fields), &r.Fields); err != nil {
		return nil, fmt.Errorf("request %s fields: %w", r.Reference, err)
	}
	r.CreatedAt = time.Unix(created, 0).UTC()
	r.UpdatedAt = time.Unix(updated, 0).UTC()
	r.ClosedAt = fromUnix(closed)
	return &r, nil
}

// NextReference allocates the next reference of a year, e.g. MDG-2026-000123.
// The upsert counts in one statement, so two connections never get the
// same number: under PostgreSQL the second waits on the row's lock and
// then counts from the first one's value. (The table name says which last
// is meant: PostgreSQL finds excluded.last ambiguous otherwise.)
func (t *Tx) NextReference(prefix string, year int) (string, error) {
	var last int
	err := t.queryRow(`INSERT INTO reference_counters (year, last) VALUES (?, 1)
		ON CONFLICT(year) DO UPDATE SET last = reference_counters.last + 1 RETURNING last`, year).Scan(&last)
	if err != nil {
		return "", fmt.Errorf("allocate reference: %w", err)
	}
	return fmt.Sprintf("%s-%04d-%06d", prefix, year, last), nil
}

// CreateRequest inserts r and sets its ID.
func (t *Tx) CreateRequest(r *Request) error {
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return err
	}
	err = t.queryRow(`INSERT INTO requests (reference, kind, state, applicant, lang, fields, password_hash,
		desired_id, identity_key, thread_root, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		r.Reference, r.Kind, r.State, r.Applicant, r.Lang, string(fields), r.PasswordHash, r.DesiredID,
		r.IdentityKey, r.ThreadRoot, unix(r.CreatedAt), unix(r.CreatedAt)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("create request %s: %w", r.Reference, err)
	}
	r.UpdatedAt = r.CreatedAt
	return nil
}

// SetRequestState moves a request to state; closed states set closed_at.
func (t *Tx) SetRequestState(r *Request, state string, at time.Time, closed bool) error {
	var closedAt any
	if closed {
		closedAt = unix(at)
	}
	// The state check makes a concurrent second change fail instead of
	// silently overwriting the first.
	res, err := t.exec(`UPDATE requests SET state = ?, updated_at = ?, closed_at = COALESCE(closed_at, ?)
		WHERE id = ? AND state = ?`, state, unix(at), closedAt, r.ID, r.State)
	if err != nil {
		return fmt.Errorf("set state of %s: %w", r.Reference, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("set state of %s: state changed meanwhile (was %s)", r.Reference, r.State)
	}
	r.State, r.UpdatedAt = state, at
	if closed {
		r.ClosedAt = at
	}
	return nil
}

// SetRequestAccount links the account created for a request.
func (t *Tx) SetRequestAccount(r *Request, accountID int64) error {
	_, err := t.exec(`UPDATE requests SET account_id = ? WHERE id = ?`, accountID, r.ID)
	r.AccountID = accountID
	return err
}

// ClearRequestSecret forgets the password hash once it moved to the account.
func (t *Tx) ClearRequestSecret(r *Request) error {
	_, err := t.exec(`UPDATE requests SET password_hash = '' WHERE id = ?`, r.ID)
	r.PasswordHash = ""
	return err
}

// RequestByReference finds a request by its reference.
func (t *Tx) RequestByReference(ref string) (*Request, error) {
	return scanRequest(t.queryRow(`SELECT `+requestColumns+` FROM requests WHERE reference = ?`, ref))
}

// RequestByID finds a request by its row id.
func (t *Tx) RequestByID(id int64) (*Request, error) {
	return scanRequest(t.queryRow(`SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
}

// RequestByThreadMessage finds the request a Message-ID belongs to.
func (t *Tx) RequestByThreadMessage(messageID string) (*Request, error) {
	return scanRequest(t.queryRow(`SELECT `+requestColumns+` FROM requests
		WHERE id = (SELECT request_id FROM thread_messages WHERE message_id = ?)`, messageID))
}

// LinkThreadMessage remembers that messageID belongs to the request.
func (t *Tx) LinkThreadMessage(messageID string, requestID int64) error {
	if messageID == "" {
		return nil
	}
	return t.insertLater("thread_messages", `INSERT INTO thread_messages (message_id, request_id) VALUES`, `(?, ?)`,
		`ON CONFLICT(message_id) DO NOTHING`, messageID, requestID)
}

// OpenRequestByDesiredID finds an open request that reserves an ID.
func (t *Tx) OpenRequestByDesiredID(id string) (*Request, error) {
	return scanRequest(t.queryRow(`SELECT `+requestColumns+` FROM requests
		WHERE desired_id = ? AND closed_at IS NULL AND desired_id <> '' LIMIT 1`, id))
}

// OpenRequestByIdentity finds an open request of a kind for the same person.
func (t *Tx) OpenRequestByIdentity(kind, identityKey string) (*Request, error) {
	return scanRequest(t.queryRow(`SELECT `+requestColumns+` FROM requests
		WHERE kind = ? AND identity_key = ? AND closed_at IS NULL AND identity_key <> '' LIMIT 1`, kind, identityKey))
}

// CountRequests counts requests by kind and state, for reports and tests.
func (t *Tx) CountRequests(kind, state string) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM requests WHERE kind = ? AND state = ?`, kind, state).Scan(&n)
	return n, err
}

// SetRequestFields replaces the stored fields of a request (never a secret).
func (t *Tx) SetRequestFields(r *Request, fields map[string]string) error {
	data, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE requests SET fields = ? WHERE id = ?`, string(data), r.ID); err != nil {
		return err
	}
	r.Fields = fields
	return nil
}

// OnThread reports whether a request exists, found by its reference or
// else by a Message-ID it replied to, and addr is on its thread: the
// applicant, or a recipient of one of its notices (the holder's addresses
// that got a code). member says the caller already knows addr belongs (an
// operator), so only the request's existence is checked.
func (s *Store) OnThread(ctx context.Context, ref string, inReplyTo []string, addr string, member bool) (bool, error) {
	var id int64
	var applicant string
	err := sql.ErrNoRows
	if ref != "" {
		err = s.queryRow(ctx, `SELECT id, applicant FROM requests WHERE reference = ?`, ref).Scan(&id, &applicant)
	}
	for _, mid := range inReplyTo {
		if !errors.Is(err, sql.ErrNoRows) {
			break
		}
		err = s.queryRow(ctx, `SELECT r.id, r.applicant FROM thread_messages t JOIN requests r ON r.id = t.request_id
			WHERE t.message_id = ?`, mid).Scan(&id, &applicant)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil || member || strings.EqualFold(applicant, addr) {
		return err == nil, err
	}
	quoted, _ := json.Marshal(addr)
	var one int
	err = s.queryRow(ctx, `SELECT 1 FROM outbox WHERE request_id = ? AND instr(lower(to_addrs), ?) > 0 LIMIT 1`, id, string(quoted)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
