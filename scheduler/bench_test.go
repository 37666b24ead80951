package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/scheduler"
)

// BenchmarkNightlyJobs times each job, and its peak heap, over a database
// at two sizes with the same amount of due work (1,000 reminders, 1,000
// expired codes, 1,000 forwardings ending within the notice window): the
// indexes make a job's cost follow what is due, not the size of the
// tables. The digest counts open requests per kind, so it reads the open
// requests (not the history).
//
//	go test -run '^$' -bench NightlyJobs -benchtime 1x -timeout 30m ./scheduler/
func BenchmarkNightlyJobs(b *testing.B) {
	for _, size := range []struct {
		name                   string
		accounts, open, closed int
	}{
		{"accounts=100k,open=10k", 100_000, 10_000, 50_000},
		{"accounts=1M,open=100k", 1_000_000, 100_000, 500_000},
	} {
		b.Run(size.name, func(b *testing.B) {
			for b.Loop() {
				nightly(b, store.Synthetic{Accounts: size.accounts, OpenRequests: size.open, Closed: size.closed,
					DueReminders: 1000, DueCodes: 1000, DueForwardings: 1000})
			}
		})
	}
}

func nightly(b *testing.B, syn store.Synthetic) {
	dir := b.TempDir()
	cfg, err := config.Parse(fmt.Appendf(nil, `desk: {address: desk@madoguchi.test, domain: id.madoguchi.test, fax: 03-0000-0000}
imap: {address: "127.0.0.1:1", tls: none, username: desk, password: pw}
smtp: {address: "127.0.0.1:1", tls: none}
database: {path: %q, synchronous: normal}
operators: [ops@madoguchi.test]
operator_auth: {required: false}
forwarding: {postfix_map: %q}
jobs: {status_text: %q}
`, filepath.Join(dir, "desk.db"), filepath.Join(dir, "virtual"), filepath.Join(dir, "status.txt")), os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 9, 0, 30, 0, 0, time.UTC)
	syn.Now = now
	a, err := app.New(context.Background(), cfg, app.Options{Now: func() time.Time { return now }, Hash: secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	t0 := time.Now()
	if err := a.Store.SeedSynthetic(context.Background(), syn); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "seed-s")
	for _, job := range []string{scheduler.JobExpireCodes, scheduler.JobReminders, scheduler.JobForwarding, scheduler.JobDigest} {
		var out string
		took, peak := measure(func() {
			out, err = a.Scheduler.RunByHand(context.Background(), job)
		})
		if err != nil {
			b.Fatalf("%s: %v", job, err)
		}
		b.ReportMetric(float64(took.Milliseconds()), job+"-ms")
		b.ReportMetric(float64(peak)/(1<<20), job+"-peak-MB")
		b.Logf("%s: %v, peak heap +%.1f MB: %s", job, took, float64(peak)/(1<<20), out)
	}
}

// measure runs fn and reports its time and the peak heap growth seen
// while it ran (sampled every 2 ms).
func measure(fn func()) (time.Duration, uint64) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base.HeapAlloc && m.HeapAlloc-base.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc - base.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	fn()
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	return took, peak.Load()
}
