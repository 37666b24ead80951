package message

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type runtimeMem struct{ totalAlloc uint64 }

func (r *runtimeMem) read() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.totalAlloc = ms.TotalAlloc
}

func validUTF8(s string) bool { return utf8.ValidString(s) }

func TestHeaderFields(t *testing.T) {
	raw := crlf(`From: ` + bword("ISO-2022-JP", jis(t, "山田 太郎")) + ` <Taro@Example.JP>
From: second@example.jp
To: desk@example.org, "Hanako" <hanako@example.jp>
Cc: op1@example.org
Cc: op2@example.org
Reply-To: reply@example.jp
Subject: hello
Date: Mon, 2 Nov 2026 10:00:00 +0900 (JST)
Message-ID: <abc.123@mail.example.jp>
In-Reply-To: <n1@desk.example>
References: <r1@desk.example>
 <r2@desk.example> <n1@desk.example>

body
`)
	m := mustParse(t, raw, DefaultLimits())
	if m.From == nil || m.From.Name != "山田 太郎" || m.From.Addr != "Taro@Example.JP" {
		t.Errorf("From = %+v", m.From)
	}
	if len(m.To) != 2 || m.To[1].Name != "Hanako" || m.To[1].Addr != "hanako@example.jp" {
		t.Errorf("To = %+v", m.To)
	}
	if len(m.Cc) != 2 || len(m.ReplyTo) != 1 {
		t.Errorf("Cc = %+v, Reply-To = %+v", m.Cc, m.ReplyTo)
	}
	if m.MessageID != "abc.123@mail.example.jp" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if fmt.Sprint(m.InReplyTo) != "[n1@desk.example]" || fmt.Sprint(m.References) != "[r1@desk.example r2@desk.example n1@desk.example]" {
		t.Errorf("InReplyTo %v References %v", m.InReplyTo, m.References)
	}
	if want := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("Date = %v", m.Date)
	}
	if m.Header.Get("Subject") != "hello" || len(m.Header.Values("Cc")) != 2 {
		t.Errorf("Header access broken")
	}
	if m.Automatic.IsAutomatic() || m.Bounce != nil {
		t.Errorf("ordinary mail flagged: %+v %+v", m.Automatic, m.Bounce)
	}
}

