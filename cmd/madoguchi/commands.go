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
	"runtime/debug"
	"strings"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/telemetry"
	"github.com/madoguchi/madoguchi/internal/testkit/demo"
)

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: telemetry.ReplaceDurations}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// applyRuntime runs the daemon with a spare P (app.AddSpareP) and sets the
// runtime's soft memory limit from the configuration unless GOMEMLIMIT is
// set. argon2id (x/crypto/argon2) allocates 19 MiB for every hash: with
// the default GOGC the collector would run after nearly every hash, so
// under a memory limit it is paced by the limit alone (GOGC off, unless
// GOGC is set), and the limit keeps room for the hashes in flight above
// the live heap.
func applyRuntime(cfg *config.Config) {
	app.AddSpareP()
	limited := os.Getenv("GOMEMLIMIT") != ""
	if !limited && cfg.MemoryLimit >= 0 {
		limit := cfg.MemoryLimit
		if limit == 0 {
			limit = defaultMemoryLimit
		}
		debug.SetMemoryLimit(max(limit, secret.InFlightBytes(secret.DefaultParams())+minHeapRoom))
		limited = true
	}
	if limited && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
	}
}

const (
	// defaultMemoryLimit keeps the desk's peak RSS under 150 MB in
	// madoguchi bench; a larger limit measured no faster (README).
	defaultMemoryLimit = 100 << 20
	// minHeapRoom is what the live heap needs beside the hashes in
	// flight; below it the collector would run all the time.
	minHeapRoom = 32 << 20
)

func runDaemon(ctx context.Context, path string, logOut io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if err := installProblems(cfg); err != nil {
		return err
	}
	applyRuntime(cfg)
	log := newLogger(cfg, logOut)
	// The daemon is the one process that goes by cluster.instance.
	g, err := app.NewGroup(ctx, cfg, app.Options{Logger: log, Instance: cfg.Cluster.InstanceName()})
	if err != nil {
		return err
	}
	defer g.Close()
	for _, dc := range cfg.AllDesks() {
		log.Info("desk running", "desk", dc.Name, "instance", g.Instance(), "service", dc.Service, "address", dc.Desk.Address, "imap", dc.IMAP.Address, "smtp", dc.SMTP.Address)
	}
	return runService(ctx, g, log)
}

func runOnce(ctx context.Context, path string, stdout, logOut io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if err := installProblems(cfg); err != nil {
		return err
	}
	applyRuntime(cfg)
	g, err := app.NewGroup(ctx, cfg, app.Options{Logger: newLogger(cfg, logOut)})
	if err != nil {
		return err
	}
	defer g.Close()
	s, err := g.Once(ctx)
	fmt.Fprintf(stdout, "processed %d messages; sent %d notices, %d to retry, %d failed\n", s.Processed, s.Sent, s.Retrying, s.Failed)
	return err
}

func runDemo(ctx context.Context, opts demo.Options, stdout io.Writer) error {
	return demo.Run(ctx, opts, stdout)
}

func exportForwarding(ctx context.Context, path string, stdout, logOut io.Writer) error {
	// Without the mail passwords: the mail host runs it from cron against
	// the shared database (README, "Several instances").
	cfg, err := loadOpsConfig(path, false)
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
		for _, dc := range cfg.AllDesks() {
			for _, j := range scheduler.DeskJobs(scheduler.Deps{Config: dc}) {
				fmt.Fprintf(stdout, "%-10s %-18s %-14s %s\n", dc.Name, j.Name, j.Schedule, j.Help)
			}
		}
		return nil
	}
	g, err := app.NewGroup(ctx, cfg, app.Options{Logger: newLogger(cfg, logOut)})
	if err != nil {
		return err
	}
	defer g.Close()
	// NAME runs on every desk that has it; DESK/NAME on one desk.
	deskName, jobName, one := strings.Cut(name, "/")
	if !one {
		deskName, jobName = "", name
	}
	ran := false
	for _, a := range g.Apps {
		if deskName != "" && a.Name() != deskName {
			continue
		}
		outcome, err := a.Scheduler.RunByHand(ctx, jobName)
		if errors.Is(err, scheduler.ErrUnknownJob) && deskName == "" {
			continue
		}
		if err != nil {
			return fmt.Errorf("desk %s: %w", a.Name(), err)
		}
		ran = true
		// Deliver what the job queued, as the daemon's sender would.
		s, err := a.DeliverOutbox(ctx)
		fmt.Fprintf(stdout, "%s %s: %s; sent %d notices\n", a.Name(), jobName, outcome, s.Sent)
		if err != nil {
			return err
		}
	}
	if !ran {
		return fmt.Errorf("%w: %s (see madoguchi jobs list)", scheduler.ErrUnknownJob, name)
	}
	return nil
}
