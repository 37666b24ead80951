package intake

import (
	"errors"
	"net"
	"sync"
	"time"
)

// deadlineConn gives every round trip with the server a deadline.
// imapclient bounds the reading of a response once its first byte came,
// but waits for that first byte forever (its commands take no context), so
// a server that keeps the connection open and stops answering would hang
// intake. Every write (a command, a literal, IDLE's DONE) means an answer
// is due: the read deadline is then at most timeout away, and each chunk
// that arrives pushes it back, so a long answer that is still coming is
// not cut. The session calls nothingDue where it waits for something other
// than the server (the desk's work, IDLE), where silence is normal.
//
// imapclient sets read and write deadlines of its own (30 s for a response
// once begun, 5 min for a literal): the connection keeps the earlier of
// theirs and ours.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	// onExpire is called once, when a read fails at our deadline.
	onExpire func()

	mu          sync.Mutex
	answerBy    time.Time // zero: no answer is due
	pushedAt    time.Time // when answerBy was last moved
	clientRead  time.Time // deadlines imapclient asked for
	clientWrite time.Time
	expired     bool
}

// writeChunk bounds what one write deadline covers, so that a large
// literal on a slow link is bounded by its progress, not by its size.
const writeChunk = 64 << 10

func newDeadlineConn(c net.Conn, timeout time.Duration, onExpire func()) *deadlineConn {
	d := &deadlineConn{Conn: c, timeout: timeout, onExpire: onExpire}
	d.mu.Lock()
	d.answerBy, d.pushedAt = time.Now().Add(timeout), time.Now() // the greeting
	_ = d.applyRead()
	d.mu.Unlock()
	return d
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		if err := c.sending(); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// sending arms both deadlines for a write and the answer it asks for.
func (c *deadlineConn) sending() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.answerBy, c.pushedAt = now.Add(c.timeout), now
	if err := c.applyRead(); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(earliest(c.clientWrite, now.Add(c.timeout)))
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.progress()
	}
	var netErr net.Error
	if err != nil && errors.As(err, &netErr) && netErr.Timeout() {
		c.timedOut()
	}
	return n, err
}

// progress pushes the deadline back while an answer is arriving. It moves
// it at most every timeout/16: a FETCH of many messages reads often.
func (c *deadlineConn) progress() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answerBy.IsZero() {
		return
	}
	now := time.Now()
	if now.Sub(c.pushedAt) < c.timeout/16 {
		return
	}
	c.answerBy, c.pushedAt = now.Add(c.timeout), now
	_ = c.applyRead()
}

// timedOut reports a read that failed at our deadline (not at one of
// imapclient's), once.
func (c *deadlineConn) timedOut() {
	c.mu.Lock()
	ours := !c.answerBy.IsZero() && !time.Now().Before(c.answerBy) && !c.expired
	if ours {
		c.expired = true
	}
	c.mu.Unlock()
	if ours && c.onExpire != nil {
		c.onExpire()
	}
}

// nothingDue clears our read deadline: no answer is awaited until the
// next write.
func (c *deadlineConn) nothingDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answerBy = time.Time{}
	_ = c.applyRead()
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientRead, c.clientWrite = t, t
	if err := c.applyRead(); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientRead = t
	return c.applyRead()
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientWrite = t
	return c.Conn.SetWriteDeadline(t)
}

// applyRead sets the earlier of imapclient's read deadline and ours; c.mu
// is held.
func (c *deadlineConn) applyRead() error {
	return c.Conn.SetReadDeadline(earliest(c.clientRead, c.answerBy))
}

// earliest is the earlier deadline, where zero means none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}
