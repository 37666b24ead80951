package outbound

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
)

var testBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// newTestSender points a Sender at the sink with a fixed clock.
func newTestSender(t *testing.T, addr string, q Queue, now time.Time, logs *bytes.Buffer) *Sender {
	t.Helper()
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	return New(Options{
		Address:  addr,
		TLS:      "none",
		HeloName: "desk.example",
		Timeout:  5 * time.Second,
		Backoff:  testBackoff,
		Logger:   slog.New(h),
		Now:      func() time.Time { return now },
	}, q)
}

func deliver(t *testing.T, s *Sender) (sent, retried, failed int) {
	t.Helper()
	sent, retried, failed, err := s.DeliverDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sent, retried, failed
}

func TestDeliverSends(t *testing.T) {
	sk := newSink(t)
	q := newMemQueue()
	n := testNotice(testDate)
	n.Attachments = []store.NoticeAttachment{{Filename: "申込書.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4")}}
	id := q.add(n)
	plain := testNotice(testDate)
	plain.MessageID = "MDG-2026-000124.1.efgh@desk.example"
	plain.Body = "ご連絡ありがとうございます🙏\n"
	plain.Cc = nil
	id2 := q.add(plain)
	now := testDate.Add(time.Minute)
	var logs bytes.Buffer
	s := newTestSender(t, sk.addr, q, now, &logs)

	if sent, retried, failed := deliver(t, s); sent != 2 || retried != 0 || failed != 0 {
		t.Fatalf("sent %d retried %d failed %d; log:\n%s", sent, retried, failed, logs.String())
	}
	for _, id := range []int64{id, id2} {
		if r := q.row(id); r.state != store.OutboxSent || !r.sentAt.Equal(now) || r.n.Attempts != 1 {
			t.Errorf("row %d: state %s sent %v attempts %d", id, r.state, r.sentAt, r.n.Attempts)
		}
	}
	if c := sk.sessionCount(); c != 1 {
		t.Errorf("%d SMTP sessions, want one for both notices", c)
	}
	msgs := sk.messages()
	if len(msgs) != 2 {
		t.Fatalf("sink got %d messages", len(msgs))
	}

	m := msgs[0]
	if m.From != "desk@desk.example" || strings.Join(m.To, ",") != "taro@example.jp,hanako@example.jp" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	p := parse(t, m.Data)
	if got, _ := p.h.MessageID(); got != n.MessageID {
		t.Errorf("Message-ID = %q", got)
	}
	if d, _ := p.h.Date(); !d.Equal(n.Date) {
		t.Errorf("Date = %v", d)
	}
	if ids, _ := p.h.MsgIDList("In-Reply-To"); len(ids) != 1 || ids[0] != n.InReplyTo {
		t.Errorf("In-Reply-To = %q", ids)
	}
	if ids, _ := p.h.MsgIDList("References"); strings.Join(ids, " ") != strings.Join(n.References, " ") {
		t.Errorf("References = %q", ids)
	}
	if p.h.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", p.h.Get("Auto-Submitted"))
	}
	if !strings.EqualFold(p.bodyCharset, "iso-2022-jp") || normalizeCRLF(p.body) != n.Body {
		t.Errorf("charset %q body %q", p.bodyCharset, p.body)
	}
	if subj, _ := p.h.Subject(); subj != n.Subject {
		t.Errorf("Subject = %q", subj)
	}
	if got := p.files["申込書.pdf"]; string(got) != "%PDF-1.4" {
		t.Errorf("attachment = %q (files %v)", got, p.fileTypes)
	}

	m2 := msgs[1]
	if strings.Join(m2.To, ",") != "taro@example.jp" {
		t.Errorf("envelope to %q", m2.To)
	}
	p2 := parse(t, m2.Data)
	if !strings.EqualFold(p2.bodyCharset, "utf-8") || normalizeCRLF(p2.body) != plain.Body {
		t.Errorf("fallback: charset %q body %q", p2.bodyCharset, p2.body)
	}
	if got, _ := p2.h.MessageID(); got != plain.MessageID {
		t.Errorf("Message-ID = %q", got)
	}

	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "notice=") || !strings.Contains(line, "message_id=") {
			t.Errorf("log line without notice id and Message-ID: %s", line)
		}
		if strings.Contains(line, "山田") {
			t.Errorf("log line carries the body: %s", line)
		}
	}
	// Nothing is due any more.
	if sent, retried, failed := deliver(t, s); sent+retried+failed != 0 {
		t.Errorf("second pass did %d/%d/%d", sent, retried, failed)
	}
}

