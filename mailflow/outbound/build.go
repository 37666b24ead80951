package outbound

import (
	"bytes"
	"encoding/base64"
	"fmt"
	netmail "net/mail"
	"strings"

	"github.com/wneessen/go-mail"
	"golang.org/x/text/encoding/japanese"

	"github.com/madoguchi/madoguchi/internal/store"
)

// Build renders a notice as a go-mail message. Every header comes from the
// notice itself (Message-ID and Date included), so two builds of one notice
// differ only in the random MIME boundary.
func Build(n store.Notice) (*mail.Msg, error) {
	if !validMessageID(n.MessageID) {
		return nil, fmt.Errorf("notice %d: invalid Message-ID %q", n.ID, n.MessageID)
	}
	if n.Date.IsZero() {
		// A Date of "now" would differ on a retry; refuse rather than invent one.
		return nil, fmt.Errorf("notice %d: no Date", n.ID)
	}
	from, err := netmail.ParseAddress(n.From)
	if err != nil {
		return nil, fmt.Errorf("notice %d: From %q: %w", n.ID, n.From, err)
	}
	if len(n.To) == 0 {
		return nil, fmt.Errorf("notice %d: no recipient", n.ID)
	}

	// Base64 makes header encoded-words use B encoding too: Japanese text in
	// quoted-printable is about three times its size.
	m := mail.NewMsg(mail.WithCharset(mail.CharsetUTF8), mail.WithEncoding(mail.EncodingB64),
		mail.WithNoDefaultUserAgent())
	m.FromMailAddress(from)
	if err := m.To(n.To...); err != nil {
		return nil, fmt.Errorf("notice %d: To: %w", n.ID, err)
	}
	if len(n.Cc) > 0 {
		if err := m.Cc(n.Cc...); err != nil {
			return nil, fmt.Errorf("notice %d: Cc: %w", n.ID, err)
		}
	}

	// Set explicitly: go-mail only generates Date and Message-ID when they
	// are missing, and its generated ones would change on every retry.
	m.SetMessageIDWithValue(n.MessageID)
	m.SetDateWithValue(n.Date)
	if validMessageID(n.InReplyTo) {
		m.SetGenHeader(mail.HeaderInReplyTo, "<"+n.InReplyTo+">")
	}
	// References copied from a stranger's mail may be junk; a bad one is
	// dropped rather than holding back the reply.
	var refs []string
	for _, r := range n.References {
		if validMessageID(r) {
			refs = append(refs, "<"+r+">")
		}
	}
	if len(refs) > 0 {
		// One value: go-mail joins several values with commas, and
		// References is space separated.
		m.SetGenHeader(mail.HeaderReferences, strings.Join(refs, " "))
	}
	// RFC 3834, so that vacation responders do not answer our answers; no
	// Precedence: bulk, as these are personal notices.
	m.SetGenHeader("Auto-Submitted", "auto-replied")
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")

	body := crlf(n.Body)
	jisSubject, jisBody, jis := "", []byte(nil), false
	if strings.EqualFold(n.Charset, "iso-2022-jp") {
		jisSubject, jisBody, jis = encodeJapanese(n.Subject, body)
	}
	if jis {
		// The message charset stays UTF-8 so that go-mail labels the
		// encoded-words it makes (display names, file names) truthfully;
		// only the subject and the text part are ISO-2022-JP.
		m.SetGenHeader(mail.HeaderSubject, jisSubject)
		// Base64, not 7bit: go-mail v0.8.1 writes a part labelled "7bit"
		// through a quoted-printable encoder, which would mangle the ESC
		// bytes behind a label that tells readers not to decode them.
		m.SetBodyString(mail.TypeTextPlain, string(jisBody),
			mail.WithPartCharset(mail.CharsetISO2022JP), mail.WithPartEncoding(mail.EncodingB64))
	} else {
		m.Subject(n.Subject)
		m.SetBodyString(mail.TypeTextPlain, body)
	}

	for _, a := range n.Attachments {
		ct := a.ContentType
		if ct == "" {
			// Not mime.TypeByExtension: it reads system tables, and the same
			// notice must render the same on every machine.
			ct = "application/octet-stream"
		}
		if err := m.AttachReader(a.Filename, bytes.NewReader(a.Data),
			mail.WithFileContentType(mail.ContentType(ct))); err != nil {
			return nil, fmt.Errorf("notice %d: attachment %q: %w", n.ID, a.Filename, err)
		}
	}
	return m, nil
}

