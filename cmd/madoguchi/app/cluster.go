package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/telemetry"
)

// Several instances (madoguchi run) share the desks of one PostgreSQL
// database. Per desk one instance at a time reads the mailbox and runs the
// jobs: the one holding the desk's lease in the database. Every instance
// sends due notices, claiming them (store.ClaimDue). With SQLite the one
// process holds every lease and the same code runs.
//
// Timing, with L = cluster.lease: the lease manager runs every L/4; a
// lease is taken for 2L/3 of the database's clock and renewed each round,
// so a holder that stops renewing loses it within 2L/3 and another
// instance's next round (L/4 later at most) takes the desk: within L of the
// holder's last renewal. An instance counts as live (for the fair share of
// desks) while its heartbeat is younger than 2L/3, so a dead holder's
// instance has lapsed by the time its lease has. Its claimed notices are
// taken once its heartbeat is older than L, and its sender stops taking
// notices once its own heartbeat is older than 2L/3 (senderFence).

// leaseTiming derives the manager's period and the lease's time to live
// from cluster.lease.
func leaseTiming(lease time.Duration) (period, ttl time.Duration) {
	if lease <= 0 { // a configuration not made by config.Parse
		lease = defaultLease
	}
	return lease / 4, lease * 2 / 3
}

// defaultLease is config's default of cluster.lease.
const defaultLease = 15 * time.Second

// senderFence keeps a desk's sender from taking or sending notices while
// this instance's heartbeat in the desk's database may have lapsed: an
// instance cut off from the database (or paused) must not send what the
// others are taking over.
type senderFence struct {
	origin time.Time    // monotonic reference of beat
	within atomic.Int64 // nanoseconds; 0: no fence (no heartbeat runs)
	beat   atomic.Int64 // since origin, at the start of the last heartbeat that succeeded
}

// newSenderFence is closed, once armed, until the first heartbeat: a
// process whose name turns out to be another's must not send meanwhile.
func newSenderFence() *senderFence {
	f := &senderFence{origin: time.Now()}
	f.beat.Store(math.MinInt64 / 2)
	return f
}

// open reports whether the sender may take and send notices.
func (f *senderFence) open() bool {
	within := f.within.Load()
	return within == 0 || time.Since(f.origin).Nanoseconds()-f.beat.Load() < within
}

// arm makes the fence close within d of the last heartbeat.
func (f *senderFence) arm(d time.Duration) { f.within.Store(d.Nanoseconds()) }

// heartbeat records this instance alive in the desk's database and, once
// the database has it, opens the fence up to 2L/3 from the start of the
// call.
func (a *App) heartbeat(ctx context.Context, started time.Time) error {
	at := time.Since(a.fence.origin)
	if err := a.Store.Heartbeat(ctx, a.claimant, a.process, started); err != nil {
		return err
	}
	a.fence.beat.Store(at.Nanoseconds())
	return nil
}

// deskRun is a desk's intake and scheduler while this instance holds the
// desk's lease.
type deskRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *deskRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// heldDesk is the lease manager's view of one desk.
type heldDesk struct {
	app *App
	// held: the lease is this instance's, as of its last renewal.
	held      bool
	renewedAt time.Time // local clock at the start of that renewal
	until     time.Time // the lease's expiry, database clock
	holder    string    // who holds it when another does ("" for nobody)
	// run is the desk's intake and scheduler, running or stopping; nil
	// when none. A desk is taken again only once its run has finished.
	run *deskRun
	// handOver: the run was stopped to give the desk to another instance;
	// the lease is released once it has finished.
	handOver bool
	// beaten: a heartbeat of this process has succeeded in the desk's
	// database (desks may have databases of their own).
	beaten bool
}

// leaseManager takes, renews, balances and gives back the desks' leases
// of a Group, and starts and stops each desk's intake and scheduler with
// its lease. Only its own goroutine touches its state.
type leaseManager struct {
	instance string
	started  time.Time
	period   time.Duration
	ttl      time.Duration
	grace    time.Duration
	log      *slog.Logger
	desks    []*heldDesk
	// abandon: stop as a killed process would, releasing nothing (tests
	// of takeover).
	abandon bool
	// nameWait is how long a process that has not yet beaten in a desk's
	// database waits there for the heartbeat of another process under its
	// name to lapse (the one it replaces after a crash) before it gives
	// up: twice the claim window. nameTaken: another live process bears
	// this instance's name; the manager stops, touching no lease (they
	// are the other process's as much as this one's).
	nameWait  time.Duration
	nameTaken error
	ended     chan struct{} // a desk run finished (buffered: a wake-up, not a count)

	mu   sync.Mutex
	errs []error // of desk runs
}

