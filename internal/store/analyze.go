package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL plans a prepared statement once for any parameters (after
// five runs) and keeps that plan until the table's statistics change. On a
// new database the first plans are made on empty tables, where every
// index costs the same: madoguchi bench caught the open-request lookups
// walking the index of all open requests, a cost that grew with every
// request, until autovacuum analyzed the table a minute or more later.
// So the store analyzes its own tables while they are young: every
// analyzeEvery, each table changed by half its size or more since it was
// last analyzed. A grown table changes by half its size rarely, and
// autovacuum keeps it from then on.

const (
	analyzeEvery = 5 * time.Second
	// analyzeMinChanges keeps tiny tables, where any plan is quick, from
	// being analyzed over and over.
	analyzeMinChanges = 200
)

// grownTablesQuery names the desk's tables changed by half their size
// since their last analysis.
const grownTablesQuery = `SELECT relname FROM pg_stat_user_tables
	WHERE schemaname = current_schema() AND n_mod_since_analyze >= GREATEST($1, n_live_tup / 2)
	ORDER BY relname`

// analyzeGrown analyzes the tables grownTablesQuery names and returns
// them.
func (s *Store) analyzeGrown(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, grownTablesQuery, analyzeMinChanges)
	tables, err := scanAll(rows, err, func(row rowScanner) (string, error) {
		var name string
		return name, row.Scan(&name)
	})
	if err != nil {
		return nil, fmt.Errorf("find grown tables: %w", err)
	}
	for _, name := range tables {
		if _, err := s.db.ExecContext(ctx, `ANALYZE `+pgx.Identifier{name}.Sanitize()); err != nil {
			return tables, fmt.Errorf("analyze %s: %w", name, err)
		}
	}
	return tables, nil
}

// analyzer runs analyzeGrown every analyzeEvery until stopped.
type analyzer struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startAnalyzer(s *Store, log *slog.Logger) *analyzer {
	ctx, cancel := context.WithCancel(context.Background())
	a := &analyzer{cancel: cancel}
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		t := time.NewTicker(analyzeEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			tables, err := s.analyzeGrown(ctx)
			if err != nil && ctx.Err() == nil {
				// Only plans suffer; autovacuum still analyzes in time.
				log.Warn("store: analyzing grown tables failed", "err", err)
			} else if len(tables) > 0 {
				log.Debug("store: analyzed grown tables", "tables", tables)
			}
		}
	}()
	return a
}

func (a *analyzer) stop() {
	if a == nil {
		return
	}
	a.cancel()
	a.done.Wait()
}
