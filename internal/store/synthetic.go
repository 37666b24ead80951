package store

import (
	"context"
	"fmt"
	"time"
)

// Synthetic describes a made-up database for benchmarks and load tests:
// many accounts and open requests of which only a fixed number are due
// for the nightly jobs, so a job's cost can be compared across sizes.
type Synthetic struct {
	Accounts     int // active personal accounts
	OpenRequests int // open new-ID requests received in the last day (not due)
	Closed       int // closed requests (history)
	// Due for the jobs at Now: applications waiting 8-40 days for their
	// signed form, access codes past their time, forwardings ending.
	DueReminders, DueCodes, DueForwardings int
	Now                                    time.Time
}

// SeedSynthetic fills an empty database with s, in SQL (recursive CTEs),
// so that a million rows take seconds, not the desk's own code paths.
// Numbers are zero-padded to seven digits as substr(10000000 + n, 2), which
// both engines read alike (PostgreSQL has no printf). The recursive CTE's
// n is a BIGINT, so PostgreSQL reads the bound times as BIGINT too.
func (st *Store) SeedSynthetic(ctx context.Context, s Synthetic) error {
	now := unix(s.Now)
	return st.Tx(ctx, func(tx *Tx) error {
		steps := []struct {
			sql  string
			args []any
		}{
			{`WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO accounts (login, kind, family_name, given_name, family_reading, given_reading, identity_key, sex,
				birth_date, email, eligibility, password_hash, created_at)
			SELECT 's' || substr(CAST(10000000 + n AS TEXT), 2) || '-x', 'personal', '姓' || n, '名', 'セイ', 'メイ', '姓' || n || '|名|1980-01-01', 'male',
				'1980-01-01', 's' || substr(CAST(10000000 + n AS TEXT), 2) || '@hosp.example', 1, '', ? - n FROM seq`, []any{s.Accounts, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, desired_id, identity_key, created_at, updated_at, closed_at)
			SELECT 'SYN-H-' || substr(CAST(10000000 + n AS TEXT), 2), 'new_id', CASE n % 3 WHEN 0 THEN 'rejected' ELSE 'approved' END,
				'h' || substr(CAST(10000000 + n AS TEXT), 2) || '@hosp.example', '{}', '', '', ? - 86400 * (2 + n % 700), ? - 86400 * (1 + n % 700), ? - 86400 * (1 + n % 700) FROM seq`,
				[]any{s.Closed, now, now, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, desired_id, identity_key, created_at, updated_at)
			SELECT 'SYN-O-' || substr(CAST(10000000 + n AS TEXT), 2), 'new_id', CASE n % 5 WHEN 0 THEN 'documents_received' ELSE 'awaiting_documents' END,
				'o' || substr(CAST(10000000 + n AS TEXT), 2) || '@hosp.example', '{"family_name":"姓","given_name":"名"}', 'o' || substr(CAST(10000000 + n AS TEXT), 2) || '-x', '', ? - (n % 86000), ? - (n % 86000) FROM seq`,
				[]any{s.OpenRequests, now, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, desired_id, identity_key, created_at, updated_at)
			SELECT 'SYN-D-' || substr(CAST(10000000 + n AS TEXT), 2), 'new_id', 'awaiting_documents', 'd' || substr(CAST(10000000 + n AS TEXT), 2) || '@hosp.example',
				'{"family_name":"姓","given_name":"名"}', 'd' || substr(CAST(10000000 + n AS TEXT), 2) || '-x', '', ? - 86400 * (8 + n % 33), ? - 86400 * (8 + n % 33) FROM seq`,
				[]any{s.DueReminders, now, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, account_id, created_at, updated_at)
			SELECT 'SYN-C-' || substr(CAST(10000000 + n AS TEXT), 2), 'password_reset', 'code_sent', 's' || substr(CAST(10000000 + n AS TEXT), 2) || '@hosp.example', '{}', n, ? - 1200, ? - 1200 FROM seq`,
				[]any{s.DueCodes, now, now}},
			{`INSERT INTO access_codes (account_id, request_id, purpose, salt, code_hash, created_at, expires_at, state)
			SELECT account_id, id, 'password_reset', 'salt', 'hash', created_at, created_at + 600, 'active' FROM requests WHERE reference LIKE 'SYN-C-%'`, nil},
			{`WITH RECURSIVE seq(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO forwardings (account_id, old_login, new_login, starts_at, ends_at)
			SELECT n, 'old' || substr(CAST(10000000 + n AS TEXT), 2) || '-x', 's' || substr(CAST(10000000 + n AS TEXT), 2) || '-x', ? - 86400 * 340, ? + 86400 * (n % 30) FROM seq`,
				[]any{s.DueForwardings, now, now}},
		}
		for i, step := range steps {
			if _, err := tx.exec(step.sql, step.args...); err != nil {
				return fmt.Errorf("synthetic step %d: %w", i, err)
			}
		}
		return nil
	})
}