func (g *Group) newLeaseManager() *leaseManager {
	period, ttl := leaseTiming(g.cfg.Cluster.Lease)
	m := &leaseManager{instance: g.instance, started: time.Now(), period: period, ttl: ttl, abandon: g.abandon,
		nameWait: 2 * claimantOf(g.instance, g.cfg.Cluster.Lease).Window,
		grace:    g.cfg.ShutdownGrace, log: g.log.With("instance", g.instance), ended: make(chan struct{}, 1)}
	for _, a := range g.Apps {
		a.fence.arm(ttl)
		m.desks = append(m.desks, &heldDesk{app: a})
	}
	return m
}

// run manages the leases until ctx ends, then stops the desks' intake and
// scheduler (renewing their leases while they finish the work in hand)
// and releases the leases, so another instance takes over at once.
func (m *leaseManager) run(ctx context.Context) error {
	t := time.NewTicker(m.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return m.shutdown(context.WithoutCancel(ctx))
		case <-t.C:
			m.round(ctx, false)
		case <-m.ended:
			// A run that ended on its own is restarted next round; one
			// handed over frees its lease now.
			m.round(ctx, false)
		}
		if m.nameTaken != nil {
			return m.stopAsDuplicate()
		}
	}
}

// stopAsDuplicate stops the desks' runs when another live process bears
// this instance's name, releasing nothing: the leases and the instance's
// row are the other process's too.
func (m *leaseManager) stopAsDuplicate() error {
	m.log.Error("cluster: stopping: another running process has this instance's name", "err", m.nameTaken)
	m.stopRuns()
	return m.nameTaken
}

// stopRuns stops every desk's run and waits for it, releasing nothing.
func (m *leaseManager) stopRuns() {
	for _, d := range m.desks {
		if d.run != nil {
			d.run.cancel()
			<-d.run.done
			d.run = nil
		}
	}
}

func (m *leaseManager) shutdown(ctx context.Context) error {
	m.log.Info("shutting down: stopping intake and jobs, finishing the work in hand, then releasing the desks", "grace", m.grace)
	if m.abandon {
		m.stopRuns()
		return nil
	}
	for _, d := range m.desks {
		if d.run != nil {
			d.run.cancel()
		}
	}
	deadline := time.NewTimer(m.grace)
	defer deadline.Stop()
	t := time.NewTicker(m.period)
	defer t.Stop()
	for {
		m.round(ctx, true)
		running := 0
		for _, d := range m.desks {
			if d.run != nil {
				running++
			}
		}
		if running == 0 {
			break
		}
		select {
		case <-m.ended:
		case <-t.C:
		case <-deadline.C:
			m.fail(fmt.Errorf("shutdown: work still running after %s", m.grace))
			return m.err()
		}
	}
	return m.err()
}

// round is one turn of the manager: heartbeat, renew what is held, and,
// unless stopping, take or hand over desks towards a fair share.
func (m *leaseManager) round(ctx context.Context, stopping bool) {
	live := map[string]bool{}
	nameInUse := false
	for _, d := range m.desks {
		if err := d.app.heartbeat(ctx, m.started); err != nil {
			var inUse *store.NameInUseError
			if !errors.As(err, &inUse) {
				m.log.Warn("cluster: heartbeat failed", "desk", d.app.Name(), "err", err)
				continue
			}
			nameInUse = true
			if d.beaten || time.Since(m.started) >= m.nameWait {
				m.nameTaken = fmt.Errorf("desk %s: %w", d.app.Name(), inUse)
				return
			}
			m.log.Info("cluster: waiting for the heartbeat of the previous process of this name to lapse; "+
				"if it does not, another running process has this instance's name", "desk", d.app.Name(), "err", err)
			continue
		}
		d.beaten = true
		if err := d.app.evictDeadHere(ctx, m.instance); err != nil {
			m.log.Warn("cluster: looking for dead instances of this host failed", "desk", d.app.Name(), "err", err)
		}
		instances, err := d.app.Store.Instances(ctx, m.ttl)
		if err != nil {
			m.log.Warn("cluster: reading the instances failed", "desk", d.app.Name(), "err", err)
			continue
		}
		for _, in := range instances {
			if in.Live {
				live[in.Name] = true
			}
		}
	}
	if nameInUse {
		return // the leases under this name may be another process's
	}
	for _, d := range m.desks {
		m.reap(ctx, d, stopping)
		if d.held {
			m.renew(ctx, d)
		}
	}
	if !stopping {
		m.balance(ctx, max(1, len(live)))
	}
	for _, d := range m.desks {
		m.report(d)
	}
}

