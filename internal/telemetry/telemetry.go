// Package telemetry counts what the desks do, for Prometheus, and judges
// their health, for /healthz and the systemd watchdog. The hooks the desks
// call per message are plain counter increments and atomic stores; what
// needs the database (the outbox gauges) is read when scraped.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/madoguchi/madoguchi/internal/store"
)

// Health holds the limits of a healthy desk.
type Health struct {
	// IMAPDownAfter: the mailbox has not answered for longer than this.
	IMAPDownAfter time.Duration
	// NoticeAge: a notice has been due, unsent, for longer than this.
	NoticeAge time.Duration
}

// Outbox is the part of a desk's database the scrape reads (*store.Store).
type Outbox interface {
	OutboxFigures(ctx context.Context, now time.Time) (store.OutboxFigures, error)
}

// Label values known in advance: their series exist from the start, at 0,
// so rates and alerts see the first increment.
var (
	messageOutcomes = []string{"answered", "ignored", "quarantined", "duplicate"}
	refusalLimits   = []string{"requests", "hashes"}
	replyClasses    = []string{"2xx", "4xx", "5xx", "none"}
	deliveryResults = []string{"sent", "retry", "failed"}
)

// Telemetry is the registry of one process and its desks.
type Telemetry struct {
	registry *prometheus.Registry
	health   Health

	messages, refusals, replies, reconnects, deliveries *prometheus.CounterVec
	jobRuns, jobFailures                                *prometheus.CounterVec
	jobLastSuccess                                      *prometheus.GaugeVec

	mu    sync.Mutex
	desks []*Desk
}

// New makes the registry: madoguchi's metrics, and the Go runtime's and
// the process's own.
func New(health Health) *Telemetry {
	t := &Telemetry{
		registry: prometheus.NewRegistry(),
		health:   health,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_messages_total",
			Help: "Messages handled, by outcome (answered, ignored, quarantined, duplicate)."}, []string{"desk", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_refusals_total",
			Help: "Messages answered 'too many requests', by the limit reached (requests: a rate limit; hashes: the hourly password-hashing budget)."},
			[]string{"desk", "limit"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_smtp_replies_total",
			Help: "SMTP replies the sender acted on, by class (none: the connection failed or timed out)."}, []string{"desk", "class"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_imap_reconnects_total",
			Help: "Times the IMAP connection was lost or could not be made, each followed by a reconnect."}, []string{"desk"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_notice_deliveries_total",
			Help: "Delivery attempts of notices, by result (sent, retry, failed)."}, []string{"desk", "result"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_job_runs_total",
			Help: "Runs of scheduled jobs."}, []string{"desk", "job"}),
		jobFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "madoguchi_job_failures_total",
			Help: "Runs of scheduled jobs that failed."}, []string{"desk", "job"}),
		jobLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "madoguchi_job_last_success_timestamp_seconds",
			Help: "When each job last ran without error (Unix time)."}, []string{"desk", "job"}),
	}
	t.registry.MustRegister(t.messages, t.refusals, t.replies, t.reconnects, t.deliveries,
		t.jobRuns, t.jobFailures, t.jobLastSuccess, scrapeCollector{t},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return t
}

// Registry is the registry /metrics serves.
func (t *Telemetry) Registry() *prometheus.Registry { return t.registry }

// Desk is one desk's share of the metrics, with the hooks its parts call.
type Desk struct {
	name       string
	outbox     Outbox
	now        func() time.Time
	stallAfter time.Duration

	// Unix nanoseconds of the latest sign of each part.
	lastIMAP, lastIntake, lastSender atomic.Int64
	// lease is who reads the desk's mailbox; nil until a lease manager
	// reports (a desk run alone reads it itself).
	lease atomic.Pointer[Lease]

	// Resolved once: a hook only increments.
	messages   map[string]prometheus.Counter
	refusals   map[string]prometheus.Counter
	replies    map[string]prometheus.Counter
	deliveries map[string]prometheus.Counter
	reconnects prometheus.Counter
	t          *Telemetry
}

// Desk adds a desk. now is the desk's clock; stallAfter is the longest a
// working intake or sender goes without a sign of life (see Stalled).
func (t *Telemetry) Desk(name string, outbox Outbox, now func() time.Time, stallAfter time.Duration) *Desk {
	if now == nil {
		now = time.Now
	}
	d := &Desk{name: name, outbox: outbox, now: now, stallAfter: stallAfter, t: t,
		messages: resolve(t.messages, name, messageOutcomes), refusals: resolve(t.refusals, name, refusalLimits),
		replies: resolve(t.replies, name, replyClasses), deliveries: resolve(t.deliveries, name, deliveryResults),
		reconnects: t.reconnects.WithLabelValues(name),
	}
	// Counting from the start: a desk that never reaches its mailbox is
	// down from the moment it started.
	start := now().UnixNano()
	d.lastIMAP.Store(start)
	d.lastIntake.Store(start)
	d.lastSender.Store(start)
	t.mu.Lock()
	t.desks = append(t.desks, d)
	t.mu.Unlock()
	return d
}