func TestFromEdgeCases(t *testing.T) {
	cases := []struct{ from, name, addr string }{
		{"foo", "", ""},
		{"undisclosed-recipients:;", "", ""},
		{"Group: a@example.jp, b@example.jp;", "", ""},
		{"a@example.jp, b@example.jp", "", "a@example.jp"},
		{"Yamada, Taro <taro@example.jp>", "Yamada, Taro", "taro@example.jp"},
		{sjis(t, "山田") + " <taro@example.jp>", "山田", "taro@example.jp"},
		{`"` + sjis(t, "表示") + `" <taro@example.jp>`, "表示", "taro@example.jp"},
		{bword("x-unknown", sjis(t, "山田")) + " <taro@example.jp>", "山田", "taro@example.jp"},
		{"MAILER-DAEMON", "", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		raw := "From: " + c.from + "\r\nSubject: x\r\n\r\nbody\r\n"
		if c.from == "" {
			raw = "Subject: x\r\n\r\nbody\r\n"
		}
		m := mustParse(t, raw, DefaultLimits())
		switch {
		case c.addr == "" && m.From != nil:
			t.Errorf("From %q: got %+v, want nil", c.from, m.From)
		case c.addr != "" && (m.From == nil || m.From.Addr != c.addr || m.From.Name != c.name):
			t.Errorf("From %q: got %+v, want %q <%s>", c.from, m.From, c.name, c.addr)
		}
	}
}

func TestHTMLOnly(t *testing.T) {
	html := `<html><head><title>T</title><style>p { color: red }</style>
<script type="text/javascript">alert("x < y");</script></head>
<body><!-- note --><p>山田&nbsp;太郎 &amp; 花子</p><div>ID: yamada-tk<br>パスワード&#xFF1A;secret</div>
<table><tr><td>a</td><td>b</td></tr></table><p>&lt;ok&gt; 1 < 2</p></body></html>`
	raw := textMessage("; charset=utf-8", "quoted-printable", strings.ReplaceAll(html, "=", "=3D"))
	raw = strings.Replace(raw, "text/plain", "text/html", 1)
	m := mustParse(t, raw, DefaultLimits())
	want := "山田 太郎 & 花子\nID: yamada-tk\nパスワード：secret\na b\n<ok> 1 < 2"
	if m.Text != want {
		t.Errorf("Text = %q\nwant   %q", m.Text, want)
	}
	for _, bad := range []string{"alert", "color", "note", "T\n"} {
		if strings.Contains(m.Text, bad) {
			t.Errorf("Text contains %q", bad)
		}
	}
}

func TestAlternativePrefersPlain(t *testing.T) {
	build := func(plain string) string {
		return crlf(`From: a@example.jp
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-2022-jp

` + plain + `
--alt
Content-Type: text/html; charset=utf-8

<p>HTML version</p>
--alt--
`)
	}
	m := mustParse(t, build(jis(t, "プレーン")), DefaultLimits())
	if m.Text != "プレーン" || m.Charset != "iso-2022-jp" {
		t.Errorf("Text = %q, Charset %q", m.Text, m.Charset)
	}
	m = mustParse(t, build(""), DefaultLimits())
	if m.Text != "HTML version" || m.Charset != "utf-8" {
		t.Errorf("empty plain: Text = %q, Charset %q", m.Text, m.Charset)
	}
}

var pdfData = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")

func TestAttachments(t *testing.T) {
	zipData := []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	raw := crlf(`From: a@example.jp
Subject: docs
Content-Type: multipart/mixed; boundary="mix"

preamble
--mix
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

本文です
--alt
Content-Type: text/html; charset=utf-8

<p>本文です</p>
--alt--

--mix
Content-Type: application/pdf; name="form.pdf"
Content-Disposition: attachment; filename*=UTF-8''%E7%94%B3%E8%AB%8B%E6%9B%B8.pdf
Content-Transfer-Encoding: base64

`) + b64(pdfData) + crlf(`--mix
Content-Type: application/pdf; name="`+bword("ISO-2022-JP", jis(t, "偽物"))+`.pdf"
Content-Transfer-Encoding: base64

`) + b64(zipData) + crlf(`--mix
Content-Type: image/png; name="C:\Users\taro\scan.png"
Content-Disposition: inline
Content-Transfer-Encoding: base64

`) + b64(png) + crlf(`--mix
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="note.txt"

text attachment
--mix
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="`+sjis(t, "表示.pdf")+`"

`) + string(pdfData) + crlf(`
--mix
Content-Type: application/pdf
Content-Disposition: attachment; filename*0*=iso-2022-jp''`+percent(jis(t, "申請"))+`; filename*1=".pdf"
Content-Transfer-Encoding: base64

`) + b64(pdfData) + crlf(`--mix--
epilogue
`)
	m := mustParse(t, raw, DefaultLimits())
	if m.Text != "本文です" {
		t.Errorf("Text = %q", m.Text)
	}
	want := []struct{ name, declared, sniffed string }{
		{"申請書.pdf", "application/pdf", "application/pdf"},
		{"偽物.pdf", "application/pdf", "application/zip"},
		{"scan.png", "image/png", "image/png"},
		{"note.txt", "text/plain", "text/plain"},
		{"表示.pdf", "application/octet-stream", "application/pdf"},
		{"申請.pdf", "application/pdf", "application/pdf"},
	}
	if len(m.Attachments) != len(want) {
		t.Fatalf("%d attachments: %+v; dropped %+v", len(m.Attachments), names(m.Attachments), m.DroppedAttachments)
	}
	for i, w := range want {
		a := m.Attachments[i]
		if a.Filename != w.name || a.DeclaredType != w.declared || a.SniffedType != w.sniffed {
			t.Errorf("attachment %d = %q %s %s, want %+v", i, a.Filename, a.DeclaredType, a.SniffedType, w)
		}
	}
	a := m.Attachments[0]
	sum := sha256.Sum256(pdfData)
	if !bytes.Equal(a.Data, pdfData) || a.Size != int64(len(pdfData)) || a.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("pdf data %q size %d sha %s", a.Data, a.Size, a.SHA256)
	}
	if len(m.DroppedAttachments) != 0 {
		t.Errorf("dropped %+v", m.DroppedAttachments)
	}
}

