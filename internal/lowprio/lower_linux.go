package lowprio

import "golang.org/x/sys/unix"

// lowerThisThread lowers the calling thread's priority; on Linux
// setpriority with a thread id affects that thread alone. A failure (a
// seccomp filter, say) leaves the thread as it was: slower replies, not a
// wrong answer.
func lowerThisThread() {
	tid := unix.Gettid()
	cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return
	}
	// The raw syscall returns 20 - nice.
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, min(20-cur+Niceness, 19))
}
