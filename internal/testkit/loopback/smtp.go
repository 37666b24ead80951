package loopback

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SinkOptions configures StartSMTP.
type SinkOptions struct {
	RejectRecipients map[string]int // recipient address -> SMTP code to answer RCPT with (e.g. 550)
	Logger           *slog.Logger   // server-side errors; nil means slog.Default()
	// Keep, when set, says which messages are recorded; the others are
	// only counted in the Tally, so a benchmark's sink holds nothing of
	// its backlog's notices in the memory (and the collector's work) it
	// measures.
	Keep func(to []string) bool
	// Deliver, when set, is called with every accepted message (after it
	// is recorded), e.g. to put it into an IMAP mailbox.
	Deliver func(Received)
	Addr    string // where to listen; "" means 127.0.0.1 on a free port
}

// Received is one message the sink accepted.
type Received struct {
	From string
	To   []string
	Data []byte
	Size int
	At   time.Time
}

// Tally counts every message the sink accepted, recorded or not.
type Tally struct {
	Count int
	Bytes int64
	Last  time.Time // when the latest one was accepted
}

// SMTPSink is a running SMTP server that records every message it accepts.
type SMTPSink struct {
	Addr string // host:port the sink listens on

	reject   map[string]int // lower-cased addresses
	keep     func(to []string) bool
	deliver  func(Received)
	tempFail atomic.Bool
	srv      *smtp.Server
	ln       *trackingListener
	served   chan struct{}

	mu      sync.Mutex
	msgs    []Received
	tally   Tally
	arrived chan struct{} // closed and replaced on every accepted message

	closeOnce sync.Once
	closeErr  error
}

// StartSMTP starts an SMTP sink (on 127.0.0.1 on a free port unless
// opts.Addr says where). It accepts
// mail with or without AUTH PLAIN (any credentials).
func StartSMTP(opts SinkOptions) (*SMTPSink, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &SMTPSink{
		reject:  make(map[string]int, len(opts.RejectRecipients)),
		keep:    opts.Keep,
		deliver: opts.Deliver,
		served:  make(chan struct{}),
		arrived: make(chan struct{}),
	}
	for addr, code := range opts.RejectRecipients {
		s.reject[strings.ToLower(addr)] = code
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = printfLogger{log.With("server", "smtp")}
	ln, err := net.Listen("tcp", listenAddr(opts.Addr))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.srv = srv
	s.ln = newTrackingListener(ln, nil)
	s.Addr = ln.Addr().String()
	go func() {
		defer close(s.served)
		// Serve returns once Close has closed the listener; nothing to report.
		_ = srv.Serve(s.ln)
	}()
	return s, nil
}

// Messages returns a copy of the recorded messages (all accepted ones,
// unless SinkOptions.Keep says otherwise) in arrival order.
func (s *SMTPSink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	for i, m := range s.msgs {
		m.To = append([]string(nil), m.To...)
		m.Data = append([]byte(nil), m.Data...)
		out[i] = m
	}
	return out
}

// Tally returns the count, bytes and latest arrival of every message
// accepted so far.
func (s *SMTPSink) Tally() Tally {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tally
}

// Wait blocks until at least n messages were accepted or ctx is done.
func (s *SMTPSink) Wait(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, arrived := s.tally.Count, s.arrived
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("smtp sink: %d of %d messages: %w", got, n, ctx.Err())
		case <-arrived:
		}
	}
}

// SetTempFail makes the sink answer MAIL FROM with 451 while on.
func (s *SMTPSink) SetTempFail(on bool) { s.tempFail.Store(on) }

// Close stops the sink and closes every connection.
func (s *SMTPSink) Close() error {
	s.closeOnce.Do(func() {
		// Stop accepting, cut the connections, then wait for their handlers:
		// go-smtp logs a connection's error after closing it.
		s.closeErr = s.ln.Close()
		<-s.served
		s.ln.dropAll()
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		_ = s.srv.Shutdown(ctx) // only waits: its listener is already closed
	})
	return s.closeErr
}

func (s *SMTPSink) record(m Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tally.Count++
	s.tally.Bytes += int64(m.Size)
	if m.At.After(s.tally.Last) {
		s.tally.Last = m.At
	}
	if s.keep == nil || s.keep(m.To) {
		s.msgs = append(s.msgs, m)
	}
	close(s.arrived)
	s.arrived = make(chan struct{})
}

type sinkSession struct {
	sink *SMTPSink
	from string
	to   []string
}

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.tempFail.Load() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary failure (sink set to fail)"}
	}
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if code, ok := ss.sink.reject[strings.ToLower(to)]; ok {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "recipient rejected (sink configured)"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rcvd := Received{From: ss.from, To: append([]string(nil), ss.to...), Data: data, Size: len(data), At: time.Now()}
	ss.sink.record(rcvd)
	if ss.sink.deliver != nil {
		ss.sink.deliver(rcvd)
	}
	return nil
}

// listenAddr is addr, or a free port on 127.0.0.1 when addr is empty.
func listenAddr(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

func (ss *sinkSession) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *sinkSession) Logout() error { return nil }
