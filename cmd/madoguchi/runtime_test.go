package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
)

// The daemon runs with one P more than the runtime's default, the
// configured memory limit (never below the hashes in flight plus room for
// the heap) and the collector paced by that limit; GOMAXPROCS, GOMEMLIMIT
// and GOGC in the environment win.
func TestApplyRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	limit := debug.SetMemoryLimit(-1)
	gc := debug.SetGCPercent(100)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(gc)
	})
	floor := secret.InFlightBytes(secret.DefaultParams()) + minHeapRoom

	t.Setenv("GOMAXPROCS", "")
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	for _, tc := range []struct{ configured, want int64 }{
		{0, max(defaultMemoryLimit, floor)},
		{512 << 20, 512 << 20},
		{16 << 20, floor},
	} {
		runtime.GOMAXPROCS(procs)
		applyRuntime(&config.Config{MemoryLimit: tc.configured})
		if got := runtime.GOMAXPROCS(0); got != procs+1 {
			t.Errorf("GOMAXPROCS %d, want %d", got, procs+1)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("memory_limit %d: limit %d, want %d", tc.configured, got, tc.want)
		}
		if got := debug.SetGCPercent(100); got != -1 {
			t.Errorf("GOGC %d, want off (paced by the limit)", got)
		}
	}

	// No limit configured and none in the environment: the collector
	// keeps GOGC, or the heap would grow without bound.
	debug.SetGCPercent(100)
	applyRuntime(&config.Config{MemoryLimit: -1})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d without any memory limit, want 100", got)
	}

	runtime.GOMAXPROCS(procs)
	debug.SetMemoryLimit(limit)
	t.Setenv("GOMAXPROCS", "1")
	t.Setenv("GOMEMLIMIT", "1GiB")
	applyRuntime(&config.Config{MemoryLimit: 64 << 20})
	if got := debug.SetGCPercent(100); got != -1 {
		t.Errorf("GOGC %d under GOMEMLIMIT, want off", got)
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS %d with GOMAXPROCS set in the environment, want it left at %d", got, procs)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left at %d", got, limit)
	}
}
