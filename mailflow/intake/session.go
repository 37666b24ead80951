package intake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
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
// messages remain it looks for new mail when the server reports some, or
// every recheckEvery, so a reply that arrives behind a backlog overtakes
// it. Handled messages are filed in batches of fileBatch. It stops at the
// first error, leaving the rest for the next pass.
func (in *Intake) pass(ctx context.Context, s *session) (n int, err error) {
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
	q, err := in.queue(ctx, s, uids)
	if err != nil {
		return 0, err
	}
	lastCheck := time.Now()
	ahead := in.newLookahead(ctx)
	defer ahead.stop()
	files := &filing{}
	defer func() {
		// A desk error leaves the session usable: file what was handled
		// before it. After a cut this fails at once and the next pass
		// hands those messages over again.
		if err != nil && ctx.Err() == nil && files.count > 0 {
			if fileErr := in.file(ctx, s, files); fileErr != nil {
				in.log.Warn("filing the handled messages after an error failed; the next pass files them", "err", fileErr)
			}
		}
	}()
	for len(q.items) > 0 {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if q.hasSlow() && (time.Since(lastCheck) >= recheckEvery || s.woken()) {
			lastCheck = time.Now()
			if err := in.addNewMail(ctx, s, q); err != nil {
				return n, err
			}
		}
		if err := ahead.fill(s, q); err != nil {
			return n, err
		}
		e := q.pop()
		d, ok := ahead.take(e)
		if !ok {
			var err error
			if d, ok, err = in.fetch(s, imap.UID(e.UID), e.Size); err != nil {
				return n, err
			}
		}
		if !ok {
			in.log.Warn("message vanished before its body was read", "uid", e.UID)
			continue
		}
		if err := in.handle(ctx, s, d, files); err != nil {
			return n, err
		}
		n++
		if files.full() {
			if err := in.file(ctx, s, files); err != nil {
				return n, err
			}
		}
	}
	// Messages recorded but not yet filed when a pass stops early stay in
	// the mailbox: the next pass hands them over again, and the desk
	// answers a repeat with the disposition it recorded.
	return n, in.file(ctx, s, files)
}

// lookahead reads the bodies of the next small messages in one UID FETCH,
// so that most messages cost no round trip of their own, and has workers,
// one per core, prepare the slow-lane ones (hash their passwords) ahead of
// their turn. The workers take the next message as soon as they are free,
// so hashing keeps the cores busy while the handling in between waits for
// the disk and the servers.
type lookahead struct {
	in   *Intake
	prep Preparer
	ctx  context.Context

	mu        sync.Mutex
	cond      *sync.Cond // signalled when queue grows or the pass ends
	fetched   map[uint32]Delivery
	heldBytes int64
	queue     []uint32                 // slow-lane messages read ahead, to prepare in turn order
	preparing map[uint32]chan struct{} // closed when that message's Prepare returns
	started   bool
	stopped   bool
	wg        sync.WaitGroup
}

// lookaheadWindow is how many queued messages are considered for reading
// ahead, lookaheadMaxBytes the largest message read ahead and
// lookaheadHeldBytes what the messages held ahead may add up to: forms are
// small, so a large message is left to its turn and the read-ahead stays a
// few megabytes at most.
const (
	lookaheadWindow    = 64
	lookaheadMaxBytes  = 256 << 10
	lookaheadHeldBytes = 4 << 20
)

