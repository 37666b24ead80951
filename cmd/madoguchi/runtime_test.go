package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/madoguchi/madoguchi/internal/config"
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
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("memory limit %d, want %d", got, 64<<20)
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
