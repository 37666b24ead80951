package store

import "time"

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	At        time.Time
	Actor     string
	RequestID int64
	Action    string
	Detail    string
}

// Audit appends to the audit log. Detail must never hold a secret.
func (t *Tx) Audit(at time.Time, actor string, requestID int64, action, detail string) error {
	var rid any
	if requestID != 0 {
		rid = requestID
	}
	return t.insertLater("audit_log", `INSERT INTO audit_log (at, actor, request_id, action, detail) VALUES`, `(?,?,?,?,?)`, "",
		unix(at), actor, rid, action, detail)
}

// AuditLog lists the audit entries of a request (0: all), oldest first.
func (t *Tx) AuditLog(requestID int64) ([]AuditEntry, error) {
	q := `SELECT at, actor, COALESCE(request_id,0), action, detail FROM audit_log`
	var args []any
	if requestID != 0 {
		q += ` WHERE request_id = ?`
		args = append(args, requestID)
	}
	rows, err := t.query(q+` ORDER BY id`, args...)
	return scanAll(rows, err, func(row rowScanner) (AuditEntry, error) {
		var e AuditEntry
		var at int64
		err := row.Scan(&at, &e.Actor, &e.RequestID, &e.Action, &e.Detail)
		e.At = time.Unix(at, 0).UTC()
		return e, err
	})
}