func (in *Intake) newLookahead(ctx context.Context) *lookahead {
	prep, _ := in.proc.(Preparer)
	l := &lookahead{in: in, prep: prep, ctx: ctx, fetched: map[uint32]Delivery{}, preparing: map[uint32]chan struct{}{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// take returns a message read ahead, if it was, once any Prepare of it has
// returned: Process then finds its work done instead of doing it twice.
func (l *lookahead) take(e Envelope) (Delivery, bool) {
	l.mu.Lock()
	d, ok := l.fetched[e.UID]
	if ok {
		delete(l.fetched, e.UID)
		l.heldBytes -= e.Size
	}
	done := l.preparing[e.UID]
	l.mu.Unlock()
	if done != nil {
		<-done
	}
	return d, ok
}

// fill reads ahead the small messages of the window once fewer than half
// of them are held, and queues the slow-lane ones for the workers.
func (l *lookahead) fill(s *session, q *workQueue) error {
	window := q.items[:min(len(q.items), lookaheadWindow)]
	l.mu.Lock()
	var missing []imap.UID
	held, small, budget := 0, 0, lookaheadHeldBytes-l.heldBytes
	for _, it := range window {
		if it.Size > lookaheadMaxBytes {
			continue
		}
		small++
		if _, ok := l.fetched[it.UID]; ok {
			held++
		} else if it.Size <= budget {
			missing = append(missing, imap.UID(it.UID))
			budget -= it.Size
		}
	}
	l.mu.Unlock()
	if len(missing) == 0 || 2*held >= small {
		return nil
	}
	bodies, err := fetchBodies(s.c, missing, l.in.opts.MaxMessageBytes)
	if err != nil {
		return fmt.Errorf("read ahead: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	queued := false
	for _, it := range window {
		raw, ok := bodies[imap.UID(it.UID)]
		if !ok {
			continue // vanished, or left to its turn
		}
		l.fetched[it.UID] = Delivery{Mailbox: l.in.opts.Mailbox, UIDValidity: s.uidValidity, UID: it.UID, Size: it.Size, Raw: raw}
		l.heldBytes += it.Size
		if it.lane > 0 && l.prep != nil {
			l.queue = append(l.queue, it.UID)
			queued = true
		}
	}
	if queued && !l.started {
		l.started = true
		for range runtime.NumCPU() {
			l.wg.Add(1)
			go l.work()
		}
	}
	l.cond.Broadcast()
	return nil
}

// work prepares queued messages until the pass ends. A message already
// taken for its turn is skipped: Process does its work itself.
func (l *lookahead) work() {
	defer l.wg.Done()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		for len(l.queue) == 0 && !l.stopped {
			l.cond.Wait()
		}
		if l.stopped {
			return
		}
		uid := l.queue[0]
		l.queue = l.queue[1:]
		d, ok := l.fetched[uid]
		if !ok {
			continue
		}
		done := make(chan struct{})
		l.preparing[uid] = done
		l.mu.Unlock()
		l.prep.Prepare(l.ctx, d)
		l.mu.Lock()
		delete(l.preparing, uid)
		close(done)
	}
}

// stop ends the workers once their Prepare calls in flight have returned.
func (l *lookahead) stop() {
	l.mu.Lock()
	l.stopped = true
	l.cond.Broadcast()
	l.mu.Unlock()
	l.wg.Wait()
}

// fetchBodies reads whole messages with one UID FETCH BODY.PEEK[]. A
// message that vanished, or whose body outgrew limit, is left out: its
// turn reads it alone, which reports either.
func fetchBodies(c *imapclient.Client, uids []imap.UID, limit int64) (map[imap.UID][]byte, error) {
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	bodies := make(map[imap.UID][]byte, len(uids))
	var readErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var (
			uid     imap.UID
			raw     []byte
			hasBody bool
			tooBig  bool
		)
		// The server may send UID after the body: read both, then keep.
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = item.UID
			case imapclient.FetchItemDataBodySection:
				if hasBody {
					continue
				}
				hasBody = true
				if item.Literal == nil {
					continue // NIL body: an empty message
				}
				var err error
				raw, err = readLiteral(item.Literal, limit)
				if errors.Is(err, errTooLarge) {
					tooBig = true
				} else if err != nil && readErr == nil {
					readErr = err
				}
			}
		}
		if uid != 0 && hasBody && !tooBig && readErr == nil {
			bodies[uid] = raw
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return bodies, readErr
}

// readLiteral reads a literal whose size is known into one buffer of that
// size instead of letting ReadAll double its way up (a 40 MB message would
// otherwise cost about 100 MB of allocations). It reads at most limit
// bytes and returns errTooLarge, with the first limit bytes, beyond that.
func readLiteral(lit imap.LiteralReader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(lit.Size(), limit+1)) + bytes.MinRead) // room for the final EOF read
	_, err := io.Copy(&buf, io.LimitReader(lit, limit+1))
	raw := buf.Bytes()
	if err == nil && int64(len(raw)) > limit {
		return raw[:limit], errTooLarge
	}
	return raw, err
}

// woken reports (and clears) an EXISTS the server sent with the answer to
// one of the pass's commands: new mail to look for at once.
func (s *session) woken() bool {
	select {
	case <-s.wake:
		return true
	default:
		return false
	}
}

// recheckEvery is how often a pass with slow work left looks for new mail
// when the server has not said there is some.
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
func (in *Intake) queue(ctx context.Context, s *session, uids []imap.UID) (*workQueue, error) {
	slices.Sort(uids)
	q := &workQueue{}
	for batch := range slices.Chunk(uids, sizeBatch) {
		items, err := in.envelopes(ctx, s.c, batch)
		if err != nil {
			return nil, err
		}
		q.add(items)
	}
	return q, nil
}

// addNewMail queues the messages that arrived since the pass began.
func (in *Intake) addNewMail(ctx context.Context, s *session, q *workQueue) error {
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
		items, err := in.envelopes(ctx, s.c, batch)
		if err != nil {
			return err
		}
		q.add(items)
	}
	return nil
}

