package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Outbox row states.
const (
	OutboxPending    = "pending"
	OutboxSent       = "sent"
	OutboxFailed     = "failed"
	OutboxSuppressed = "suppressed" // the per-sender reply cap held it back
)

// Queued is a notice to enqueue with what the outbox needs besides the mail.
type Queued struct {
	Notice    Notice
	Kind      string // template name, e.g. "new_id_received"
	RequestID int64
	// Suppressed rows are kept for operators but never sent.
	Suppressed bool
	Reason     string
	// Sensitive notices (an access code) lose their body once sent or
	// failed, so the code is not kept in the database.
	Sensitive bool
	// Urgent notices (0) are sent before ordinary ones (1).
	Urgent bool
}

// scrubbedBody replaces the body of a sensitive notice after delivery.
const scrubbedBody = "(this notice carried an access code; its text was removed after delivery)"

// Enqueue writes a notice to the outbox in this transaction.
func (t *Tx) Enqueue(q Queued) (int64, error) {
	n := q.Notice
	if len(n.To) == 0 {
		return 0, fmt.Errorf("enqueue %s: no recipient", q.Kind)
	}
	to, _ := json.Marshal(n.To)
	cc, _ := json.Marshal(nonNil(n.Cc))
	refs, _ := json.Marshal(nonNil(n.References))
	atts, err := json.Marshal(n.Attachments)
	if err != nil {
		return 0, err
	}
	if n.Attachments == nil {
		atts = []byte("[]")
	}
	state, next := OutboxPending, any(unix(n.Date))
	if q.Suppressed {
		state, next = OutboxSuppressed, nil
	}
	var rid any
	if q.RequestID != 0 {
		rid = q.RequestID
	}
	charset := n.Charset
	if charset == "" {
		charset = "utf-8"
	}
	res, err := t.exec(`INSERT INTO outbox (message_id, request_id, notice, recipient, created_at, date, from_addr,
		to_addrs, cc_addrs, subject, body, in_reply_to, refs, charset, attachments, state, next_attempt_at, last_error, sensitive, priority)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		n.MessageID, rid, q.Kind, n.To[0], unix(n.Date), unix(n.Date), n.From, string(to), string(cc), n.Subject,
		n.Body, n.InReplyTo, string(refs), charset, string(atts), state, next, q.Reason, q.Sensitive, priority(q.Urgent))
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", q.Kind, err)
	}
	if q.RequestID != 0 {
		if err := t.LinkThreadMessage(n.MessageID, q.RequestID); err != nil {
			return 0, err
		}
	}
	return res.LastInsertId()
}

func priority(urgent bool) int {
	if urgent {
		return 0
	}
	return 1
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RepliesSince counts notices to recipient created since a time, for the
// per-sender reply cap. Suppressed rows do not count: they were not sent.
func (t *Tx) RepliesSince(recipient string, since time.Time) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM outbox WHERE recipient = ? AND created_at >= ? AND state <> ?`,
		recipient, unix(since), OutboxSuppressed).Scan(&n)
	return n, err
}

// IsOurMessageID reports whether a Message-ID is one of our notices.
func (t *Tx) IsOurMessageID(messageID string) (bool, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM outbox WHERE message_id = ?`, messageID).Scan(&n)
	return n > 0, err
}

// RecordBounce notes a delivery failure report against our notice.
func (t *Tx) RecordBounce(messageID string, at time.Time, detail string) (requestID int64, found bool, err error) {
	var rid sql.NullInt64
	err = t.queryRow(`UPDATE outbox SET bounced_at = ?, bounce_detail = ? WHERE message_id = ? RETURNING request_id`,
		unix(at), detail, messageID).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return rid.Int64, true, nil
}

const noticeColumns = `id, message_id, date, from_addr, to_addrs, cc_addrs, subject, body, in_reply_to, refs,
	charset, attachments, attempts`

func scanNotice(row rowScanner) (Notice, error) {
	var n Notice
	var date int64
	var to, cc, refs, atts string
	if err := row.Scan(&n.ID, &n.MessageID, &date, &n.From, &to, &cc, &n.Subject, &n.Body, &n.InReplyTo, &refs,
		&n.Charset, &atts, &n.Attempts); err != nil {
		return n, err
	}
	n.Date = time.Unix(date, 0).UTC()
	for _, f := range []struct {
		src string
		dst any
	}{{to, &n.To}, {cc, &n.Cc}, {refs, &n.References}, {atts, &n.Attachments}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return n, fmt.Errorf("outbox row %d: %w", n.ID, err)
		}
	}
	return n, nil
}

// Due lists pending notices whose next attempt is due, oldest first. The
// state is written into the SQL, not bound: only a literal lets SQLite use
// the partial index of pending rows instead of scanning the whole outbox.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]Notice, error) {
	rows, err := s.query(ctx, `SELECT `+noticeColumns+` FROM outbox
		WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY priority, next_attempt_at, id LIMIT ?`, unix(now), limit)
	return scanAll(rows, err, scanNotice)
}

// NextDue reports when the next pending notice is due.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.queryRow(ctx, `SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return time.Unix(next.Int64, 0).UTC(), true, nil
}

// MarkSent records a delivered notice.
func (s *Store) MarkSent(ctx context.Context, id int64, at time.Time) error {
	_, err := s.exec(ctx, `UPDATE outbox SET state = ?, sent_at = ?, attempts = attempts + 1,
		next_attempt_at = NULL, body = CASE WHEN sensitive = 1 THEN ? ELSE body END WHERE id = ?`, OutboxSent, unix(at), scrubbedBody, id)
	return err
}

// MarkRetry records a temporary failure and when to try again.
func (s *Store) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	_, err := s.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
		WHERE id = ? AND state = ?`, unix(next), reason, id, OutboxPending)
	return err
}

// MarkFailed records a permanent failure; operators see it.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string) error {
	_, err := s.exec(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = NULL,
		last_error = ?, body = CASE WHEN sensitive = 1 THEN ? ELSE body END WHERE id = ?`, OutboxFailed, reason, scrubbedBody, id)
	return err
}

// OutboxEntry summarises an outbox row for reports and tests.
type OutboxEntry struct {
	ID        int64
	MessageID string
	RequestID int64
	Kind      string
	Recipient string
	Subject   string
	State     string
	Attempts  int
	LastError string
	Bounced   bool
}

// Outbox lists outbox rows, oldest first (state "" for all).
func (s *Store) Outbox(ctx context.Context, state string) ([]OutboxEntry, error) {
	rows, err := s.query(ctx, `SELECT id, message_id, COALESCE(request_id,0), notice, recipient, subject,
		state, attempts, last_error, bounced_at IS NOT NULL FROM outbox WHERE ? = '' OR state = ? ORDER BY id`, state, state)
	return scanAll(rows, err, func(row rowScanner) (OutboxEntry, error) {
		var e OutboxEntry
		err := row.Scan(&e.ID, &e.MessageID, &e.RequestID, &e.Kind, &e.Recipient, &e.Subject, &e.State,
			&e.Attempts, &e.LastError, &e.Bounced)
		return e, err
	})
}
