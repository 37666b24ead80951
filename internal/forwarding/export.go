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
	"time"

	"github.com/madoguchi/madoguchi/internal/atomicfile"
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
		if err := atomicfile.Write(postfixPath, b.Bytes()); err != nil {
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
		if err := atomicfile.Write(csvPath, b.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(fws), nil
}
