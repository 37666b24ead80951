// Package app assembles the desk from its parts (store, templates, desk,
// intake, sender) for the madoguchi command, the demo and the flow tests,
// so all three run exactly the same code.
package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/forwarding"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/telemetry"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/facility"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/mailflow/outbound"
	"github.com/madoguchi/madoguchi/scheduler"
	"github.com/madoguchi/madoguchi/templates"
)

// Options adjust an App for the demo and tests.
type Options struct {
	Logger *slog.Logger
	// Events receives the desk's steps and every notice sent.
	Events func(desk.Event)
	Now    func() time.Time
	Hash   secret.Params
	// Hasher, when set, does the hashing of the desk (NewGroup shares one
	// between its desks, so the memory of their hashes is kept once).
	Hasher *secret.Hasher
	// Telemetry, when set, gets the desk's metrics (NewGroup shares one
	// between its desks); New makes one of its own otherwise.
	Telemetry *telemetry.Telemetry
	// Instance names this process among the instances sharing the
	// database (its leases, heartbeat and claimed notices). The daemon
	// passes cluster.instance (config.Cluster.InstanceName); the default
	// is unique to the process (see defaultInstance).
	Instance string
	// Process tells this process's heartbeats from another's under the
	// same Instance name (NewGroup gives its desks one; New makes one
	// when it is empty).
	Process string
}

// App is one running desk.
type App struct {
	cfg    *config.Config
	Store  *store.Store
	Desk   *desk.Desk
	intake *intake.Intake
	sender *outbound.Sender
	log    *slog.Logger
	now    func() time.Time
	// Scheduler runs the desk's jobs (run by Run, or by hand).
	Scheduler *scheduler.Scheduler
	tel       *telemetry.Desk
	// claimant is how the sender claims due notices; fence stops it while
	// this instance's heartbeat may have lapsed (set by a lease manager).
	claimant store.Claimant
	process  string // this process's token in its heartbeats (Options.Process)
	fence    *senderFence
}

// New opens the database and builds the desk. Close releases it.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if opts.Hasher == nil {
		opts.Hasher = newHasher(opts.Hash)
	}
	tmpl, err := templates.Load(cfg.Templates.Dir, cfg.Desk.Location)
	if err == nil {
		err = desk.CheckTemplates(tmpl, cfg) // a broken override stops the start, not each notice
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	var facilities *facility.List
	if cfg.Service == "facility" {
		if facilities, err = facility.LoadList(cfg.Facility.FacilityList); err != nil {
			st.Close()
			return nil, fmt.Errorf("facility.facility_list: %w", err)
		}
	}
	if opts.Instance == "" {
		opts.Instance = defaultInstance()
	}
	if opts.Process == "" {
		opts.Process = newProcessToken()
	}
	a := &App{cfg: cfg, Store: st, log: log, now: now, claimant: claimantOf(opts.Instance, cfg.Cluster.Lease), process: opts.Process,
		fence: newSenderFence()}
	if opts.Telemetry == nil {
		opts.Telemetry = newTelemetry(cfg)
	}
	a.tel = opts.Telemetry.Desk(cfg.Name, st, now, stallAfter(cfg))
	a.sender = outbound.New(outbound.Options{
		Address: cfg.SMTP.Address, TLS: cfg.SMTP.TLS, Username: cfg.SMTP.Username, Password: cfg.SMTP.Password,
		HeloName: cfg.SMTP.Helo, Timeout: cfg.SMTP.Timeout, Backoff: cfg.SMTP.Backoff, Logger: log.With("part", "sender"),
		Now: now, TLSConfig: &tls.Config{InsecureSkipVerify: cfg.SMTP.InsecureSkipTLS}, //nolint:gosec // an explicit admin choice
		Replied: a.tel.SMTPReply, MaySend: a.fence.open,
	}, reportingQueue{Store: st, events: opts.Events, now: now, tel: a.tel, claimant: a.claimant, fence: a.fence})
	a.Desk = desk.New(desk.Options{
		Config: cfg, Store: st, Templates: tmpl, Now: now, Logger: log.With("part", "desk"),
		Events: opts.Events, Hash: opts.Hash, Hasher: opts.Hasher, Enqueued: a.sender.Kick, Facilities: facilities,
		Counted: a.counted,
		ForwardingChanged: func() {
			if err := a.ExportForwarding(context.Background()); err != nil {
				log.Error("forwarding export failed; the nightly job retries", "err", err)
			}
		},
	})
	a.Scheduler, err = scheduler.New(scheduler.Options{Location: cfg.Desk.Location, Logger: log.With("part", "scheduler"), Now: now, Log: st, Observe: a.tel.JobRan},
		scheduler.DeskJobs(scheduler.Deps{Store: st, Desk: a.Desk, Config: cfg, ExportForwarding: a.ExportForwarding, Logger: log})...)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.countJobs()
	a.intake = intake.New(intake.Options{
		Address: cfg.IMAP.Address, TLS: cfg.IMAP.TLS, Username: cfg.IMAP.Username, Password: cfg.IMAP.Password,
		Mailbox: cfg.IMAP.Mailbox, Processed: cfg.IMAP.Processed, Quarantine: cfg.IMAP.Quarantine,
		MaxMessageBytes: cfg.IMAP.MaxMessageBytes, PollInterval: cfg.IMAP.PollInterval, IdleRefresh: cfg.IMAP.IdleRefresh,
		Logger: log.With("part", "intake"), TLSConfig: &tls.Config{InsecureSkipVerify: cfg.IMAP.InsecureSkipTLS}, //nolint:gosec // an explicit admin choice
		Observe: a.tel.IMAP,
	}, observedDesk{a.Desk, a.tel})
	return a, nil
}

