package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/telemetry"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/intake"
)

// newTelemetry makes the registry of a process from its configuration.
func newTelemetry(cfg *config.Config) *telemetry.Telemetry {
	return telemetry.New(telemetry.Health{IMAPDownAfter: cfg.HTTP.Health.IMAPDownAfter, NoticeAge: cfg.HTTP.Health.NoticeAge})
}

// stallAfter is the longest a working desk's intake or sender stays
// silent, with a margin: intake is heard from after every pass, and waits
// at most a poll interval between passes (or a minute's backoff and a
// connection attempt while the server is away); the sender reads the
// outbox at least every minute.
func stallAfter(cfg *config.Config) time.Duration {
	return 5*time.Minute + 2*cfg.IMAP.PollInterval
}

// counted passes the desk's tally of a message to the metrics.
func (a *App) counted(t desk.Tally) { a.tel.Message(t.Outcome, t.Refused) }

// countJobs makes the series of the desk's jobs exist before they first
// run, so that an alert on failures sees the first one.
func (a *App) countJobs() {
	for _, j := range a.Scheduler.Jobs() {
		a.tel.Jobs(j.Name)
	}
}

// observedDesk is the desk as intake sees it: each message handed over
// proves that the mailbox answers, which keeps a long pass through a
// backlog from looking like an outage. The embedded Desk keeps its
// optional interfaces (lanes, preparation).
type observedDesk struct {
	*desk.Desk
	tel *telemetry.Desk
}

func (o observedDesk) Process(ctx context.Context, d intake.Delivery) (intake.Disposition, error) {
	o.tel.MessageFetched()
	return o.Desk.Process(ctx, d)
}

// The sender's reads of the outbox are its signs of life (see
// telemetry.Stalled), and each mark counts a delivery's result.

// Due claims the due notices for this instance, none while its fence is
// closed.
func (q reportingQueue) Due(ctx context.Context, now time.Time, limit int) ([]store.Notice, error) {
	q.tel.SenderActive()
	if !q.fence.open() {
		return nil, nil
	}
	return q.Store.ClaimDue(ctx, q.claimant, now, limit)
}

func (q reportingQueue) NextDue(ctx context.Context) (time.Time, bool, error) {
	q.tel.SenderActive()
	return q.Store.NextDue(ctx)
}

func (q reportingQueue) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	q.tel.Delivered("retry")
	return q.Store.MarkRetry(ctx, id, next, reason)
}

func (q reportingQueue) MarkFailed(ctx context.Context, id int64, reason string) error {
	q.tel.Delivered("failed")
	return q.Store.MarkFailed(ctx, id, reason)
}

// Listen opens the HTTP listener of http.address (metrics and health)
// and returns its address, or nil when none is configured. Run serves it;
// calling Listen first lets a bad address fail before the daemon reports
// itself ready.
func (g *Group) Listen() (net.Addr, error) {
	if g.ln == nil && g.cfg != nil && g.cfg.HTTP.Address != "" {
		ln, err := net.Listen("tcp", g.cfg.HTTP.Address)
		if err != nil {
			return nil, fmt.Errorf("http.address: %w", err)
		}
		g.ln = ln
	}
	if g.ln == nil {
		return nil, nil
	}
	return g.ln.Addr(), nil
}

// serveHTTP serves the listener until ctx ends; wait returns once it has
// stopped. Without a configured address it does nothing.
func (g *Group) serveHTTP(ctx context.Context) (wait func() error, err error) {
	if _, err := g.Listen(); err != nil || g.ln == nil {
		return func() error { return nil }, err
	}
	done := make(chan error, 1)
	go func() {
		err := g.Telemetry.Serve(ctx, g.ln, g.log)
		if err != nil && ctx.Err() == nil {
			// The desks go on without their metrics.
			g.log.Error("metrics and health listener stopped", "err", err)
		}
		done <- err
	}()
	g.log.Info("metrics and health listening", "address", "http://"+g.ln.Addr().String(), "paths", "/metrics /healthz")
	return func() error { return <-done }, nil
}
