package loopback

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
)

// Count returns how many messages the user's mailbox holds (including any
// flagged \Deleted and not yet expunged), without opening a connection.
func (s *IMAPServer) Count(user, mailbox string) (int, error) {
	u, ok := s.users[user]
	if !ok {
		return 0, fmt.Errorf("count: no user %q", user)
	}
	st, err := u.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", mailbox, err)
	}
	if st.NumMessages == nil {
		return 0, nil
	}
	return int(*st.NumMessages), nil
}

// FaultProxy is a TCP proxy between an IMAP client and any IMAP server
// (the loopback one or a real Dovecot) that cuts connections at chosen
// protocol moments: in the middle of the response to a message-body FETCH,
// or while the client sits in IDLE; or silences them (Stall), as a server
// that stays connected and stops answering. It reads just enough of the client's
// commands to know which one is in flight, passing literals through.
type FaultProxy struct {
	Addr string // host:port clients connect to

	target string
	ln     net.Listener
	served chan struct{}

	mu    sync.Mutex
	conns map[*proxyConn]struct{}
	wg    sync.WaitGroup

	armedFetch atomic.Int64 // body FETCH responses still to cut
	armedStore atomic.Int64 // \Deleted STOREs still to cut after their answer
	storeDrops atomic.Int64
	fetchDrops atomic.Int64
	idleDrops  atomic.Int64
	accepted   atomic.Int64
}

type proxyConn struct {
	client, server net.Conn
	fetching       atomic.Bool // a body FETCH is the last command sent
	deleting       atomic.Bool // a STORE +FLAGS \Deleted is the last command sent
	idling         atomic.Bool // IDLE sent, DONE not yet
	stalled        atomic.Bool // carries nothing more either way (still read, so no peer blocks)
	once           sync.Once
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// StartFaultProxy listens on 127.0.0.1 and forwards every connection to target.
func StartFaultProxy(target string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p := &FaultProxy{Addr: ln.Addr().String(), target: target, ln: ln, served: make(chan struct{}), conns: make(map[*proxyConn]struct{})}
	go p.serve()
	return p, nil
}

func (p *FaultProxy) serve() {
	defer close(p.served)
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
		c := &proxyConn{client: client, server: server}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.clientToServer(c); p.forget(c) }()
		go func() { defer p.wg.Done(); p.serverToClient(c); p.forget(c) }()
	}
}

func (p *FaultProxy) forget(c *proxyConn) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

var (
	bodyFetchCmd = regexp.MustCompile(`(?i)^\S+ (UID )?FETCH .*BODY(\.PEEK)?\[\]`)
	idleCmd      = regexp.MustCompile(`(?i)^\S+ IDLE\r?\n$`)
	doneCmd      = regexp.MustCompile(`(?i)^DONE\r?\n$`)
	deleteCmd    = regexp.MustCompile(`(?i)^\S+ (UID )?STORE .*\+FLAGS.*\\Deleted`)
)

// clientToServer forwards the client's commands line by line, literals
// verbatim, noting which command is in flight.
func (p *FaultProxy) clientToServer(c *proxyConn) {
	r := bufio.NewReader(c.client)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			c.deleting.Store(deleteCmd.Match(line))
			switch {
			case bodyFetchCmd.Match(line):
				c.fetching.Store(true)
			case idleCmd.Match(line):
				c.idling.Store(true)
			case doneCmd.Match(line):
				c.idling.Store(false)
				c.fetching.Store(false)
			default:
				c.fetching.Store(false)
			}
			var dst io.Writer = c.server
			if c.stalled.Load() {
				dst = io.Discard
			}
			if _, werr := dst.Write(line); werr != nil {
				return
			}
			if n := literalSize(line); n > 0 {
				if _, err := io.CopyN(dst, r, n); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// serverToClient forwards the server's responses; an armed FETCH cut
// forwards half of the first chunk of a body FETCH's response and closes.
func (p *FaultProxy) serverToClient(c *proxyConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 && !c.stalled.Load() {
			chunk := buf[:n]
			if c.fetching.Load() && bytes.Contains(chunk, []byte("FETCH")) && p.takeFetchArm() {
				c.client.Write(chunk[:n/2])
				p.fetchDrops.Add(1)
				c.close()
				return
			}
			if _, werr := c.client.Write(chunk); werr != nil {
				return
			}
			if c.deleting.Load() && bytes.Contains(chunk, []byte(" OK")) && take(&p.armedStore) {
				// The flag is set, the EXPUNGE that should follow never comes.
				p.storeDrops.Add(1)
				c.close()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *FaultProxy) takeFetchArm() bool { return take(&p.armedFetch) }

func take(arm *atomic.Int64) bool {
	for {
		n := arm.Load()
		if n <= 0 {
			return false
		}
		if arm.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// ArmDeleteDrop makes the proxy cut the next n connections right after the
// server answered a STORE +FLAGS \Deleted, before the client's EXPUNGE:
// what a crash between the two commands leaves behind.
func (p *FaultProxy) ArmDeleteDrop(n int) { p.armedStore.Add(int64(n)) }

// DeleteDrops reports how many connections were cut between STORE \Deleted and EXPUNGE.
func (p *FaultProxy) DeleteDrops() int { return int(p.storeDrops.Load()) }

// ArmFetchDrop makes the proxy cut the next n connections that receive the
// response to a message-body FETCH, halfway through that response.
func (p *FaultProxy) ArmFetchDrop(n int) { p.armedFetch.Add(int64(n)) }

// DisarmFetchDrop cancels cuts armed and not yet done.
func (p *FaultProxy) DisarmFetchDrop() { p.armedFetch.Store(0); p.armedStore.Store(0) }

// DropIdle closes every connection whose client is in IDLE and returns how many.
func (p *FaultProxy) DropIdle() int {
	n := 0
	for _, c := range p.snapshot() {
		if c.idling.Load() {
			c.close()
			n++
		}
	}
	p.idleDrops.Add(int64(n))
	return n
}

// Stall silences every connection open now: they stay open, and carry
// nothing more either way. Connections made later are forwarded.
func (p *FaultProxy) Stall() {
	for _, c := range p.snapshot() {
		c.stalled.Store(true)
	}
}

// Accepted reports how many connections the proxy has taken.
func (p *FaultProxy) Accepted() int { return int(p.accepted.Load()) }

// DropAll closes every connection.
func (p *FaultProxy) DropAll() {
	for _, c := range p.snapshot() {
		c.close()
	}
}

// Drops reports how many connections were cut mid-FETCH and mid-IDLE.
func (p *FaultProxy) Drops() (midFetch, midIdle int) {
	return int(p.fetchDrops.Load()), int(p.idleDrops.Load())
}

func (p *FaultProxy) snapshot() []*proxyConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	return out
}

// Close stops the proxy and cuts every connection.
func (p *FaultProxy) Close() error {
	err := p.ln.Close()
	<-p.served
	p.DropAll()
	p.wg.Wait()
	return err
}
