// Package outbound delivers the outbox over SMTP. Each notice is built with
// its own stable Message-ID and Date, so that the only possible repeat — a
// crash after DATA was accepted and before the row was marked sent — carries
// the same Message-ID and can be recognised as a duplicate.
package outbound

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/madoguchi/madoguchi/internal/store"
)

// Queue is the outbox as the sender needs it; *store.Store satisfies it.
type Queue interface {
	Due(ctx context.Context, now time.Time, limit int) ([]store.Notice, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	MarkSent(ctx context.Context, id int64, at time.Time) error
	MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error
	MarkFailed(ctx context.Context, id int64, reason string) error
}

// Options configure the SMTP submission.
type Options struct {
	Address  string // host:port
	TLS      string // "none" | "starttls" | "tls"; "" means "starttls"
	Username string // AUTH PLAIN when Username != ""
	Password string
	HeloName string
	Timeout  time.Duration // per connection and per message; default 30s
	// Backoff holds the delay before each retry: a notice that failed
	// temporarily for the (i+1)th time is tried again after Backoff[i], and
	// after len(Backoff) retries it is marked failed. Default 1m, 5m, 15m,
	// 1h, 4h.
	Backoff   []time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
	TLSConfig *tls.Config
	// Replied, when set, is told the code of every reply the sender acts
	// on (0: none came, the connection failed or timed out): for metrics,
	// so it must only count.
	Replied func(code int)
	// MaySend, when set, is asked before each notice: false ends the pass
	// and leaves the notices taken but not sent in the outbox. Instances
	// sharing an outbox use it to stop sending once their claims may have
	// lapsed, so that they do not send what another is taking over.
	MaySend func() bool
}

const (
	defaultTimeout = 30 * time.Second
	// maxSleep bounds Run's wait so that a changed wall clock (or a row
	// made due by someone who did not Kick) is noticed within a minute.
	maxSleep = time.Minute
	// idleFloor keeps Run from spinning when a row stays due without being
	// delivered (for example one whose mark keeps failing).
	idleFloor = time.Second
	batchSize = 100
	// keepConnections is how long Run keeps an idle SMTP connection open
	// for the next pass (Postfix's smtp_connection_cache_time_limit).
	keepConnections = 2 * time.Second
)

func defaultBackoff() []time.Duration {
	return []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour}
}

// Sender delivers due notices from a Queue.
type Sender struct {
	opts Options
	q    Queue
	log  *slog.Logger
	now  func() time.Time
	kick chan struct{}
	// mu serialises DeliverDue: two overlapping calls would both see the
	// same due rows and send them twice. It also guards lanes.
	mu sync.Mutex
	// lanes are Run's SMTP connections, kept open between passes for up
	// to keepConnections, as an MTA's connection cache does: under a
	// backlog a pass starts for almost every message, and a new
	// connection each time (TCP, EHLO, STARTTLS, AUTH) cost both sides more
	// than the mail itself.
	lanes []*conn
}

// New makes a Sender; Options are checked by DeliverDue and Run.
func New(opts Options, q Queue) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Backoff == nil {
		opts.Backoff = defaultBackoff()
	}
	opts.Backoff = append([]time.Duration(nil), opts.Backoff...)
	s := &Sender{opts: opts, q: q, log: opts.Logger, now: opts.Now, kick: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Kick wakes Run without waiting, e.g. after a notice was enqueued.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default: // a wake-up is already pending; one is enough
	}
}

// Run delivers due notices until ctx is cancelled, sleeping until the next
// notice is due, a Kick, or at most a minute. It returns an error only for
// unusable Options; queue errors are logged and retried.
func (s *Sender) Run(ctx context.Context) error {
	if _, err := s.newClient(); err != nil {
		return err
	}
	defer s.closeLanes()
	for {
		sent, retried, failed, err := s.deliverDue(ctx, true)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Error("outbound: delivering due notices", "err", err)
		}
		if !s.waitForNext(ctx, sent+retried+failed) {
			return nil
		}
	}
}

// waitForNext sleeps until the next notice is due or a Kick, closing the
// kept connections once they have been idle for keepConnections. It
// reports false when ctx ended.
func (s *Sender) waitForNext(ctx context.Context, handled int) bool {
	var wait time.Duration
	select {
	case <-s.kick:
		// More was queued during the pass: go on at once, without asking
		// the queue when the next notice is due (a query per pass under
		// a backlog).
		return true
	default:
		wait = s.untilNext(ctx)
	}
	if handled == 0 && wait < idleFloor {
		wait = idleFloor
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	idle := time.NewTimer(keepConnections)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.kick:
			return true
		case <-t.C:
			return true
		case <-idle.C:
			s.closeLanes()
		}
	}
}

