package intake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
)

// session is one logged-in connection with the mailbox selected.
type session struct {
	c           *imapclient.Client
	caps        imap.CapSet
	uidValidity uint32
	wake        chan struct{} // signalled (never blocking) on an unsolicited EXISTS
	stopWatch   func() bool   // detaches the ctx watcher that closes the connection
	conn        *deadlineConn
}

func (s *session) canIdle() bool { return s.caps.Has(imap.CapIdle) }

const (
	dialTimeout   = 30 * time.Second
	logoutTimeout = 5 * time.Second
)

// connect dials, logs in, creates the filing folders and selects the mailbox.
func (in *Intake) connect(ctx context.Context) (*session, error) {
	raw, err := in.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", in.opts.Address, err)
	}
	conn := newDeadlineConn(raw, in.opts.CommandTimeout, func() {
		in.log.Warn("the IMAP server stopped answering; replacing the connection", "address", in.opts.Address, "timeout", in.opts.CommandTimeout)
	})
	// imapclient commands take no context: closing the connection is what
	// unblocks them when ctx ends (and the deadlines of conn when the
	// server stops answering).
	stop := context.AfterFunc(ctx, func() { conn.Close() })

	s := &session{wake: make(chan struct{}, 1), stopWatch: stop, conn: conn}
	copts := &imapclient.Options{
		TLSConfig: in.tlsConfig(),
		// Subjects of envelopes come in ISO-2022-JP and Shift_JIS too.
		WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: must not block.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case s.wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	if in.opts.TLS == "starttls" {
		s.c, err = imapclient.NewStartTLS(conn, copts)
		if err != nil {
			stop()
			return nil, fmt.Errorf("starttls with %s: %w", in.opts.Address, err)
		}
	} else {
		s.c = imapclient.New(conn, copts)
	}
	if err := in.setUp(s); err != nil {
		s.close(ctx)
		return nil, err
	}
	return s, nil
}

func (in *Intake) dial(ctx context.Context) (net.Conn, error) {
	// TCP keepalive is what notices a peer that vanished (NAT timeout, host
	// down) while we sit in IDLE: imapclient itself waits forever.
	nd := &net.Dialer{
		Timeout:         dialTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 15 * time.Second, Count: 4},
	}
	switch in.opts.TLS {
	case "none", "starttls":
		return nd.DialContext(ctx, "tcp", in.opts.Address)
	case "tls":
		cfg := in.tlsConfig()
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		td := &tls.Dialer{NetDialer: nd, Config: cfg}
		return td.DialContext(ctx, "tcp", in.opts.Address)
	default:
		return nil, fmt.Errorf("unknown TLS mode %q (want none, starttls or tls)", in.opts.TLS)
	}
}

func (in *Intake) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if in.opts.TLSConfig != nil {
		cfg = in.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(in.opts.Address); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

func (in *Intake) setUp(s *session) error {
	if err := s.c.WaitGreeting(); err != nil {
		return fmt.Errorf("greeting from %s: %w", in.opts.Address, err)
	}
	if err := s.c.Login(in.opts.Username, in.opts.Password).Wait(); err != nil {
		return fmt.Errorf("login as %s: %w", in.opts.Username, err)
	}
	if s.caps = s.c.Caps(); s.caps == nil {
		return errors.New("read server capabilities: no answer")
	}
	for _, name := range []string{in.opts.Processed, in.opts.Quarantine} {
		if err := ensureMailbox(s.c, name); err != nil {
			return err
		}
	}
	sel, err := s.c.Select(in.opts.Mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("select %s: %w", in.opts.Mailbox, err)
	}
	s.uidValidity = sel.UIDValidity
	in.log.Debug("mailbox selected", "mailbox", in.opts.Mailbox, "uidvalidity", sel.UIDValidity, "messages", sel.NumMessages)
	return in.finishExpunges(s)
}

// finishExpunges removes the messages left flagged \Deleted in the mailbox.
// The desk flags a message only once it is recorded (and filed), and a
// crash or a cut between STORE and EXPUNGE would otherwise leave it in the
// mailbox for good: every search skips \Deleted messages. Like the plain
// EXPUNGE of deleteUID, this also removes mail someone else flagged.
func (in *Intake) finishExpunges(s *session) error {
	data, err := s.c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search %s for deleted mail: %w", in.opts.Mailbox, err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	var expunge *imapclient.ExpungeCommand
	if s.caps.Has(imap.CapUIDPlus) {
		expunge = s.c.UIDExpunge(imap.UIDSetNum(uids...))
	} else {
		expunge = s.c.Expunge()
	}
	if err := expunge.Close(); err != nil {
		return fmt.Errorf("expunge %s: %w", in.opts.Mailbox, err)
	}
	in.log.Info("expunged messages left flagged deleted by an interrupted pass", "count", len(uids))
	return nil
}

// ensureMailbox creates name unless it exists. ALREADYEXISTS is the normal
// answer; servers that refuse without that code are checked with LIST.
func ensureMailbox(c *imapclient.Client, name string) error {
	err := c.Create(name, nil).Wait()
	if err == nil {
		return nil
	}
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	listed, listErr := c.List("", name, nil).Collect()
	if listErr == nil && len(listed) > 0 {
		return nil
	}
	return fmt.Errorf("create mailbox %s: %w", name, err)
}

// close logs out politely, but never waits long for a server that stopped
// answering, then closes the connection. After ctx is done it only closes:
// the connection may be mid-IDLE, where LOGOUT would wait for nothing.
func (s *session) close(ctx context.Context) {
	if !s.stopWatch() || ctx.Err() != nil {
		_ = s.c.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.c.Logout().Wait()
	}()
	t := time.NewTimer(logoutTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-s.c.Closed():
	case <-t.C:
	}
	// Close also completes a Logout still waiting for its answer.
	_ = s.c.Close()
}
