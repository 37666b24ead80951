package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
)

// The daemon runs with one P more than the runtime's default and the
// configured memory limit; GOMAXPROCS and GOMEMLIMIT in the environment
// win over both.
func TestApplyRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetMemoryLimit(limit)
	})

	t.Setenv("GOMAXPROCS", "")
	t.Setenv("GOMEMLIMIT", "")
	applyRuntime(&config.Config{MemoryLimit: 64 << 20})
	if got := runtime.GOMAXPROCS(0); got != procs+1 {
		t.Errorf("GOMAXPROCS %d, want %d", got, procs+1)
	}
	if got, want := debug.SetMemoryLimit(-1), heapLimit(64<<20, secret.OffHeapBytes(secret.DefaultParams())); got != want {
		t.Errorf("memory limit %d, want %d", got, want)
	}

	runtime.GOMAXPROCS(procs)
	debug.SetMemoryLimit(limit)
	t.Setenv("GOMAXPROCS", "1")
	t.Setenv("GOMEMLIMIT", "1GiB")
	applyRuntime(&config.Config{MemoryLimit: 64 << 20})
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS %d with GOMAXPROCS set in the environment, want it left at %d", got, procs)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left at %d", got, limit)
	}
}

// The hasher's memory outside the heap is taken from the process limit,
// and the heap keeps a floor.
func TestHeapLimit(t *testing.T) {
	for _, tc := range []struct{ process, hash, want int64 }{
		{100 << 20, 57 << 20, 43 << 20},
		{100 << 20, 0, 100 << 20},
		{64 << 20, 57 << 20, minHeapLimit},
		{1 << 30, 323 << 20, 701 << 20},
	} {
		if got := heapLimit(tc.process, tc.hash); got != tc.want {
			t.Errorf("heapLimit(%d MiB, %d MiB) = %d MiB, want %d MiB", tc.process>>20, tc.hash>>20, got>>20, tc.want>>20)
		}
	}
}
