package outbound

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	_ "github.com/emersion/go-message/charset" // ISO-2022-JP bodies decode only with it
	gomail "github.com/emersion/go-message/mail"

	"github.com/madoguchi/madoguchi/internal/store"
)

var testDate = time.Date(2026, 11, 3, 9, 15, 0, 0, time.UTC)

func buildRaw(t *testing.T, n store.Notice) []byte {
	t.Helper()
	m, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parsed is a received message decoded by go-message.
type parsed struct {
	h           gomail.Header
	body        string
	bodyCharset string
	bodyCTE     string
	files       map[string][]byte
	fileTypes   map[string]string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{h: mr.Header, files: map[string][]byte{}, fileTypes: map[string]string{}}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch h := part.Header.(type) {
		case *gomail.InlineHeader:
			_, params, _ := h.ContentType()
			p.body, p.bodyCharset = string(data), params["charset"]
			p.bodyCTE = h.Get("Content-Transfer-Encoding")
		case *gomail.AttachmentHeader:
			name, err := h.Filename()
			if err != nil {
				t.Fatal(err)
			}
			ct, _, _ := h.ContentType()
			p.files[name], p.fileTypes[name] = data, ct
		}
	}
	return p
}

func TestBuildHeaders(t *testing.T) {
	n := testNotice(testDate)
	p := parse(t, buildRaw(t, n))
	if id, _ := p.h.MessageID(); id != n.MessageID {
		t.Errorf("Message-ID = %q, want %q", id, n.MessageID)
	}
	if d, _ := p.h.Date(); !d.Equal(n.Date) {
		t.Errorf("Date = %v, want %v", d, n.Date)
	}
	if ids, _ := p.h.MsgIDList("In-Reply-To"); len(ids) != 1 || ids[0] != n.InReplyTo {
		t.Errorf("In-Reply-To = %q", ids)
	}
	if ids, _ := p.h.MsgIDList("References"); strings.Join(ids, " ") != strings.Join(n.References, " ") {
		t.Errorf("References = %q", ids)
	}
	if got := p.h.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if got := p.h.Get("X-Auto-Response-Suppress"); got != "All" {
		t.Errorf("X-Auto-Response-Suppress = %q", got)
	}
	if p.h.Has("Precedence") || p.h.Has("User-Agent") {
		t.Errorf("unexpected Precedence or User-Agent header")
	}
	from, err := p.h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "窓口デスク" || from[0].Address != "desk@desk.example" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if subj, _ := p.h.Subject(); subj != n.Subject {
		t.Errorf("Subject = %q, want %q", subj, n.Subject)
	}
}

func TestBuildDeterministic(t *testing.T) {
	n := testNotice(testDate)
	n.Attachments = []store.NoticeAttachment{{Filename: "申込書.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 test")}}
	a, b := buildRaw(t, n), buildRaw(t, n)
	pa, pb := parse(t, a), parse(t, b)
	for _, k := range []string{"Message-ID", "Date", "Subject", "In-Reply-To", "References", "From", "To", "Cc"} {
		if va, vb := pa.h.Get(k), pb.h.Get(k); va != vb || va == "" {
			t.Errorf("%s differs or is empty: %q vs %q", k, va, vb)
		}
	}
	// Apart from the random boundary, the bytes are the same.
	_, pa1, _ := pa.h.ContentType()
	_, pb1, _ := pb.h.ContentType()
	if strings.ReplaceAll(string(a), pa1["boundary"], "B") != strings.ReplaceAll(string(b), pb1["boundary"], "B") {
		t.Errorf("two builds differ beyond the boundary:\n%s\n---\n%s", a, b)
	}
}

func TestBuildISO2022JP(t *testing.T) {
	n := testNotice(testDate)
	raw := buildRaw(t, n)
	if !strings.Contains(string(raw), "Subject: =?ISO-2022-JP?B?") {
		t.Errorf("subject not ISO-2022-JP encoded:\n%s", raw)
	}
	p := parse(t, raw)
	if !strings.EqualFold(p.bodyCharset, "iso-2022-jp") {
		t.Fatalf("charset = %q, want ISO-2022-JP", p.bodyCharset)
	}
	if normalizeCRLF(p.body) != n.Body {
		t.Errorf("body = %q, want %q", p.body, n.Body)
	}
	if subj, _ := p.h.Subject(); subj != n.Subject {
		t.Errorf("Subject = %q", subj)
	}
}

