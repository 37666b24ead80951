package benchmark

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSnapshot is what the machine's and this process's CPUs had done at one
// moment, so that two of them tell where the desk run's CPU went: whether
// the cores were saturated (then only less work per message raises the
// rate), and how much of it this process took (the rest is the database
// server and whatever else runs).
type cpuSnapshot struct {
	machineBusy, machineSystem, machineTotal time.Duration // summed over all cores; zero where /proc/stat is missing
	process                                  time.Duration // user + system of this process
}

func takeCPUSnapshot() cpuSnapshot {
	s := cpuSnapshot{process: processCPU()}
	s.machineBusy, s.machineSystem, s.machineTotal = machineCPU()
	return s
}

// cpuUse is the CPU spent between two snapshots.
type cpuUse struct {
	Busy, System float64       // shares of the machine's capacity, 0..1; negative when unknown
	Process      time.Duration // this process's CPU time
}

func (s cpuSnapshot) since(start cpuSnapshot) cpuUse {
	u := cpuUse{Busy: -1, System: -1, Process: s.process - start.process}
	if total := s.machineTotal - start.machineTotal; total > 0 {
		u.Busy = float64(s.machineBusy-start.machineBusy) / float64(total)
		u.System = float64(s.machineSystem-start.machineSystem) / float64(total)
	}
	return u
}

// machineCPU reads the first line of /proc/stat (Linux): busy is every
// state but idle and iowait, system is system, irq and softirq time.
func machineCPU() (busy, system, total time.Duration) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, 0, 0
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user and nice.
	var ticks [8]int64
	for i := range ticks {
		v, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return 0, 0, 0
		}
		ticks[i] = v
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on every Linux architecture Go supports
	var all int64
	for _, v := range ticks {
		all += v
	}
	idle := ticks[3] + ticks[4]
	return time.Duration(all-idle) * tick, time.Duration(ticks[2]+ticks[5]+ticks[6]) * tick, time.Duration(all) * tick
}
