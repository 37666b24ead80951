package desk_test

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// The hostile corpus: every message in testdata/hostile (and the large ones
// built at run time, see its README) goes to a fresh desk, followed by an
// ordinary "canary" mail. Each must end with its expected outcome, the
// canary must still be answered, and the INBOX must be empty.

// Notice subjects (Japanese templates) the corpus expects.
const (
	subjReceived   = "新規ID申請を受け付けました"
	subjRefused    = "メールを処理できませんでした"
	subjRefusedEN  = "Your message could not be processed" // the subject was English
	subjDocRefused = "添付ファイルを受け付けできませんでした"
	subjReplyRecvd = "お問い合わせを受け付けました"
	subjInquiry    = "お問い合わせを受け付けました"
	subjForOps     = "お問い合わせ" // the operators' copy of a question
	canarySubject  = "canary"
)

type outcome int

const (
	answered outcome = iota + 1
	quarantined
	ignored
)

func (o outcome) String() string {
	return map[outcome]string{answered: "answered", quarantined: "quarantined", ignored: "ignored"}[o]
}

// hostileEnv is what a case's setup left behind: the reference of an open
// application of taro and the Message-ID of its received notice.
type hostileEnv struct {
	ref, noticeID string
}

type hostileCase struct {
	name  string
	file  string          // in testdata/hostile, with {{REF}} and {{NOTICE_ID}} filled in
	build func() []byte   // instead of a file: the large ones
	opts  []harnessOption // harness configuration
	setup bool            // taro applies first: {{REF}} and {{NOTICE_ID}} exist
	want  outcome         // recorded outcome in seen_messages
	why   string          // substring of the recorded reason
	to    string          // answered: the one notice goes here; quarantined: "" = no notice
	subj  string          // subject substring of that notice
	check func(t *testing.T, h *harness, env hostileEnv, n *sent)
}

