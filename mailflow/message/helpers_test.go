package message

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// crlf lets tests write messages with \n and parse them with CRLF, as they
// arrive over IMAP.
func crlf(s string) string {
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func encode(t testing.TB, enc encoding.Encoding, s string) string {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return string(b)
}

func jis(t testing.TB, s string) string   { return encode(t, japanese.ISO2022JP, s) }
func sjis(t testing.TB, s string) string  { return encode(t, japanese.ShiftJIS, s) }
func eucjp(t testing.TB, s string) string { return encode(t, japanese.EUCJP, s) }

// bword makes an RFC 2047 B encoded word of bytes already in charset cs.
func bword(cs, raw string) string {
	return "=?" + cs + "?B?" + base64.StdEncoding.EncodeToString([]byte(raw)) + "?="
}

// b64 wraps base64 at 76 columns like mail clients do.
func b64(raw []byte) string {
	s := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

func mustParse(t testing.TB, raw string, lim Limits) *Message {
	t.Helper()
	m, err := Parse(strings.NewReader(raw), lim)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func parseErr(t testing.TB, raw string, lim Limits) *ParseError {
	t.Helper()
	_, err := Parse(strings.NewReader(raw), lim)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error = %v, want *ParseError", err)
	}
	return pe
}

// textMessage is a single-part text/plain message with body bytes as given.
func textMessage(ctParams, cte, body string) string {
	h := "From: Taro <taro@example.jp>\r\nTo: desk@example.org\r\nSubject: test\r\nMessage-ID: <a1@example.jp>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain" + ctParams + "\r\n"
	if cte != "" {
		h += "Content-Transfer-Encoding: " + cte + "\r\n"
	}
	return h + "\r\n" + body
}
