package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ClaimJobRun takes the slot of a job for this process. It reports false
// when the slot was already claimed, by an earlier run or another process.
// The claim is one INSERT against the primary key, so it holds with any
// number of connections: under PostgreSQL a second claimer waits for the
// first one's commit and then inserts nothing.
func (s *Store) ClaimJobRun(ctx context.Context, job string, slot, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO job_runs (job, slot, started_at) VALUES (?,?,?)
		ON CONFLICT DO NOTHING`,
		job, unix(slot), unix(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishJobRun records how a claimed run ended.
func (s *Store) FinishJobRun(ctx context.Context, job string, slot, at time.Time, outcome string) error {
	_, err := s.exec(ctx, `UPDATE job_runs SET finished_at = ?, outcome = ? WHERE job = ? AND slot = ?`,
		unix(at), outcome, job, unix(slot))
	return err
}

// LastJobSlot is the latest slot claimed for a job.
func (s *Store) LastJobSlot(ctx context.Context, job string) (time.Time, bool, error) {
	var slot sql.NullInt64
	err := s.queryRow(ctx, `SELECT MAX(slot) FROM job_runs WHERE job = ?`, job).Scan(&slot)
	if err != nil || !slot.Valid {
		return time.Time{}, false, err
	}
	return fromUnix(slot), true, nil
}

// JobRun is one recorded run of a job.
type JobRun struct {
	Job        string
	Slot       time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    string
}

// JobRuns lists the runs of a job, newest first.
func (s *Store) JobRuns(ctx context.Context, job string, limit int) ([]JobRun, error) {
	rows, err := s.query(ctx, `SELECT job, slot, started_at, finished_at, outcome FROM job_runs
		WHERE job = ? ORDER BY slot DESC LIMIT ?`, job, limit)
	return scanAll(rows, err, func(row rowScanner) (JobRun, error) {
		var r JobRun
		var slot, started int64
		var finished sql.NullInt64
		err := row.Scan(&r.Job, &slot, &started, &finished, &r.Outcome)
		r.Slot, r.StartedAt, r.FinishedAt = time.Unix(slot, 0).UTC(), time.Unix(started, 0).UTC(), fromUnix(finished)
		return r, err
	})
}

// ClaimStep records that a job did a step (key per request and step) in
// this transaction; false means it was done before and must not be redone.
// As with ClaimJobRun the primary key decides: a concurrent transaction
// claiming the same key waits for this one and then claims nothing.
func (t *Tx) ClaimStep(job, key string, requestID int64, at time.Time) (bool, error) {
	var rid any
	if requestID != 0 {
		rid = requestID
	}
	res, err := t.exec(`INSERT INTO job_steps (key, job, request_id, done_at) VALUES (?,?,?,?)
		ON CONFLICT DO NOTHING`,
		key, job, rid, unix(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// StepDone reports whether a step key was claimed.
func (t *Tx) StepDone(key string) (bool, error) {
	var one int
	err := t.queryRow(`SELECT 1 FROM job_steps WHERE key = ?`, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
