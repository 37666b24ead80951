package intake

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"runtime"
	"slices"
	"sync"
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
}

func (s *session) canIdle() bool { return s.caps.Has(imap.CapIdle) }

const (
	dialTimeout   = 30 * time.Second
	logoutTimeout = 5 * time.Second
)

// connect dials, logs in, creates the filing folders and selects the mailbox.
func (in *Intake) connect(ctx context.Context) (*session, error) {
	conn, err := in.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", in.opts.Address, err)
	}
	// imapclient commands take no context and the client has no read timeout
	// between responses: closing the connection is what unblocks them.
	stop := context.AfterFunc(ctx, func() { conn.Close() })

	s := &session{wake: make(chan struct{}, 1), stopWatch: stop}
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

// pass processes and files every message not flagged \Deleted: in UID
// order, or by lane first when the processor has lanes. While slow-lane
// messages remain it looks for new mail every recheckEvery, so a reply
// that arrives behind a backlog overtakes it. It stops at the first
// error, leaving the rest for the next pass.
func (in *Intake) pass(ctx context.Context, s *session) (int, error) {
	// Mail that arrives from here on is found by the search below or wakes
	// the next wait; an older signal is already covered.
	select {
	case <-s.wake:
	default:
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("search %s: %w", in.opts.Mailbox, err)
	}
	uids := data.AllUIDs()
	q, err := in.queue(s, uids)
	if err != nil {
		return 0, err
	}
	lastCheck := time.Now()
	ahead := in.newLookahead()
	defer ahead.wait()
	n := 0
	for len(q.items) > 0 {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if q.hasSlow() && time.Since(lastCheck) >= recheckEvery {
			lastCheck = time.Now()
			if err := in.addNewMail(s, q); err != nil {
				return n, err
			}
		}
		e := q.pop()
		d, ok, err := ahead.take(e)
		if !ok && err == nil {
			d, ok, err = in.fetch(s, imap.UID(e.UID), e.Size)
		}
		if err != nil {
			return n, err
		}
		if !ok {
			in.log.Warn("message vanished before its body was read", "uid", e.UID)
			continue
		}
		if err := ahead.prepareNext(ctx, s, q); err != nil {
			return n, err
		}
		if err := in.handle(ctx, s, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// lookahead reads the next slow-lane messages early and hands them to the
// Preparer on spare cores, so their hashing overlaps the handling of the
// messages before them.
type lookahead struct {
	in       *Intake
	prep     Preparer
	fetched  map[uint32]Delivery
	prepared map[uint32]bool
	slots    chan struct{}
	wg       sync.WaitGroup
}

// lookaheadWindow is how many queued messages are considered for reading
// ahead, and lookaheadMaxBytes the largest message read ahead.
const (
	lookaheadWindow   = 16
	lookaheadMaxBytes = 256 << 10
)

func (in *Intake) newLookahead() *lookahead {
	prep, _ := in.proc.(Preparer)
	workers := max(runtime.NumCPU()-1, 1)
	return &lookahead{in: in, prep: prep, fetched: map[uint32]Delivery{}, prepared: map[uint32]bool{}, slots: make(chan struct{}, workers)}
}

// take returns a message read ahead, if it was.
func (l *lookahead) take(e Envelope) (Delivery, bool, error) {
	d, ok := l.fetched[e.UID]
	delete(l.fetched, e.UID)
	delete(l.prepared, e.UID)
	return d, ok, nil
}

// prepareNext reads the window ahead and starts Prepare for its messages
// while a worker is free; it never waits for one.
func (l *lookahead) prepareNext(ctx context.Context, s *session, q *workQueue) error {
	if l.prep == nil {
		return nil
	}
	for _, it := range q.items[:min(len(q.items), lookaheadWindow)] {
		// Forms are small: a large message is left to its turn, so the
		// messages held ahead stay a few megabytes at most.
		if it.lane == 0 || l.prepared[it.UID] || it.Size > lookaheadMaxBytes {
			continue
		}
		select {
		case l.slots <- struct{}{}:
		default:
			return nil // every worker is busy: the rest waits for the next turn
		}
		d, ok, err := l.in.fetch(s, imap.UID(it.UID), it.Size)
		if err != nil || !ok {
			<-l.slots
			return err
		}
		l.fetched[it.UID] = d
		l.prepared[it.UID] = true
		l.wg.Add(1)
		go func() {
			defer func() { <-l.slots; l.wg.Done() }()
			l.prep.Prepare(ctx, d)
		}()
	}
	return nil
}

// wait lets the Prepare calls in flight finish before the pass returns.
func (l *lookahead) wait() { l.wg.Wait() }

// recheckEvery is how often a pass with slow work left looks for new mail.
const recheckEvery = 250 * time.Millisecond

// workQueue is the messages of a pass in the order they are handled.
type workQueue struct {
	items  []laned
	maxUID imap.UID
}

type laned struct {
	Envelope
	lane int
}

func (q *workQueue) pop() Envelope {
	e := q.items[0]
	q.items = q.items[1:]
	return e.Envelope
}

func (q *workQueue) hasSlow() bool {
	for _, it := range q.items {
		if it.lane > 0 {
			return true
		}
	}
	return false
}

func (q *workQueue) add(items []laned) {
	q.items = append(q.items, items...)
	slices.SortStableFunc(q.items, func(a, b laned) int {
		if a.lane != b.lane {
			return a.lane - b.lane
		}
		return int(a.UID) - int(b.UID)
	})
	for _, it := range items {
		q.maxUID = max(q.maxUID, imap.UID(it.UID))
	}
}

// queue reads the envelopes of uids and orders them.
func (in *Intake) queue(s *session, uids []imap.UID) (*workQueue, error) {
	slices.Sort(uids)
	q := &workQueue{}
	for batch := range slices.Chunk(uids, sizeBatch) {
		items, err := in.envelopes(s.c, batch)
		if err != nil {
			return nil, err
		}
		q.add(items)
	}
	return q, nil
}

// addNewMail queues the messages that arrived since the pass began.
func (in *Intake) addNewMail(s *session, q *workQueue) error {
	var set imap.UIDSet
	set.AddRange(q.maxUID+1, 0)
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}, NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search new mail: %w", err)
	}
	var fresh []imap.UID
	for _, uid := range data.AllUIDs() {
		// "n:*" always matches the last message, even when it is older.
		if uid > q.maxUID {
			fresh = append(fresh, uid)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	slices.Sort(fresh)
	for batch := range slices.Chunk(fresh, sizeBatch) {
		items, err := in.envelopes(s.c, batch)
		if err != nil {
			return err
		}
		q.add(items)
	}
	return nil
}

// envelopes reads size and envelope of a batch of UIDs (small, so
// collecting them is fine, unlike bodies) and gives each its lane.
func (in *Intake) envelopes(c *imapclient.Client, uids []imap.UID) ([]laned, error) {
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true, Envelope: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch envelopes: %w", err)
	}
	lanes, _ := in.proc.(Prioritizer)
	out := make([]laned, 0, len(msgs))
	for _, m := range msgs {
		if m.UID == 0 {
			continue // expunged by someone else since the search
		}
		e := Envelope{UID: uint32(m.UID), Size: m.RFC822Size}
		if env := m.Envelope; env != nil {
			e.Subject, e.InReplyTo = env.Subject, env.InReplyTo
			if len(env.From) > 0 {
				e.From = env.From[0].Addr()
			}
		}
		it := laned{Envelope: e}
		if lanes != nil {
			it.lane = lanes.Lane(e)
		}
		out = append(out, it)
	}
	return out, nil
}

var errTooLarge = errors.New("message larger than the limit")

// fetch reads one message with BODY.PEEK (never setting \Seen before the
// desk has recorded it), or only its header when it is over the limit.
// ok is false when the message vanished in the meantime.
func (in *Intake) fetch(s *session, uid imap.UID, size int64) (d Delivery, ok bool, err error) {
	d = Delivery{Mailbox: in.opts.Mailbox, UIDValidity: s.uidValidity, UID: uint32(uid), Size: size}
	limit := in.opts.MaxMessageBytes
	if size <= limit {
		d.Raw, ok, err = fetchSection(s.c, uid, &imap.FetchItemBodySection{Peek: true}, limit)
		if !errors.Is(err, errTooLarge) {
			if err != nil {
				return d, false, fmt.Errorf("fetch uid %d: %w", uid, err)
			}
			return d, ok, nil
		}
		// The body outgrew its RFC822.SIZE (some servers count line ends
		// differently): treat it like any oversized message.
	}
	d.Truncated = true
	d.Raw, ok, err = fetchSection(s.c, uid, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}, limit)
	if errors.Is(err, errTooLarge) {
		err = nil // a header over the limit is cut: the desk only needs its start
	}
	if err != nil {
		return d, false, fmt.Errorf("fetch header of uid %d: %w", uid, err)
	}
	return d, ok, nil
}

// fetchSection streams one body section of one message, reading at most
// limit bytes of it (the rest is drained by the client). The command is
// always drained and closed, or the connection would stall.
func fetchSection(c *imapclient.Client, uid imap.UID, section *imap.FetchItemBodySection, limit int64) (raw []byte, ok bool, err error) {
	cmd := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	if msg := cmd.Next(); msg != nil {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, isBody := item.(imapclient.FetchItemDataBodySection)
			if !isBody || ok {
				continue
			}
			ok = true
			if body.Literal == nil {
				continue // NIL body: an empty message
			}
			// The literal's size is known: read into one buffer of that size
			// instead of letting ReadAll double its way up (a 40 MB message
			// would otherwise cost about 100 MB of allocations).
			var buf bytes.Buffer
			buf.Grow(int(min(body.Literal.Size(), limit+1)) + bytes.MinRead) // room for the final EOF read
			_, err = io.Copy(&buf, io.LimitReader(body.Literal, limit+1))
			raw = buf.Bytes()
			if err == nil && int64(len(raw)) > limit {
				raw, err = raw[:limit], errTooLarge
			}
		}
	}
	if closeErr := cmd.Close(); closeErr != nil {
		return nil, false, closeErr
	}
	return raw, ok, err
}

