// Package forwarding writes the forwardings of renamed IDs for the mail
// server: a Postfix virtual alias table and the same as CSV. Each file is
// written beside its target and renamed over it, so the mail server (or
// the postmap run by cron) never reads a half-written table.
package forwarding

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
)

// Source lists the forwardings in force (*store.Store).
type Source interface {
	ActiveForwardings(ctx context.Context, now time.Time) ([]store.Forwarding, error)
}

// Export writes the active forwardings to the files that are configured
// (an empty path is skipped) and returns how many there are.
func Export(ctx context.Context, src Source, now time.Time, loc *time.Location, domain, postfixPath, csvPath string) (int, error) {
	fws, err := src.ActiveForwardings(ctx, now)
	if err != nil {
		return 0, err
	}
	if postfixPath != "" {
		var b bytes.Buffer
		fmt.Fprintf(&b, "# Forwardings of renamed IDs, written by madoguchi at %s. Do not edit: run postmap on this file.\n",
			now.In(loc).Format(time.RFC3339))
		for _, f := range fws {
			fmt.Fprintf(&b, "%s@%s\t%s@%s\n", f.OldLogin, domain, f.NewLogin, domain)
		}
		if err := writeAtomic(postfixPath, b.Bytes()); err != nil {
			return 0, err
		}
	}
	if csvPath != "" {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write([]string{"old", "new", "ends"})
		for _, f := range fws {
			w.Write([]string{f.OldLogin + "@" + domain, f.NewLogin + "@" + domain, f.EndsAt.In(loc).Format("2006-01-02")})
		}
		w.Flush()
		if err := writeAtomic(csvPath, b.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(fws), nil
}

// writeAtomic writes data to a temporary file in the target's directory,
// syncs it and renames it over the target.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("forwarding export: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("forwarding export %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("forwarding export %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename itself durable
		d.Close()
	}
	return nil
}
