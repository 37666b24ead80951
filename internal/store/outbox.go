package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	// Sensitive notices (an access code, an initial password, a one-time
	// URL) are sealed until sent or failed and then lose their body and
	// attachments; a suppressed one is stored without them. The secret is
	// never written to the database in clear text.
	Sensitive bool
	// Urgent notices (0) are sent before ordinary ones (1).
	Urgent bool
}

// scrubbedBody replaces the body of a sensitive notice after delivery.
const scrubbedBody = "(this notice carried an access code; its text was removed after delivery)"

// suppressedSensitiveBody is all that is stored of a sensitive notice the
// reply cap held back: it is never sent, so it would never be scrubbed.
const suppressedSensitiveBody = "(this notice carried an access code and was held back by the reply cap; its text was not kept)"

// The outbox columns that are sealed in a sensitive row.
const (
	sealedBodyColumn        = "body"
	sealedAttachmentsColumn = "attachments"
)

// The outbox row of a notice, as Enqueue and Queue write it.
const (
	outboxInsertHead = `INSERT INTO outbox (message_id, request_id, notice, recipient, created_at, date, from_addr,
		to_addrs, cc_addrs, subject, body, in_reply_to, refs, charset, attachments, state, next_attempt_at, last_error, sensitive, priority)
		VALUES`
	outboxInsertRow = `(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`
)

// Enqueue writes a notice to the outbox in this transaction and returns
// its row's id.
func (t *Tx) Enqueue(q Queued) (int64, error) {
	args, err := t.outboxArgs(q)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := t.queryRow(outboxInsertHead+" "+outboxInsertRow+" RETURNING id", args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", q.Kind, err)
	}
	return id, t.linkNotice(q)
}

// Queue writes a notice to the outbox in this transaction, like Enqueue,
// for a caller that needs no row id: on PostgreSQL the row is held for
// the transaction's next statement (held.go), a round trip saved per
// notice.
func (t *Tx) Queue(q Queued) error {
	args, err := t.outboxArgs(q)
	if err != nil {
		return err
	}
	if err := t.insertLater("outbox", outboxInsertHead, outboxInsertRow, "", args...); err != nil {
		return fmt.Errorf("enqueue %s: %w", q.Kind, err)
	}
	return t.linkNotice(q)
}

// linkNotice puts a notice on its request's thread, so that a reply to
// it finds the request.
func (t *Tx) linkNotice(q Queued) error {
	if q.RequestID == 0 {
		return nil
	}
	return t.LinkThreadMessage(q.Notice.MessageID, q.RequestID)
}