// envelopes reads size and envelope of a batch of UIDs (small, so
// collecting them is fine, unlike bodies) and gives each its lane.
func (in *Intake) envelopes(ctx context.Context, c *imapclient.Client, uids []imap.UID) ([]laned, error) {
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
			it.lane = lanes.Lane(ctx, e)
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
			raw, err = readLiteral(body.Literal, limit)
		}
	}
	if closeErr := cmd.Close(); closeErr != nil {
		return nil, false, closeErr
	}
	return raw, ok, err
}

// handle gives a message to the desk and queues its filing as the desk
// decided. A masked copy is appended at once: the desk records it before
// the original may go.
func (in *Intake) handle(ctx context.Context, s *session, d Delivery, files *filing) error {
	disp, err := in.proc.Process(ctx, d)
	if err != nil {
		in.log.Error("processing failed; message left in place", "uid", d.UID, "err", err)
		return fmt.Errorf("process uid %d: %w", d.UID, err)
	}
	dest, err := in.folder(disp.To)
	if err != nil {
		return fmt.Errorf("file uid %d: %w", d.UID, err)
	}
	attrs := []any{"uid", d.UID, "size", d.Size}
	if disp.Reason != "" {
		attrs = append(attrs, "reason", disp.Reason)
	}
	if d.Truncated {
		attrs = append(attrs, "truncated", true)
	}
	switch {
	case disp.Discard:
		files.remove(imap.UID(d.UID), append(attrs, "action", "discarded"))
	case len(disp.Replacement) > 0:
		if disp.Recorded {
			found, err := in.findCopy(ctx, s, files, dest, d)
			if err != nil {
				return fmt.Errorf("look for the masked copy of uid %d in %s: %w", d.UID, dest, err)
			}
			if found {
				if err := in.proc.ReplacementsFiled(ctx, []Delivery{d}); err != nil {
					return fmt.Errorf("record replacement of uid %d: %w", d.UID, err)
				}
				files.remove(imap.UID(d.UID), append(attrs, "action", "replaced", "folder", dest, "copy", "filed before a cut"))
				return nil
			}
		}
		files.replace(d, dest, disp.Replacement, append(attrs, "action", "replaced", "folder", dest))
	default:
		files.move(imap.UID(d.UID), dest, append(attrs, "action", "moved", "folder", dest))
	}
	return nil
}

// copyHeader marks a masked copy with the original's place, so that after
// a cut between its APPEND and its record intake can tell whether it was
// filed (findCopy). The place is no secret; a digest of the original would
// be one, as the copy holds everything but the password.
const copyHeader = "X-Madoguchi-Copy-Of"

func copyMarker(d Delivery) string { return fmt.Sprintf("<%d.%d>", d.UIDValidity, d.UID) }

// withCopyMarker is the masked copy as it is appended.
func withCopyMarker(d Delivery, replacement []byte) []byte {
	return append([]byte(copyHeader+": "+copyMarker(d)+"\r\n"), replacement...)
}

// findCopy reports whether the masked copy of d is already in dest. It
// runs only for a message handled before (after a crash or a cut), so it
// may cost a mailbox switch: the handled messages are filed first (their
// UIDs are the selected mailbox's), then dest is searched and the desk's
// mailbox selected again.
func (in *Intake) findCopy(ctx context.Context, s *session, files *filing, dest string, d Delivery) (bool, error) {
	if err := in.file(ctx, s, files); err != nil {
		return false, err
	}
	if _, err := s.c.Select(dest, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, fmt.Errorf("examine: %w", err)
	}
	criteria := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: copyHeader, Value: copyMarker(d)}}}
	data, searchErr := s.c.UIDSearch(criteria, nil).Wait()
	sel, err := s.c.Select(in.opts.Mailbox, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("select %s again: %w", in.opts.Mailbox, err)
	}
	if sel.UIDValidity != s.uidValidity {
		return false, fmt.Errorf("%s changed UIDVALIDITY from %d to %d", in.opts.Mailbox, s.uidValidity, sel.UIDValidity)
	}
	if searchErr != nil {
		return false, fmt.Errorf("search: %w", searchErr)
	}
	return len(data.AllUIDs()) > 0, nil
}

// fileBatch is how many handled messages are filed with one command per
// folder: a MOVE or STORE and EXPUNGE each is a round trip, and on a busy
// server an O(mailbox) expunge.
const fileBatch = 32

// fileHeldBytes bounds what the masked copies waiting to be filed hold,
// with their originals (a form is small; an original with attachments
// may not be).
const fileHeldBytes = 4 << 20

// filing is the handled messages of a pass waiting to be filed.
type filing struct {
	moves     map[string][]filed // by destination folder
	replaces  []replacement      // masked copies to append before their originals are removed
	removes   []filed            // originals to delete: discarded, or replaced by a masked copy
	count     int
	heldBytes int // of replaces
}

