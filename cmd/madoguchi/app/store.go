package app

import (
	"context"
	"log/slog"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
)

// OpenStore opens a desk's database as its configuration says: the SQLite
// file at database.path, or the desk's schema of the PostgreSQL database at
// database.url. Every command that opens a desk's store goes through here.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	if cfg.Database.Postgres() {
		return store.OpenPostgres(ctx, cfg.Database.URL, store.Options{
			Schema: cfg.PostgresSchema(), KeyPath: cfg.Database.KeyFile, Logger: log,
		})
	}
	return store.Open(ctx, cfg.Database.Path, store.Options{Synchronous: cfg.Database.Synchronous, Logger: log})
}
