package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Seen is the record of one message taken from the mailbox.
type Seen struct {
	ID               int64
	Mailbox          string
	UIDValidity      uint32
	UID              uint32
	MessageID        string
	ContentSHA256    string
	From             string
	Subject          string
	ReceivedAt       time.Time
	Outcome          string // answered, ignored, quarantined, duplicate
	Reason           string
	RequestID        int64
	Destination      string // processed | quarantine
	Replacement      []byte
	ReplacementFiled bool
}

const seenColumns = `id, mailbox, uid_validity, uid, message_id, content_sha256, from_addr, subject,
	received_at, outcome, reason, COALESCE(request_id, 0), destination, replacement, replacement_filed`

func scanSeen(row rowScanner) (*Seen, error) {
	var s Seen
	var received int64
	err := row.Scan(&s.ID, &s.Mailbox, &s.UIDValidity, &s.UID, &s.MessageID, &s.ContentSHA256, &s.From,
		&s.Subject, &received, &s.Outcome, &s.Reason, &s.RequestID, &s.Destination, &s.Replacement, &s.ReplacementFiled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	s.ReceivedAt = time.Unix(received, 0).UTC()
	return &s, nil
}

// SeenByUID finds the record of a message by its place in the mailbox.
func (t *Tx) SeenByUID(mailbox string, uidValidity, uid uint32) (*Seen, error) {
	return scanSeen(t.queryRow(`SELECT `+seenColumns+` FROM seen_messages
		WHERE mailbox = ? AND uid_validity = ? AND uid = ?`, mailbox, uidValidity, uid))
}

// Earlier is what the store already holds of a message about to be
// handled: a record of it at its place in the mailbox, and a first
// record of the same bytes or the same Message-ID elsewhere. Any of them
// may be nil.
type Earlier struct {
	ByUID       *Seen
	ByContent   *Seen
	ByMessageID *Seen
}

// EarlierRecords looks up all three in one query, the one each message
// costs before anything else (a round trip on PostgreSQL). messageID ""
// looks for no Message-ID.
func (t *Tx) EarlierRecords(mailbox string, uidValidity, uid uint32, sha256, messageID string) (Earlier, error) {
	// SQLite allows no ORDER BY or LIMIT on the arms of a UNION itself,
	// only in subqueries.
	rows, err := t.query(`SELECT 1 AS arm, `+seenColumns+` FROM seen_messages
		WHERE mailbox = ? AND uid_validity = ? AND uid = ?
		UNION ALL SELECT * FROM (SELECT 2 AS arm, `+seenColumns+` FROM seen_messages
			WHERE content_sha256 = ? AND outcome <> 'duplicate' ORDER BY id LIMIT 1) AS by_content
		UNION ALL SELECT * FROM (SELECT 3 AS arm, `+seenColumns+` FROM seen_messages
			WHERE message_id = ? AND message_id <> '' AND outcome <> 'duplicate' ORDER BY id LIMIT 1) AS by_message_id`,
		mailbox, uidValidity, uid, sha256, messageID)
	if err != nil {
		return Earlier{}, err
	}
	defer rows.Close()
	var e Earlier
	for rows.Next() {
		var arm int
		s, err := scanSeen(armScanner{rows, &arm})
		if err != nil {
			return Earlier{}, err
		}
		switch arm {
		case 1:
			e.ByUID = s
		case 2:
			e.ByContent = s
		case 3:
			e.ByMessageID = s
		}
	}
	return e, rows.Err()
}

// armScanner reads a leading column into arm, the rest with scanSeen.
type armScanner struct {
	rows *sql.Rows
	arm  *int
}

func (a armScanner) Scan(dest ...any) error {
	return a.rows.Scan(append([]any{a.arm}, dest...)...)
}

// RecordSeen stores the outcome of a message. A second record for the same
// mailbox position replaces nothing and fails, which is what keeps a
// message from being acted on twice.
func (t *Tx) RecordSeen(s *Seen) (int64, error) {
	var requestID any
	if s.RequestID != 0 {
		requestID = s.RequestID
	}
	var id int64
	err := t.queryRow(`INSERT INTO seen_messages (mailbox, uid_validity, uid, message_id, content_sha256,
		from_addr, subject, received_at, outcome, reason, request_id, destination, replacement, replacement_filed)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		s.Mailbox, s.UIDValidity, s.UID, s.MessageID, s.ContentSHA256, s.From, s.Subject, unix(s.ReceivedAt),
		s.Outcome, s.Reason, requestID, s.Destination, s.Replacement, flag(s.ReplacementFiled)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record seen uid %d: %w", s.UID, err)
	}
	return id, nil
}

// MarkReplacementFiled records that the masked copy of the message at
// this place, whose content has this sha256, is in its folder: on its own
// record and on every record of the same content, so that a re-scan after
// a UIDVALIDITY change does not file it again. One statement for both.
func (t *Tx) MarkReplacementFiled(mailbox string, uidValidity, uid uint32, sha256 string) error {
	_, err := t.exec(`UPDATE seen_messages SET replacement_filed = 1
		WHERE content_sha256 = ? OR (mailbox = ? AND uid_validity = ? AND uid = ?)`, sha256, mailbox, uidValidity, uid)
	return err
}

// UIDValidity returns the last UIDVALIDITY recorded for a mailbox.
func (t *Tx) UIDValidity(mailbox string) (uint32, bool, error) {
	var v uint32
	err := t.queryRow(`SELECT uid_validity FROM mailbox_state WHERE mailbox = ?`, mailbox).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

// SetUIDValidity records the UIDVALIDITY of a mailbox.
func (t *Tx) SetUIDValidity(mailbox string, v uint32) error {
	_, err := t.exec(`INSERT INTO mailbox_state (mailbox, uid_validity) VALUES (?, ?)
		ON CONFLICT(mailbox) DO UPDATE SET uid_validity = excluded.uid_validity`, mailbox, v)
	return err
}

// SeenFromSince counts the messages from a sender since a time whose
// recorded reason starts with prefix (e.g. "password reset"), for the
// per-sender limits of requests that cost work or mail.
func (t *Tx) SeenFromSince(from string, since time.Time, prefix string) (int, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM seen_messages WHERE from_addr = ? AND received_at >= ? AND substr(reason, 1, ?) = ?`,
		from, unix(since), len(prefix), prefix).Scan(&n)
	return n, err
}
