// Package samples builds mail the way applicants' and operators' clients
// write it (ISO-2022-JP from Japanese mail clients, Shift_JIS from older
// phones, UTF-8, scans attached), for the demo and the flow tests.
package samples

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// Attachment is a file attached to a sample mail.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Mail describes one message to build.
type Mail struct {
	From, To   string
	Subject    string
	Body       string
	Charset    string // "utf-8" (default), "iso-2022-jp", "shift_jis"
	MessageID  string // generated when empty
	InReplyTo  string
	References []string
	Date       time.Time
	// Headers are extra header fields, in order ("Name: value").
	Headers     []string
	Attachments []Attachment
}

// Build returns the RFC 5322 bytes with CRLF line ends.
func (m Mail) Build() []byte {
	var b bytes.Buffer
	h := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", name, value)
		}
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := m.MessageID
	if id == "" {
		id = NewMessageID("client.example")
	}
	charset := strings.ToLower(m.Charset)
	if charset == "" {
		charset = "utf-8"
	}
	for _, extra := range m.Headers {
		b.WriteString(extra + "\r\n")
	}
	h("From", m.From)
	h("To", m.To)
	h("Subject", encodeWord(charset, m.Subject))
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", "<"+id+">")
	if m.InReplyTo != "" {
		h("In-Reply-To", "<"+m.InReplyTo+">")
	}
	if len(m.References) > 0 {
		h("References", "<"+strings.Join(m.References, "> <")+">")
	}
	h("MIME-Version", "1.0")
	body, cte := encodeBody(charset, m.Body)
	if len(m.Attachments) == 0 {
		h("Content-Type", "text/plain; charset="+mimeCharset(charset))
		h("Content-Transfer-Encoding", cte)
		b.WriteString("\r\n")
		b.Write(body)
		return b.Bytes()
	}
	boundary := "=_sample_" + randomHex(8)
	h("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=" + mimeCharset(charset) + "\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n")
	b.Write(body)
	for _, a := range m.Attachments {
		b.WriteString("\r\n--" + boundary + "\r\n")
		name := mime.QEncoding.Encode("utf-8", a.Filename)
		fmt.Fprintf(&b, "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
			a.ContentType, name, name)
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// NewMessageID returns a unique Message-ID (without brackets).
func NewMessageID(domain string) string { return randomHex(12) + "@" + domain }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mimeCharset(charset string) string {
	switch charset {
	case "iso-2022-jp":
		return "ISO-2022-JP"
	case "shift_jis":
		return "Shift_JIS"
	}
	return "UTF-8"
}

func encoder(charset string) *encoding.Encoder {
	switch charset {
	case "iso-2022-jp":
		return japanese.ISO2022JP.NewEncoder()
	case "shift_jis":
		return japanese.ShiftJIS.NewEncoder()
	}
	return nil
}

// encodeBody encodes like the clients do: ISO-2022-JP as 7bit, Shift_JIS
// as 8bit, UTF-8 as base64.
func encodeBody(charset, text string) ([]byte, string) {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")
	if enc := encoder(charset); enc != nil {
		out, err := enc.String(text)
		if err != nil {
			panic(fmt.Sprintf("sample text not encodable in %s: %v", charset, err))
		}
		if charset == "iso-2022-jp" {
			return []byte(out), "7bit"
		}
		return []byte(out), "8bit"
	}
	enc := base64.StdEncoding.EncodeToString([]byte(text))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return []byte(b.String()), "base64"
}

func encodeWord(charset, s string) string {
	if s == "" {
		return ""
	}
	ascii := true
	for _, r := range s {
		if r >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return s
	}
	if enc := encoder(charset); enc != nil {
		out, err := enc.String(s)
		if err == nil {
			return "=?" + mimeCharset(charset) + "?B?" + base64.StdEncoding.EncodeToString([]byte(out)) + "?="
		}
	}
	return mime.BEncoding.Encode("utf-8", s)
}

// ScannedPDF is a small but well-formed PDF, standing in for a scanned
// signed form.
func ScannedPDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
}

// PhotoPNG is the start of a PNG file, standing in for a phone photo.
func PhotoPNG() []byte {
	return append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0x42}, 64)...)
}

// OperatorAuthResults is the Authentication-Results header our MX adds to
// an operator's DKIM-signed mail.
func OperatorAuthResults(authservID, operatorDomain string) string {
	return fmt.Sprintf("Authentication-Results: %s; dkim=pass header.d=%s; spf=pass smtp.mailfrom=ops@%s",
		authservID, operatorDomain, operatorDomain)
}

// SenderAuthResults is our MX's header proving a sender's own address by
// an aligned DKIM pass, as a mail from a signing provider carries it.
func SenderAuthResults(authservID, addr string) string {
	domain := addr[strings.LastIndex(addr, "@")+1:]
	return fmt.Sprintf("Authentication-Results: %s; dkim=pass (2048-bit key; unprotected) header.d=%s header.i=@%s; spf=none smtp.mailfrom=%s",
		authservID, domain, domain, addr)
}

// NextReference is the reference a desk gives after ref
// (MDG-2026-000001 -> MDG-2026-000002), for tests that check numbering
// goes on.
func NextReference(ref string) (string, error) {
	i := strings.LastIndexByte(ref, '-')
	var n int
	if _, err := fmt.Sscanf(ref[i+1:], "%d", &n); err != nil {
		return "", fmt.Errorf("reference %q: %w", ref, err)
	}
	return fmt.Sprintf("%s%0*d", ref[:i+1], len(ref)-i-1, n+1), nil
}
