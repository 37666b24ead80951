package desk

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"unicode"

	"github.com/emersion/go-message/charset"
)

// readHeader reads just the header block of a raw message the full parser
// refused or never saw (too large), to find whom to answer.
func readHeader(raw []byte) mail.Header {
	if !bytes.Contains(raw, []byte("\r\n\r\n")) && !bytes.Contains(raw, []byte("\n\n")) {
		raw = append(append([]byte{}, raw...), "\r\n\r\n"...)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	return m.Header
}

func decodeHeader(v string) string {
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	if out, err := dec.DecodeHeader(v); err == nil {
		return out
	}
	return v
}

// looksAutomatic is the RFC 3834 test on a bare header, for mail the full
// parser could not read.
func looksAutomatic(h mail.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list", "junk":
		return true
	}
	if h.Get("List-Id") != "" || h.Get("List-Unsubscribe") != "" {
		return true
	}
	if strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return true
	}
	from := strings.ToLower(h.Get("From"))
	return strings.Contains(from, "mailer-daemon") || strings.Contains(from, "postmaster@")
}

func hasJapanese(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
			return true
		}
	}
	return false
}

func latinWords(s string) int {
	n := 0
	for _, w := range strings.Fields(s) {
		letters := 0
		for _, r := range w {
			if r < unicode.MaxASCII && unicode.IsLetter(r) {
				letters++
			}
		}
		if letters >= 2 {
			n++
		}
	}
	return n
}