func hostileCases() []hostileCase {
	// What survives of a broken message is a question: it opens an inquiry.
	blank := func(name, file, from string) hostileCase {
		return hostileCase{name: name, file: file, want: answered, why: "inquiry", to: from, subj: subjInquiry}
	}
	received := func(name, file, from, family string) hostileCase {
		return hostileCase{name: name, file: file, want: answered, why: "new ID application", to: from, subj: subjReceived,
			check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				contains(t, "received notice", n.Body, family+" 太郎 様")
				if n.Ref == "" {
					t.Errorf("no reference in %q", n.Subject)
				} else if r := h.request(n.Ref); r.Fields["family_name"] != "" && r.Fields["family_name"] != family {
					t.Errorf("family name recorded as %q", r.Fields["family_name"])
				}
			}}
	}
	auto := func(name, file, from, why string) hostileCase {
		return hostileCase{name: name, file: file, want: ignored, why: why, to: from}
	}
	subject := func(c hostileCase, want string) hostileCase {
		c.check = func(t *testing.T, h *harness, env hostileEnv, n *sent) {
			if s := seenRecord(t, h, c.raw(t, env)); s.Subject != want {
				t.Errorf("recorded subject %q, want %q", s.Subject, want)
			}
		}
		return c
	}
	notObeyed := func(name, file string) hostileCase {
		return hostileCase{name: name, file: file, setup: true, want: answered, to: operator, subj: "実行されませんでした",
			check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				if r := h.request(env.ref); r.State != store.StateAwaitingDocuments {
					t.Errorf("a forged command moved the request to %s", r.State)
				}
				if _, err := h.account("yamada-tk"); err == nil {
					t.Error("a forged approval created the account")
				}
				contains(t, "log", h.logs.String(), "operator address without trusted authentication")
			}}
	}
	bounced := func(name, file string) hostileCase {
		return hostileCase{name: name, file: file, setup: true, want: ignored, why: "automatic mail", to: "MAILER-DAEMON@mx.hosp.example",
			check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				rows, err := h.app.Store.Outbox(context.Background(), "")
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if r.MessageID == env.noticeID {
						if !r.Bounced {
							t.Errorf("bounce not recorded against notice %s", r.MessageID)
						}
						return
					}
				}
				t.Errorf("notice %s not in the outbox", env.noticeID)
			}}
	}
	docRefused := func(name string, file string, build func() []byte, filename string, opts ...harnessOption) hostileCase {
		return hostileCase{name: name, file: file, build: build, opts: opts, setup: true, want: answered, to: taro, subj: subjDocRefused,
			check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				contains(t, "refusal", n.Body, filename)
				if r := h.request(env.ref); r.State != store.StateAwaitingDocuments {
					t.Errorf("a refused file moved the request to %s", r.State)
				}
			}}
	}

	return []hostileCase{
		// MIME structure
		blank("boundary never closed", "01-boundary-unclosed.eml", "b01@hostile.example"),
		blank("boundary declared differs from the one used", "02-boundary-mismatch.eml", "b02@hostile.example"),
		blank("multipart without boundary parameter", "03-boundary-missing-param.eml", "b03@hostile.example"),
		blank("lines that only start like the boundary", "04-boundary-lookalike.eml", "b04@hostile.example"),
		blank("empty boundary", "05-boundary-empty.eml", "b05@hostile.example"),
		{name: "nested multipart 50 levels", build: nested50, want: quarantined, why: "nested deeper than 10",
			to: "deep@hostile.example", subj: subjRefused},
		{name: "1200 MIME parts", build: manyParts, want: quarantined, why: "more than 1000 MIME parts",
			to: "parts@hostile.example", subj: subjRefused},

		// headers
		{name: "no From", file: "06-header-no-from.eml", want: quarantined, why: "no usable From"},
		{name: "From is a group", file: "07-header-from-group.eml", want: quarantined, why: "no usable From"},
		blank("two From fields: the first is answered", "08-header-duplicate-from.eml", "first-h08@hostile.example"),
		blank("duplicated Subject and Message-ID and Content-Type", "09-header-duplicate-fields.eml", "h09@hostile.example"),
		blank("header without body or blank line", "10-header-only.eml", "h10@hostile.example"),
		{name: "no header at all", file: "11-header-none.eml", want: quarantined, why: "no header"},
		{name: "100 KB header line", build: headerLine(100 << 10), want: answered, why: "inquiry",
			to: "longline@hostile.example", subj: subjInquiry},
		{name: "300 KB header line", build: headerLine(300 << 10), want: quarantined, why: "header line longer than",
			to: "longline@hostile.example", subj: subjRefusedEN},
		{name: "header folded into 300 KB", build: foldedHeader, want: quarantined, why: "header larger than",
			to: "folded@hostile.example", subj: subjRefused},
		subject(blank("8-bit UTF-8 header", "14-header-8bit-utf8.eml", "h14@hostile.example"), "ID申請の件"),
		subject(blank("8-bit Shift_JIS header", "15-header-8bit-sjis.eml", "h15@hostile.example"), "ID申請の件"),
		subject(blank("raw ISO-2022-JP header without encoded words", "16-header-raw-jis.eml", "h16@hostile.example"), "ID申請の件"),
		subject(blank("encoded word with unknown charset", "17-header-encoded-word-unknown-charset.eml", "h17@hostile.example"), "ID申請の件"),

		// charsets
		received("cp932 with NEC and IBM extensions", "18-charset-cp932.eml", "h18@hostile.example", "髙橋"),
		received("Windows-31J with IBM extensions", "19-charset-windows-31j.eml", "h19@hostile.example", "髙﨑"),
		received("ISO-2022-JP-MS with extensions", "20-charset-iso-2022-jp-ms.eml", "h20@hostile.example", "髙橋"),
		received("CP50220 label", "21-charset-cp50220.eml", "h21@hostile.example", "髙﨑"),
		received("ISO-2022-JP label carrying extensions", "22-charset-iso-2022-jp-with-extensions.eml", "h22@hostile.example", "髙橋"),
		received("UTF-8 labelled iso-8859-1", "23-charset-lying-utf8-as-latin1.eml", "h23@hostile.example", "山田"),
		received("Shift_JIS labelled utf-8", "24-charset-lying-sjis-as-utf8.eml", "h24@hostile.example", "山田"),
		received("EUC-JP labelled shift_jis", "25-charset-lying-eucjp-as-sjis.eml", "h25@hostile.example", "山田"),
		received("unknown charset label on UTF-8", "26-charset-unknown-label-utf8.eml", "h26@hostile.example", "山田"),
		received("unknown charset label on Shift_JIS", "27-charset-unknown-label-sjis.eml", "h27@hostile.example", "山田"),

		// transfer encodings and attachments
		blank("base64 garbage body", "28-base64-garbage-body.eml", "h28@hostile.example"),
		docRefused("base64 garbage attachment", "29-base64-garbage-attachment.eml", nil, "scan29.pdf"),
		docRefused("zip bomb named .pdf", "", zipBomb, "form.pdf"),
		docRefused("30 MB attachment", "", bigAttachment, "big.pdf",
			withConfig("limits: {max_attachment_bytes: 1048576}\n"), withIMAP("max_message_bytes: 67108864")),

		// HTML
		{name: "HTML-only application with scripts", file: "30-html-only-scripts-application.eml", want: answered, why: "new ID application",
			to: "h30@hostile.example", subj: subjReceived, check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				contains(t, "received notice", n.Body, "山田 太郎 様", "yamada-30@id.madoguchi.test")
				noMarkers(t, n)
			}},
		{name: "HTML-only reply with scripts", file: "31-html-only-scripts-reply.eml", setup: true, want: answered,
			to: taro, subj: subjReplyRecvd, check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				contains(t, "reply notice", n.Body, "書類はいつ届きますか。", "Visible question text.")
				noMarkers(t, n)
			}},

		// automatic mail, loops, bounces
		auto("mail from our own address", "36-from-own-address.eml", deskAddr, "own address"),
		auto("mail from our own address in other case", "37-from-own-address-other-case.eml", deskAddr, "own address"),
		auto("auto-replied", "38-auto-replied.eml", "h38@hostile.example", "auto-submitted"),
		auto("Exchange out of office", "39-out-of-office-exchange.eml", "h39@hostile.example", "X-Auto-Response-Suppress"),
		auto("X-Autoreply", "40-x-autoreply.eml", "h40@hostile.example", "X-Autoreply"),
		auto("Precedence: bulk", "41-precedence-bulk.eml", "h41@hostile.example", "Precedence: bulk"),
		auto("mailing list", "42-mailing-list.eml", "h42@hostile.example", "List-Id"),
		auto("newsletter with List-Unsubscribe", "43-list-unsubscribe-newsletter.eml", "h43@hostile.example", "List-Unsubscribe"),
		auto("null Return-Path", "44-null-return-path.eml", "h44@hostile.example", "null-sender"),
		bounced("DSN bounce of our notice", "45-dsn-bounce-of-notice.eml"),
		bounced("MAILER-DAEMON text bounce of our notice", "46-mailer-daemon-text-bounce.eml"),
		{name: "two desks mailing each other", file: "50-two-desks-loop.eml", setup: true, want: ignored, why: "auto-submitted",
			to: "desk@other-desk.example", check: func(t *testing.T, h *harness, env hostileEnv, n *sent) {
				if r := h.request(env.ref); r.State != store.StateAwaitingDocuments {
					t.Errorf("the other desk's reply moved the request to %s", r.State)
				}
			}},

		// operators
		notObeyed("forged operator without Authentication-Results", "47-forged-operator-no-authres.eml"),
		notObeyed("operator with untrusted authserv-id", "48-operator-untrusted-authserv-id.eml"),
		notObeyed("operator with look-alike authserv-id", "49-operator-lookalike-authserv-id.eml"),

		// line ends and bytes
		received("LF line ends only", "51-lf-only.eml", "h51@hostile.example", "山田"),
		blank("NUL and control bytes", "52-nul-and-control-bytes.eml", "h52@hostile.example"),
	}
}

