package intake

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
)

// lanedRecorder puts subjects with "reply" in the fast lane and takes
// slowFor on every other message, like a password hash.
type lanedRecorder struct {
	*recorder
	slowFor time.Duration
	mu      sync.Mutex
	order   []string
	started chan struct{}
}

func (l *lanedRecorder) Lane(_ context.Context, e Envelope) int {
	if strings.Contains(e.Subject, "reply") {
		return 0
	}
	return 1
}

func (l *lanedRecorder) Process(ctx context.Context, d Delivery) (Disposition, error) {
	subject := ""
	for _, line := range strings.Split(string(d.Raw), "\r\n") {
		if s, ok := strings.CutPrefix(line, "Subject: "); ok {
			subject = s
		}
	}
	l.mu.Lock()
	l.order = append(l.order, subject)
	first := len(l.order) == 1
	l.mu.Unlock()
	if first {
		close(l.started)
	}
	if !strings.Contains(subject, "reply") {
		time.Sleep(l.slowFor)
	}
	return l.recorder.Process(ctx, d)
}

func mail(subject string) []byte {
	return []byte("From: a@example.org\r\nTo: desk@example.org\r\nSubject: " + subject + "\r\n\r\nbody\r\n")
}

// Replies present at the start of a pass are handled before new requests,
// and a reply that arrives while a backlog is being worked through
// overtakes the rest of it.
func TestRepliesOvertakeTheBacklog(t *testing.T) {
	srv := startServer(t, loopback.IMAPOptions{})
	for i := 0; i < 12; i++ {
		if err := srv.Append("desk", "INBOX", mail("new request")); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Append("desk", "INBOX", mail("early reply")); err != nil {
		t.Fatal(err)
	}
	p := &lanedRecorder{recorder: newRecorder(), slowFor: 100 * time.Millisecond, started: make(chan struct{})}
	in := New(options(t, srv), p)
	done := make(chan error, 1)
	go func() { _, err := in.Drain(context.Background()); done <- err }()
	<-p.started
	time.Sleep(300 * time.Millisecond)
	if err := srv.Append("desk", "INBOX", mail("late reply")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) != 14 {
		t.Fatalf("%d messages handled, want 14: %v", len(p.order), p.order)
	}
	if p.order[0] != "early reply" {
		t.Errorf("first handled %q, want the reply that was waiting", p.order[0])
	}
	late := -1
	for i, s := range p.order {
		if s == "late reply" {
			late = i
		}
	}
	// It arrived after about 4 slow messages; it must not wait for the
	// other 8 (allow for the recheck interval and the one in hand).
	if late < 0 || late > 8 {
		t.Errorf("the late reply was handled at position %d of %d: %v", late, len(p.order), p.order)
	}
}

// preparing is a processor that records what was prepared ahead.
type preparing struct {
	*recorder
	mu       sync.Mutex
	prepared map[uint32]bool
	early    int // messages offered before their Process
}

func (p *preparing) Lane(context.Context, Envelope) int { return 1 }

func (p *preparing) Offer(ctx context.Context, d Delivery) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prepared[d.UID] = true
}

func (p *preparing) Process(ctx context.Context, d Delivery) (Disposition, error) {
	// The desk's Process writes to the database; without a pause this one
	// would run through the read-ahead batch before a worker is scheduled.
	time.Sleep(2 * time.Millisecond)
	p.mu.Lock()
	if p.prepared[d.UID] {
		p.early++
	}
	p.mu.Unlock()
	return p.recorder.Process(ctx, d)
}

// Messages are read ahead and offered for preparation before their turn;
// each is still processed exactly once, in order.
func TestLookaheadPreparesBeforeProcess(t *testing.T) {
	srv := startServer(t, loopback.IMAPOptions{})
	appendN(t, srv, 0, 20)
	p := &preparing{recorder: newRecorder(), prepared: map[uint32]bool{}}
	if n, err := New(options(t, srv), p).Drain(context.Background()); err != nil || n != 20 {
		t.Fatalf("drained %d, %v", n, err)
	}
	if p.callCount() != 20 {
		t.Fatalf("%d Process calls for 20 messages", p.callCount())
	}
	if p.early == 0 {
		t.Error("no message was offered ahead of its turn")
	}
	for i, d := range p.calls[1:] {
		if d.UID <= p.calls[i].UID {
			t.Fatalf("processed out of order: %d after %d", d.UID, p.calls[i].UID)
		}
	}
}
