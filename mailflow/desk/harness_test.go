package desk_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

const (
	deskAddr   = "desk@madoguchi.test"
	operator   = "ops@madoguchi.test"
	authservID = "mx.madoguchi.test"
)

// harness is a desk running against the in-process IMAP server and SMTP
// sink over loopback: the real protocol code paths, no mocks.
type harness struct {
	t    *testing.T
	imap *loopback.IMAPServer
	sink *loopback.SMTPSink
	app  *app.App
	cfg  *config.Config
	db   string
	now  time.Time
	logs *bytes.Buffer
	read int // sink messages returned by fresh()
}

type harnessSettings struct{ top, imap string }

type harnessOption func(*harnessSettings)

// withConfig adds top-level configuration lines.
func withConfig(extra string) harnessOption {
	return func(s *harnessSettings) { s.top += extra }
}

// withIMAP adds keys to the imap section, e.g. "max_message_bytes: 1000".
func withIMAP(extra string) harnessOption {
	return func(s *harnessSettings) { s.imap += ", " + extra }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{"desk": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	sink, err := loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	h := &harness{t: t, imap: imapSrv, sink: sink, db: filepath.Join(t.TempDir(), "desk.db"),
		now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), logs: &bytes.Buffer{}}
	// MADOGUCHI_TEST_STORE=postgres runs the flows on PostgreSQL; h.db
	// is then empty and the secrets search reads the tables instead.
	database := fmt.Sprintf("{path: %s, synchronous: normal}", h.db)
	if engine := teststore.FromEnv(t); engine != teststore.SQLite {
		database, h.db = teststore.DatabaseYAML(t, engine), ""
	}
	var set harnessSettings
	for _, o := range opts {
		o(&set)
	}
	yaml := fmt.Sprintf(`desk: {address: %s, domain: id.madoguchi.test, fax: 03-0000-0000}
imap: {address: "%s", tls: none, username: desk, password: pw%s}
smtp: {address: "%s", tls: none}
database: %s
operators: [%s, second-op@madoguchi.test]
operator_auth: {authserv_id: %s}
`, deskAddr, imapSrv.Addr, set.imap, sink.Addr, database, operator, authservID) + set.top
	h.cfg, err = config.Parse([]byte(yaml), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	h.app, err = app.New(context.Background(), h.cfg, app.Options{
		Now:    func() time.Time { return h.now },
		Hash:   secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}, // cheap: the flows are tested here, not the cost
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.app.Close() })
	return h
}

// deliver puts a message into the desk's INBOX.
func (h *harness) deliver(m samples.Mail) {
	h.t.Helper()
	if m.To == "" {
		m.To = deskAddr
	}
	h.deliverRaw(m.Build())
}

func (h *harness) deliverRaw(raw []byte) {
	h.t.Helper()
	if err := h.imap.Append("desk", "INBOX", raw); err != nil {
		h.t.Fatal(err)
	}
}

// once runs one pass of the desk: the mailbox, then the outbox.
func (h *harness) once() app.Summary {
	h.t.Helper()
	s, err := h.app.Once(context.Background())
	if err != nil {
		h.t.Fatalf("once: %v\nlog:\n%s", err, h.logs)
	}
	return s
}

// sent is a notice as it arrived at the sink, decoded.
type sent struct {
	To, Cc               []string
	Envelope             []string
	Subject, Body        string
	MessageID, InReplyTo string
	References           []string
	AutoSubmitted        string
	Attachments          []message.Attachment
	Raw                  []byte
	Ref                  string
}

var refPattern = regexp.MustCompile(`\[(MDG-\d{4}-\d{6})\]`)

// fresh returns the notices that reached the sink since the last call.
func (h *harness) fresh() []sent {
	h.t.Helper()
	msgs := h.sink.Messages()
	var out []sent
	for _, r := range msgs[h.read:] {
		m, err := message.Parse(bytes.NewReader(r.Data), message.DefaultLimits())
		if err != nil {
			h.t.Fatalf("notice unreadable: %v\n%s", err, r.Data)
		}
		s := sent{Envelope: r.To, Subject: m.Subject, Body: m.Text, MessageID: m.MessageID, References: m.References,
			AutoSubmitted: m.Header.Get("Auto-Submitted"), Attachments: m.Attachments, Raw: r.Data}
		if len(m.InReplyTo) > 0 {
			s.InReplyTo = m.InReplyTo[0]
		}
		for _, a := range m.To {
			s.To = append(s.To, a.Addr)
		}
		for _, a := range m.Cc {
			s.Cc = append(s.Cc, a.Addr)
		}
		if g := refPattern.FindStringSubmatch(m.Subject); g != nil {
			s.Ref = g[1]
		}
		out = append(out, s)
	}
	h.read = len(msgs)
	return out
}

// only expects exactly one fresh notice to addr and returns it.
func (h *harness) only(addr string) sent {
	h.t.Helper()
	got := h.fresh()
	var match []sent
	for _, s := range got {
		if len(s.To) > 0 && s.To[0] == addr {
			match = append(match, s)
		}
	}
	if len(match) != 1 || len(got) != 1 {
		var subjects []string
		for _, s := range got {
			subjects = append(subjects, fmt.Sprintf("%v: %s", s.To, s.Subject))
		}
		h.t.Fatalf("want one notice to %s, got %d: %v\nlog:\n%s", addr, len(got), subjects, h.logs)
	}
	return match[0]
}

// request loads a request by reference.
func (h *harness) request(ref string) *store.Request {
	h.t.Helper()
	var r *store.Request
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		r, err = tx.RequestByReference(ref)
		return err
	})
	if err != nil {
		h.t.Fatalf("request %s: %v", ref, err)
	}
	return r
}

func (h *harness) account(login string) (*store.Account, error) {
	var a *store.Account
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		a, err = tx.AccountByLogin(login)
		return err
	})
	return a, err
}

func (h *harness) folder(name string) [][]byte {
	h.t.Helper()
	msgs, err := h.imap.List("desk", name)
	if err != nil {
		h.t.Fatalf("list %s: %v", name, err)
	}
	return msgs
}

// inboxEmpty checks that every message left the INBOX.
func (h *harness) inboxEmpty() {
	h.t.Helper()
	if n := len(h.folder("INBOX")); n != 0 {
		h.t.Fatalf("%d messages left in INBOX", n)
	}
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// operatorMail is an operator's reply carrying our MX's trusted
// authentication result.
func operatorMail(ref, body string) samples.Mail {
	return samples.Mail{From: "Operator <" + operator + ">", Subject: "Re: [" + ref + "] notice", Body: body,
		Headers: []string{samples.OperatorAuthResults(authservID, "madoguchi.test")}}
}

// mustText is the decoded text of a raw message, "" when unreadable.
func mustText(raw []byte) string {
	m, err := message.Parse(bytes.NewReader(raw), message.DefaultLimits())
	if err != nil {
		return ""
	}
	return m.Text
}

// only2 expects one fresh notice to each of two addresses and returns the
// one to the first.
func (h *harness) only2(first, second string) sent {
	h.t.Helper()
	got := h.fresh()
	var a, b []sent
	for _, s := range got {
		switch s.To[0] {
		case first:
			a = append(a, s)
		case second:
			b = append(b, s)
		}
	}
	if len(a) != 1 || len(b) != 1 || len(got) != 2 {
		h.t.Fatalf("want one notice each to %s and %s, got %d\nlog:\n%s", first, second, len(got), h.logs)
	}
	return a[0]
}