func (c hostileCase) raw(t *testing.T, env hostileEnv) []byte {
	t.Helper()
	var raw []byte
	switch {
	case c.build != nil:
		raw = c.build()
	case c.file != "":
		var err error
		raw, err = os.ReadFile(filepath.Join("testdata", "hostile", c.file))
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("case without a message")
	}
	raw = bytes.ReplaceAll(raw, []byte("{{REF}}"), []byte(env.ref))
	return bytes.ReplaceAll(raw, []byte("{{NOTICE_ID}}"), []byte(env.noticeID))
}

// seenRecord is the desk's record of a message, found by its bytes.
func seenRecord(t *testing.T, h *harness, raw []byte) *store.Seen {
	t.Helper()
	sum := sha256.Sum256(raw)
	var s *store.Seen
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		// By bytes, else by Message-ID: the IMAP store may rewrite line
		// ends of a message that has no CRLF.
		id := ""
		if g := messageIDPattern.FindSubmatch(raw); g != nil {
			id = string(g[1])
		}
		e, err := tx.EarlierRecords("", 0, 0, hex.EncodeToString(sum[:]), id)
		s = cmp.Or(e.ByContent, e.ByMessageID)
		if err == nil && s == nil {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		t.Fatalf("no record of the message: %v\nlog:\n%s", err, h.logs)
	}
	return s
}