func percent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func names(as []Attachment) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Filename+" "+a.SniffedType)
	}
	return out
}

func attachmentsMessage(n int, size int) string {
	var b strings.Builder
	b.WriteString("From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--b\r\nContent-Type: application/pdf; name=f%d.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n", i)
		data := append(append([]byte{}, pdfData...), bytes.Repeat([]byte("x"), size)...)
		b.WriteString(b64(data))
	}
	b.WriteString("--b--\r\n")
	return b.String()
}

func TestAttachmentLimits(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxAttachments = 3
	m := mustParse(t, attachmentsMessage(5, 10), lim)
	if len(m.Attachments) != 3 || len(m.DroppedAttachments) != 2 {
		t.Fatalf("kept %d, dropped %+v", len(m.Attachments), m.DroppedAttachments)
	}
	if d := m.DroppedAttachments[0]; d.Filename != "f3.pdf" || d.Reason != "more than 3 attachments" {
		t.Errorf("dropped = %+v", d)
	}

	lim = DefaultLimits()
	lim.MaxAttachmentBytes = 1 << 20
	m = mustParse(t, attachmentsMessage(1, 1<<20), lim)
	if len(m.Attachments) != 0 || len(m.DroppedAttachments) != 1 || m.DroppedAttachments[0].Reason != "larger than 1.0 MB" {
		t.Errorf("kept %d, dropped %+v", len(m.Attachments), m.DroppedAttachments)
	}
	if m.Text != "see attached" {
		t.Errorf("Text = %q", m.Text)
	}
	if DefaultLimits() != (Limits{10, 10 << 20, 25 << 20, 10, 256 << 10}) {
		t.Errorf("DefaultLimits = %+v", DefaultLimits())
	}
	if got := sizeText(10 << 20); got != "10.0 MB" {
		t.Errorf("sizeText = %q", got)
	}
}

func TestGarbageBase64(t *testing.T) {
	good := b64([]byte("読める部分"))
	m := mustParse(t, textMessage("; charset=utf-8", "base64", good+"!!!! not base64 at all ####\r\n"), DefaultLimits())
	if m.Text != "読める部分" {
		t.Errorf("Text = %q", m.Text)
	}
	// A bad attachment is dropped, not guessed at.
	raw := crlf(`From: a@example.jp
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/pdf; name=bad.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK$$$$garbage
--b
Content-Type: application/pdf; name=odd.pdf
Content-Transfer-Encoding: x-uuencode

begin 644 odd.pdf
--b--
`)
	m = mustParse(t, raw, DefaultLimits())
	if len(m.Attachments) != 0 || len(m.DroppedAttachments) != 2 {
		t.Fatalf("attachments %v dropped %+v", names(m.Attachments), m.DroppedAttachments)
	}
	for _, d := range m.DroppedAttachments {
		if d.Reason != "unreadable encoding" {
			t.Errorf("dropped %+v", d)
		}
	}
	// Random bytes as base64 never panic and give valid text.
	m = mustParse(t, textMessage("; charset=utf-8", "base64", "////AAAA\x00\xff===AB=C"), DefaultLimits())
	if !validUTF8(m.Text) {
		t.Errorf("invalid UTF-8: %q", m.Text)
	}
}