func resolve(v *prometheus.CounterVec, desk string, values []string) map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(values))
	for _, value := range values {
		m[value] = v.WithLabelValues(desk, value)
	}
	return m
}

// count increments a resolved counter, or resolves an unforeseen value
// (slower, but still correct).
func count(m map[string]prometheus.Counter, v *prometheus.CounterVec, desk, value string) {
	if c, ok := m[value]; ok {
		c.Inc()
		return
	}
	v.WithLabelValues(desk, value).Inc()
}

func (d *Desk) stamp(v *atomic.Int64) { v.Store(d.now().UnixNano()) }

// Lease is the desk's lease as this instance last saw it.
type Lease struct {
	// Holder is the instance that holds it ("" when none does).
	Holder string
	// Until is when it expires unless renewed (the database's clock).
	Until time.Time
	// Mine: this instance holds it, so its intake and jobs run here.
	Mine bool
}

// SetLease reports the desk's lease. Intake is judged (health, stalls)
// only while this instance holds it, and from the moment it took it.
func (d *Desk) SetLease(l Lease) {
	prev := d.lease.Swap(&l)
	if l.Mine && (prev == nil || !prev.Mine) {
		now := d.now().UnixNano()
		d.lastIMAP.Store(now)
		d.lastIntake.Store(now)
	}
}

// readsMailbox reports whether intake runs here: it holds the lease, or
// no lease manager runs (a desk alone).
func (d *Desk) readsMailbox() bool {
	l := d.lease.Load()
	return l == nil || l.Mine
}

// Message counts a message the desk handled, after its transaction
// committed; refused names the limit that refused it, if any.
func (d *Desk) Message(outcome, refused string) {
	count(d.messages, d.t.messages, d.name, outcome)
	if refused != "" {
		count(d.refusals, d.t.refusals, d.name, refused)
	}
}

// IMAP hears from intake: connected after every pass that completed,
// not connected each time the connection was lost or could not be made.
func (d *Desk) IMAP(connected bool) {
	d.stamp(&d.lastIntake)
	if connected {
		d.stamp(&d.lastIMAP)
	} else {
		d.reconnects.Inc()
	}
}

// MessageFetched notes a message read from the mailbox: during a long
// pass through a backlog, the proof that the server answers.
func (d *Desk) MessageFetched() {
	now := d.now().UnixNano()
	d.lastIMAP.Store(now)
	d.lastIntake.Store(now)
}

// SMTPReply counts a reply of the submission server by class; code 0 is
// no reply at all.
func (d *Desk) SMTPReply(code int) {
	class := "none"
	switch code / 100 {
	case 2:
		class = "2xx"
	case 4:
		class = "4xx"
	case 5:
		class = "5xx"
	}
	d.replies[class].Inc()
}

// Delivered counts the result of a notice's delivery attempt.
func (d *Desk) Delivered(result string) {
	count(d.deliveries, d.t.deliveries, d.name, result)
	d.SenderActive()
}

// SenderActive notes that the sender's loop turned (it read the outbox).
func (d *Desk) SenderActive() { d.stamp(&d.lastSender) }

// JobRan counts a run of a scheduled job.
func (d *Desk) JobRan(job string, err error) {
	d.t.jobRuns.WithLabelValues(d.name, job).Inc()
	if err != nil {
		d.t.jobFailures.WithLabelValues(d.name, job).Inc()
		return
	}
	d.t.jobLastSuccess.WithLabelValues(d.name, job).Set(float64(d.now().Unix()))
}

// Jobs makes the series of a desk's jobs exist from the start.
func (d *Desk) Jobs(names ...string) {
	for _, job := range names {
		d.t.jobRuns.WithLabelValues(d.name, job)
		d.t.jobFailures.WithLabelValues(d.name, job)
	}
}

func (d *Desk) since(v *atomic.Int64) time.Duration {
	return max(0, d.now().Sub(time.Unix(0, v.Load())))
}

