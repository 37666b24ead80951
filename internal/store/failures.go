package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ProcessingFailure is the failed attempts at handling one message, by its
// place in the mailbox.
type ProcessingFailure struct {
	Mailbox       string
	UIDValidity   uint32
	UID           uint32
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	NextAttemptAt time.Time
	LastError     string
}

const failureColumns = `mailbox, uid_validity, uid, attempts, first_failed_at, last_failed_at, next_attempt_at, last_error`

func scanFailure(row rowScanner) (ProcessingFailure, error) {
	var f ProcessingFailure
	var first, last, next int64
	err := row.Scan(&f.Mailbox, &f.UIDValidity, &f.UID, &f.Attempts, &first, &last, &next, &f.LastError)
	f.FirstFailedAt, f.LastFailedAt, f.NextAttemptAt = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(), time.Unix(next, 0).UTC()
	return f, err
}

// ProcessingFailure returns the failures recorded for a message; Attempts
// is 0 when there are none.
func (t *Tx) ProcessingFailure(mailbox string, uidValidity, uid uint32) (ProcessingFailure, error) {
	f, err := scanFailure(t.queryRow(`SELECT `+failureColumns+` FROM processing_failures
		WHERE mailbox = ? AND uid_validity = ? AND uid = ?`, mailbox, uidValidity, uid))
	if errors.Is(err, sql.ErrNoRows) {
		return ProcessingFailure{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}, nil
	}
	if err != nil {
		return ProcessingFailure{}, fmt.Errorf("read the failures of uid %d: %w", uid, err)
	}
	return f, nil
}

// SaveProcessingFailure stores f in place of what was recorded for its
// message. f was read earlier in the transaction; a message is handled by
// its desk's one mailbox reader, so no other connection counts its
// failures meanwhile.
func (t *Tx) SaveProcessingFailure(f ProcessingFailure) error {
	_, err := t.exec(`INSERT INTO processing_failures (`+failureColumns+`) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT(mailbox, uid_validity, uid) DO UPDATE SET attempts = excluded.attempts,
			first_failed_at = excluded.first_failed_at, last_failed_at = excluded.last_failed_at,
			next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error`,
		f.Mailbox, f.UIDValidity, f.UID, f.Attempts, unix(f.FirstFailedAt), unix(f.LastFailedAt), unix(f.NextAttemptAt), f.LastError)
	if err != nil {
		return fmt.Errorf("record a failure of uid %d: %w", f.UID, err)
	}
	return nil
}

// ClearProcessingFailure forgets the failures of a message once it is
// recorded (quarantined, or handled at last).
func (t *Tx) ClearProcessingFailure(mailbox string, uidValidity, uid uint32) error {
	_, err := t.exec(`DELETE FROM processing_failures WHERE mailbox = ? AND uid_validity = ? AND uid = ?`, mailbox, uidValidity, uid)
	if err != nil {
		return fmt.Errorf("clear the failures of uid %d: %w", uid, err)
	}
	return nil
}

// PruneProcessingFailures drops the rows of mailbox no pass will ask
// about again: of messages recorded since (handled at a later attempt), of
// an earlier UIDVALIDITY (the UIDs changed meaning), and of messages that
// last failed before stale (removed from the mailbox by hand).
func (t *Tx) PruneProcessingFailures(mailbox string, uidValidity uint32, stale time.Time) error {
	_, err := t.exec(`DELETE FROM processing_failures WHERE mailbox = ? AND (uid_validity <> ? OR last_failed_at < ?
		OR EXISTS (SELECT 1 FROM seen_messages s WHERE s.mailbox = processing_failures.mailbox
			AND s.uid_validity = processing_failures.uid_validity AND s.uid = processing_failures.uid))`,
		mailbox, uidValidity, unix(stale))
	if err != nil {
		return fmt.Errorf("prune the failures of %s: %w", mailbox, err)
	}
	return nil
}

// UnlinkSeenContent keeps a seen record from matching later copies of its
// message by content hash or Message-ID, for a message recorded without
// anything done for it (given up after failures): a copy delivered again
// once the cause is fixed is then handled, not filed as a duplicate. The
// record by place in the mailbox stays, so the message itself is only
// filed. The hash keeps a prefix rather than going empty: SeenByContent
// looks up "" when it looks by Message-ID.
func (t *Tx) UnlinkSeenContent(mailbox string, uidValidity, uid uint32) error {
	_, err := t.exec(`UPDATE seen_messages SET content_sha256 = 'unlinked:' || content_sha256, message_id = ''
		WHERE mailbox = ? AND uid_validity = ? AND uid = ?`, mailbox, uidValidity, uid)
	if err != nil {
		return fmt.Errorf("unlink the content of uid %d: %w", uid, err)
	}
	return nil
}

// RetriesNotDue lists the UIDs of mailbox (at uidValidity) whose next
// attempt comes after now. It runs once a pass, outside a transaction.
func (s *Store) RetriesNotDue(ctx context.Context, mailbox string, uidValidity uint32, now time.Time) ([]uint32, error) {
	rows, err := s.query(ctx, `SELECT uid FROM processing_failures
		WHERE mailbox = ? AND uid_validity = ? AND next_attempt_at > ?`, mailbox, uidValidity, unix(now))
	uids, err := scanAll(rows, err, func(row rowScanner) (uint32, error) {
		var uid uint32
		return uid, row.Scan(&uid)
	})
	if err != nil {
		return nil, fmt.Errorf("list the messages waiting for another attempt: %w", err)
	}
	return uids, nil
}

// ProcessingFailures lists the messages with failed attempts that are
// still to be tried, the next one due first. A message handled at a later
// attempt is left out (its row goes at the next prune).
func (s *Store) ProcessingFailures(ctx context.Context) ([]ProcessingFailure, error) {
	rows, err := s.query(ctx, `SELECT `+failureColumns+` FROM processing_failures f
		WHERE NOT EXISTS (SELECT 1 FROM seen_messages s WHERE s.mailbox = f.mailbox AND s.uid_validity = f.uid_validity AND s.uid = f.uid)
		ORDER BY next_attempt_at, uid`)
	fs, err := scanAll(rows, err, scanFailure)
	if err != nil {
		return nil, fmt.Errorf("list processing failures: %w", err)
	}
	return fs, nil
}