func TestDeliverTemporaryThenGiveUp(t *testing.T) {
	sk := newSink(t)
	sk.mailReply = 451
	q := newMemQueue()
	fresh := q.add(testNotice(testDate))
	old := testNotice(testDate)
	old.Attempts = len(testBackoff) // every retry already used
	exhausted := q.add(old)
	now := testDate.Add(time.Hour)
	s := newTestSender(t, sk.addr, q, now, nil)

	if sent, retried, failed := deliver(t, s); sent != 0 || retried != 1 || failed != 1 {
		t.Fatalf("sent %d retried %d failed %d", sent, retried, failed)
	}
	r := q.row(fresh)
	if r.state != store.OutboxPending || !r.next.Equal(now.Add(testBackoff[0])) || r.n.Attempts != 1 {
		t.Errorf("fresh: state %s next %v attempts %d", r.state, r.next, r.n.Attempts)
	}
	if !strings.Contains(r.lastErr, "451") {
		t.Errorf("fresh reason %q lacks the 451", r.lastErr)
	}
	r = q.row(exhausted)
	if r.state != store.OutboxFailed || !strings.Contains(r.lastErr, "451") {
		t.Errorf("exhausted: state %s reason %q", r.state, r.lastErr)
	}

	// The second retry waits Backoff[1].
	later := now.Add(testBackoff[0])
	s = newTestSender(t, sk.addr, q, later, nil)
	deliver(t, s)
	if r := q.row(fresh); !r.next.Equal(later.Add(testBackoff[1])) || r.n.Attempts != 2 {
		t.Errorf("second retry: next %v attempts %d", r.next, r.n.Attempts)
	}
	if len(sk.messages()) != 0 {
		t.Errorf("sink got mail despite 451")
	}
}

func TestDeliverRecipientRefused(t *testing.T) {
	sk := newSink(t)
	sk.rejectRcpt["nobody@example.jp"] = true
	q := newMemQueue()
	n := testNotice(testDate)
	n.To, n.Cc = []string{"nobody@example.jp"}, nil
	refused := q.add(n)
	// One refused recipient among several: the others still get it.
	partial := testNotice(testDate)
	partial.MessageID = "partial.1@desk.example"
	// Addressed first to the refused one too: notices to one first
	// recipient share a lane, so both transactions use one connection.
	partial.To = []string{"nobody@example.jp"}
	partial.Cc = []string{"taro@example.jp"}
	part := q.add(partial)
	var logs bytes.Buffer
	s := newTestSender(t, sk.addr, q, testDate.Add(time.Minute), &logs)

	if sent, retried, failed := deliver(t, s); sent != 1 || retried != 0 || failed != 1 {
		t.Fatalf("sent %d retried %d failed %d", sent, retried, failed)
	}
	r := q.row(refused)
	if r.state != store.OutboxFailed || !strings.Contains(r.lastErr, "550") || !strings.Contains(r.lastErr, "user unknown") {
		t.Errorf("refused: state %s reason %q", r.state, r.lastErr)
	}
	if r := q.row(part); r.state != store.OutboxSent {
		t.Errorf("partial: state %s reason %q", r.state, r.lastErr)
	}
	msgs := sk.messages()
	if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "taro@example.jp" {
		t.Fatalf("sink got %+v", msgs)
	}
	if !strings.Contains(logs.String(), "nobody@example.jp") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("refused recipient not logged as a warning:\n%s", logs.String())
	}
	// The connection survived both transactions (RSET after the refusal).
	if c := sk.sessionCount(); c != 1 {
		t.Errorf("%d sessions", c)
	}
}

func TestDeliverServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	q := newMemQueue()
	a := q.add(testNotice(testDate))
	b := testNotice(testDate)
	b.MessageID = "second.1@desk.example"
	bid := q.add(b)
	now := testDate.Add(time.Minute)
	s := newTestSender(t, addr, q, now, nil)
	if sent, retried, failed := deliver(t, s); sent != 0 || retried != 2 || failed != 0 {
		t.Fatalf("sent %d retried %d failed %d", sent, retried, failed)
	}
	for _, id := range []int64{a, bid} {
		r := q.row(id)
		if r.state != store.OutboxPending || !r.next.Equal(now.Add(testBackoff[0])) || !strings.Contains(r.lastErr, "connect") {
			t.Errorf("row %d: state %s next %v reason %q", id, r.state, r.next, r.lastErr)
		}
	}
}

