package loopback

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// trackingListener remembers the connections it accepted so that they can
// be cut all at once (fault injection) without stopping the listener, and
// so that Close can wait for the server to finish with them (a test's
// logger must not be written to after the test ends).
type trackingListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn // optional

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	active sync.WaitGroup // connections the server has not closed yet
}

func newTrackingListener(ln net.Listener, wrap func(net.Conn) net.Conn) *trackingListener {
	return &trackingListener{Listener: ln, wrap: wrap, conns: make(map[*trackedConn]struct{})}
}

// Accept returns the listener's errors unchanged: imapserver recognises
// net.ErrClosed to stop serving quietly.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.wrap != nil {
		c = l.wrap(c)
	}
	tc := &trackedConn{Conn: c, owner: l}
	l.active.Add(1)
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// dropAll closes the underlying connections; the server notices on its
// next read or write and then closes its side through trackedConn.Close.
func (l *trackingListener) dropAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Conn.Close()
	}
}

// wait waits until the server closed every connection, or timeout passed.
func (l *trackingListener) wait(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		l.active.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

type trackedConn struct {
	net.Conn
	owner *trackingListener
	once  sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		c.owner.mu.Unlock()
		c.owner.active.Done()
	})
	return c.Conn.Close()
}

// capFilterConn removes capabilities from the server's CAPABILITY responses
// (untagged "* CAPABILITY ..." and "[CAPABILITY ...]" response codes).
// It parses just enough of the output to pass literals (message bodies)
// through untouched.
type capFilterConn struct {
	net.Conn
	drop map[string]bool // upper-case capability names

	mu      sync.Mutex // imapserver writes from one goroutine at a time, but be safe
	partial []byte     // start of a line not yet terminated
	literal int64      // literal bytes still to pass through verbatim
}

func newCapFilterConn(c net.Conn, caps ...imap.Cap) *capFilterConn {
	drop := make(map[string]bool, len(caps))
	for _, cp := range caps {
		drop[strings.ToUpper(string(cp))] = true
	}
	return &capFilterConn{Conn: c, drop: drop}
}

// Write holds back an unterminated line until its CRLF arrives; imapserver
// flushes only whole responses, so nothing waits on a held-back fragment.
func (c *capFilterConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	var out []byte
	for len(p) > 0 {
		if c.literal > 0 {
			k := int(min(int64(len(p)), c.literal))
			out = append(out, p[:k]...)
			p = p[k:]
			c.literal -= int64(k)
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial = append(c.partial, p...)
			break
		}
		line := append(c.partial, p[:i+1]...)
		c.partial = nil
		p = p[i+1:]
		c.literal = literalSize(line)
		out = append(out, c.filterLine(line)...)
	}
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (c *capFilterConn) filterLine(line []byte) []byte {
	s := string(line)
	var start, end int
	if i := strings.Index(s, "[CAPABILITY "); i >= 0 {
		start = i + len("[CAPABILITY ")
		end = start + strings.IndexByte(s[start:], ']')
		if end < start {
			return line
		}
	} else if strings.HasPrefix(s, "* CAPABILITY ") {
		start = len("* CAPABILITY ")
		end = len(strings.TrimRight(s, "\r\n"))
	} else {
		return line
	}
	var kept []string
	for _, cp := range strings.Fields(s[start:end]) {
		if !c.drop[strings.ToUpper(cp)] {
			kept = append(kept, cp)
		}
	}
	return []byte(s[:start] + strings.Join(kept, " ") + s[end:])
}

// literalSize returns N when the line ends in a literal announcement
// "{N}\r\n" (or "~{N}" for BINARY), else 0.
func literalSize(line []byte) int64 {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasSuffix(s, "}") {
		return 0
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s[i+1:len(s)-1], "+"), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
