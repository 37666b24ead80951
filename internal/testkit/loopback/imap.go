// Package loopback starts real protocol servers in-process on 127.0.0.1 for
// tests and the demo: an IMAP server (go-imap v2 imapserver over
// imapmemserver) and an SMTP sink (go-smtp) that records what it accepts.
//
// Nothing here is meant for production: authentication is plain text over
// unencrypted loopback connections and everything lives in memory.
package loopback

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPOptions configures StartIMAP.
type IMAPOptions struct {
	Users       map[string]string // user -> password; each gets INBOX
	DisableMove bool              // server does not advertise MOVE (to test COPY+\Deleted+EXPUNGE)
	DisableIdle bool              // server does not advertise IDLE (to test polling)
	Logger      *slog.Logger      // server-side errors; nil means slog.Default()
	Addr        string            // where to listen; "" means 127.0.0.1 on a free port
}

// IMAPServer is a running in-memory IMAP server.
type IMAPServer struct {
	Addr string // host:port the server listens on

	users     map[string]*imapmemserver.User
	passwords map[string]string
	srv       *imapserver.Server
	ln        *trackingListener
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// StartIMAP starts an IMAP server on 127.0.0.1 on a free port.
func StartIMAP(opts IMAPOptions) (*IMAPServer, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	mem := imapmemserver.New()
	s := &IMAPServer{
		users:     make(map[string]*imapmemserver.User, len(opts.Users)),
		passwords: make(map[string]string, len(opts.Users)),
		served:    make(chan struct{}),
	}
	for name, pw := range opts.Users {
		u := imapmemserver.NewUser(name, pw)
		// imapmemserver users start without any mailbox, not even INBOX.
		if err := u.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("create INBOX for %s: %w", name, err)
		}
		mem.AddUser(u)
		s.users[name] = u
		s.passwords[name] = pw
	}

	// Advertise IMAP4rev1 plus explicit extensions rather than IMAP4rev2:
	// IMAP4rev2 implies MOVE and IDLE, which the options must be able to hide.
	caps := imap.CapSet{
		imap.CapIMAP4rev1:    {},
		imap.CapNamespace:    {},
		imap.CapUIDPlus:      {},
		imap.CapLiteralPlus:  {},
		imap.CapStatusSize:   {},
		imap.CapListExtended: {},
		imap.CapMove:         {},
	}
	if opts.DisableMove {
		delete(caps, imap.CapMove)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := session{Session: mem.NewSession(), noIdle: opts.DisableIdle}
			if opts.DisableMove {
				// Without a Move method the server answers MOVE with BAD,
				// even to a client that ignores the capability list.
				return sess, nil, nil
			}
			return sessionWithMove{sess}, nil, nil
		},
		Caps:         caps,
		Logger:       printfLogger{log.With("server", "imap")},
		InsecureAuth: true,
	})

	ln, err := net.Listen("tcp", listenAddr(opts.Addr))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	var wrap func(net.Conn) net.Conn
	if opts.DisableIdle {
		// imapserver always advertises IDLE to IMAP4rev1 clients, so the only
		// way to hide it is to edit the capability lists on the wire.
		wrap = func(c net.Conn) net.Conn { return newCapFilterConn(c, imap.CapIdle) }
	}
	s.ln = newTrackingListener(ln, wrap)
	s.srv = srv
	s.Addr = ln.Addr().String()
	go func() {
		defer close(s.served)
		if err := srv.Serve(s.ln); err != nil {
			log.Error("imap loopback server stopped", "err", err)
		}
	}()
	return s, nil
}

// Append puts raw into the user's mailbox, creating the mailbox if absent.
// It goes through the memserver's own mailbox, whose tracker notifies every
// session that has the mailbox selected, so IDLE clients wake up.
func (s *IMAPServer) Append(user, mailbox string, raw []byte) error {
	u, ok := s.users[user]
	if !ok {
		return fmt.Errorf("append: no user %q", user)
	}
	if err := u.Create(mailbox, nil); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("append: create %s: %w", mailbox, err)
	}
	// The memserver reads the literal into a buffer of its own, so raw
	// may be reused.
	if _, err := u.Append(mailbox, &wholeLiteral{rest: raw, size: int64(len(raw))}, &imap.AppendOptions{}); err != nil {
		return fmt.Errorf("append to %s: %w", mailbox, err)
	}
	return nil
}