// reap notes a finished run and releases the lease of a desk handed over,
// or of every desk when stopping. A held desk whose run ended on its own
// is restarted by balance.
func (m *leaseManager) reap(ctx context.Context, d *heldDesk, stopping bool) {
	if d.run != nil {
		if !d.run.finished() {
			return
		}
		d.run = nil
	}
	if d.held && (d.handOver || stopping) {
		if err := d.app.Store.ReleaseLease(ctx, d.app.Name(), m.instance); err != nil {
			m.log.Warn("cluster: releasing the lease failed; it expires on its own", "desk", d.app.Name(), "err", err)
		} else {
			m.log.Info("cluster: desk released", "desk", d.app.Name())
		}
		d.held, d.holder = false, ""
	}
	d.handOver = false
}

// renew extends a held lease. When the lease is lost, or renewing has
// failed so long that the next round could come after it expires, the
// desk's intake and scheduler stop: another instance may take the desk.
func (m *leaseManager) renew(ctx context.Context, d *heldDesk) {
	start := time.Now()
	l, ok, err := d.app.Store.AcquireLease(ctx, d.app.Name(), m.instance, m.ttl)
	switch {
	case err == nil && ok:
		d.renewedAt, d.until = start, l.ExpiresAt
		return
	case err == nil:
		m.log.Error("cluster: lease lost to another instance; stopping the desk's intake and jobs", "desk", d.app.Name(), "holder", l.Holder)
		d.holder, d.until = l.Holder, l.ExpiresAt
	case time.Since(d.renewedAt)+m.period+m.period/2 < m.ttl:
		m.log.Warn("cluster: renewing the lease failed; trying again next round", "desk", d.app.Name(), "err", err)
		return
	default:
		m.log.Error("cluster: renewing the lease failed; stopping the desk's intake and jobs before it expires", "desk", d.app.Name(), "err", err)
		d.holder = ""
	}
	d.held = false
	if d.run != nil {
		d.run.cancel()
	}
}

// balance hands over a desk when this instance holds more than its fair
// share of the live instances, and takes free or expired desks while it
// holds fewer.
func (m *leaseManager) balance(ctx context.Context, live int) {
	share := (len(m.desks) + live - 1) / live
	held := 0
	for _, d := range m.desks {
		if d.held && !d.handOver {
			held++
		}
	}
	// One desk a round, the last in the configuration: the others see
	// this instance's share shrink in their next rounds too.
	for i := len(m.desks) - 1; i >= 0 && held > share; i-- {
		if d := m.desks[i]; d.held && !d.handOver && d.run != nil {
			m.log.Info("cluster: handing the desk over to even out the instances", "desk", d.app.Name(), "held", held, "share", share)
			d.handOver = true
			d.run.cancel()
			break
		}
	}
	for _, d := range m.desks {
		switch {
		case d.held && d.run == nil && !d.handOver:
			m.start(ctx, d) // held, but its run ended on its own
		case !d.held && d.run == nil && held < share:
			start := time.Now()
			l, ok, err := d.app.Store.AcquireLease(ctx, d.app.Name(), m.instance, m.ttl)
			if err != nil {
				m.log.Warn("cluster: taking the lease failed", "desk", d.app.Name(), "err", err)
				continue
			}
			d.holder, d.until = l.Holder, l.ExpiresAt
			if !ok {
				continue
			}
			m.log.Info("cluster: desk taken; reading its mailbox and running its jobs here", "desk", d.app.Name(), "until", l.ExpiresAt)
			d.held, d.renewedAt = true, start
			held++
			m.start(ctx, d)
		case !d.held && d.run == nil:
			m.peek(ctx, d)
		}
	}
}

// peek reads who holds a desk this instance does not take, for /healthz.
func (m *leaseManager) peek(ctx context.Context, d *heldDesk) {
	leases, err := d.app.Store.Leases(ctx)
	if err != nil {
		return
	}
	d.holder = ""
	for _, l := range leases {
		if l.Desk == d.app.Name() && !l.Expired {
			d.holder, d.until = l.Holder, l.ExpiresAt
		}
	}
}

// start runs the desk's intake and scheduler until the manager stops
// them (or the group's context ends).
func (m *leaseManager) start(ctx context.Context, d *heldDesk) {
	runCtx, cancel := context.WithCancel(ctx)
	r := &deskRun{cancel: cancel, done: make(chan struct{})}
	d.run = r
	go func() {
		defer func() {
			close(r.done)
			select {
			case m.ended <- struct{}{}:
			default: // a wake-up is pending already; the round reaps every finished run
			}
		}()
		if err := d.app.runDesk(runCtx); err != nil {
			m.log.Error("desk stopped", "desk", d.app.Name(), "err", err)
			m.fail(fmt.Errorf("desk %s: %w", d.app.Name(), err))
		}
	}()
}