// Check reports what is wrong with the desks (nothing: healthy): a mailbox
// silent for longer than Health.IMAPDownAfter, a notice due and unsent for
// longer than Health.NoticeAge, an outbox that cannot be read.
func (t *Telemetry) Check(ctx context.Context) []string {
	var problems []string
	for _, d := range t.deskList() {
		if age := d.since(&d.lastIMAP); d.readsMailbox() && age > t.health.IMAPDownAfter {
			problems = append(problems, fmt.Sprintf("desk %s: no answer from IMAP for %s", d.name, age.Round(time.Second)))
		}
		if d.outbox == nil {
			continue
		}
		now := d.now()
		f, err := d.outbox.OutboxFigures(ctx, now)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("desk %s: %v", d.name, err))
		case !f.OldestDue.IsZero() && now.Sub(f.OldestDue) > t.health.NoticeAge:
			problems = append(problems, fmt.Sprintf("desk %s: a notice has been due for %s (%d pending)",
				d.name, now.Sub(f.OldestDue).Round(time.Second), f.Pending))
		}
	}
	return problems
}

// Stalled names the desks' loops that showed no sign of life for longer
// than they ever stay quiet: the process is wedged, and a restart is the
// cure. A mailbox or relay that is down is not a stall (the loops keep
// retrying), so the systemd watchdog does not restart the daemon for what
// a restart cannot mend.
func (t *Telemetry) Stalled() []string {
	var stalled []string
	for _, d := range t.deskList() {
		if age := d.since(&d.lastIntake); d.readsMailbox() && age > d.stallAfter {
			stalled = append(stalled, fmt.Sprintf("desk %s: intake silent for %s", d.name, age.Round(time.Second)))
		}
		if age := d.since(&d.lastSender); age > d.stallAfter {
			stalled = append(stalled, fmt.Sprintf("desk %s: sender silent for %s", d.name, age.Round(time.Second)))
		}
	}
	return stalled
}

// Leases describes, one line per desk, which instance holds it, for
// /healthz; none when no lease manager reports (a desk alone).
func (t *Telemetry) Leases() []string {
	var lines []string
	for _, d := range t.deskList() {
		l := d.lease.Load()
		switch {
		case l == nil:
		case l.Holder == "":
			lines = append(lines, fmt.Sprintf("desk %s: held by no instance", d.name))
		case l.Mine:
			lines = append(lines, fmt.Sprintf("desk %s: held by %s (this instance) until %s", d.name, l.Holder, l.Until.UTC().Format(time.RFC3339)))
		default:
			lines = append(lines, fmt.Sprintf("desk %s: held by %s until %s", d.name, l.Holder, l.Until.UTC().Format(time.RFC3339)))
		}
	}
	return lines
}

func (t *Telemetry) deskList() []*Desk {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*Desk(nil), t.desks...)
}

// scrapeCollector computes the gauges that are ages or need the database
// when Prometheus asks, and only then.
type scrapeCollector struct{ t *Telemetry }

var (
	noticesDesc = prometheus.NewDesc("madoguchi_notices",
		"Notices in the outbox by state (pending: waiting to be sent, retries included; failed: given up on).", []string{"desk", "state"}, nil)
	oldestDueDesc = prometheus.NewDesc("madoguchi_oldest_due_notice_age_seconds",
		"How long the oldest pending notice has been due (0: none is).", []string{"desk"}, nil)
	imapAgeDesc = prometheus.NewDesc("madoguchi_imap_last_event_age_seconds",
		"Time since the IMAP server last answered (a pass completed or a message was read).", []string{"desk"}, nil)
	leaseHeldDesc = prometheus.NewDesc("madoguchi_desk_lease_held",
		"1 when this instance holds the desk's lease (reads its mailbox, runs its jobs), else 0.", []string{"desk"}, nil)
)

// scrapeTimeout bounds the outbox queries of one scrape.
const scrapeTimeout = 5 * time.Second

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- noticesDesc
	ch <- oldestDueDesc
	ch <- imapAgeDesc
	ch <- leaseHeldDesc
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, d := range c.t.deskList() {
		ch <- prometheus.MustNewConstMetric(imapAgeDesc, prometheus.GaugeValue, d.since(&d.lastIMAP).Seconds(), d.name)
		held := 0.0
		if d.readsMailbox() {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(leaseHeldDesc, prometheus.GaugeValue, held, d.name)
		if d.outbox == nil {
			continue
		}
		now := d.now()
		f, err := d.outbox.OutboxFigures(ctx, now)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(noticesDesc, fmt.Errorf("desk %s: %w", d.name, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(noticesDesc, prometheus.GaugeValue, float64(f.Pending), d.name, store.OutboxPending)
		ch <- prometheus.MustNewConstMetric(noticesDesc, prometheus.GaugeValue, float64(f.Failed), d.name, store.OutboxFailed)
		age := 0.0
		if !f.OldestDue.IsZero() {
			age = max(0, now.Sub(f.OldestDue).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(oldestDueDesc, prometheus.GaugeValue, age, d.name)
	}
}

// ReplaceDurations is a slog ReplaceAttr that writes durations as text
// ("1m30s"): the JSON handler would write nanoseconds, which nobody
// reading a log can take in at a glance.
func ReplaceDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