func TestBrokenMultipart(t *testing.T) {
	raw := crlf(`From: a@example.jp
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8

first part
--outer
Content-Type: application/pdf; name=a.pdf

%PDF-1.4 cut off here`)
	m := mustParse(t, raw, DefaultLimits())
	if m.Text != "first part" {
		t.Errorf("Text = %q", m.Text)
	}
	if len(m.Attachments) != 1 || !strings.HasPrefix(string(m.Attachments[0].Data), "%PDF-1.4 cut") {
		t.Errorf("attachments %v", names(m.Attachments))
	}
	// Boundaries that extend one another, LF line ends, a long preamble line.
	raw = "From: a@example.jp\nContent-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("p", 100000) +
		"\n--b\nContent-Type: multipart/alternative; boundary=b2\n\n--b2\nContent-Type: text/plain\n\ninner\n--b2--\n--b--\n"
	m = mustParse(t, raw, DefaultLimits())
	if m.Text != "inner" {
		t.Errorf("Text = %q", m.Text)
	}
}

func nested(levels int, viaMessage bool) string {
	var b strings.Builder
	b.WriteString("From: a@example.jp\r\n")
	for i := 0; i < levels; i++ {
		if viaMessage && i%2 == 1 {
			b.WriteString("Content-Type: message/rfc822\r\n\r\nFrom: b@example.jp\r\n")
		}
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

func TestDepthLimit(t *testing.T) {
	pe := parseErr(t, nested(50, false), DefaultLimits())
	if !strings.Contains(pe.Reason, "nested") {
		t.Errorf("Reason = %q", pe.Reason)
	}
	pe = parseErr(t, nested(8, true), DefaultLimits()) // 8 multiparts + 4 messages
	if !strings.Contains(pe.Reason, "nested deeper than 10") {
		t.Errorf("Reason = %q", pe.Reason)
	}
	m := mustParse(t, nested(10, false), DefaultLimits())
	if m.Text != "deep" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestHeaderLimits(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxHeaderBytes = 64 << 10
	long := "From: a@example.jp\r\nX-Long: " + strings.Repeat("a", 100<<10) + "\r\n\r\nbody\r\n"
	pe := parseErr(t, long, lim)
	if pe.Reason != "header line longer than 65536 bytes" {
		t.Errorf("Reason = %q", pe.Reason)
	}
	var b strings.Builder
	b.WriteString("From: a@example.jp\r\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("f", 40))
	}
	b.WriteString("\r\nbody\r\n")
	if pe := parseErr(t, b.String(), lim); !strings.Contains(pe.Reason, "header larger than") {
		t.Errorf("Reason = %q", pe.Reason)
	}
	// A part header is held to the same limit.
	part := "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Long: " +
		strings.Repeat("a", 100<<10) + "\r\n\r\nx\r\n--b--\r\n"
	if pe := parseErr(t, part, lim); !strings.Contains(pe.Reason, "header line longer") {
		t.Errorf("Reason = %q", pe.Reason)
	}
	for _, raw := range []string{"", "\r\n\r\nbody only", "just some text\r\n"} {
		if pe := parseErr(t, raw, lim); pe.Reason != "no header" {
			t.Errorf("%q: Reason = %q", raw, pe.Reason)
		}
	}
	// Lines that are not fields are skipped, the rest is read.
	m := mustParse(t, "From taro@example.jp Mon Nov  2 10:00:00 2026\r\nFrom: taro@example.jp\r\nnonsense line\r\nSubject: ok\r\n\r\nbody", lim)
	if m.Subject != "ok" || m.From == nil || m.Text != "body" {
		t.Errorf("got %q %+v %q", m.Subject, m.From, m.Text)
	}
}

func TestTotalLimit(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxTotalBytes = 1000
	raw := textMessage("", "", strings.Repeat("x", 2000))
	if pe := parseErr(t, raw, lim); pe.Reason != "message larger than 1000 bytes" {
		t.Errorf("Reason = %q", pe.Reason)
	}
	// The epilogue counts too.
	raw = "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n" + strings.Repeat("e", 2000)
	parseErr(t, raw, lim)
}

// base64Source produces the base64 of n pseudo-random-ish bytes without ever
// holding them, so the test measures the parser and not itself.
type base64Source struct {
	left  int // encoded bytes still to hand out
	block []byte
	pos   int
}

func newBase64Source(rawSize int) *base64Source {
	raw := bytes.Repeat([]byte{0x25, 0x50, 0x44}, 57*1000/3) // 57,000 bytes: whole base64 lines
	block := []byte(b64(raw))
	return &base64Source{left: rawSize / len(raw) * len(block), block: block}
}

func (s *base64Source) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if len(p) > s.left {
		p = p[:s.left]
	}
	n := copy(p, s.block[s.pos:])
	s.pos = (s.pos + n) % len(s.block)
	s.left -= n
	return n, nil
}

func TestLargeAttachmentStreamed(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxAttachmentBytes = 1 << 20
	lim.MaxTotalBytes = 64 << 20
	const size = 30 << 20
	head := "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbig file\r\n" +
		"--b\r\nContent-Type: application/pdf; name=big.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	r := io.MultiReader(strings.NewReader(head), newBase64Source(size), strings.NewReader("--b--\r\n"))

	var before, after runtimeMem
	before.read()
	m, err := Parse(r, lim)
	after.read()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.DroppedAttachments) != 1 || m.DroppedAttachments[0].Reason != "larger than 1.0 MB" {
		t.Errorf("dropped %+v", m.DroppedAttachments)
	}
	grew := after.totalAlloc - before.totalAlloc
	t.Logf("allocated %d MB while parsing a %d MB attachment", grew>>20, size>>20)
	if grew > 40<<20 {
		t.Errorf("allocated %d bytes: the attachment was not streamed", grew)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n = 0
		return copy(p, "From: a@example.jp\r\nSubject: x\r\n\r\nbod"), nil
	}
	return 0, errors.New("connection reset")
}

func TestReadErrorIsNotParseError(t *testing.T) {
	_, err := Parse(&failingReader{n: 1}, DefaultLimits())
	var pe *ParseError
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("err = %v", err)
	}
}

