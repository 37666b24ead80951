package app

import (
	"os"
	"runtime"
)

// AddSpareP runs the process with one more P than the runtime's default,
// unless GOMAXPROCS is set, and returns the previous setting. Password
// hashing keeps every P busy in 20-30 ms stretches that Go preempts only
// after 10 ms, so the desk's IMAP, SMTP and SQLite round trips waited for a
// core each time, and the sender fell behind the desk (madoguchi bench);
// with a spare P the kernel runs them as soon as they wake. The hashing
// itself stays at one worker per core.
func AddSpareP() (previous int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	return runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
}
