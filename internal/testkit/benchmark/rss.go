package benchmark

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// peakRSS is the process's peak resident set size in bytes: VmHWM of
// /proc/self/status on Linux. Elsewhere it falls back to the memory the Go
// runtime obtained from the OS, which bounds the Go part of the RSS.
func peakRSS() int64 {
	if kb := statusKB("VmHWM:"); kb > 0 {
		return kb << 10
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// resetPeakRSS restarts the kernel's VmHWM from the current RSS (Linux
// 4.0+, writing 5 to /proc/self/clear_refs), so that a later peakRSS is the
// peak of what ran since. It reports whether the reset took.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func statusKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field) {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, field))
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb
	}
	return 0
}
