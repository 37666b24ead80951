package store

import (
	"fmt"
	"time"
)

// Document is an attachment kept as evidence.
type Document struct {
	ID          int64
	RequestID   int64
	SeenID      int64
	Filename    string
	ContentType string // as sniffed from the content
	Size        int64
	SHA256      string
	Data        []byte
	Accepted    bool // a type the desk accepts as a signed form
	ReceivedAt  time.Time
}

// AddDocument stores an attachment.
func (t *Tx) AddDocument(d *Document) error {
	var rid, sid any
	if d.RequestID != 0 {
		rid = d.RequestID
	}
	if d.SeenID != 0 {
		sid = d.SeenID
	}
	err := t.queryRow(`INSERT INTO documents (request_id, seen_id, filename, content_type, size, sha256, data,
		accepted, received_at) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`, rid, sid, d.Filename, d.ContentType, d.Size, d.SHA256,
		d.Data, flag(d.Accepted), unix(d.ReceivedAt)).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("store document %s: %w", d.Filename, err)
	}
	return nil
}

// Documents lists a request's documents without their content.
func (t *Tx) Documents(requestID int64) ([]Document, error) {
	rows, err := t.query(`SELECT id, filename, content_type, size, sha256, accepted, received_at
		FROM documents WHERE request_id = ? ORDER BY id`, requestID)
	return scanAll(rows, err, func(row rowScanner) (Document, error) {
		d := Document{RequestID: requestID}
		var at int64
		err := row.Scan(&d.ID, &d.Filename, &d.ContentType, &d.Size, &d.SHA256, &d.Accepted, &at)
		d.ReceivedAt = time.Unix(at, 0).UTC()
		return d, err
	})
}