func TestDeliverDroppedConnection(t *testing.T) {
	sk := newSink(t)
	sk.dropOnMail = true
	q := newMemQueue()
	id := q.add(testNotice(testDate))
	s := newTestSender(t, sk.addr, q, testDate.Add(time.Minute), nil)
	if sent, retried, failed := deliver(t, s); sent != 0 || retried != 1 || failed != 0 {
		t.Fatalf("sent %d retried %d failed %d", sent, retried, failed)
	}
	if r := q.row(id); r.state != store.OutboxPending || r.n.Attempts != 1 {
		t.Errorf("state %s attempts %d reason %q", r.state, r.n.Attempts, r.lastErr)
	}
}

func TestBadOptions(t *testing.T) {
	q := newMemQueue()
	id := q.add(testNotice(testDate))
	for _, o := range []Options{
		{Address: "127.0.0.1:25", TLS: "ssl"},
		{Address: "no-port", TLS: "none"},
		{Address: "127.0.0.1:0", TLS: "none"},
	} {
		s := New(o, q)
		if err := s.Run(context.Background()); err == nil {
			t.Errorf("%+v: Run accepted it", o)
		}
		if _, _, _, err := s.DeliverDue(context.Background()); err == nil {
			t.Errorf("%+v: DeliverDue accepted it", o)
		}
	}
	// Configuration errors leave the notice alone.
	if r := q.row(id); r.state != store.OutboxPending || r.n.Attempts != 0 {
		t.Errorf("notice touched: %s %d", r.state, r.n.Attempts)
	}
}

