// Package benchmark measures the whole desk on the in-process IMAP and
// SMTP servers over loopback (madoguchi bench): a mixed backlog of N
// messages already in the mailbox is worked through by the real daemon
// (app.Run, IDLE, SQLite with synchronous=full, argon2id at its real cost)
// while access-code replies arrive, and in the same run the raw rate of
// every stage is measured on the same messages: IMAP FETCH, MIME parse,
// SQLite inserts, SMTP delivery on one connection, argon2id on all cores
// (half of its hashes before the desk run and half after, against drift).
//
// The bound of the mix is the smallest stage rate divided by the share of
// messages that use the stage; the end-to-end rate over the bound is the
// ratio. Figures are printed, never asserted.
package benchmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// Defaults of Options.
const (
	DefaultN             = 10000
	DefaultPasswordShare = 0.2
	DefaultReplies       = 20
)

// Targets the report states (it never fails on them).
const (
	TargetRatio      = 0.5
	TargetReplyP99   = 2 * time.Second
	TargetPeakRSSMiB = 150
)

// Options configure Run. Zero values take the defaults.
type Options struct {
	N             int     // messages in the backlog
	PasswordShare float64 // share of new-ID applications, each carrying a password (0..1)
	Replies       int     // access-code replies that arrive during the backlog
	Out           io.Writer
	// DatabaseURL, when set, runs the desk and the insert stages on this
	// PostgreSQL server (in a database of the run's own, dropped after
	// it) instead of SQLite.
	DatabaseURL string
}

// Stage is the raw rate of one stage on the run's messages.
type Stage struct {
	Name    string
	How     string
	Unit    string // what Count counts: "msg" or "hash"
	Count   int
	Elapsed time.Duration
	Rate    float64 // Count per second
	Share   float64 // share of the desk's messages that use the stage
	Bound   float64 // Rate / Share: messages per second the stage allows; +Inf when unused
}

// Report is what one run measured.
type Report struct {
	N             int     // backlog messages
	Applications  int     // with a password (new-ID applications)
	Attachments   int     // with a PDF attached
	Questions     int     // plain questions
	ISO2022JP     int     // messages in ISO-2022-JP
	UTF8          int     // messages in UTF-8
	Replies       int     // access-code replies during the backlog
	PasswordShare float64 // share of the desk's messages that hash a password (replies included)
	MailboxBytes  int64
	CPUs          int
	Database      string        // the engine the desk ran on
	AppendTime    time.Duration // filling the desk's INBOX, not timed

	Stages     []Stage
	Bound      float64 // messages per second: the smallest Stage.Bound
	BoundStage string
	// HashRateBefore and HashRateAfter are the hash stage's two halves,
	// before and after the desk run; the stage's rate is over both.
	HashRateBefore, HashRateAfter float64

	Messages    int // handled by the desk: the backlog and the replies
	Notices     int // notices at the sink for them
	NoticeKinds map[string]int
	Elapsed     time.Duration // desk start -> last notice at the sink
	EndToEnd    float64       // Messages / Elapsed
	Ratio       float64       // EndToEnd / Bound

	ReplyP50, ReplyP99 time.Duration // access-code reply landing -> completion notice at the sink

	PeakRSS        int64  // bytes, the figure held against the target
	PeakRSSScope   string // what PeakRSS covers
	ProcessPeakRSS int64  // bytes, the whole process including the stage measurements
	SinkBytes      int64  // notice bytes the in-process SMTP sink received (it keeps only the holders')
	GoHeapInUse    int64  // Go heap in use when the last notice arrived (servers, sink and desk)
	// DeskCPU is where the CPU went during the desk run: the machine's
	// cores (busy and system shares; negative when unknown) and this
	// process (desk, loopback servers and sink).
	DeskCPU cpuUse
}

