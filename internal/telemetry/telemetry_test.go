package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/madoguchi/madoguchi/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fakeOutbox struct {
	f   store.OutboxFigures
	err error
}

func (o *fakeOutbox) OutboxFigures(context.Context, time.Time) (store.OutboxFigures, error) {
	return o.f, o.err
}

// The health check fails on a silent mailbox and on a notice due too
// long, and names the desk; the watchdog's stall check looks at the loops
// only.
func TestCheckAndStalled(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	tel := New(Health{IMAPDownAfter: 5 * time.Minute, NoticeAge: 15 * time.Minute})
	outbox := &fakeOutbox{}
	d := tel.Desk("id", outbox, clk.now, 10*time.Minute)
	ctx := context.Background()
	if p := tel.Check(ctx); len(p) != 0 {
		t.Fatalf("fresh desk: %v", p)
	}

	clk.add(6 * time.Minute)
	if p := tel.Check(ctx); len(p) != 1 || !strings.Contains(p[0], "desk id: no answer from IMAP for 6m0s") {
		t.Fatalf("silent mailbox: %v", p)
	}
	d.IMAP(false) // a reconnect is no answer
	if p := tel.Check(ctx); len(p) != 1 {
		t.Fatalf("after a failed reconnect: %v", p)
	}
	d.IMAP(true)
	outbox.f = store.OutboxFigures{Pending: 3, OldestDue: clk.now().Add(-16 * time.Minute)}
	if p := tel.Check(ctx); len(p) != 1 || !strings.Contains(p[0], "a notice has been due for 16m0s (3 pending)") {
		t.Fatalf("old notice: %v", p)
	}
	outbox.f, outbox.err = store.OutboxFigures{}, errors.New("database is locked")
	if p := tel.Check(ctx); len(p) != 1 || !strings.Contains(p[0], "database is locked") {
		t.Fatalf("unreadable outbox: %v", p)
	}

	if s := tel.Stalled(); len(s) != 0 {
		t.Fatalf("stalled too early: %v", s)
	}
	clk.add(9 * time.Minute) // intake heard 9m ago, the sender 15m ago
	if s := tel.Stalled(); len(s) != 1 || !strings.Contains(s[0], "sender silent") {
		t.Fatalf("stalled sender: %v", s)
	}
	d.SenderActive()
	if s := tel.Stalled(); len(s) != 0 {
		t.Fatalf("after the sender's sign of life: %v", s)
	}
}

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// The hooks count where they should, each series labelled by desk.
func TestCounters(t *testing.T) {
	tel := New(Health{IMAPDownAfter: time.Minute, NoticeAge: time.Minute})
	d := tel.Desk("facility", nil, nil, time.Hour)
	d.Message("answered", "")
	d.Message("answered", "hashes")
	d.Message("quarantined", "")
	for _, code := range []int{250, 250, 451, 550, 0} {
		d.SMTPReply(code)
	}
	d.IMAP(false)
	d.JobRan("expire-codes", nil)
	d.JobRan("expire-codes", errors.New("disk full"))
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{value(t, tel.messages.WithLabelValues("facility", "answered")), 2, "answered"},
		{value(t, tel.messages.WithLabelValues("facility", "ignored")), 0, "ignored"},
		{value(t, tel.refusals.WithLabelValues("facility", "hashes")), 1, "hash refusals"},
		{value(t, tel.replies.WithLabelValues("facility", "2xx")), 2, "2xx"},
		{value(t, tel.replies.WithLabelValues("facility", "4xx")), 1, "4xx"},
		{value(t, tel.replies.WithLabelValues("facility", "5xx")), 1, "5xx"},
		{value(t, tel.replies.WithLabelValues("facility", "none")), 1, "no reply"},
		{value(t, tel.reconnects.WithLabelValues("facility")), 1, "reconnects"},
		{value(t, tel.jobRuns.WithLabelValues("facility", "expire-codes")), 2, "job runs"},
		{value(t, tel.jobFailures.WithLabelValues("facility", "expire-codes")), 1, "job failures"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

// The hot-path hooks allocate nothing: a message costs a few atomic adds.
func TestHooksDoNotAllocate(t *testing.T) {
	d := New(Health{}).Desk("id", nil, nil, time.Hour)
	allocs := testing.AllocsPerRun(100, func() {
		d.MessageFetched()
		d.Message("answered", "requests")
		d.SMTPReply(250)
		d.Delivered("sent")
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message", allocs)
	}
}

// Durations come out of the JSON log as text.
func TestReplaceDurations(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ReplaceDurations}))
	log.Info("job ran", "took", 1500*time.Millisecond, slog.Group("retry", "in", 5*time.Minute), "count", 3)
	want := `"took":"1.5s","retry":{"in":"5m0s"},"count":3}`
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("log line %s\nwant it to contain %s", buf.String(), want)
	}
}
