package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T, job Job) (*Scheduler, *clock, *store.Store) {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "jobs.db"))
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, tokyo)}
	s, err := New(Options{Location: tokyo, Now: clk.now, Log: st}, job)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, st
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func counting(name, schedule string, runs *atomic.Int32) Job {
	return Job{Name: name, Schedule: schedule, Run: func(context.Context, time.Time) (Outcome, error) {
		runs.Add(1)
		return Outcome{Text: "ok"}, nil
	}}
}

// A nightly job runs once per night in the desk's time zone, a second
// call for the same night does nothing, and three missed nights make one
// run, not three.
func TestNightlyJobRunsOncePerSlotAndCatchesUpOnce(t *testing.T) {
	var runs atomic.Int32
	s, clk, st := setup(t, counting("nightly", "0 2 * * *", &runs))
	ctx := context.Background()

	if ran, _, err := s.Due(ctx, "nightly"); err != nil || ran {
		t.Fatalf("first call on a fresh install ran=%v err=%v; want only a baseline", ran, err)
	}
	clk.add(15 * time.Hour) // 03:00 the next day, after the 02:00 slot
	if ran, _, err := s.Due(ctx, "nightly"); err != nil || !ran {
		t.Fatalf("after the 02:00 slot ran=%v err=%v", ran, err)
	}
	if ran, _, _ := s.Due(ctx, "nightly"); ran {
		t.Fatal("the same slot ran twice")
	}
	if got := runs.Load(); got != 1 {
		t.Fatalf("runs = %d, want 1", got)
	}
	last, _, _ := st.LastJobSlot(ctx, "nightly")
	if h := last.In(time.FixedZone("JST", 9*3600)).Hour(); h != 2 {
		t.Errorf("slot recorded at %d:00 JST, want 2:00 (desk time zone)", h)
	}

	clk.add(3 * 24 * time.Hour) // the daemon was down three nights
	if ran, _, err := s.Due(ctx, "nightly"); err != nil || !ran {
		t.Fatalf("catch-up ran=%v err=%v", ran, err)
	}
	if ran, _, _ := s.Due(ctx, "nightly"); ran {
		t.Fatal("catch-up ran once per missed night")
	}
	if got := runs.Load(); got != 2 {
		t.Fatalf("runs = %d after a three-night gap, want 2", got)
	}
}

// Two processes (two connections to one database file) asking at once for
// the same slot: one runs it.
func TestConcurrentRunsClaimTheSlotOnce(t *testing.T) {
	var runs atomic.Int32
	path := filepath.Join(t.TempDir(), "shared.db")
	tokyo := time.FixedZone("JST", 9*3600)
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, tokyo)}
	job := counting("minutely", "@every 1m", &runs)
	s, err := New(Options{Location: tokyo, Now: clk.now, Log: openStore(t, path)}, job)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Due(ctx, "minutely")
	clk.add(90 * time.Second)
	other, err := New(Options{Location: tokyo, Now: clk.now, Log: openStore(t, path)}, job)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, sch := range []*Scheduler{s, other, s, other} {
		wg.Add(1)
		go func() { defer wg.Done(); sch.Due(ctx, "minutely") }()
	}
	wg.Wait()
	if got := runs.Load(); got != 1 {
		t.Fatalf("runs = %d, want 1", got)
	}
}

// A run by hand counts for its minute: repeating it does nothing and says so.
func TestRunByHandIsIdempotentWithinItsMinute(t *testing.T) {
	var runs atomic.Int32
	s, _, st := setup(t, counting("digest", "0 8 * * *", &runs))
	ctx := context.Background()
	if out, err := s.RunByHand(ctx, "digest"); err != nil || out != "ok" {
		t.Fatalf("first run: %q %v", out, err)
	}
	if _, err := s.RunByHand(ctx, "digest"); !errors.Is(err, ErrAlreadyRan) {
		t.Fatalf("second run in the same minute: %v, want ErrAlreadyRan", err)
	}
	if _, err := s.RunByHand(ctx, "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("unknown job: %v", err)
	}
	runsLog, err := st.JobRuns(ctx, "digest", 10)
	if err != nil || len(runsLog) != 1 || runsLog[0].Outcome != "ok" || runsLog[0].FinishedAt.IsZero() {
		t.Fatalf("recorded runs %+v, %v", runsLog, err)
	}
}

// A failing or panicking job is recorded as such and the scheduler goes on.
func TestFailingJobIsRecorded(t *testing.T) {
	s, _, st := setup(t, Job{Name: "broken", Schedule: "@daily", Run: func(context.Context, time.Time) (Outcome, error) {
		panic("boom")
	}})
	ctx := context.Background()
	if _, err := s.RunByHand(ctx, "broken"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic not reported: %v", err)
	}
	runs, _ := st.JobRuns(ctx, "broken", 1)
	if len(runs) != 1 || !strings.HasPrefix(runs[0].Outcome, "error:") {
		t.Fatalf("recorded %+v", runs)
	}
}

// A schedule that does not parse is named with its key.
func TestBadScheduleIsNamed(t *testing.T) {
	_, err := New(Options{}, Job{Name: "reminders", Schedule: "every night", Run: func(context.Context, time.Time) (Outcome, error) { return Outcome{}, nil }})
	if err == nil || !strings.Contains(err.Error(), "jobs.reminders") {
		t.Fatalf("error %v does not name jobs.reminders", err)
	}
}

// Run returns when its context ends.
func TestRunStopsOnCancel(t *testing.T) {
	var runs atomic.Int32
	s, _, _ := setup(t, counting("nightly", "0 2 * * *", &runs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// A run by hand in the minute the daemon started still runs: the
// daemon's baseline is not a run.
func TestRunByHandAfterBaselineInSameMinute(t *testing.T) {
	var runs atomic.Int32
	s, clk, _ := setup(t, counting("digest", "0 8 * * *", &runs))
	ctx := context.Background()
	clk.add(30 * time.Second)
	if ran, _, err := s.Due(ctx, "digest"); err != nil || ran {
		t.Fatalf("baseline: %v %v", ran, err)
	}
	if _, err := s.RunByHand(ctx, "digest"); err != nil || runs.Load() != 1 {
		t.Fatalf("run by hand after the baseline: %v, %d runs", err, runs.Load())
	}
}

// A run that changed nothing is logged at DEBUG (expire-codes runs every
// minute on every desk), one that changed something at INFO, and every
// run is observed for the metrics.
func TestQuietRunsLogAtDebug(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "jobs.db"))
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	var observed []string
	changed := 0
	s, err := New(Options{Now: clk.now, Log: st,
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe: func(job string, err error) { observed = append(observed, fmt.Sprintf("%s %v", job, err)) },
	}, Job{Name: "expire-codes", Schedule: "@every 1m", Run: func(context.Context, time.Time) (Outcome, error) {
		return Outcome{Text: fmt.Sprintf("%d requests expired", changed), Changed: changed}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.runLogged(ctx, "expire-codes") // the baseline: no run
	clk.add(time.Minute)
	s.runLogged(ctx, "expire-codes")
	changed = 2
	clk.add(time.Minute)
	s.runLogged(ctx, "expire-codes")

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `level=DEBUG msg="job ran" job=expire-codes outcome="0 requests expired"`) ||
		!strings.Contains(lines[1], `level=INFO msg="job ran" job=expire-codes outcome="2 requests expired"`) {
		t.Errorf("log:\n%s", logs.String())
	}
	if len(observed) != 2 || observed[0] != "expire-codes <nil>" {
		t.Errorf("observed %q, want two runs", observed)
	}
}
