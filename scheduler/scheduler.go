// Package scheduler runs the desk's timed jobs (expiries, reminders, the
// end of forwarding, the daily digest) with robfig/cron in the desk's time
// zone. A run stands for one slot of its schedule and claims that slot in
// the database first, so a job run twice, by hand beside the daemon or by
// two daemons, does its work once; after downtime the missed slots are
// caught up by one run, not one per slot.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one scheduled piece of work. Run must be idempotent on its own
// too (it keys what it sends per request and step): slots protect against
// double runs, step keys against overlapping windows.
type Job struct {
	Name     string
	Schedule string // standard 5-field cron spec or a descriptor such as @every 1m
	Help     string
	Run      func(ctx context.Context, now time.Time) (Outcome, error)
}

// Outcome is what a run did.
type Outcome struct {
	Text string // for the log and the job_runs table
	// Changed counts the requests, notices and files the run touched. A
	// run that changed nothing is logged at DEBUG: expire-codes runs every
	// minute, and an INFO line for each quiet run buried the ones that
	// mattered.
	Changed int
}

// RunLog is where runs are claimed and recorded (*store.Store).
type RunLog interface {
	ClaimJobRun(ctx context.Context, job string, slot, at time.Time) (bool, error)
	FinishJobRun(ctx context.Context, job string, slot, at time.Time, outcome string) error
	LastJobSlot(ctx context.Context, job string) (time.Time, bool, error)
}

// Options configure a Scheduler.
type Options struct {
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time
	Log      RunLog
	// Observe, when set, hears of every run (metrics); it must not block.
	Observe func(job string, err error)
}

// Scheduler holds the jobs and runs them.
type Scheduler struct {
	opts  Options
	jobs  map[string]Job
	specs map[string]cron.Schedule
	names []string
}

// ErrUnknownJob is returned for a name no job has.
var ErrUnknownJob = errors.New("no such job")

// ErrAlreadyRan means the slot was claimed before: nothing was done.
var ErrAlreadyRan = errors.New("this slot already ran")

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// New checks every schedule and returns the scheduler.
func New(opts Options, jobs ...Job) (*Scheduler, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{opts: opts, jobs: map[string]Job{}, specs: map[string]cron.Schedule{}}
	var problems []error
	for _, j := range jobs {
		if _, dup := s.jobs[j.Name]; dup {
			problems = append(problems, fmt.Errorf("job %s: defined twice", j.Name))
			continue
		}
		spec, err := parser.Parse(j.Schedule)
		if err != nil {
			problems = append(problems, fmt.Errorf("jobs.%s: schedule %q: %v", j.Name, j.Schedule, err))
			continue
		}
		s.jobs[j.Name], s.specs[j.Name] = j, spec
		s.names = append(s.names, j.Name)
	}
	sort.Strings(s.names)
	return s, errors.Join(problems...)
}

// Jobs lists the jobs by name.
func (s *Scheduler) Jobs() []Job {
	out := make([]Job, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.jobs[n])
	}
	return out
}

// Next is the next slot of a job after t.
func (s *Scheduler) Next(name string, t time.Time) (time.Time, error) {
	spec, ok := s.specs[name]
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s", ErrUnknownJob, name)
	}
	return spec.Next(t.In(s.opts.Location)), nil
}

// RunByHand runs a job now, as the operator asked: its slot is the current
// minute, so a second run in the same minute (or the daemon's run of that
// minute) does nothing.
func (s *Scheduler) RunByHand(ctx context.Context, name string) (string, error) {
	if _, ok := s.jobs[name]; !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownJob, name)
	}
	now := s.opts.Now()
	outcome, err := s.runSlot(ctx, name, now.Truncate(time.Minute), now)
	return outcome.Text, err
}

// Due runs the job for the latest slot at or before now that has not run.
// Several missed slots make one run. A job that never ran starts counting
// from now: a fresh install does not replay history.
func (s *Scheduler) Due(ctx context.Context, name string) (ran bool, outcome string, err error) {
	ran, o, err := s.due(ctx, name)
	return ran, o.Text, err
}

