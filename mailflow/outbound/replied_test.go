package outbound

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Options.Replied hears the code of every reply the sender acts on (the
// metrics count them by class), and 0 when no reply came.
func TestRepliedCodes(t *testing.T) {
	var mu sync.Mutex
	var codes []int
	record := func(code int) { mu.Lock(); codes = append(codes, code); mu.Unlock() }
	take := func() []int {
		mu.Lock()
		defer mu.Unlock()
		c := codes
		codes = nil
		slices.Sort(c)
		return c
	}

	sk := newSink(t)
	sk.rejectRcpt["nobody@example.jp"] = true
	q := newMemQueue()
	refused := testNotice(testDate)
	refused.To, refused.Cc = []string{"nobody@example.jp"}, nil
	q.add(refused)
	accepted := testNotice(testDate)
	accepted.MessageID = "accepted.1@desk.example"
	q.add(accepted)
	s := newTestSender(t, sk.addr, q, testDate.Add(time.Minute), nil)
	s.opts.Replied = record
	deliver(t, s)
	if got := take(); !slices.Equal(got, []int{250, 550}) {
		t.Errorf("a refused and an accepted notice: codes %v", got)
	}

	sk.mu.Lock()
	sk.mailReply = 451
	sk.mu.Unlock()
	later := testNotice(testDate)
	later.MessageID = "later.1@desk.example"
	q.add(later)
	deliver(t, s)
	if got := take(); !slices.Equal(got, []int{451}) {
		t.Errorf("MAIL FROM refused for now: codes %v", got)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	q = newMemQueue()
	q.add(testNotice(testDate))
	s = newTestSender(t, down, q, testDate.Add(time.Minute), nil)
	s.opts.Replied = record
	deliver(t, s)
	if got := take(); !slices.Equal(got, []int{0}) {
		t.Errorf("server down: codes %v", got)
	}
}