var messageIDPattern = regexp.MustCompile(`(?im)^Message-ID:\s*<([^>]+)>`)

func noMarkers(t *testing.T, n *sent) {
	t.Helper()
	for _, m := range []string{"x-script-marker", "x-onload-marker", "x-style-marker", "x-title-marker", "x-comment-marker", "evil.example", "<script", "document.cookie"} {
		if strings.Contains(n.Body, m) || bytes.Contains(n.Raw, []byte(m)) {
			t.Errorf("the notice carries %q:\n%s", m, n.Body)
		}
	}
}

func TestHostileCorpus(t *testing.T) {
	cases := hostileCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	// Every file of the corpus is used.
	files, _ := filepath.Glob(filepath.Join("testdata", "hostile", "*.eml"))
	used := map[string]bool{}
	for _, c := range cases {
		used[c.file] = true
	}
	for _, f := range files {
		if !used[filepath.Base(f)] {
			t.Errorf("%s is in the corpus but no case uses it", f)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.build != nil && testing.Short() && c.name == "30 MB attachment" {
				t.Skip("large message")
			}
			runHostile(t, c)
		})
	}
}

func runHostile(t *testing.T, c hostileCase) {
	h := newHarness(t, c.opts...)
	var env hostileEnv
	if c.setup {
		n := applyTaro(h)
		env = hostileEnv{ref: n.Ref, noticeID: n.MessageID}
	}
	raw := c.raw(t, env)
	h.deliverRaw(raw)
	canary := samples.Mail{From: "canary@ok.example", Subject: canarySubject, Body: "IDの申請方法を教えてください。"}
	h.deliver(canary)
	h.once()

	// The hostile message's record.
	s := seenRecord(t, h, raw)
	if s.Outcome != c.want.String() || !strings.Contains(s.Reason, c.why) {
		t.Errorf("outcome %s (%s), want %s (%q)\nlog:\n%s", s.Outcome, s.Reason, c.want, c.why, h.logs)
	}
	// The notices: the canary's, and at most one for the hostile message.
	var mine []sent
	canaries := 0
	for _, n := range h.fresh() {
		if len(n.To) > 0 && n.To[0] == "canary@ok.example" {
			canaries++
			continue
		}
		if len(n.To) > 0 && n.To[0] == operator && strings.Contains(n.Subject, subjForOps) {
			continue // the operators' copy of a question
		}
		mine = append(mine, n)
	}
	if canaries != 1 {
		t.Errorf("the canary after the hostile message got %d notices: the desk did not carry on", canaries)
	}
	var n *sent
	switch {
	case c.want == answered || c.want == quarantined && c.to != "":
		if len(mine) != 1 || mine[0].To[0] != c.to || !strings.Contains(mine[0].Subject, c.subj) {
			t.Fatalf("want one notice %q to %s, got %s\nlog:\n%s", c.subj, c.to, describe(mine), h.logs)
		}
		n = &mine[0]
	default:
		if len(mine) != 0 {
			t.Fatalf("want no notice, got %s", describe(mine))
		}
	}
	// Nothing is ever sent to an automatic or looping sender.
	if c.want == ignored {
		for _, e := range h.sink.Messages() {
			for _, rcpt := range e.To {
				if strings.EqualFold(rcpt, c.to) {
					t.Errorf("a notice went to %s", rcpt)
				}
			}
		}
	}
	// Filed where the outcome says, nothing left behind.
	h.inboxEmpty()
	q := len(h.folder("Quarantine"))
	if wantQ := map[bool]int{true: 1, false: 0}[c.want == quarantined]; q != wantQ {
		t.Errorf("quarantine holds %d messages, want %d", q, wantQ)
	}
	if c.check != nil {
		c.check(t, h, env, n)
	}
}

func describe(ns []sent) string {
	if len(ns) == 0 {
		return "none"
	}
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%v: %s", n.To, n.Subject))
	}
	return strings.Join(out, "; ")
}