// closeLanes ends Run's kept SMTP connections (QUIT).
func (s *Sender) closeLanes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.lanes {
		c.close()
	}
}

// untilNext is how long Run may sleep before the next notice is due.
func (s *Sender) untilNext(ctx context.Context) time.Duration {
	next, ok, err := s.q.NextDue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("outbound: next due notice", "err", err)
		}
		return maxSleep
	}
	if !ok {
		return maxSleep
	}
	return max(0, min(maxSleep, next.Sub(s.now())))
}

// deliveryLanes is how many SMTP connections deliver at once. On a busy
// machine each of a transaction's round trips waits for a core, and one
// connection fell behind the desk (madoguchi bench). The end of DATA and
// the mark that records it are still taken one lane at a time (commit), so
// a crash repeats at most one notice, as with one connection.
const deliveryLanes = 2

// DeliverDue tries every due notice once, over up to deliveryLanes SMTP
// connections, and closes them. Notices to the same first recipient go
// over the same lane, in queue order. A connection failure marks each of
// its due notices for retry. err is only for queue errors (or unusable
// Options, or ctx being cancelled), and the counts tell what was done
// until then.
func (s *Sender) DeliverDue(ctx context.Context) (sent, retried, failed int, err error) {
	return s.deliverDue(ctx, false)
}

// deliverDue is DeliverDue; keep leaves the connections open for Run's
// next pass.
func (s *Sender) deliverDue(ctx context.Context, keep bool) (sent, retried, failed int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lanes == nil {
		var commit sync.Mutex
		for range deliveryLanes {
			client, err := s.newClient()
			if err != nil {
				// Leave the notices pending: retrying cannot fix a configuration.
				return 0, 0, 0, err
			}
			s.lanes = append(s.lanes, &conn{s: s, client: client, commit: &commit})
		}
	}
	lanes := s.lanes
	for _, c := range lanes {
		c.dialErr = nil // a connection that failed last pass is tried again
		if !keep {
			defer c.close()
		}
	}
	seen := make(map[int64]bool)
	for {
		due, err := s.q.Due(ctx, s.now(), batchSize)
		if err != nil {
			return sent, retried, failed, fmt.Errorf("outbound: due notices: %w", err)
		}
		work := make([][]store.Notice, len(lanes))
		fresh := 0
		for _, n := range due {
			if seen[n.ID] { // retried with a zero delay: once per call is enough
				continue
			}
			seen[n.ID] = true
			fresh++
			i := laneOf(n, len(lanes))
			work[i] = append(work[i], n)
		}
		var (
			mu       sync.Mutex
			firstErr error
			wg       sync.WaitGroup
		)
		for i, c := range lanes {
			if len(work[i]) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, n := range work[i] {
					if err := ctx.Err(); err != nil {
						mu.Lock()
						firstErr = cmp.Or(firstErr, err)
						mu.Unlock()
						return
					}
					if s.opts.MaySend != nil && !s.opts.MaySend() {
						return
					}
					st, err := c.deliver(ctx, n)
					mu.Lock()
					switch st {
					case stateSent:
						sent++
					case stateRetry:
						retried++
					case stateFailed:
						failed++
					}
					firstErr = cmp.Or(firstErr, err)
					stop := firstErr != nil
					mu.Unlock()
					if stop {
						return
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return sent, retried, failed, firstErr
		}
		if fresh == 0 || len(due) < batchSize {
			return sent, retried, failed, nil
		}
	}
}

// laneOf keeps the notices of one recipient on one lane, so they arrive
// in the order they were queued.
func laneOf(n store.Notice, lanes int) int {
	key := ""
	if len(n.To) > 0 {
		key = strings.ToLower(n.To[0])
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(lanes))
}

// newClient makes the go-mail client that dials and sets up connections
// (TLS policy, AUTH, HELO, timeout). The mail transactions themselves are
// driven here on its smtp.Client; see conn.transact for why.
func (s *Sender) newClient() (*mail.Client, error) {
	o := s.opts
	host, portStr, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("outbound: address %q: %w", o.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("outbound: address %q: bad port", o.Address)
	}
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tlsConf = o.TLSConfig.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = host
		}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(o.Timeout), mail.WithTLSConfig(tlsConf)}
	switch o.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls", "":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		opts = append(opts, mail.WithSSL(), mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		return nil, fmt.Errorf("outbound: TLS %q: want none, starttls or tls", o.TLS)
	}
	if o.Username != "" {
		// go-mail's PLAIN refuses to send the password over an unencrypted
		// connection (except to localhost); that is kept on purpose.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain),
			mail.WithUsername(o.Username), mail.WithPassword(o.Password))
	}
	if o.HeloName != "" {
		opts = append(opts, mail.WithHELO(o.HeloName))
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	return client, nil
}

type state int

