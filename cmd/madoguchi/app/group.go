package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/telemetry"
)

// Group is every desk one process serves (config desks:), each with its
// own mailbox, database, operators and templates.
type Group struct {
	Apps   []*App
	hasher *secret.Hasher // shared by the desks: the memory of their hashes is kept once
	// Telemetry holds the desks' metrics and health (served by Run on
	// http.address).
	Telemetry *telemetry.Telemetry
	cfg       *config.Config
	log       *slog.Logger
	ln        net.Listener // see Listen
	// instance names this process among the instances sharing the
	// database (cluster.instance).
	instance string
	// abandon makes Run stop as a killed process would: no lease released,
	// no claim freed (set by tests of takeover, see export_test.go).
	abandon bool
}

// NewGroup opens every desk of cfg.
func NewGroup(ctx context.Context, cfg *config.Config, opts Options) (*Group, error) {
	if opts.Instance == "" {
		opts.Instance = defaultInstance()
	}
	if opts.Process == "" {
		opts.Process = newProcessToken() // one for all the desks: they may share a database
	}
	g := &Group{cfg: cfg, log: opts.Logger, instance: opts.Instance}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if opts.Telemetry == nil {
		opts.Telemetry = newTelemetry(cfg)
	}
	g.Telemetry = opts.Telemetry
	if opts.Hasher == nil {
		g.hasher = newHasher(opts.Hash)
		opts.Hasher = g.hasher
	}
	for _, dc := range cfg.AllDesks() {
		o := opts
		if o.Logger != nil {
			o.Logger = o.Logger.With("desk", dc.Name)
		}
		a, err := New(ctx, dc, o)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("desk %s: %w", dc.Name, err)
		}
		g.Apps = append(g.Apps, a)
	}
	return g, nil
}

// Close closes every desk's database.
func (g *Group) Close() error {
	var errs []error
	for _, a := range g.Apps {
		errs = append(errs, a.Close())
	}
	return errors.Join(errs...)
}

// Instance is this process's name among the instances sharing the
// database, as /healthz and the desks' leases show it.
func (g *Group) Instance() string { return g.instance }

// Once runs one pass of every desk. A desk's mailbox is read only under
// its lease, held for the pass (so `madoguchi once` next to running
// instances leaves a desk they hold alone); its due notices are sent
// either way, claimed as every instance claims them.
func (g *Group) Once(ctx context.Context) (Summary, error) {
	var total Summary
	defer func() {
		if err := g.leave(context.WithoutCancel(ctx)); err != nil {
			g.log.Warn("cluster: leaving failed; the others wait for this instance's heartbeat to lapse", "err", err)
		}
	}()
	for _, a := range g.Apps {
		release, holder, ok, err := g.onceLease(ctx, a)
		if err != nil {
			return total, fmt.Errorf("desk %s: %w", a.cfg.Name, err)
		}
		var s Summary
		if ok {
			s, err = a.Once(ctx)
			release()
		} else {
			g.log.Info("desk held by another instance: its mailbox is left to it; sending due notices only", "desk", a.cfg.Name, "holder", holder)
			s, err = a.DeliverOutbox(ctx)
		}
		total.Processed += s.Processed
		total.Sent += s.Sent
		total.Retrying += s.Retrying
		total.Failed += s.Failed
		if err != nil {
			return total, fmt.Errorf("desk %s: %w", a.cfg.Name, err)
		}
	}
	return total, nil
}

// Run runs every desk, and the HTTP listener when configured, until ctx
// ends. Every desk's sender runs all along; a desk's intake and scheduler
// run while this instance holds the desk's lease (see leaseManager). On
// the way out the desks stop taking mail, their leases are released and
// this instance leaves, so the others take over at once.
func (g *Group) Run(ctx context.Context) error {
	waitHTTP, err := g.serveHTTP(ctx)
	if err != nil {
		return err
	}
	m := g.newLeaseManager()
	// Before anything runs: the desks that are free start at once.
	m.round(ctx, false)
	var wg sync.WaitGroup
	senderErrs := make([]error, len(g.Apps))
	// The senders stop with ctx, or when the manager stops early (another
	// process bears this instance's name).
	sendCtx, stopSenders := context.WithCancel(ctx)
	defer stopSenders()
	for i, a := range g.Apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.sender.Run(sendCtx); err != nil {
				senderErrs[i] = fmt.Errorf("desk %s: sender: %w", a.cfg.Name, err)
			}
		}()
	}
	runErr := m.run(ctx)
	if m.nameTaken != nil {
		stopSenders()
	}
	errs := []error{runErr}
	senders := make(chan struct{})
	go func() { wg.Wait(); close(senders) }()
	select {
	case <-senders:
		// A process that found its name taken leaves nothing: the row and
		// the claims under the name are the other process's.
		if !g.abandon && m.nameTaken == nil {
			errs = append(errs, g.leave(context.WithoutCancel(ctx)))
		}
		errs = append(errs, senderErrs...)
	case <-time.After(g.cfg.ShutdownGrace):
		errs = append(errs, fmt.Errorf("shutdown: a sender still running after %s", g.cfg.ShutdownGrace))
	}
	return errors.Join(append(errs, waitHTTP())...)
}

// Desk finds a desk by name.
func (g *Group) Desk(name string) (*App, bool) {
	for _, a := range g.Apps {
		if a.cfg.Name == name {
			return a, true
		}
	}
	return nil, false
}