func (s *Scheduler) due(ctx context.Context, name string) (ran bool, outcome Outcome, err error) {
	spec, ok := s.specs[name]
	if !ok {
		return false, Outcome{}, fmt.Errorf("%w: %s", ErrUnknownJob, name)
	}
	now := s.opts.Now().In(s.opts.Location)
	last, found, err := s.opts.Log.LastJobSlot(ctx, name)
	if err != nil {
		return false, Outcome{}, err
	}
	if !found {
		// Mark the baseline so the next slot counts as due. It is claimed
		// at the second, not the minute, so that a run by hand in the
		// minute the daemon started is not taken for this baseline.
		_, err := s.opts.Log.ClaimJobRun(ctx, name, now.Truncate(time.Second), now)
		return false, Outcome{}, err
	}
	slot := time.Time{}
	for next := spec.Next(last.In(s.opts.Location)); !next.After(now); next = spec.Next(next) {
		slot = next
	}
	if slot.IsZero() {
		return false, Outcome{}, nil
	}
	outcome, err = s.runSlot(ctx, name, slot, now)
	if errors.Is(err, ErrAlreadyRan) {
		return false, Outcome{}, nil
	}
	return err == nil, outcome, err
}

func (s *Scheduler) runSlot(ctx context.Context, name string, slot, now time.Time) (Outcome, error) {
	claimed, err := s.opts.Log.ClaimJobRun(ctx, name, slot, now)
	if err != nil {
		return Outcome{}, fmt.Errorf("job %s: claim: %w", name, err)
	}
	if !claimed {
		return Outcome{}, fmt.Errorf("job %s at %s: %w", name, slot.In(s.opts.Location).Format("2006-01-02 15:04"), ErrAlreadyRan)
	}
	outcome, runErr := s.safeRun(ctx, name, now)
	record := outcome.Text
	if runErr != nil {
		record = "error: " + runErr.Error()
	}
	if err := s.opts.Log.FinishJobRun(ctx, name, slot, s.opts.Now(), record); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if s.opts.Observe != nil {
		s.opts.Observe(name, runErr)
	}
	return outcome, runErr
}

// safeRun keeps a panicking job from taking the daemon down.
func (s *Scheduler) safeRun(ctx context.Context, name string, now time.Time) (outcome Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job %s panicked: %v", name, p)
		}
	}()
	return s.jobs[name].Run(ctx, now)
}

// CatchUp runs every job whose slot passed while the daemon was down.
func (s *Scheduler) CatchUp(ctx context.Context) {
	for _, name := range s.names {
		s.runLogged(ctx, name)
	}
}

func (s *Scheduler) runLogged(ctx context.Context, name string) {
	start := time.Now()
	ran, outcome, err := s.due(ctx, name)
	switch {
	case err != nil:
		s.opts.Logger.Error("job failed", "job", name, "err", err)
	case ran && outcome.Changed > 0:
		s.opts.Logger.Info("job ran", "job", name, "outcome", outcome.Text, "took", time.Since(start))
	case ran:
		s.opts.Logger.Debug("job ran", "job", name, "outcome", outcome.Text, "took", time.Since(start))
	}
}

// Run catches up, then fires each job on its schedule until ctx ends; a
// job still running when its next slot comes is not started twice.
func (s *Scheduler) Run(ctx context.Context) error {
	s.CatchUp(ctx)
	c := cron.New(cron.WithLocation(s.opts.Location), cron.WithParser(parser))
	var mu sync.Mutex
	running := map[string]bool{}
	for _, name := range s.names {
		_, err := c.AddFunc(s.jobs[name].Schedule, func() {
			mu.Lock()
			if running[name] {
				mu.Unlock()
				s.opts.Logger.Warn("job still running at its next slot: skipped", "job", name)
				return
			}
			running[name] = true
			mu.Unlock()
			defer func() { mu.Lock(); delete(running, name); mu.Unlock() }()
			s.runLogged(ctx, name)
		})
		if err != nil {
			return fmt.Errorf("job %s: %w", name, err)
		}
	}
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}