// --- the large messages, built at run time ---

func headerLine(size int) func() []byte {
	return func() []byte {
		return []byte("From: longline@hostile.example\r\nTo: " + deskAddr + "\r\nSubject: long line\r\n" +
			"X-Long: " + strings.Repeat("a", size) + "\r\nMessage-ID: <long@hostile.example>\r\n\r\n" + question())
	}
}

func question() string { return "IDの申請について教えてください。\r\n" }

func foldedHeader() []byte {
	var b strings.Builder
	b.WriteString("From: folded@hostile.example\r\nTo: " + deskAddr + "\r\nSubject: folded\r\nX-Folded: start\r\n")
	for b.Len() < 300<<10 {
		b.WriteString("\t" + strings.Repeat("f", 70) + "\r\n")
	}
	b.WriteString("\r\n" + question())
	return []byte(b.String())
}

func nested50() []byte {
	var b strings.Builder
	b.WriteString("From: deep@hostile.example\r\nTo: " + deskAddr + "\r\nSubject: nested\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"level%02d\"\r\n\r\n--level%02d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n" + question())
	for i := 49; i >= 0; i-- {
		fmt.Fprintf(&b, "--level%02d--\r\n", i)
	}
	return []byte(b.String())
}

func manyParts() []byte {
	var b strings.Builder
	b.WriteString("From: parts@hostile.example\r\nTo: " + deskAddr + "\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n")
	for i := 0; i < 1200; i++ {
		b.WriteString("--p\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	b.WriteString("--p--\r\n")
	return []byte(b.String())
}

// zipBomb is a reply carrying a zip that inflates to 100 MiB of zeros,
// named and declared as a PDF.
func zipBomb() []byte {
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, err := zw.Create("form.pdf")
	if err != nil {
		panic(err)
	}
	if _, err := io.CopyN(w, zeros{}, 100<<20); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return reply("{{REF}}", "form.pdf", "application/pdf", z.Bytes())
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// bigAttachment is a reply with a 30 MB "PDF".
func bigAttachment() []byte {
	data := make([]byte, 30<<20)
	copy(data, "%PDF-1.4\n")
	return reply("{{REF}}", "big.pdf", "application/pdf", data)
}

func reply(ref, filename, ctype string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: " + taro + "\r\nTo: " + deskAddr + "\r\nSubject: Re: [" + ref + "] form\r\nMessage-ID: <" + filename + "@hostile.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"att\"\r\n\r\n--att\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"添付します。\r\n--att\r\nContent-Type: " + ctype + "; name=\"" + filename + "\"\r\nContent-Disposition: attachment; filename=\"" +
		filename + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.NewEncoder(base64.StdEncoding, &lineWriter{w: &b})
	enc.Write(data)
	enc.Close()
	b.WriteString("\r\n--att--\r\n")
	return b.Bytes()
}

// lineWriter breaks base64 into 76-character lines.
type lineWriter struct {
	w   *bytes.Buffer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if l.col == 76 {
			l.w.WriteString("\r\n")
			l.col = 0
		}
		l.w.WriteByte(c)
		l.col++
	}
	return len(p), nil
}

// Reading a 30 MB attachment must not hold the message many times over:
// the peak heap during the pass stays within a small multiple of it.
func TestHostileLargeMessageMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large message")
	}
	h := newHarness(t, withConfig("limits: {max_attachment_bytes: 1048576}\n"), withIMAP("max_message_bytes: 67108864"))
	n := applyTaro(h)
	raw := bytes.ReplaceAll(bigAttachment(), []byte("{{REF}}"), []byte(n.Ref))
	size := len(raw)
	h.deliverRaw(raw)
	raw = nil
	// A low GC target makes the heap in use follow what is live rather
	// than garbage not yet collected.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	peak.Store(before.HeapInuse)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	h.once()
	close(stop)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("message %.1f MB: peak heap in use +%.1f MB during the pass, %.1f MB allocated in all",
		float64(size)/(1<<20), float64(growth)/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20))
	if growth > 200<<20 {
		t.Errorf("peak heap grew by %.1f MB for a %.1f MB message", float64(growth)/(1<<20), float64(size)/(1<<20))
	}
	contains(t, "refusal", h.only(taro).Body, "big.pdf")
	h.inboxEmpty()
}
