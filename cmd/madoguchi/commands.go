package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/madoguchi/madoguchi/scheduler"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/madoguchi/madoguchi/internal/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/demo"
	"github.com/madoguchi/madoguchi/templates"
)

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runDaemon(ctx context.Context, path string, logOut io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	log := newLogger(cfg, logOut)
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	log.Info("desk running", "address", cfg.Desk.Address, "imap", cfg.IMAP.Address, "smtp", cfg.SMTP.Address)
	return a.Run(ctx)
}

func runOnce(ctx context.Context, path string, stdout, logOut io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: newLogger(cfg, logOut)})
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := a.Once(ctx)
	fmt.Fprintf(stdout, "processed %d messages; sent %d notices, %d to retry, %d failed\n", s.Processed, s.Sent, s.Retrying, s.Failed)
	return err
}

func checkConfig(path string, stdout io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if _, err := templates.Load(cfg.Templates.Dir, cfg.Desk.Location); err != nil {
		return fmt.Errorf("templates.dir: %w", err)
	}
	auth := "operators must pass DKIM or SPF per Authentication-Results from " + cfg.OperatorAuth.AuthservID
	if !cfg.OperatorAuthRequired() {
		auth = "WARNING: operator commands are trusted on the From header alone (operator_auth.required: false)"
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n  desk %s (IDs @%s, %s)\n  imap %s (%s) %s -> %s / %s\n  smtp %s (%s)\n  database %s\n  %d operators; %s\n",
		path, cfg.Desk.Address, cfg.Desk.Domain, cfg.Desk.Timezone, cfg.IMAP.Address, cfg.IMAP.TLS, cfg.IMAP.Mailbox,
		cfg.IMAP.Processed, cfg.IMAP.Quarantine, cfg.SMTP.Address, cfg.SMTP.TLS, cfg.Database.Path, len(cfg.Operators), auth)
	return nil
}

func runDemo(ctx context.Context, serve bool, stdout io.Writer) error {
	return demo.Run(ctx, serve, stdout)
}

func exportForwarding(ctx context.Context, path string, stdout, logOut io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if cfg.Forwarding.PostfixMap == "" && cfg.Forwarding.CSV == "" {
		return errors.New("forwarding.postfix_map and forwarding.csv are both empty: nothing to write")
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: newLogger(cfg, logOut)})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ExportForwarding(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "forwarding map written: %s %s\n", cfg.Forwarding.PostfixMap, cfg.Forwarding.CSV)
	return nil
}

// runJobs lists the jobs, or runs one by hand.
func runJobs(ctx context.Context, sub, name, path string, stdout, logOut io.Writer) error {
	var cfg *config.Config
	var err error
	if path == "" {
		// Listing needs no install: show the defaults.
		cfg, err = config.Parse([]byte(demo.Config("127.0.0.1:1", "127.0.0.1:1", filepath.Join(os.TempDir(), "unused.db"))), os.Getenv)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return err
	}
	if sub == "list" {
		for _, j := range scheduler.DeskJobs(scheduler.Deps{Config: cfg}) {
			fmt.Fprintf(stdout, "%-14s %-14s %s\n", j.Name, j.Schedule, j.Help)
		}
		return nil
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: newLogger(cfg, logOut)})
	if err != nil {
		return err
	}
	defer a.Close()
	outcome, err := a.Scheduler.RunByHand(ctx, name)
	if err != nil {
		return err
	}
	// Deliver what the job queued, as the daemon's sender would.
	s, err := a.DeliverOutbox(ctx)
	fmt.Fprintf(stdout, "%s: %s; sent %d notices\n", name, outcome, s.Sent)
	return err
}