const (
	stateNone state = iota
	stateSent
	stateRetry
	stateFailed
)

// conn is the SMTP connection of one DeliverDue call, opened on first need.
type conn struct {
	s       *Sender
	commit  *sync.Mutex // held from the end of DATA until the result is marked
	client  *mail.Client
	smtp    *smtp.Client
	used    bool  // a transaction already ran on smtp
	dialErr error // once dialling failed, the rest of the batch is retried
}

func (c *conn) close() {
	if c.smtp == nil {
		return
	}
	if err := c.smtp.Quit(); err != nil {
		_ = c.smtp.Close()
	}
	c.smtp = nil
}

func (c *conn) drop() {
	if c.smtp != nil {
		_ = c.smtp.Close()
		c.smtp = nil
	}
}

func (c *conn) dial(ctx context.Context) error {
	if c.smtp != nil || c.dialErr != nil {
		return c.dialErr
	}
	client, err := c.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		c.dialErr = err
		return err
	}
	c.smtp, c.used = client, false
	return nil
}

// outcome is what one SMTP transaction did.
type outcome struct {
	st       state
	reason   string
	lost     bool     // the connection is unusable
	early    bool     // failed before the final dot: the server has not taken the message
	refused  []string // recipients refused while others were accepted
	accepted int
	// committing: the commit lock is held (taken before the final dot);
	// deliver releases it after the mark.
	committing bool
}

// deliver sends one notice and records the result in the queue. The
// returned error is a queue error or ctx's.
func (c *conn) deliver(ctx context.Context, n store.Notice) (state, error) {
	s := c.s
	log := s.log.With("notice", n.ID, "message_id", n.MessageID, "attempt", n.Attempts+1)
	// Marks are written even when ctx was cancelled meanwhile: once the
	// server has the message, recording it is what prevents a resend.
	mctx := context.WithoutCancel(ctx)

	from, rcpts, raw, err := render(n)
	if err != nil {
		log.Error("outbound: notice cannot be built", "err", err)
		return stateFailed, markErr(s.q.MarkFailed(mctx, n.ID, "build: "+err.Error()))
	}

	var o outcome
	for try := 0; ; try++ {
		if err := c.dial(ctx); err != nil {
			if ctx.Err() != nil {
				return stateNone, ctx.Err()
			}
			s.replied(err)
			o = outcome{st: stateRetry, reason: "connect: " + err.Error()}
			break
		}
		reused := c.used
		o = c.transact(from, rcpts, raw)
		c.used = true
		if o.lost {
			c.drop()
		}
		// A reused connection may have been closed by the server while we
		// were busy: reconnect once before counting an attempt.
		if o.lost && o.early && reused && try == 0 {
			log.Debug("outbound: reconnecting", "reason", o.reason)
			continue
		}
		break
	}

	if o.committing {
		// The final dot was sent under the commit lock: release it once
		// the result is recorded.
		defer c.commit.Unlock()
	}
	switch o.st {
	case stateSent:
		if len(o.refused) > 0 {
			// MarkSent keeps no reason: the log is the record of who missed it.
			log.Warn("outbound: sent, but some recipients were refused",
				"accepted", o.accepted, "refused", strings.Join(o.refused, "; "))
		} else {
			log.Info("outbound: sent", "recipients", o.accepted)
		}
		return stateSent, markErr(s.q.MarkSent(mctx, n.ID, s.now()))
	case stateFailed:
		log.Error("outbound: failed permanently", "reason", o.reason)
		return stateFailed, markErr(s.q.MarkFailed(mctx, n.ID, o.reason))
	default:
		return s.retry(mctx, log, n, o.reason)
	}
}

// retry schedules the next attempt, or fails the notice when the backoff
// schedule is used up.
func (s *Sender) retry(ctx context.Context, log *slog.Logger, n store.Notice, reason string) (state, error) {
	if n.Attempts >= len(s.opts.Backoff) {
		reason = fmt.Sprintf("gave up after %d attempts: %s", n.Attempts+1, reason)
		log.Error("outbound: failed", "reason", reason)
		return stateFailed, markErr(s.q.MarkFailed(ctx, n.ID, reason))
	}
	next := s.now().Add(s.opts.Backoff[n.Attempts])
	log.Warn("outbound: will retry", "reason", reason, "next", next)
	return stateRetry, markErr(s.q.MarkRetry(ctx, n.ID, next, reason))
}

func markErr(err error) error {
	if err != nil {
		return fmt.Errorf("outbound: outbox update: %w", err)
	}
	return nil
}

