package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

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
}

// NewGroup opens every desk of cfg.
func NewGroup(ctx context.Context, cfg *config.Config, opts Options) (*Group, error) {
	g := &Group{cfg: cfg, log: opts.Logger}
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

// Once runs one pass of every desk.
func (g *Group) Once(ctx context.Context) (Summary, error) {
	var total Summary
	for _, a := range g.Apps {
		s, err := a.Once(ctx)
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
// ends.
func (g *Group) Run(ctx context.Context) error {
	waitHTTP, err := g.serveHTTP(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(g.Apps))
	for i, a := range g.Apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil {
				errs[i] = fmt.Errorf("desk %s: %w", a.cfg.Name, err)
			}
		}()
	}
	wg.Wait()
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