// Run builds the backlog, measures the stages, then runs the desk on it.
func Run(ctx context.Context, opts Options) (Report, error) {
	if opts.N == 0 {
		opts.N = DefaultN
	}
	if opts.PasswordShare == 0 {
		opts.PasswordShare = DefaultPasswordShare
	}
	if opts.Replies == 0 {
		opts.Replies = DefaultReplies
	}
	if opts.N < 1 || opts.Replies < 1 || opts.Replies > 100 || !(opts.PasswordShare > 0 && opts.PasswordShare <= 1) {
		return Report{}, errors.New("benchmark: want N >= 1, 1 <= replies <= 100 and 0 < password share <= 1")
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	dir, err := os.MkdirTemp("", "madoguchi-bench-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	var pg *pgTarget
	database := "SQLite (synchronous=full)"
	if opts.DatabaseURL != "" {
		if pg, err = newPGTarget(ctx, opts.DatabaseURL, dir); err != nil {
			return Report{}, err
		}
		defer func() {
			if err := pg.drop(); err != nil {
				fmt.Fprintf(out, "could not drop the run's database %s: %s\n", pg.name, pgMessage(err))
			}
		}()
		database = "PostgreSQL " + pg.version
	}

	t := time.Now()
	m := buildMix(opts.N, opts.PasswordShare)
	r := Report{N: opts.N, Applications: m.applications, Attachments: m.attachments, Questions: m.question,
		ISO2022JP: m.jis, UTF8: m.utf8, Replies: opts.Replies, MailboxBytes: m.bytes, CPUs: runtime.NumCPU(),
		Messages: opts.N + opts.Replies, Database: database}
	r.PasswordShare = float64(m.applications+opts.Replies) / float64(r.Messages)
	fmt.Fprintf(out, "madoguchi bench: %d messages (%.1f MB) generated in %s; %d access-code replies; %d CPUs, GOMAXPROCS %d\n",
		opts.N, mib(m.bytes), round(time.Since(t)), opts.Replies, r.CPUs, runtime.GOMAXPROCS(0))

	// The stages, on the same messages; the desk's messages are N plus the
	// replies, and the replies hash a password too. The hash stage, the
	// one that bounds the mix, runs half before the desk and half after
	// it: a shared machine's speed drifts over the minutes of a run, and
	// the bound should be the machine's during the desk run, not the one
	// a minute before it.
	hashes := max(m.applications+opts.Replies, 4*r.CPUs)
	type stageRun struct {
		run   func() (Stage, error)
		share float64
	}
	stages := []stageRun{
		{func() (Stage, error) { return stageFetch(ctx, m) }, 1},
		{func() (Stage, error) { return stageParse(ctx, m) }, 1},
		{func() (Stage, error) { return stageInsert(ctx, m, dir, pg) }, 1},
		{func() (Stage, error) { return stageSMTP(ctx, opts.N) }, 1},
		{func() (Stage, error) { return stageHash(ctx, hashes/2) }, r.PasswordShare},
	}
	if pg != nil {
		// What one commit costs on this server, beside what the desk's
		// transaction costs (the insert stage).
		raw := stageRun{func() (Stage, error) { return stageRawInsert(ctx, pg, opts.N) }, 1}
		stages = append(stages[:3], append([]stageRun{raw}, stages[3:]...)...)
	}
	for _, s := range stages {
		st, err := s.run()
		if err != nil {
			return r, err
		}
		st.Share = s.share
		r.Stages = append(r.Stages, st)
		printStage(out, st, "")
	}

	// The desk's peak is measured from here: the stages' servers and
	// buffers are gone.
	runtime.GC()
	debug.FreeOSMemory()
	r.ProcessPeakRSS = peakRSS()
	r.PeakRSSScope = "whole process (VmHWM could not be reset)"
	if resetPeakRSS() {
		r.PeakRSSScope = "desk run: loopback servers, mailbox, sink and desk (VmHWM reset after the stages)"
	}

	res, err := runDesk(ctx, m, opts.Replies, dir, pg, out)
	if err != nil {
		return r, fmt.Errorf("desk run: %w", err)
	}
	r.AppendTime, r.Elapsed, r.Notices, r.NoticeKinds = res.appendTime, res.elapsed, res.notices, res.kinds
	r.EndToEnd = float64(r.Messages) / res.elapsed.Seconds()

	after, err := stageHash(ctx, hashes-hashes/2)
	if err != nil {
		return r, err
	}
	printStage(out, after, " (after the desk run)")
	hash := &r.Stages[len(r.Stages)-1] // the hash stage runs last
	r.HashRateBefore, r.HashRateAfter = hash.Rate, after.Rate
	*hash = newStage(hash.Name, fmt.Sprintf("%s, half before the desk run and half after it (%.0f and %.0f hash/s)", hash.How, hash.Rate, after.Rate),
		hash.Unit, hash.Count+after.Count, hash.Elapsed+after.Elapsed)
	hash.Share = r.PasswordShare
	for i := range r.Stages {
		st := &r.Stages[i]
		st.Bound = math.Inf(1)
		if st.Share > 0 {
			st.Bound = st.Rate / st.Share
		}
	}
	best := slices.MinFunc(r.Stages, func(a, b Stage) int { return cmpFloat(a.Bound, b.Bound) })
	r.Bound, r.BoundStage = best.Bound, best.Name
	r.Ratio = r.EndToEnd / r.Bound
	r.ReplyP50, r.ReplyP99 = percentile(res.latencies, 50), percentile(res.latencies, 99)
	r.PeakRSS, r.SinkBytes, r.GoHeapInUse = res.peakRSS, res.sinkBytes, res.heapInUse
	r.DeskCPU = res.cpu
	r.ProcessPeakRSS = max(r.ProcessPeakRSS, res.peakRSS)
	r.Print(out)
	return r, nil
}

// printStage writes a stage's progress line as it completes.
func printStage(out io.Writer, st Stage, note string) {
	fmt.Fprintf(out, "  stage %-15s %6d %-4s in %-8s %9.0f %s/s%s\n", st.Name, st.Count, st.Unit, round(st.Elapsed), st.Rate, st.Unit, note)
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}

// Print writes the report.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== madoguchi bench ==\n")
	fmt.Fprintf(w, "mix: %d messages already in the mailbox (%.1f MB): %d new-ID applications with a password, %d questions with a PDF attached, %d plain questions; %d ISO-2022-JP, %d UTF-8\n",
		r.N, mib(r.MailboxBytes), r.Applications, r.Attachments, r.Questions, r.ISO2022JP, r.UTF8)
	fmt.Fprintf(w, "     plus %d access-code replies landing during the backlog: %d messages for the desk, %.1f%% carrying a password\n",
		r.Replies, r.Messages, 100*r.PasswordShare)
	fmt.Fprintf(w, "database: %s\n", r.Database)
	fmt.Fprintf(w, "\nstage rates on the same messages (%d CPUs):\n", r.CPUs)
	fmt.Fprintf(w, "  %-18s %14s %7s %16s   %s\n", "stage", "rate", "share", "rate/share", "how")
	for _, s := range r.Stages {
		bound := "-"
		if !math.IsInf(s.Bound, 1) {
			bound = fmt.Sprintf("%.0f msg/s", s.Bound)
		}
		fmt.Fprintf(w, "  %-18s %9.0f %-4s %7.3f %16s   %s (%d in %s)\n", s.Name, s.Rate, s.Unit+"/s", s.Share, bound, s.How, s.Count, round(s.Elapsed))
	}
	if tx, raw, ok := r.transactionCost(); ok {
		fmt.Fprintf(w, "  a desk transaction (seen row + outbox row) costs %s, %.1f× a raw one-row insert (%s) on the same server\n",
			tx.Round(time.Microsecond), float64(tx)/float64(raw), raw.Round(time.Microsecond))
	}
	fmt.Fprintf(w, "  bound of the mix: %.0f msg/s (the smallest rate/share: %s)\n", r.Bound, r.BoundStage)
	fmt.Fprintf(w, "\nend to end (mailbox to notice at the sink, real desk with IDLE): %d messages, %d notices in %s = %.1f msg/s\n",
		r.Messages, r.Notices, round(r.Elapsed), r.EndToEnd)
	kinds := make([]string, 0, len(r.NoticeKinds))
	for k := range r.NoticeKinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	fmt.Fprintf(w, "  notices:")
	for _, k := range kinds {
		fmt.Fprintf(w, " %s %d", k, r.NoticeKinds[k])
	}
	fmt.Fprintf(w, "\n  (filling the INBOX took %s and is not timed)\n", round(r.AppendTime))
	fmt.Fprintf(w, "ratio end-to-end/bound: %.3f (%.1f / %.0f msg/s)   target >= %.1f: %s\n", r.Ratio, r.EndToEnd, r.Bound, TargetRatio, met(r.Ratio >= TargetRatio))
	if c := r.DeskCPU; r.Elapsed > 0 && r.Messages > 0 {
		fmt.Fprintf(w, "CPU during the desk run: this process %.2f of %d cores (%.1f ms a message: desk, loopback servers, sink)",
			c.Process.Seconds()/r.Elapsed.Seconds(), runtime.NumCPU(), c.Process.Seconds()*1000/float64(r.Messages))
		if c.Busy >= 0 {
			fmt.Fprintf(w, "; the machine %.0f%% busy, %.0f%% in the kernel", 100*c.Busy, 100*c.System)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "access-code reply -> completion notice during the backlog (%d replies): p50 %s, p99 %s   target p99 <= %s: %s\n",
		r.Replies, round(r.ReplyP50), round(r.ReplyP99), TargetReplyP99, met(r.ReplyP99 <= TargetReplyP99))
	fmt.Fprintf(w, "peak RSS: %.1f MB (%s); whole process %.1f MB   target < %d MB: %s\n",
		mib(r.PeakRSS), r.PeakRSSScope, mib(r.ProcessPeakRSS), TargetPeakRSSMiB, met(r.PeakRSS < TargetPeakRSSMiB<<20))
	fmt.Fprintf(w, "  (this process also runs the test servers: the SMTP sink received %.1f MB of notices and keeps only the holders' ones; %.1f MB of mail in the IMAP server; Go heap in use at the end %.1f MB)\n",
		mib(r.SinkBytes), mib(r.MailboxBytes), mib(r.GoHeapInUse))
}

// transactionCost is the time of one message's rows in the insert stage
// and of one raw insert, when the run measured both (PostgreSQL).
func (r Report) transactionCost() (tx, raw time.Duration, ok bool) {
	var txStage, rawStage *Stage
	for i := range r.Stages {
		switch r.Stages[i].Name {
		case "PostgreSQL inserts":
			txStage = &r.Stages[i]
		case "PostgreSQL raw":
			rawStage = &r.Stages[i]
		}
	}
	if txStage == nil || rawStage == nil || txStage.Count == 0 || rawStage.Count == 0 {
		return 0, 0, false
	}
	return txStage.Elapsed / time.Duration(txStage.Count), rawStage.Elapsed / time.Duration(rawStage.Count), true
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
