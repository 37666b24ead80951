//go:build !linux

package lowprio

// lowerThisThread is a no-op where a thread's priority cannot be set on
// its own: the work runs at the daemon's priority.
func lowerThisThread() {}
