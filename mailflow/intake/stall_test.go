package intake

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
)

// startStallProxy is a proxy between intake and the server whose
// connections Stall silences.
func startStallProxy(t *testing.T, target string) *loopback.FaultProxy {
	t.Helper()
	p, err := loopback.StartFaultProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

const testCommandTimeout = 300 * time.Millisecond

// A server that stops answering in the middle of a pass is given up
// within the command deadline instead of hanging intake; the next pass,
// on a new connection, handles the rest, each message once.
func TestDrainGivesUpOnASilentServer(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	proxy := startStallProxy(t, s.Addr)
	const total = 40
	appendN(t, s, 0, total)
	r := newRecorder()
	var stalledAt atomic.Int64
	r.decide = func(d Delivery) (Disposition, error) {
		if d.UID == 10 && stalledAt.Load() == 0 {
			stalledAt.Store(time.Now().UnixNano())
			proxy.Stall()
		}
		return Disposition{To: ToProcessed}, nil
	}
	opts := options(t, s)
	opts.Address = proxy.Addr
	opts.CommandTimeout = testCommandTimeout
	in := New(opts, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := in.Drain(ctx)
	returned := time.Now()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain through a silent server = %v, want the connection given up", err)
	}
	if waited := returned.Sub(time.Unix(0, stalledAt.Load())); waited > 3*time.Second {
		t.Errorf("Drain returned %v after the server went silent, want about %v", waited, testCommandTimeout)
	}
	drain(t, in)
	wantCount(t, s, "INBOX", 0)
	wantCount(t, s, "Processed", total)
	for key, n := range r.firstTime {
		if n != 1 {
			t.Errorf("uid %v decided %d times", key, n)
		}
	}
}

// Run notices a server that went silent while intake sat in IDLE (at the
// IDLE refresh: DONE and NOOP go unanswered), replaces the connection and
// carries on with the mail that arrived meanwhile.
func TestRunReplacesAStalledConnection(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	proxy := startStallProxy(t, s.Addr)
	r := newRecorder()
	opts := options(t, s)
	opts.Address = proxy.Addr
	opts.CommandTimeout = testCommandTimeout
	opts.IdleRefresh = 200 * time.Millisecond
	opts.PollInterval = time.Hour // only IDLE, and the new connection's pass, find mail
	runIntake(t, New(opts, r))
	appendN(t, s, 0, 1)
	waitDelivery(t, r, 1)
	waitFiled(t, s, 1)

	proxy.Stall()
	stalled := time.Now()
	appendN(t, s, 1, 2)
	waitDelivery(t, r, 2)
	// IdleRefresh, then the deadline, then a reconnect after BackoffMin..Max.
	if took := time.Since(stalled); took > 3*time.Second {
		t.Errorf("mail reached the desk %v after the server went silent", took)
	}
	if n := proxy.Accepted(); n < 2 {
		t.Errorf("%d connections made, want a new one after the stall", n)
	}
	waitFiled(t, s, 2)
}

// The deadline covers waits on the server only: a desk that takes longer
// than it over each message (hashing, a busy disk) is not mistaken for a
// silent server.
func TestSlowDeskIsNotMistakenForASilentServer(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 3)
	r := newRecorder()
	r.decide = func(Delivery) (Disposition, error) {
		time.Sleep(3 * testCommandTimeout)
		return Disposition{To: ToProcessed}, nil
	}
	opts := options(t, s)
	opts.CommandTimeout = testCommandTimeout
	if n := drain(t, New(opts, r)); n != 3 {
		t.Errorf("Drain handled %d, want 3", n)
	}
	wantCount(t, s, "Processed", 3)
}
