package lowprio

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// threadNice reads the calling thread's nice value from /proc (field 19 of
// its stat line, counted after the command name in parentheses).
func threadNice(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Skipf("no /proc/thread-self: %v", err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, err := strconv.Atoi(fields[16]) // field 19 overall
	if err != nil {
		t.Fatalf("nice field %q: %v", fields[16], err)
	}
	return n
}

func TestDoRunsAtLowerPriorityAndLeavesTheCallerAlone(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are set on Linux only")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	var inside int
	Do(func() { inside = threadNice(t) })
	want := min(before+Niceness, 19)
	if inside != want {
		t.Errorf("nice inside Do = %d, want %d (the caller's %d + %d)", inside, want, before, Niceness)
	}
	if after := threadNice(t); after != before {
		t.Errorf("the caller's nice changed from %d to %d", before, after)
	}
	// Threads are not reused: a second call starts from the daemon's
	// priority again, not from the first call's.
	var second int
	Do(func() { second = threadNice(t) })
	if second != want {
		t.Errorf("nice in a second Do = %d, want %d", second, want)
	}
}

func TestDoRaisesAPanicInTheCaller(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "boom") {
			t.Errorf("recovered %v, want the panic of f", p)
		}
	}()
	Do(func() { panic("boom") })
}