// handle gives a message to the desk and files it as the desk decided.
func (in *Intake) handle(ctx context.Context, s *session, d Delivery) error {
	disp, err := in.proc.Process(ctx, d)
	if err != nil {
		in.log.Error("processing failed; message left in place", "uid", d.UID, "err", err)
		return fmt.Errorf("process uid %d: %w", d.UID, err)
	}
	dest, err := in.folder(disp.To)
	if err != nil {
		return fmt.Errorf("file uid %d: %w", d.UID, err)
	}
	uid := imap.UID(d.UID)
	switch {
	case disp.Discard:
		if err := s.deleteUID(uid); err != nil {
			return fmt.Errorf("discard uid %d: %w", d.UID, err)
		}
	case len(disp.Replacement) > 0:
		if err := s.appendMessage(dest, disp.Replacement); err != nil {
			return fmt.Errorf("file replacement of uid %d in %s: %w", d.UID, dest, err)
		}
		if err := in.proc.ReplacementFiled(ctx, d); err != nil {
			return fmt.Errorf("record replacement of uid %d: %w", d.UID, err)
		}
		if err := s.deleteUID(uid); err != nil {
			return fmt.Errorf("delete original of uid %d: %w", d.UID, err)
		}
	default:
		if err := s.move(uid, dest); err != nil {
			return fmt.Errorf("move uid %d to %s: %w", d.UID, dest, err)
		}
	}
	attrs := []any{"uid", d.UID, "size", d.Size}
	switch {
	case disp.Discard:
		attrs = append(attrs, "action", "discarded")
	case len(disp.Replacement) > 0:
		attrs = append(attrs, "action", "replaced", "folder", dest)
	default:
		attrs = append(attrs, "action", "moved", "folder", dest)
	}
	if disp.Reason != "" {
		attrs = append(attrs, "reason", disp.Reason)
	}
	if d.Truncated {
		attrs = append(attrs, "truncated", true)
	}
	in.log.Info("message filed", attrs...)
	return nil
}

func (s *session) move(uid imap.UID, dest string) error {
	set := imap.UIDSetNum(uid)
	if s.caps.Has(imap.CapMove) {
		_, err := s.c.Move(set, dest).Wait()
		return err
	}
	if _, err := s.c.Copy(set, dest).Wait(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return s.deleteUID(uid)
}

// deleteUID flags the message \Deleted and expunges it. Without UIDPLUS
// the plain EXPUNGE also removes any other message flagged \Deleted in the
// mailbox: nothing else should be flagging mail in the desk's mailbox.
func (s *session) deleteUID(uid imap.UID) error {
	set := imap.UIDSetNum(uid)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := s.c.Store(set, store, nil).Close(); err != nil {
		return fmt.Errorf("flag deleted: %w", err)
	}
	var expunge *imapclient.ExpungeCommand
	if s.caps.Has(imap.CapUIDPlus) {
		expunge = s.c.UIDExpunge(set)
	} else {
		expunge = s.c.Expunge()
	}
	if err := expunge.Close(); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

func (s *session) appendMessage(mailbox string, raw []byte) error {
	cmd := s.c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	_, err := cmd.Wait()
	return err
}