// report tells the desk's telemetry who holds it.
func (m *leaseManager) report(d *heldDesk) {
	l := telemetry.Lease{Holder: d.holder, Until: d.until}
	if d.held {
		l = telemetry.Lease{Holder: m.instance, Until: d.until, Mine: true}
	}
	d.app.tel.SetLease(l)
}

func (m *leaseManager) fail(err error) {
	m.mu.Lock()
	m.errs = append(m.errs, err)
	m.mu.Unlock()
}

func (m *leaseManager) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// leave removes this instance from every desk's database at a clean stop:
// the notices it claimed but did not send go to the others at once.
func (g *Group) leave(ctx context.Context) error {
	var errs []error
	for _, a := range g.Apps {
		if err := a.Store.LeaveCluster(ctx, g.instance); err != nil {
			errs = append(errs, fmt.Errorf("desk %s: %w", a.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// runDesk runs the desk's intake and scheduler until ctx ends.
func (a *App) runDesk(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, run := range []func(context.Context) error{a.intake.Run, a.Scheduler.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", [...]string{"intake", "scheduler"}[i], err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// onceLease holds a desk's lease for a one-off pass (madoguchi once),
// renewing it and this instance's heartbeat until released, so a pass
// longer than the lease keeps it. ok is false when another instance
// holds the desk: then the pass leaves its mailbox alone.
func (g *Group) onceLease(ctx context.Context, a *App) (release func(), holder string, ok bool, err error) {
	period, ttl := leaseTiming(g.cfg.Cluster.Lease)
	started := time.Now()
	if err := a.heartbeat(ctx, started); err != nil {
		return nil, "", false, err
	}
	if err := a.evictDeadHere(ctx, g.instance); err != nil {
		return nil, "", false, err
	}
	l, ok, err := a.Store.AcquireLease(ctx, a.Name(), g.instance, ttl)
	if err != nil || !ok {
		return nil, l.Holder, false, err
	}
	renewCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				err := a.heartbeat(renewCtx, started)
				if err == nil {
					_, _, err = a.Store.AcquireLease(renewCtx, a.Name(), g.instance, ttl)
				}
				if err != nil && renewCtx.Err() == nil {
					g.log.Warn("cluster: renewing the lease during the pass failed", "desk", a.Name(), "err", err)
				}
			}
		}
	}()
	return func() {
		stop()
		wg.Wait()
		if err := a.Store.ReleaseLease(context.WithoutCancel(ctx), a.Name(), g.instance); err != nil {
			g.log.Warn("cluster: releasing the lease failed; it expires on its own", "desk", a.Name(), "err", err)
		}
	}, g.instance, true, nil
}

// newProcessToken is a random token that tells this process's heartbeats
// from those of another process given the same instance name.
func newProcessToken() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// defaultInstance names a process that was not given a name: the host
// name and process ID, even when cluster.instance is set. A configured
// name is the daemon's (runDaemon passes it): a command run beside it
// (once, jobs run) must not share it, or it would take the daemon's
// leases and claimed notices for its own.
func defaultInstance() string { return config.Cluster{}.InstanceName() }

// evictDeadHere removes from the desk's database the instances named
// "host:pid" after this host whose process is gone (killed, crashed):
// their leases and claimed notices are free at once instead of when they
// lapse, so a daemon restarted after a crash carries on at once, as a
// lone SQLite daemon always did. Instances elsewhere are left to lapse.
func (a *App) evictDeadHere(ctx context.Context, self string) error {
	instances, err := a.Store.Instances(ctx, 0)
	if err != nil {
		return err
	}
	leases, err := a.Store.Leases(ctx)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, in := range instances {
		names[in.Name] = true
	}
	for _, l := range leases {
		names[l.Holder] = true
	}
	host, _ := os.Hostname()
	for name := range names {
		if name == self || !deadHere(name, host) {
			continue
		}
		if err := a.Store.LeaveCluster(ctx, name); err != nil {
			return err
		}
		a.log.Info("cluster: removed an instance of this host whose process is gone; its desks and notices are free", "dead", name)
	}
	return nil
}

// deadHere reports whether name is "host:pid" of this host and no
// process has that ID. A reused ID reads as alive: the instance then
// lapses as any other does.
func deadHere(name, host string) bool {
	h, p, ok := strings.Cut(name, ":")
	pid, err := strconv.Atoi(p)
	return ok && err == nil && host != "" && h == host && pid > 0 && pid != os.Getpid() && !processAlive(pid)
}

// claimantOf is how the desk's sender claims notices: its claims hold
// while its heartbeat is younger than the lease.
func claimantOf(instance string, lease time.Duration) store.Claimant {
	if lease <= 0 {
		lease = defaultLease
	}
	return store.Claimant{Instance: instance, Window: lease}
}
