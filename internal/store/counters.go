package store

import (
	"database/sql"
	"time"
)

// CountEvent adds amount to a named counter of a subject (a sender, an
// account, a request) at a time.
func (t *Tx) CountEvent(counter, subject string, amount int64, at time.Time) error {
	return t.insertLater("limit_events", `INSERT INTO limit_events (counter, subject, amount, at) VALUES`, `(?, ?, ?, ?)`, "",
		counter, subject, amount, unix(at))
}

// CountedSince sums a named counter of a subject since a time.
func (t *Tx) CountedSince(counter, subject string, since time.Time) (int64, error) {
	var n sql.NullInt64
	err := t.queryRow(`SELECT SUM(amount) FROM limit_events WHERE counter = ? AND subject = ? AND at >= ?`,
		counter, subject, unix(since)).Scan(&n)
	return n.Int64, err
}

// DocumentBytes is the size of the documents stored for a request.
func (t *Tx) DocumentBytes(requestID int64) (int64, error) {
	var n sql.NullInt64
	err := t.queryRow(`SELECT SUM(size) FROM documents WHERE request_id = ?`, requestID).Scan(&n)
	return n.Int64, err
}
