package outbound

import (
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/madoguchi/madoguchi/internal/store"
)

// received is one message as the sink got it.
type received struct {
	From string
	To   []string
	Data []byte
}

// sink is a real SMTP server (go-smtp) on loopback that records what it is
// given and can be told to misbehave.
type sink struct {
	addr string
	got  chan received // every accepted message, for tests that wait

	mu         sync.Mutex
	msgs       []received
	sessions   int
	ended      int             // sessions whose connection closed (Logout)
	mailReply  int             // reply with this code to MAIL FROM (0: accept)
	rejectRcpt map[string]bool // reply 550 to RCPT TO these addresses
	dropOnMail bool            // close the connection at MAIL FROM
	// onePerConn closes a connection at its second MAIL FROM, as a server
	// that timed out an idle connection would.
	onePerConn bool
	// dropAfterData records the message, then closes the connection
	// instead of replying 250: the sender cannot know it was delivered.
	dropAfterData bool
	// onData, when set, sees each message before the sink answers 250.
	onData func(received)
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{got: make(chan received, 100), rejectRcpt: map[string]bool{}}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *sink) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

type sinkSession struct {
	s     *sink
	c     *gosmtp.Conn
	from  string
	to    []string
	mails int
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.ended++
	return nil
}

func (s *sink) endedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.s.mu.Lock()
	code, drop := ss.s.mailReply, ss.s.dropOnMail
	drop = drop || ss.s.onePerConn && ss.mails > 0
	ss.s.mu.Unlock()
	ss.mails++
	if drop {
		_ = ss.c.Conn().Close()
		return errors.New("dropped")
	}
	if code != 0 {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 3, 0}, Message: "try again later"}
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	reject := ss.s.rejectRcpt[to]
	ss.s.mu.Unlock()
	if reject {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := received{From: ss.from, To: append([]string(nil), ss.to...), Data: b}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	drop, onData := ss.s.dropAfterData, ss.s.onData
	ss.s.mu.Unlock()
	if onData != nil {
		onData(m)
	}
	ss.s.got <- m
	if drop {
		_ = ss.c.Conn().Close()
		return errors.New("dropped")
	}
	return nil
}

// memQueue is an in-memory outbox with the store's semantics: every mark
// counts an attempt, MarkRetry only touches pending rows.
type memQueue struct {
	mu   sync.Mutex
	rows map[int64]*memRow
	last int64
}

type memRow struct {
	n       store.Notice
	state   string
	next    time.Time
	lastErr string
	sentAt  time.Time
}

func newMemQueue() *memQueue { return &memQueue{rows: map[int64]*memRow{}} }

// add enqueues a notice due at its Date and returns its ID.
func (q *memQueue) add(n store.Notice) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.last++
	n.ID = q.last
	q.rows[n.ID] = &memRow{n: n, state: store.OutboxPending, next: n.Date}
	return n.ID
}

func (q *memQueue) row(id int64) memRow {
	q.mu.Lock()
	defer q.mu.Unlock()
	return *q.rows[id]
}

func (q *memQueue) Due(_ context.Context, now time.Time, limit int) ([]store.Notice, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rows []*memRow
	for _, r := range q.rows {
		if r.state == store.OutboxPending && !r.next.After(now) {
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].next.Equal(rows[j].next) {
			return rows[i].next.Before(rows[j].next)
		}
		return rows[i].n.ID < rows[j].n.ID
	})
	var out []store.Notice
	for _, r := range rows {
		if len(out) == limit {
			break
		}
		out = append(out, r.n)
	}
	return out, nil
}

func (q *memQueue) NextDue(context.Context) (time.Time, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	ok := false
	for _, r := range q.rows {
		if r.state == store.OutboxPending && (!ok || r.next.Before(next)) {
			next, ok = r.next, true
		}
	}
	return next, ok, nil
}

func (q *memQueue) MarkSent(_ context.Context, id int64, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.rows[id]
	r.state, r.sentAt = store.OutboxSent, at
	r.n.Attempts++
	return nil
}

func (q *memQueue) MarkRetry(_ context.Context, id int64, next time.Time, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.rows[id]; r.state == store.OutboxPending {
		r.next, r.lastErr = next, reason
		r.n.Attempts++
	}
	return nil
}

func (q *memQueue) MarkFailed(_ context.Context, id int64, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.rows[id]
	r.state, r.lastErr = store.OutboxFailed, reason
	r.n.Attempts++
	return nil
}

var _ Queue = (*store.Store)(nil)

// testNotice is a plain Japanese notice that fits ISO-2022-JP.
func testNotice(date time.Time) store.Notice {
	return store.Notice{
		MessageID:  "MDG-2026-000123.1.abcd@desk.example",
		Date:       date,
		From:       "窓口デスク <desk@desk.example>",
		To:         []string{"taro@example.jp"},
		Cc:         []string{"hanako@example.jp"},
		Subject:    "【受付番号 MDG-2026-000123】お問い合わせを受け付けました。担当者より追ってご連絡いたします。",
		Body:       "山田 太郎 様\n\nお問い合わせを受け付けました。\n受付番号: MDG-2026-000123\n",
		InReplyTo:  "CAF=orig.123@mail.example.jp",
		References: []string{"first@mail.example.jp", "CAF=orig.123@mail.example.jp"},
		Charset:    "iso-2022-jp",
	}
}

func normalizeCRLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