func TestBuildFallsBackToUTF8(t *testing.T) {
	for _, tc := range []struct{ name, subject, body string }{
		{"emoji in body", "ご案内", "ありがとうございます😀\n"},
		{"circled digit in subject", "手続き①のご案内", "本文\n"},
		{"half-width katakana", "ｱﾝｹｰﾄ", "本文\n"},
		{"IBM extension kanji", "ご案内", "髙橋様\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNotice(testDate)
			n.Subject, n.Body = tc.subject, tc.body
			raw := buildRaw(t, n)
			if strings.Contains(string(raw), "ISO-2022-JP") {
				t.Errorf("sent as ISO-2022-JP:\n%s", raw)
			}
			p := parse(t, raw)
			if !strings.EqualFold(p.bodyCharset, "utf-8") || p.bodyCTE != "base64" {
				t.Errorf("charset %q, encoding %q; want UTF-8, base64", p.bodyCharset, p.bodyCTE)
			}
			if normalizeCRLF(p.body) != tc.body {
				t.Errorf("body = %q", p.body)
			}
			if subj, _ := p.h.Subject(); subj != tc.subject {
				t.Errorf("Subject = %q", subj)
			}
		})
	}
}

func TestBuildUTF8Default(t *testing.T) {
	n := testNotice(testDate)
	n.Charset = ""
	p := parse(t, buildRaw(t, n))
	if !strings.EqualFold(p.bodyCharset, "utf-8") || normalizeCRLF(p.body) != n.Body {
		t.Errorf("charset %q body %q", p.bodyCharset, p.body)
	}
}

func TestBuildAttachments(t *testing.T) {
	for _, charset := range []string{"iso-2022-jp", "utf-8"} {
		n := testNotice(testDate)
		n.Charset = charset
		n.Attachments = []store.NoticeAttachment{
			{Filename: "申込書（記入例）.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4\x00\xff")},
			{Filename: "result.csv", ContentType: "text/csv", Data: []byte("id,名前\n1,山田\n")},
			{Filename: "blob", Data: []byte{1, 2, 3}},
		}
		p := parse(t, buildRaw(t, n))
		for _, a := range n.Attachments {
			got, ok := p.files[a.Filename]
			if !ok {
				t.Errorf("%s: attachment %q missing; have %v", charset, a.Filename, p.fileTypes)
				continue
			}
			if !bytes.Equal(got, a.Data) {
				t.Errorf("%s: %q data = %q", charset, a.Filename, got)
			}
			want := a.ContentType
			if want == "" {
				want = "application/octet-stream"
			}
			if p.fileTypes[a.Filename] != want {
				t.Errorf("%s: %q type = %q", charset, a.Filename, p.fileTypes[a.Filename])
			}
		}
		if normalizeCRLF(p.body) != n.Body {
			t.Errorf("%s: body = %q", charset, p.body)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	for name, mod := range map[string]func(*store.Notice){
		"no Message-ID":        func(n *store.Notice) { n.MessageID = "" },
		"bracketed Message-ID": func(n *store.Notice) { n.MessageID = "<a@b>" },
		"header injection":     func(n *store.Notice) { n.MessageID = "a@b\r\nBcc: x@y" },
		"no Date":              func(n *store.Notice) { n.Date = time.Time{} },
		"bad From":             func(n *store.Notice) { n.From = "not an address" },
		"no To":                func(n *store.Notice) { n.To = nil },
		"bad To":               func(n *store.Notice) { n.To = []string{"x"} },
	} {
		n := testNotice(testDate)
		mod(&n)
		if _, err := Build(n); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
	// A junk reference from an incoming mail is dropped, not fatal.
	n := testNotice(testDate)
	n.References = []string{"ok@x", "bad ref", "also\r\nbad@x"}
	n.InReplyTo = "no-at-sign"
	p := parse(t, buildRaw(t, n))
	if ids, _ := p.h.MsgIDList("References"); len(ids) != 1 || ids[0] != "ok@x" {
		t.Errorf("References = %q", ids)
	}
	if p.h.Has("In-Reply-To") {
		t.Errorf("invalid In-Reply-To was kept")
	}
}

func TestStrictJIS(t *testing.T) {
	for s, want := range map[string]bool{
		"":               true,
		"ASCII only\r\n": true,
		"日本語の本文です。":      true,
		"全角ＡＢＣ、記号※〒":     true,
		"①":              false, // NEC row 13
		"髙":              false, // IBM extension
		"ｶﾅ":             false, // half-width katakana, ESC ( I
		"😀":              false,
		"é":              false,
		"\xff invalid":   false,
		"混在 text 😀 here": false,
	} {
		if _, got := toJIS(s); got != want {
			t.Errorf("toJIS(%q) ok = %v, want %v", s, got, want)
		}
	}
}

func TestJISWordsShort(t *testing.T) {
	s := strings.Repeat("長い件名と ASCII の混在。", 8)
	w, ok := jisWords(s)
	if !ok {
		t.Fatal("not encodable")
	}
	for _, word := range strings.Fields(w) {
		if len(word) > 75 {
			t.Errorf("encoded-word longer than 75: %q", word)
		}
	}
}
