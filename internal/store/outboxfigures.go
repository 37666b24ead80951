package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// OutboxFigures are the outbox's gauges for metrics and the health check.
type OutboxFigures struct {
	Pending int // waiting to be sent, retries included
	Failed  int // given up on
	// OldestDue is when the oldest pending notice first fell due (zero
	// when none is): it stays put across retries, so its age says how
	// long mail has not been going out.
	OldestDue time.Time
}

// OutboxFigures reads the outbox's gauges. Both queries go through the
// partial indexes of pending and failed rows, so a scrape costs the same
// however many sent notices the outbox keeps.
func (s *Store) OutboxFigures(ctx context.Context, now time.Time) (OutboxFigures, error) {
	var f OutboxFigures
	var oldest sql.NullInt64
	err := s.queryRow(ctx, `SELECT count(*), min(CASE WHEN created_at <= ? THEN created_at END)
		FROM outbox WHERE state = 'pending'`, unix(now)).Scan(&f.Pending, &oldest)
	if err != nil {
		return f, fmt.Errorf("outbox figures: %w", err)
	}
	if oldest.Valid {
		f.OldestDue = time.Unix(oldest.Int64, 0).UTC()
	}
	if err := s.queryRow(ctx, `SELECT count(*) FROM outbox WHERE state = 'failed'`).Scan(&f.Failed); err != nil {
		return f, fmt.Errorf("outbox figures: %w", err)
	}
	return f, nil
}
