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
func (st *Store) SeedSynthetic(ctx context.Context, s Synthetic) error {
	now := unix(s.Now)
	return st.Tx(ctx, func(tx *Tx) error {
		steps := []struct {
			sql  string
			args []any
		}{
			{`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO accounts (login, kind, family_name, given_name, family_reading, given_reading, identity_key, sex,
				birth_date, email, eligibility, password_hash, created_at)
			SELECT printf('s%07d-x', n), 'personal', '姓' || n, '名', 'セイ', 'メイ', '姓' || n || '|名|1980-01-01', 'male',
				'1980-01-01', printf('s%07d@hosp.example', n), 1, '', ? - n FROM seq`, []any{s.Accounts, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, desired_id, identity_key, created_at, updated_at, closed_at)
			SELECT printf('SYN-H-%07d', n), 'new_id', CASE n % 3 WHEN 0 THEN 'rejected' ELSE 'approved' END,
				printf('h%07d@hosp.example', n), '{}', '', '', ? - 86400 * (2 + n % 700), ? - 86400 * (1 + n % 700), ? - 86400 * (1 + n % 700) FROM seq`,
				[]any{s.Closed, now, now, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, desired_id, identity_key, created_at, updated_at)
			SELECT printf('SYN-O-%07d', n), 'new_id', CASE n % 5 WHEN 0 THEN 'documents_received' ELSE 'awaiting_documents' END,
				printf('o%07d@hosp.example', n), '{"family_name":"姓","given_name":"名"}', printf('o%07d-x', n), '', ? - (n % 86000), ? - (n % 86000) FROM seq`,
				[]any{s.OpenRequests, now, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, desired_id, identity_key, created_at, updated_at)
			SELECT printf('SYN-D-%07d', n), 'new_id', 'awaiting_documents', printf('d%07d@hosp.example', n),
				'{"family_name":"姓","given_name":"名"}', printf('d%07d-x', n), '', ? - 86400 * (8 + n % 33), ? - 86400 * (8 + n % 33) FROM seq`,
				[]any{s.DueReminders, now, now}},
			{`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO requests (reference, kind, state, applicant, fields, account_id, created_at, updated_at)
			SELECT printf('SYN-C-%07d', n), 'password_reset', 'code_sent', printf('s%07d@hosp.example', n), '{}', n, ? - 1200, ? - 1200 FROM seq`,
				[]any{s.DueCodes, now, now}},
			{`INSERT INTO access_codes (account_id, request_id, purpose, salt, code_hash, created_at, expires_at, state)
			SELECT account_id, id, 'password_reset', 'salt', 'hash', created_at, created_at + 600, 'active' FROM requests WHERE reference LIKE 'SYN-C-%'`, nil},
			{`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
			INSERT INTO forwardings (account_id, old_login, new_login, starts_at, ends_at)
			SELECT n, printf('old%07d-x', n), printf('s%07d-x', n), ? - 86400 * 340, ? + 86400 * (n % 30) FROM seq`,
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
