package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
)

// keepingRecorder is the test Processor with a FailureKeeper: it fails
// every attempt at the messages marked bad, and keeps their failures in
// memory against a clock the test moves, as the desk keeps them in its
// store.
type keepingRecorder struct {
	*recorder
	bad      string // a message holding this fails
	delays   []time.Duration
	recordFn func() error // when set, recording a failure fails with its error

	mu       sync.Mutex
	now      time.Time
	attempts map[uint32]int
	retryAt  map[uint32]time.Time
	causes   []string
}

func newKeepingRecorder(bad string) *keepingRecorder {
	return &keepingRecorder{
		recorder: newRecorder(), bad: bad,
		delays: []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour},
		now:    time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attempts: map[uint32]int{}, retryAt: map[uint32]time.Time{},
	}
}

func (k *keepingRecorder) Process(ctx context.Context, d Delivery) (Disposition, error) {
	if bytes.Contains(d.Raw, []byte(k.bad)) {
		k.recorder.mu.Lock()
		k.recorder.calls = append(k.recorder.calls, d)
		k.recorder.mu.Unlock()
		return Disposition{}, errors.New("render notice: map has no entry for key \"Missing\"")
	}
	return k.recorder.Process(ctx, d)
}

func (k *keepingRecorder) ProcessFailed(ctx context.Context, d Delivery, cause error) (Failure, error) {
	if k.recordFn != nil {
		if err := k.recordFn(); err != nil {
			return Failure{}, err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.causes = append(k.causes, cause.Error())
	k.attempts[d.UID]++
	n := k.attempts[d.UID]
	if n <= len(k.delays) {
		k.retryAt[d.UID] = k.now.Add(k.delays[n-1])
		return Failure{Attempts: n, RetryAt: k.retryAt[d.UID]}, nil
	}
	delete(k.retryAt, d.UID)
	return Failure{Attempts: n, Disposition: Disposition{To: ToQuarantine, Reason: fmt.Sprintf("failed %d times: %v", n, cause)}}, nil
}

func (k *keepingRecorder) RetriesNotDue(ctx context.Context, mailbox string, uidValidity uint32) ([]uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var uids []uint32
	for uid, at := range k.retryAt {
		if at.After(k.now) {
			uids = append(uids, uid)
		}
	}
	return uids, nil
}

func (k *keepingRecorder) advance(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = k.now.Add(d)
}

// callsFor counts the Process calls for a UID, repeats included.
func (r *recorder) callsFor(uid uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.calls {
		if d.UID == uid {
			n++
		}
	}
	return n
}

// A message the desk always fails on, first in the mailbox, does not stop
// the 100 behind it; it is left unread until its next attempt is due, and
// is quarantined with its reason at the fifth failure. The clock is the
// keeper's: no test time passes for the delays.
func TestPoisonMessageIsRetriedThenQuarantinedWhileTheRestFlows(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	const bad = "Message-ID: <poison@example.org>"
	poison := []byte("From: a@example.org\r\nTo: desk@example.org\r\n" + bad + "\r\nSubject: status\r\n\r\nRequest: status\r\n")
	if err := s.Append("desk", "INBOX", poison); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 1, 101)
	k := newKeepingRecorder(bad)
	in := New(options(t, s), k)

	if n := drain(t, in); n != 100 {
		t.Fatalf("first pass handled %d, want the 100 good messages", n)
	}
	wantCount(t, s, "Processed", 100)
	wantCount(t, s, "INBOX", 1)

	// Before its delay has passed the message is not even read.
	if n := drain(t, in); n != 0 || k.callsFor(1) != 1 {
		t.Fatalf("a pass before the retry was due handled %d and tried the bad message %d times, want 0 and 1", n, k.callsFor(1))
	}
	for attempt := 2; attempt <= 5; attempt++ {
		k.advance(k.delays[attempt-2])
		n := drain(t, in)
		if got := k.callsFor(1); got != attempt {
			t.Fatalf("after the delay %d: %d attempts, want %d", attempt-1, got, attempt)
		}
		if attempt < 5 {
			if n != 0 {
				t.Errorf("attempt %d: pass handled %d, want 0", attempt, n)
			}
			wantCount(t, s, "INBOX", 1)
		} else if n != 1 {
			t.Errorf("last attempt: pass handled %d, want 1 (quarantined)", n)
		}
	}
	wantCount(t, s, "INBOX", 0)
	wantCount(t, s, "Processed", 100)
	q := list(t, s, "Quarantine")
	if len(q) != 1 || !bytes.Equal(q[0], poison) {
		t.Fatalf("Quarantine holds %d messages, want the bad one", len(q))
	}
	for uid := uint32(2); uid <= 101; uid++ {
		if k.callsFor(uid) != 1 {
			t.Errorf("good uid %d handed over %d times, want 1", uid, k.callsFor(uid))
		}
	}
	if len(k.causes) != 5 || !strings.Contains(k.causes[4], "Missing") {
		t.Errorf("causes recorded: %q", k.causes)
	}
}

// When not even the failure can be recorded (the store is the trouble, not
// the message), the pass stops: handling the rest would fail alike.
func TestUnrecordableFailureStopsThePass(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	const bad = "Message-ID: <1@example.org>"
	appendN(t, s, 0, 4) // uid 2 holds message 1
	k := newKeepingRecorder(bad)
	k.recordFn = func() error { return errors.New("disk full") }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := New(options(t, s), k).Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Drain = %d, %v; want the recording error", n, err)
	}
	if n != 1 || k.callsFor(3) != 0 {
		t.Errorf("Drain handled %d and uid 3 %d times; want 1 and 0", n, k.callsFor(3))
	}
	wantCount(t, s, "Processed", 1) // what was handled before the error is filed
	wantCount(t, s, "INBOX", 3)
}