// full tells when the queued messages are to be filed.
func (f *filing) full() bool { return f.count >= fileBatch || f.heldBytes >= fileHeldBytes }

type filed struct {
	uid   imap.UID
	attrs []any
}

type replacement struct {
	filed
	delivery Delivery
	dest     string
	raw      []byte
}

func (f *filing) move(uid imap.UID, dest string, attrs []any) {
	if f.moves == nil {
		f.moves = map[string][]filed{}
	}
	f.moves[dest] = append(f.moves[dest], filed{uid, attrs})
	f.count++
}

func (f *filing) remove(uid imap.UID, attrs []any) {
	f.removes = append(f.removes, filed{uid, attrs})
	f.count++
}

func (f *filing) replace(d Delivery, dest string, raw []byte, attrs []any) {
	r := replacement{filed{imap.UID(d.UID), attrs}, d, dest, withCopyMarker(d, raw)}
	f.replaces = append(f.replaces, r)
	f.count++
	f.heldBytes += len(r.raw) + len(d.Raw)
}

// file files the queued messages: the masked copies are appended in one
// pipelined burst and recorded in one transaction, then one MOVE per
// folder, then the originals are deleted with one STORE and EXPUNGE.
func (in *Intake) file(ctx context.Context, s *session, f *filing) error {
	uids := func(fs []filed) []imap.UID {
		out := make([]imap.UID, len(fs))
		for i, x := range fs {
			out[i] = x.uid
		}
		return out
	}
	if rs := f.replaces; len(rs) > 0 {
		// Tried once only: after a failure some copies may be in their
		// folders unrecorded, so the originals stay in the mailbox and the
		// next pass looks for their copies (findCopy) before appending.
		f.replaces, f.heldBytes = nil, 0
		f.count -= len(rs)
		if err := s.appendAll(rs); err != nil {
			return fmt.Errorf("append %d masked copies: %w", len(rs), err)
		}
		ds := make([]Delivery, len(rs))
		for i, r := range rs {
			ds[i] = r.delivery
		}
		if err := in.proc.ReplacementsFiled(ctx, ds); err != nil {
			return fmt.Errorf("record %d masked copies: %w", len(ds), err)
		}
		for _, r := range rs {
			f.removes = append(f.removes, r.filed)
		}
		f.count += len(rs)
	}
	for _, dest := range slices.Sorted(maps.Keys(f.moves)) {
		batch := f.moves[dest]
		if err := s.move(uids(batch), dest); err != nil {
			return fmt.Errorf("move %d messages to %s: %w", len(batch), dest, err)
		}
		in.logFiled(batch)
		delete(f.moves, dest)
		f.count -= len(batch)
	}
	if len(f.removes) > 0 {
		if err := s.deleteUIDs(uids(f.removes)); err != nil {
			return fmt.Errorf("delete %d messages: %w", len(f.removes), err)
		}
		in.logFiled(f.removes)
		f.count -= len(f.removes)
		f.removes = nil
	}
	return nil
}

func (in *Intake) logFiled(batch []filed) {
	for _, x := range batch {
		in.log.Info("message filed", x.attrs...)
	}
}

func (s *session) move(uids []imap.UID, dest string) error {
	set := imap.UIDSetNum(uids...)
	if s.caps.Has(imap.CapMove) {
		_, err := s.c.Move(set, dest).Wait()
		return err
	}
	if _, err := s.c.Copy(set, dest).Wait(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return s.deleteUIDs(uids)
}

// deleteUIDs flags the messages \Deleted and expunges them. Without
// UIDPLUS the plain EXPUNGE also removes any other message flagged \Deleted
// in the mailbox: nothing else should be flagging mail in the desk's
// mailbox.
func (s *session) deleteUIDs(uids []imap.UID) error {
	set := imap.UIDSetNum(uids...)
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

// appendAll appends the masked copies without waiting for each answer in
// turn (one round trip for the lot, not one each), all \Seen.
func (s *session) appendAll(rs []replacement) error {
	cmds := make([]*imapclient.AppendCommand, 0, len(rs))
	var sendErr error
	for _, r := range rs {
		cmd := s.c.Append(r.dest, int64(len(r.raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		cmds = append(cmds, cmd)
		if _, err := cmd.Write(r.raw); err != nil {
			cmd.Close()
			sendErr = fmt.Errorf("write: %w", err)
			break
		}
		if err := cmd.Close(); err != nil {
			sendErr = fmt.Errorf("close: %w", err)
			break
		}
	}
	// Every command sent is waited for, so none is left in flight.
	var waitErr error
	for _, cmd := range cmds {
		if _, err := cmd.Wait(); err != nil && waitErr == nil {
			waitErr = err
		}
	}
	return cmp.Or(sendErr, waitErr)
}