// validMessageID accepts an id-left@id-right without brackets, whitespace
// or control characters, so that it can go into a header unencoded.
func validMessageID(id string) bool {
	if id == "" || strings.Count(id, "@") != 1 || strings.HasPrefix(id, "@") || strings.HasSuffix(id, "@") {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// crlf gives the body canonical CRLF line ends before base64 (RFC 2045 2.10).
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// encodeJapanese returns the subject as ISO-2022-JP encoded-words and the
// body in ISO-2022-JP, or ok=false when either has a character outside
// plain JIS X 0208, in which case the notice goes out as UTF-8.
func encodeJapanese(subject, body string) (encSubject string, encBody []byte, ok bool) {
	encBody, ok = toJIS(body)
	if !ok {
		return "", nil, false
	}
	encSubject, ok = jisWords(subject)
	if !ok {
		return "", nil, false
	}
	return encSubject, encBody, true
}

// toJIS encodes s in ISO-2022-JP and reports whether the result is strict
// ISO-2022-JP (RFC 1468) that decodes back to s. x/text accepts more than
// that: half-width katakana (ESC ( I) and the NEC/IBM extension rows (①, ㈱,
// 髙) encode without error but are garbled by strict readers.
func toJIS(s string) ([]byte, bool) {
	b, err := japanese.ISO2022JP.NewEncoder().Bytes([]byte(s))
	if err != nil || !strictJIS(b) {
		return nil, false
	}
	back, err := japanese.ISO2022JP.NewDecoder().Bytes(b)
	if err != nil || string(back) != s {
		return nil, false
	}
	return b, true
}

const (
	escASCII = "\x1b(B"
	escJIS   = "\x1b$B"
)

// strictJIS checks that b uses only ASCII and JIS X 0208 rows 1-8 and
// 16-84 (row 84 has six characters), the repertoire of RFC 1468.
func strictJIS(b []byte) bool {
	inJIS := false
	for i := 0; i < len(b); {
		switch {
		case b[i] == 0x1b:
			switch {
			case bytes.HasPrefix(b[i:], []byte(escASCII)):
				inJIS = false
			case bytes.HasPrefix(b[i:], []byte(escJIS)):
				inJIS = true
			default:
				return false
			}
			i += 3
		case !inJIS:
			if b[i] >= 0x80 {
				return false
			}
			i++
		default:
			if i+1 >= len(b) {
				return false
			}
			row, cell := int(b[i])-0x20, int(b[i+1])-0x20
			if cell < 1 || cell > 94 {
				return false
			}
			if !(row >= 1 && row <= 8 || row >= 16 && row <= 83 || row == 84 && cell <= 6) {
				return false
			}
			i += 2
		}
	}
	return !inJIS
}

// jisWordBytes keeps each encoded-word short enough that "Subject: " and
// one word fit in 78 characters.
const jisWordBytes = 36

// jisWords encodes a subject as RFC 2047 B encoded-words in ISO-2022-JP.
// Each word is a complete ISO-2022-JP string (it starts and ends in ASCII),
// as RFC 1468 requires, so words are cut at characters, never inside an
// escape sequence. Pure ASCII subjects are returned as they are.
func jisWords(s string) (string, bool) {
	if isPrintableASCII(s) {
		return s, true
	}
	if _, ok := toJIS(s); !ok {
		return "", false
	}
	var words []string
	var chunk []rune
	var enc []byte
	for _, r := range s {
		next, ok := toJIS(string(append(chunk, r)))
		if !ok {
			return "", false
		}
		if len(next) > jisWordBytes && len(chunk) > 0 {
			words = append(words, jisWord(enc))
			chunk = chunk[:0]
			if next, ok = toJIS(string(r)); !ok {
				return "", false
			}
		}
		chunk = append(chunk, r)
		enc = next
	}
	if len(chunk) > 0 {
		words = append(words, jisWord(enc))
	}
	// Adjacent encoded-words separated by a space decode without the
	// space (RFC 2047 6.2), and go-mail folds the header at the spaces.
	return strings.Join(words, " "), true
}

func jisWord(b []byte) string {
	return "=?ISO-2022-JP?B?" + base64.StdEncoding.EncodeToString(b) + "?="
}

// isPrintableASCII reports whether s needs no encoded-word at all. go-mail
// passes such values through SetGenHeader untouched and encodes the rest.
func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return !strings.Contains(s, "=?")
}
