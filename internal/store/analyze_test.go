package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// A table that grew since its last analysis is analyzed, and analyzed
// again only after it has grown by half again; a table that barely changed
// is left to autovacuum.
func TestAnalyzeGrownTablesPostgres(t *testing.T) {
	s := openPostgresTest(t)
	ctx := context.Background()
	s.analyzer.stop() // the test drives it
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	changes := 0 // rows written since limit_events was last analyzed
	addEvents := func(n int) {
		t.Helper()
		err := s.Tx(ctx, func(tx *Tx) error {
			for i := range n {
				if err := tx.CountEvent("c", fmt.Sprint(i), 1, now); err != nil {
					return err
				}
			}
			// The counters pg_stat_user_tables reads are flushed at
			// most once a second unless asked.
			_, err := tx.execOnce(`SELECT pg_stat_force_next_flush()`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		changes += n
	}
	// analyze waits until the statistics show the changes since the last
	// analysis (flushed when the connection goes idle), then runs
	// analyzeGrown once.
	analyze := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var mods int
			err := s.db.QueryRowContext(ctx, `SELECT n_mod_since_analyze FROM pg_stat_user_tables
				WHERE schemaname = current_schema() AND relname = 'limit_events'`).Scan(&mods)
			if err != nil {
				t.Fatal(err)
			}
			if mods == changes {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the statistics show %d changes, want %d", mods, changes)
			}
			time.Sleep(50 * time.Millisecond)
		}
		tables, err := s.analyzeGrown(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(tables, "limit_events"); got != want {
			t.Fatalf("after %d changes limit_events analyzed: %v, want %v (tables %v)", changes, got, want, tables)
		}
		if want {
			changes = 0
		}
	}
	addEvents(analyzeMinChanges - 10)
	analyze(false) // too small to matter
	addEvents(20)
	analyze(true)
	var tuples float64
	if err := s.db.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'limit_events'::regclass`).Scan(&tuples); err != nil {
		t.Fatal(err)
	}
	if tuples < analyzeMinChanges {
		t.Errorf("after the analysis the planner counts %v rows in limit_events, want %d", tuples, analyzeMinChanges+10)
	}
	analyze(false) // nothing changed since
	addEvents(analyzeMinChanges - 1)
	analyze(false) // less than half the table and under the minimum
	addEvents(analyzeMinChanges)
	analyze(true) // grown by more than half
}