func TestZeroLimitsTakeDefaults(t *testing.T) {
	m := mustParse(t, attachmentsMessage(2, 10), Limits{})
	if len(m.Attachments) != 2 {
		t.Errorf("attachments %v", names(m.Attachments))
	}
}

func TestForwardedMessage(t *testing.T) {
	raw := crlf(`From: a@example.jp
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

my note
--b
Content-Type: message/rfc822

From: other@example.jp
Message-ID: <fwd@example.jp>
Content-Type: multipart/mixed; boundary=c

--c
Content-Type: text/plain

forwarded text
--c
Content-Type: application/pdf; name=signed.pdf

%PDF-1.4 signed
--c--
--b--
`)
	m := mustParse(t, raw, DefaultLimits())
	if m.Text != "my note" || len(m.Attachments) != 1 || m.Attachments[0].Filename != "signed.pdf" {
		t.Errorf("Text %q attachments %v", m.Text, names(m.Attachments))
	}
	if m.Bounce != nil || m.Automatic.IsAutomatic() {
		t.Errorf("forward taken for a bounce")
	}
}

func TestSniffType(t *testing.T) {
	cases := map[string]string{
		"%PDF-1.7":                   "application/pdf",
		"\r\n%PDF-1.3":               "application/pdf",
		"\xff\xd8\xff\xe0\x00\x10JF": "image/jpeg",
		"\x89PNG\r\n\x1a\n":          "image/png",
		"GIF89a":                     "image/gif",
		"II*\x00\x08\x00":            "image/tiff",
		"MM\x00*\x00\x00":            "image/tiff",
		"PK\x03\x04":                 "application/zip",
		"hello":                      "text/plain",
		"\x00\x01\x02\x03":           "application/octet-stream",
		"":                           "text/plain",
	}
	for in, want := range cases {
		if got := SniffType([]byte(in)); got != want {
			t.Errorf("SniffType(%q) = %q, want %q", in, got, want)
		}
	}
}