// List returns the raw messages present in the mailbox in UID order.
// Expunged messages are gone; messages flagged \Deleted but not yet
// expunged are still listed, so that a test sees an incomplete expunge.
// The memserver has no accessor for message bytes, so List reads them over
// a real IMAP connection (EXAMINE, which cannot change flags).
func (s *IMAPServer) List(user, mailbox string) ([][]byte, error) {
	pw, ok := s.passwords[user]
	if !ok {
		return nil, fmt.Errorf("list: no user %q", user)
	}
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		return nil, fmt.Errorf("list: dial: %w", err)
	}
	defer c.Close()
	if err := c.Login(user, pw).Wait(); err != nil {
		return nil, fmt.Errorf("list: login: %w", err)
	}
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("list: examine %s: %w", mailbox, err)
	}
	var out [][]byte
	if sel.NumMessages > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{section},
		}).Collect()
		if err != nil {
			return nil, fmt.Errorf("list: fetch %s: %w", mailbox, err)
		}
		slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return cmp.Compare(a.UID, b.UID) })
		for _, m := range msgs {
			out = append(out, m.FindBodySection(section))
		}
	}
	if err := c.Logout().Wait(); err != nil {
		return nil, fmt.Errorf("list: logout: %w", err)
	}
	return out, nil
}

// DropConnections closes every open client connection abruptly, as a
// network failure would; the server keeps listening.
func (s *IMAPServer) DropConnections() { s.ln.dropAll() }

// Close stops the server and closes every connection.
func (s *IMAPServer) Close() error {
	s.closeOnce.Do(func() {
		// Stop accepting first so that every accepted connection is tracked,
		// then let the handlers finish before the server forgets them.
		s.closeErr = s.ln.Close()
		<-s.served
		s.ln.dropAll()
		s.ln.wait(closeWait)
		_ = s.srv.Close() // marks the server closed; nothing is left to close
	})
	return s.closeErr
}

// session wraps an imapmemserver session. Its method set lacks Move, so
// that imapserver treats it as a server without the MOVE extension;
// sessionWithMove adds it back.
type session struct {
	imapserver.Session
	noIdle bool
}

// closeWait bounds how long Close waits for connection handlers to end.
const closeWait = 5 * time.Second

// idlePollInterval bounds how late an IDLE client hears of new mail.
const idlePollInterval = 20 * time.Millisecond

// Namespace keeps NAMESPACE working, which embedding the interface hides.
func (s session) Namespace() (*imap.NamespaceData, error) {
	ns, ok := s.Session.(imapserver.SessionNamespace)
	if !ok {
		return nil, errors.New("namespace not supported")
	}
	return ns.Namespace()
}

// Idle replaces imapmemserver's IDLE, which in beta.8 only flushes queued
// updates when a new one arrives after IDLE started: mail appended between
// the client's previous command and its IDLE went unannounced. Polling the
// session's queue delivers it within idlePollInterval.
func (s session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.noIdle {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "IDLE is disabled on this server"}
	}
	t := time.NewTicker(idlePollInterval)
	defer t.Stop()
	for {
		if err := s.Session.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
	}
}

type sessionWithMove struct{ session }

func (s sessionWithMove) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	mv, ok := s.Session.(imapserver.SessionMove)
	if !ok {
		return errors.New("move not supported")
	}
	return mv.Move(w, numSet, dest)
}

func isAlreadyExists(err error) bool {
	var imapErr *imap.Error
	return errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists
}

// printfLogger adapts slog to the Printf loggers of go-imap and go-smtp.
type printfLogger struct{ log *slog.Logger }

func (l printfLogger) Printf(format string, args ...any) { l.log.Warn(fmt.Sprintf(format, args...)) }
func (l printfLogger) Println(args ...any)               { l.log.Warn(fmt.Sprint(args...)) }

// wholeLiteral hands a message to the memserver with io.EOF alongside its
// last bytes, as io.Reader allows. The memserver reads with
// bytes.Buffer.ReadFrom, which grows its buffer before every read: a
// separate read for EOF would double it once more, and a mailbox of small
// messages would hold about three bytes of buffer for each byte of mail
// (the benchmark's 10,000 messages: 13 MB for 5 MB of mail, in the heap the
// benchmark measures).
type wholeLiteral struct {
	rest []byte
	size int64
}

func (l *wholeLiteral) Size() int64 { return l.size }

func (l *wholeLiteral) Read(p []byte) (int, error) {
	n := copy(p, l.rest)
	l.rest = l.rest[n:]
	if len(l.rest) == 0 {
		return n, io.EOF
	}
	return n, nil
}