// ExportForwarding writes the forwarding map of renamed IDs for the mail
// server (forwarding.postfix_map, forwarding.csv), when configured.
func (a *App) ExportForwarding(ctx context.Context) error {
	if a.cfg.Forwarding.PostfixMap == "" && a.cfg.Forwarding.CSV == "" {
		return nil
	}
	n, err := forwarding.Export(ctx, a.Store, a.now(), a.cfg.Desk.Location, a.cfg.Desk.Domain, a.cfg.Forwarding.PostfixMap, a.cfg.Forwarding.CSV)
	if err == nil {
		a.log.Info("forwarding map written", "forwardings", n, "postfix", a.cfg.Forwarding.PostfixMap, "csv", a.cfg.Forwarding.CSV)
	}
	return err
}

// Name is the desk's name (config name).
func (a *App) Name() string { return a.cfg.Name }

// Close closes the database.
func (a *App) Close() error {
	return a.Store.Close()
}

// newHasher returns a Hasher at cost p, or at the default cost.
func newHasher(p secret.Params) *secret.Hasher {
	if p == (secret.Params{}) {
		p = secret.DefaultParams()
	}
	return secret.NewHasher(p)
}

// Summary is what one pass did.
type Summary struct {
	Processed int
	Sent      int
	Retrying  int
	Failed    int
}

// Once processes every message in the mailbox and delivers every notice
// that is due, then returns: for cron-driven installs and tests.
func (a *App) Once(ctx context.Context) (Summary, error) {
	var s Summary
	n, err := a.intake.Drain(ctx)
	s.Processed = n
	if err != nil {
		return s, fmt.Errorf("mailbox: %w", err)
	}
	sent, retried, failed, err := a.sender.DeliverDue(ctx)
	s.Sent, s.Retrying, s.Failed = sent, retried, failed
	if err != nil {
		return s, fmt.Errorf("outbox: %w", err)
	}
	return s, nil
}

// DeliverOutbox sends the notices that are due, without reading mail.
func (a *App) DeliverOutbox(ctx context.Context) (Summary, error) {
	var s Summary
	var err error
	s.Sent, s.Retrying, s.Failed, err = a.sender.DeliverDue(ctx)
	return s, err
}

// Run runs intake, sender and scheduler until ctx ends, then lets the
// work in hand finish within the configured grace period. It takes no
// lease: it is one desk alone (benchmarks, tests); the daemon runs a
// Group, whose lease manager decides where each desk's intake runs.
func (a *App) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for name, run := range map[string]func(context.Context) error{"intake": a.intake.Run, "sender": a.sender.Run, "scheduler": a.Scheduler.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	<-ctx.Done()
	a.log.Info("shutting down: finishing the work in hand", "grace", a.cfg.ShutdownGrace)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.cfg.ShutdownGrace):
		return fmt.Errorf("shutdown: work still running after %s", a.cfg.ShutdownGrace)
	}
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

// reportingQueue passes the outbox through and reports each sent notice.
type reportingQueue struct {
	*store.Store
	events   func(desk.Event)
	now      func() time.Time
	tel      *telemetry.Desk
	claimant store.Claimant
	fence    *senderFence
}

func (q reportingQueue) MarkSent(ctx context.Context, id int64, at time.Time) error {
	q.tel.Delivered("sent")
	if err := q.Store.MarkSent(ctx, id, at); err != nil {
		return err
	}
	if q.events != nil {
		q.events(desk.Event{At: q.now(), Kind: "sent", Text: fmt.Sprintf("outbox row %d delivered over SMTP", id)})
	}
	return nil
}
