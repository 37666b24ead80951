package store

import (
	"context"
	"database/sql"
	"time"
)

// RequestCursor is where a paged listing goes on from.
type RequestCursor struct {
	CreatedAt time.Time
	ID        int64
}

// OpenRequestsInState lists open requests in a state received at or
// before a time, oldest first, at most limit after the cursor. It walks
// the (state, created_at) index, so its cost follows the rows returned,
// not the table.
func (t *Tx) OpenRequestsInState(state string, receivedBy time.Time, after RequestCursor, limit int) ([]*Request, RequestCursor, error) {
	rows, err := t.query(`SELECT `+requestColumns+` FROM requests INDEXED BY requests_open_by_state
		WHERE closed_at IS NULL AND state = ? AND created_at <= ? AND (created_at > ? OR (created_at = ? AND id > ?))
		ORDER BY created_at, id LIMIT ?`,
		state, unix(receivedBy), unix(after.CreatedAt), unix(after.CreatedAt), after.ID, limit)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, after, err
		}
		out = append(out, r)
		after = RequestCursor{CreatedAt: r.CreatedAt, ID: r.ID}
	}
	return out, after, rows.Err()
}

// KindFigures are one request kind's figures for the daily digest.
type KindFigures struct {
	Kind          string
	Open          int
	ReceivedToday int
	ApprovedToday int // approved or completed
	RejectedToday int
	Waiting       int       // open, waiting for the applicant's paperwork
	OldestPending time.Time // oldest open request waiting for staff, an unanswered inquiry too (zero: none)
}

// DigestFigures counts per kind for the day [dayStart, dayEnd).
func (s *Store) DigestFigures(ctx context.Context, dayStart, dayEnd time.Time) ([]KindFigures, error) {
	byKind := map[string]*KindFigures{}
	get := func(k string) *KindFigures {
		if byKind[k] == nil {
			byKind[k] = &KindFigures{Kind: k}
		}
		return byKind[k]
	}
	type query struct {
		sql  string
		args []any
		set  func(f *KindFigures, n int64)
	}
	queries := []query{
		{`SELECT kind, COUNT(*) FROM requests WHERE closed_at IS NULL GROUP BY kind`, nil,
			func(f *KindFigures, n int64) { f.Open = int(n) }},
		{`SELECT kind, COUNT(*) FROM requests WHERE created_at >= ? AND created_at < ? GROUP BY kind`, []any{unix(dayStart), unix(dayEnd)},
			func(f *KindFigures, n int64) { f.ReceivedToday = int(n) }},
		{`SELECT kind, COUNT(*) FROM requests WHERE closed_at >= ? AND closed_at < ? AND state IN ('approved','completed') GROUP BY kind`, []any{unix(dayStart), unix(dayEnd)},
			func(f *KindFigures, n int64) { f.ApprovedToday = int(n) }},
		{`SELECT kind, COUNT(*) FROM requests WHERE closed_at >= ? AND closed_at < ? AND state = 'rejected' GROUP BY kind`, []any{unix(dayStart), unix(dayEnd)},
			func(f *KindFigures, n int64) { f.RejectedToday = int(n) }},
		{`SELECT kind, COUNT(*) FROM requests WHERE closed_at IS NULL AND state = 'awaiting_documents' GROUP BY kind`, nil,
			func(f *KindFigures, n int64) { f.Waiting = int(n) }},
		{`SELECT kind, MIN(created_at) FROM requests WHERE closed_at IS NULL AND state IN ('documents_received','under_review','awaiting_answer') GROUP BY kind`, nil,
			func(f *KindFigures, n int64) { f.OldestPending = time.Unix(n, 0).UTC() }},
	}
	for _, q := range queries {
		rows, err := s.query(ctx, q.sql, q.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var kind string
			var n sql.NullInt64
			if err := rows.Scan(&kind, &n); err != nil {
				rows.Close()
				return nil, err
			}
			if n.Valid {
				q.set(get(kind), n.Int64)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]KindFigures, 0, len(byKind))
	for _, f := range byKind {
		out = append(out, *f)
	}
	return out, nil
}

// FailedNotice is a notice the sender gave up on.
type FailedNotice struct {
	ID        int64
	Kind      string
	Recipient string
	Subject   string
	LastError string
	CreatedAt time.Time
}

// FailedNoticesSince lists notices that failed, queued since a time.
func (s *Store) FailedNoticesSince(ctx context.Context, since time.Time) ([]FailedNotice, error) {
	rows, err := s.query(ctx, `SELECT id, notice, recipient, subject, last_error, created_at FROM outbox
		WHERE state = 'failed' AND created_at >= ? ORDER BY id`, unix(since))
	return scanAll(rows, err, func(row rowScanner) (FailedNotice, error) {
		var f FailedNotice
		var created int64
		err := row.Scan(&f.ID, &f.Kind, &f.Recipient, &f.Subject, &f.LastError, &created)
		f.CreatedAt = time.Unix(created, 0).UTC()
		return f, err
	})
}

// ExpireCodeRequests clears the access codes past their time and closes
// their open requests in the state expiredState gives (the policy table's
// code-expired transition), returning the requests closed.
func (t *Tx) ExpireCodeRequests(now time.Time, expiredState func(*Request) (string, bool)) ([]*Request, error) {
	ids, err := t.ExpireAccessCodes(now)
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, id := range ids {
		r, err := t.RequestByID(id)
		if err != nil {
			return nil, err
		}
		if to, ok := expiredState(r); ok && r.Open() {
			if err := t.SetRequestState(r, to, now, true); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}
