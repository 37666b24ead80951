// Package lowprio runs CPU-heavy background work (the password hashes the
// desk computes ahead of a message's turn) at a lower scheduling priority
// than the rest of the daemon, so that the latency-bound work (a
// transaction's round trips to the database, an access-code reply) gets a
// core as soon as it wakes, and the hashing takes what is left.
package lowprio

import (
	"fmt"
	"runtime"
)

// Niceness is how much lower than the daemon's the background threads
// run (Linux nice units): the kernel then gives them about a tenth of a
// contended core, and all of an idle one.
const Niceness = 10

// Do runs f on an operating-system thread of its own at the lower
// priority and returns when f does. The thread ends with f: an
// unprivileged process cannot raise a thread's priority again, so the
// thread must not go back to the Go runtime's pool. A panic in f is
// raised again in the caller.
func Do(f func()) {
	done := make(chan any, 1)
	go func() {
		// No UnlockOSThread: the runtime ends a thread whose goroutine
		// exits while locked to it.
		runtime.LockOSThread()
		defer func() { done <- recover() }()
		lowerThisThread()
		f()
	}()
	if p := <-done; p != nil {
		panic(fmt.Sprintf("lowprio: %v", p))
	}
}
