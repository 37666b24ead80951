package intake

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
)

// stallProxy forwards TCP connections to target. After stall, the
// connections open at that moment stay open but carry nothing more either
// way: a server still connected that stopped answering. Connections made
// later are forwarded normally.
type stallProxy struct {
	addr     string
	target   string
	ln       net.Listener
	accepted atomic.Int32

	mu    sync.Mutex
	conns map[*stalledPair]struct{}
	wg    sync.WaitGroup
}

type stalledPair struct {
	client, server net.Conn
	stalled        chan struct{}
	stallOnce      sync.Once
	closeOnce      sync.Once
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[*stalledPair]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.accepted.Add(1)
		c := &stalledPair{client: client, server: server, stalled: make(chan struct{})}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); c.pipe(server, client) }()
		go func() { defer p.wg.Done(); c.pipe(client, server) }()
	}
}

// pipe copies src to dst until either end closes; once stalled it keeps
// reading, so that neither peer blocks in a write, and forwards nothing.
func (c *stalledPair) pipe(dst, src net.Conn) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-c.stalled:
			n = 0
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (c *stalledPair) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// stall silences every connection open now.
func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.stallOnce.Do(func() { close(c.stalled) })
	}
}

func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
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
			proxy.stall()
		}
		return Disposition{To: ToProcessed}, nil
	}
	opts := options(t, s)
	opts.Address = proxy.addr
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
	opts.Address = proxy.addr
	opts.CommandTimeout = testCommandTimeout
	opts.IdleRefresh = 200 * time.Millisecond
	opts.PollInterval = time.Hour // only IDLE, and the new connection's pass, find mail
	runIntake(t, New(opts, r))
	appendN(t, s, 0, 1)
	waitDelivery(t, r, 1)
	waitFiled(t, s, 1)

	proxy.stall()
	stalled := time.Now()
	appendN(t, s, 1, 2)
	waitDelivery(t, r, 2)
	// IdleRefresh, then the deadline, then a reconnect after BackoffMin..Max.
	if took := time.Since(stalled); took > 3*time.Second {
		t.Errorf("mail reached the desk %v after the server went silent", took)
	}
	if n := proxy.accepted.Load(); n < 2 {
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