// outboxArgs are the values of a notice's outbox row, sealed where the
// notice is sensitive.
func (t *Tx) outboxArgs(q Queued) ([]any, error) {
	n := q.Notice
	if len(n.To) == 0 {
		return nil, fmt.Errorf("enqueue %s: no recipient", q.Kind)
	}
	to, _ := json.Marshal(n.To)
	cc, _ := json.Marshal(nonNil(n.Cc))
	refs, _ := json.Marshal(nonNil(n.References))
	atts, err := json.Marshal(n.Attachments)
	if err != nil {
		return nil, err
	}
	if n.Attachments == nil {
		atts = []byte("[]")
	}
	state, next := OutboxPending, any(unix(n.Date))
	if q.Suppressed {
		state, next = OutboxSuppressed, nil
	}
	body, attachments := n.Body, string(atts)
	switch {
	case q.Sensitive && q.Suppressed:
		body, attachments = suppressedSensitiveBody, "[]"
	case q.Sensitive:
		body = t.seal.seal(n.MessageID, sealedBodyColumn, body)
		attachments = t.seal.seal(n.MessageID, sealedAttachmentsColumn, attachments)
	}
	var rid any
	if q.RequestID != 0 {
		rid = q.RequestID
	}
	charset := n.Charset
	if charset == "" {
		charset = "utf-8"
	}
	return []any{n.MessageID, rid, q.Kind, n.To[0], unix(n.Date), unix(n.Date), n.From, string(to), string(cc), n.Subject,
		body, n.InReplyTo, string(refs), charset, attachments, state, next, q.Reason, flag(q.Sensitive), priority(q.Urgent)}, nil
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
// Count and enqueue are not atomic under PostgreSQL's READ COMMITTED; the
// cap holds because one desk's mail is handled by one reader at a time
// (as are the rate limits of counters.go and hash_work), not by a lock.
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
	charset, attachments, attempts, sensitive`

// storedNotice is a notice as its row holds it: a sensitive row's body and
// attachments are still sealed.
type storedNotice struct {
	Notice
	to, cc, refs, attachments string
	sensitive                 bool
}

func scanNotice(row rowScanner) (storedNotice, error) {
	var r storedNotice
	var date int64
	err := row.Scan(&r.ID, &r.MessageID, &date, &r.From, &r.to, &r.cc, &r.Subject, &r.Body, &r.InReplyTo, &r.refs,
		&r.Charset, &r.attachments, &r.Attempts, &r.sensitive)
	r.Date = time.Unix(date, 0).UTC()
	return r, err
}

// notice opens what is sealed and decodes the lists. The error wraps
// errSealBroken when a sealed column cannot be opened.
func (r storedNotice) notice(seal *sealer) (Notice, error) {
	n, atts := r.Notice, r.attachments
	if r.sensitive {
		var err error
		if n.Body, err = seal.open(n.MessageID, sealedBodyColumn, n.Body); err != nil {
			return n, fmt.Errorf("outbox row %d: body: %w", n.ID, err)
		}
		if atts, err = seal.open(n.MessageID, sealedAttachmentsColumn, atts); err != nil {
			return n, fmt.Errorf("outbox row %d: attachments: %w", n.ID, err)
		}
	}
	for _, f := range []struct {
		src string
		dst any
	}{{r.to, &n.To}, {r.cc, &n.Cc}, {r.refs, &n.References}, {atts, &n.Attachments}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return n, fmt.Errorf("outbox row %d: %w", n.ID, err)
		}
	}
	return n, nil
}

// Due takes every due notice as ClaimDue does for a claimant of no name
// whose claims, and every other's, have lapsed: for one process alone
// (tests and tools), not for instances sharing the outbox.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]Notice, error) {
	return s.ClaimDue(ctx, Claimant{}, now, limit)
}

// claiming runs a claim. On PostgreSQL it commits waiting for the disk:
// the desk's own commits do not (TxNoWait), and a claim's wait for the
// WAL up to its commit covers the commits that queued the notices it
// takes, so no notice leaves before the handling that queued it is on
// disk. On SQLite the desk's commits wait for the disk themselves, and a
// claim is a relaxed write.
func (s *Store) claiming(ctx context.Context, fn func(q querier) error) error {
	if s.dialect.postgres {
		return fn(s.db)
	}
	return s.relaxed(ctx, fn)
}

// ClaimDue is the one query that picks notices to send. It claims for c
// the pending notices whose next attempt is due, most urgent and oldest
// first, that no other live instance has claimed: unclaimed ones, c's own,
// and those of instances whose heartbeat is older than c.Window. Senders
// sharing one PostgreSQL outbox thus never take the same row (FOR UPDATE
// SKIP LOCKED passes over rows another claim is taking), and the claims of
// an instance that died are taken once its heartbeat lapses. Sealed text
// is opened. A sealed notice that cannot be opened (its key is gone) is
// marked failed instead of being listed, so it is never sent garbled. The
// state is written into the SQL, not bound: only a literal lets SQLite use
// the partial index of pending rows instead of scanning the whole outbox.
func (s *Store) ClaimDue(ctx context.Context, c Claimant, now time.Time, limit int) ([]Notice, error) {
	type claimed struct {
		storedNotice
		priority, next int64
	}
	var stored []claimed
	err := s.claiming(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.dialect.sql(`UPDATE outbox SET claimed_by = ? WHERE id IN (
			SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?
			AND (claimed_by = '' OR claimed_by = ? OR claimed_by NOT IN (
				SELECT name FROM instances, `+s.dialect.clockMillis()+` AS clock WHERE seen_at > clock.ms - ?))
			ORDER BY priority, next_attempt_at, id LIMIT ?`+s.dialect.skipLocked()+`)
		RETURNING `+noticeColumns+`, priority, next_attempt_at`),
			s.dialect.args([]any{c.Instance, unix(now), c.Instance, c.Window.Milliseconds(), limit})...)
		stored, err = scanAll(rows, err, func(row rowScanner) (claimed, error) {
			var r claimed
			var date int64
			err := row.Scan(&r.ID, &r.MessageID, &date, &r.From, &r.to, &r.cc, &r.Subject, &r.Body, &r.InReplyTo, &r.refs,
				&r.Charset, &r.attachments, &r.Attempts, &r.sensitive, &r.priority, &r.next)
			r.Date = time.Unix(date, 0).UTC()
			return r, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING keeps no order.
	slices.SortFunc(stored, func(a, b claimed) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.next, b.next), cmp.Compare(a.ID, b.ID))
	})
	due := make([]Notice, 0, len(stored))
	var unreadable []storedNotice
	for _, r := range stored {
		n, err := r.notice(s.seal)
		if errors.Is(err, errSealBroken) {
			unreadable = append(unreadable, r.storedNotice)
			continue
		}
		if err != nil {
			return nil, err
		}
		due = append(due, n)
	}
	// After scanAll closed the rows: the only connection is free again.
	if len(unreadable) > 0 {
		if err := s.Tx(ctx, func(tx *Tx) error { return tx.failUnreadable(unreadable) }); err != nil {
			return nil, err
		}
		s.reportUnreadable(unreadable)
	}
	return due, nil
}

// failUnreadable marks pending sealed notices that cannot be opened as
// failed, scrubbed like any failed sensitive notice.
func (t *Tx) failUnreadable(rows []storedNotice) error {
	for _, r := range rows {
		if _, err := t.exec(`UPDATE outbox SET state = ?, next_attempt_at = NULL, last_error = ?,
			body = ?, attachments = '[]', claimed_by = '' WHERE id = ? AND state = ?`,
			OutboxFailed, errSealBroken.Error(), scrubbedBody, r.ID, OutboxPending); err != nil {
			return fmt.Errorf("mark unreadable notice %d failed: %w", r.ID, err)
		}
	}
	return nil
}

func (s *Store) reportUnreadable(rows []storedNotice) {
	for _, r := range rows {
		s.log.Warn("store: a sealed notice cannot be opened; marked failed, not sent",
			"notice", r.ID, "message_id", r.MessageID, "reason", errSealBroken.Error())
	}
	s.checkpoints.request()
}

// secureOutbox runs at open: it seals sensitive pending notices written in
// clear text before sealing existed, and fails those sealed under a key
// that is gone, so the sender meets neither.
func (s *Store) secureOutbox(ctx context.Context) error {
	var unreadable []storedNotice
	err := s.Tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(`SELECT ` + noticeColumns + ` FROM outbox WHERE state = 'pending' AND sensitive = 1`)
		stored, err := scanAll(rows, err, scanNotice)
		if err != nil {
			return fmt.Errorf("check sealed notices: %w", err)
		}
		for _, r := range stored {
			body, bodyErr := s.seal.open(r.MessageID, sealedBodyColumn, r.Body)
			atts, attsErr := s.seal.open(r.MessageID, sealedAttachmentsColumn, r.attachments)
			if bodyErr != nil || attsErr != nil {
				unreadable = append(unreadable, r)
				continue
			}
			if isSealed(r.Body) && isSealed(r.attachments) {
				continue
			}
			if _, err := tx.exec(`UPDATE outbox SET body = ?, attachments = ? WHERE id = ?`,
				s.seal.seal(r.MessageID, sealedBodyColumn, body),
				s.seal.seal(r.MessageID, sealedAttachmentsColumn, atts), r.ID); err != nil {
				return fmt.Errorf("seal notice %d: %w", r.ID, err)
			}
		}
		return tx.failUnreadable(unreadable)
	})
	if err != nil {
		return err
	}
	if len(unreadable) > 0 {
		s.reportUnreadable(unreadable)
	}
	return nil
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
	return s.markDone(ctx, `UPDATE outbox SET state = ?, sent_at = ?, attempts = attempts + 1, next_attempt_at = NULL, claimed_by = '',
		body = CASE WHEN sensitive = 1 THEN ? ELSE body END,
		attachments = CASE WHEN sensitive = 1 THEN '[]' ELSE attachments END
		WHERE id = ? RETURNING sensitive`, OutboxSent, unix(at), scrubbedBody, id)
}

// MarkRetry records a temporary failure and when to try again.
func (s *Store) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	return s.relaxed(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, s.dialect.sql(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, claimed_by = ''
			WHERE id = ? AND state = ?`), s.dialect.args([]any{unix(next), reason, id, OutboxPending})...)
		return err
	})
}

// MarkFailed records a permanent failure; operators see it.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string) error {
	return s.markDone(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = NULL, last_error = ?, claimed_by = '',
		body = CASE WHEN sensitive = 1 THEN ? ELSE body END,
		attachments = CASE WHEN sensitive = 1 THEN '[]' ELSE attachments END
		WHERE id = ? RETURNING sensitive`, OutboxFailed, reason, scrubbedBody, id)
}

// markDone runs an update that ends a notice's life and scrubs it if it
// was sensitive; the old page images then go with the next checkpoint.
func (s *Store) markDone(ctx context.Context, update string, args ...any) error {
	var sensitive bool
	err := s.relaxed(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, s.dialect.sql(update), s.dialect.args(args)...).Scan(&sensitive)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if sensitive {
		s.checkpoints.request()
	}
	return nil
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