func TestRunKickAndCancel(t *testing.T) {
	sk := newSink(t)
	q := newMemQueue()
	s := New(Options{Address: sk.addr, TLS: "none", Timeout: 5 * time.Second}, q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	// Let Run find the queue empty and go to sleep (for up to a minute).
	time.Sleep(200 * time.Millisecond)
	n := testNotice(time.Now().UTC())
	q.add(n)
	s.Kick()
	s.Kick() // a second kick must not block
	select {
	case m := <-sk.got:
		if p := parse(t, m.Data); p.h.Get("Message-ID") != "<"+n.MessageID+">" {
			t.Errorf("got Message-ID %q", p.h.Get("Message-ID"))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Kick did not wake Run")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v on cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Run keeps its SMTP connection for the next pass, as an MTA's connection
// cache does, and closes it once idle for keepConnections.
func TestRunReusesItsConnectionThenClosesIt(t *testing.T) {
	sk := newSink(t)
	q := newMemQueue()
	s := New(Options{Address: sk.addr, TLS: "none", Timeout: 5 * time.Second}, q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for i, mid := range []string{"a.1@desk.example", "b.1@desk.example", "c.1@desk.example"} {
		n := testNotice(time.Now().UTC())
		n.MessageID = mid
		q.add(n)
		s.Kick()
		select {
		case <-sk.got:
		case <-time.After(20 * time.Second):
			t.Fatalf("notice %d not delivered", i+1)
		}
	}
	if n := sk.sessionCount(); n != 1 {
		t.Errorf("three passes opened %d connections, want 1", n)
	}
	if n := sk.endedCount(); n != 0 {
		t.Errorf("%d connections closed while still in use", n)
	}
	deadline := time.Now().Add(keepConnections + 10*time.Second)
	for sk.endedCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := sk.endedCount(); n != 1 {
		t.Fatalf("after %v idle %d connections closed, want 1", keepConnections, n)
	}
	// The next notice opens a new connection.
	n := testNotice(time.Now().UTC())
	n.MessageID = "d.1@desk.example"
	q.add(n)
	s.Kick()
	select {
	case <-sk.got:
	case <-time.After(20 * time.Second):
		t.Fatal("notice after the idle close not delivered")
	}
	if n := sk.sessionCount(); n != 2 {
		t.Errorf("sessions after the idle close: %d, want 2", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for sk.endedCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := sk.endedCount(); n != 2 {
		t.Errorf("after Run returned %d of 2 connections closed", n)
	}
}

func TestRunDeliversWhenDue(t *testing.T) {
	sk := newSink(t)
	q := newMemQueue()
	n := testNotice(time.Now().UTC().Add(time.Second)) // due shortly, no Kick
	q.add(n)
	s := New(Options{Address: sk.addr, TLS: "none"}, q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	select {
	case <-sk.got:
	case <-time.After(20 * time.Second):
		t.Fatal("notice due later was not sent")
	}
}

func TestDeliverReconnects(t *testing.T) {
	sk := newSink(t)
	sk.onePerConn = true
	q := newMemQueue()
	var ids []int64
	for _, mid := range []string{"a.1@desk.example", "b.1@desk.example", "c.1@desk.example"} {
		n := testNotice(testDate)
		n.MessageID = mid
		ids = append(ids, q.add(n))
	}
	s := newTestSender(t, sk.addr, q, testDate.Add(time.Minute), nil)
	if sent, retried, failed := deliver(t, s); sent != 3 || retried != 0 || failed != 0 {
		t.Fatalf("sent %d retried %d failed %d", sent, retried, failed)
	}
	for _, id := range ids {
		if r := q.row(id); r.n.Attempts != 1 {
			t.Errorf("row %d: %d attempts; a reconnect is not an attempt", id, r.n.Attempts)
		}
	}
	if c := sk.sessionCount(); c != 3 {
		t.Errorf("%d sessions, want 3", c)
	}
}

// The one repeat the design allows: the server took the message but its
// reply was lost. The resend carries the same Message-ID and Date.
func TestLostReplyResendsSameMessage(t *testing.T) {
	sk := newSink(t)
	sk.dropAfterData = true
	q := newMemQueue()
	n := testNotice(testDate)
	id := q.add(n)
	now := testDate.Add(time.Minute)
	if _, retried, _ := deliver(t, newTestSender(t, sk.addr, q, now, nil)); retried != 1 {
		t.Fatalf("lost reply not retried: %+v", q.row(id))
	}
	sk.mu.Lock()
	sk.dropAfterData = false
	sk.mu.Unlock()
	if sent, _, _ := deliver(t, newTestSender(t, sk.addr, q, now.Add(testBackoff[0]), nil)); sent != 1 {
		t.Fatalf("resend not sent: %+v", q.row(id))
	}
	msgs := sk.messages()
	if len(msgs) != 2 {
		t.Fatalf("sink got %d copies", len(msgs))
	}
	a, b := parse(t, msgs[0].Data), parse(t, msgs[1].Data)
	for _, k := range []string{"Message-ID", "Date", "Subject"} {
		if a.h.Get(k) != b.h.Get(k) {
			t.Errorf("%s differs between copies: %q vs %q", k, a.h.Get(k), b.h.Get(k))
		}
	}
}

// Notices go out over several connections, but notices to one recipient
// keep their queue order, and when the sink is handed the end of a
// message every notice it accepted before is already marked sent: only
// one notice at a time is between the final dot and its mark, so a crash
// still repeats at most one.
func TestLanesKeepOrderAndOneNoticeInTheCommitWindow(t *testing.T) {
	sk := newSink(t)
	q := newMemQueue()
	recipients := []string{"a@example.jp", "b@example.jp", "c@example.jp", "d@example.jp", "e@example.jp"}
	ids := map[string]int64{} // Message-ID -> row
	var queued []string
	for i := 0; i < 40; i++ {
		n := testNotice(testDate)
		n.MessageID = fmt.Sprintf("lane-%02d.1@desk.example", i)
		n.To, n.Cc = []string{recipients[i%len(recipients)]}, nil
		ids[n.MessageID] = q.add(n)
		queued = append(queued, n.MessageID)
	}
	var (
		mu        sync.Mutex
		accepted  []string
		unmarked  []string
		perRcpt   = map[string][]string{}
		idPattern = regexp.MustCompile(`(?m)^Message-I[Dd]: <([^>]+)>`)
	)
	sk.onData = func(m received) {
		id := idPattern.FindSubmatch(m.Data)
		if id == nil {
			t.Errorf("no Message-ID in %q", m.Data)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, prev := range accepted {
			if q.row(ids[prev]).state != store.OutboxSent {
				unmarked = append(unmarked, prev)
			}
		}
		accepted = append(accepted, string(id[1]))
		perRcpt[m.To[0]] = append(perRcpt[m.To[0]], string(id[1]))
	}
	s := newTestSender(t, sk.addr, q, testDate.Add(time.Minute), nil)
	if sent, retried, failed := deliver(t, s); sent != 40 || retried != 0 || failed != 0 {
		t.Fatalf("sent %d retried %d failed %d", sent, retried, failed)
	}
	if len(unmarked) != 0 {
		t.Errorf("accepted before another notice's end of DATA but not yet marked sent: %v", unmarked)
	}
	for _, r := range recipients {
		var want []string
		for i, id := range queued {
			if recipients[i%len(recipients)] == r {
				want = append(want, id)
			}
		}
		if got := perRcpt[r]; !slices.Equal(got, want) {
			t.Errorf("%s received %v, queued %v", r, got, want)
		}
	}
	if c := sk.sessionCount(); c < 2 || c > deliveryLanes {
		t.Errorf("%d sessions for %d lanes and five recipients", c, deliveryLanes)
	}
}