// render builds the message bytes and the envelope. Rendering before MAIL
// FROM keeps build errors apart from connection errors.
func render(n store.Notice) (from string, rcpts []string, raw []byte, err error) {
	m, err := Build(n)
	if err != nil {
		return "", nil, nil, err
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return "", nil, nil, err
	}
	fa, err := netmail.ParseAddress(n.From)
	if err != nil {
		return "", nil, nil, err
	}
	seen := make(map[string]bool)
	for _, r := range append(append([]string(nil), n.To...), n.Cc...) {
		a, err := netmail.ParseAddress(r)
		if err != nil {
			return "", nil, nil, err
		}
		if k := strings.ToLower(a.Address); !seen[k] {
			seen[k] = true
			rcpts = append(rcpts, a.Address)
		}
	}
	return fa.Address, rcpts, buf.Bytes(), nil
}

// transact runs MAIL, RCPT and DATA itself instead of go-mail's Send,
// because Send gives up on the whole message when any one RCPT is refused
// and its SendError.IsTemp only looks for a leading '4', so a dropped
// connection would count as permanent. Here each reply code decides.
func (c *conn) transact(from string, rcpts []string, raw []byte) outcome {
	cl := c.smtp
	if err := cl.UpdateDeadline(c.s.opts.Timeout); err != nil {
		return outcome{st: stateRetry, reason: err.Error(), lost: true, early: true}
	}
	o := c.envelope(cl, from, rcpts)
	if o.st != stateNone {
		o.early = true
		return o
	}
	w, err := cl.Data()
	if err != nil {
		c.s.replied(err)
		o := classify("DATA", err)
		o.early = true
		c.reset(cl, &o)
		return o
	}
	if _, err := w.Write(raw); err != nil {
		_ = w.Close()
		return outcome{st: stateRetry, reason: "DATA: " + err.Error(), lost: true, early: true}
	}
	// From the final dot until the mark, a crash repeats the notice: one
	// lane at a time in that window keeps it to one notice per crash.
	if c.commit != nil {
		c.commit.Lock()
		o.committing = true
	}
	err = w.Close()
	c.s.replied(err)
	if err != nil {
		// After the final dot the transaction is over either way (no
		// RSET), and a lost reply leaves it unknown whether the server
		// took the message: the stable Message-ID covers a resend.
		failed := classify("end of DATA", err)
		failed.committing = o.committing
		return failed
	}
	o.st = stateSent
	return o
}

// envelope sends MAIL FROM and one RCPT TO per recipient. It returns an
// outcome with st == stateNone when at least one recipient was accepted.
func (c *conn) envelope(cl *smtp.Client, from string, rcpts []string) outcome {
	if err := cl.Mail(from); err != nil {
		c.s.replied(err)
		o := classify("MAIL FROM", err)
		c.reset(cl, &o)
		return o
	}
	var refused []string
	var refusedOutcomes []outcome
	for _, r := range rcpts {
		if err := cl.Rcpt(r); err != nil {
			c.s.replied(err)
			o := classify("RCPT TO <"+r+">", err)
			if o.lost {
				return o
			}
			refused = append(refused, o.reason)
			refusedOutcomes = append(refusedOutcomes, o)
		}
	}
	if len(refused) == len(rcpts) {
		// Nobody accepted: retry if any refusal was temporary.
		o := outcome{st: stateFailed, reason: strings.Join(refused, "; ")}
		for _, r := range refusedOutcomes {
			if r.st == stateRetry {
				o.st = stateRetry
			}
		}
		c.reset(cl, &o)
		return o
	}
	return outcome{refused: refused, accepted: len(rcpts) - len(refused)}
}

// reset ends a failed transaction so the connection can carry the next one.
func (c *conn) reset(cl *smtp.Client, o *outcome) {
	if o.lost {
		return
	}
	if err := cl.Reset(); err != nil {
		o.lost = true
	}
}

// replied reports a reply to Options.Replied: err nil is the server's
// acceptance, a textproto.Error carries the code, anything else means no
// reply came.
func (s *Sender) replied(err error) {
	if s.opts.Replied == nil {
		return
	}
	code := 250
	if err != nil {
		code = 0
		var te *textproto.Error
		if errors.As(err, &te) {
			code = te.Code
		}
	}
	s.opts.Replied(code)
}

// classify turns an SMTP error into an outcome: 5xx is permanent, 4xx and
// anything that is not an SMTP reply (network, timeout) is temporary.
func classify(stage string, err error) outcome {
	var te *textproto.Error
	if errors.As(err, &te) {
		reason := fmt.Sprintf("%s: %03d %s", stage, te.Code, te.Msg)
		switch {
		case te.Code >= 500 && te.Code < 600:
			return outcome{st: stateFailed, reason: reason}
		case te.Code == 421: // the server is closing the connection
			return outcome{st: stateRetry, reason: reason, lost: true}
		default:
			return outcome{st: stateRetry, reason: reason}
		}
	}
	return outcome{st: stateRetry, reason: stage + ": " + err.Error(), lost: true}
}
