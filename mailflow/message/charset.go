package message

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// init adds the charset labels Japanese mail clients really send but
// go-message's charset package does not know. It is the only package-level
// state we touch: RegisterEncoding writes a plain map, so it must happen in
// init, before any goroutine can read it. Registering there (rather than in a
// private table) also lets other users of go-message, such as IMAP envelope
// decoding, read these labels.
func init() {
	for label, enc := range extraCharsets {
		charset.RegisterEncoding(label, enc)
	}
}

// extraCharsets maps labels to the x/text encodings that read them.
// japanese.ShiftJIS is in fact CP932 (NEC and IBM extensions included), and
// japanese.ISO2022JP reads the NEC row 13 and NEC-selected IBM rows that
// ISO-2022-JP-MS (CP5022x) writes.
var extraCharsets = map[string]encoding.Encoding{
	"cp932":          japanese.ShiftJIS,
	"windows-31j":    japanese.ShiftJIS,
	"ms932":          japanese.ShiftJIS,
	"x-sjis":         japanese.ShiftJIS,
	"shift-jis":      japanese.ShiftJIS,
	"sjis":           japanese.ShiftJIS,
	"x-ms-cp932":     japanese.ShiftJIS,
	"iso-2022-jp-ms": japanese.ISO2022JP,
	"iso-2022-jp-2":  japanese.ISO2022JP,
	"iso-2022-jp-3":  japanese.ISO2022JP,
	"cp50220":        japanese.ISO2022JP,
	"cp50221":        japanese.ISO2022JP,
	"cp50222":        japanese.ISO2022JP,
	"csiso2022jp":    japanese.ISO2022JP,
	"euc-jp":         japanese.EUCJP,
	"x-euc-jp":       japanese.EUCJP,
}

// decodeText turns bytes labelled with a charset into valid UTF-8. It never
// fails: an unknown label or one the bytes contradict falls back to guessing,
// because a reply in the wrong charset is better than no reply.
func decodeText(raw []byte, label string) string {
	l := normalizeLabel(label)
	switch l {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "ansi_x3.4-1968":
		return guessText(raw)
	}
	// Real UTF-8 with multi-byte sequences is almost never valid in another
	// charset by accident, so it beats the label.
	if utf8.Valid(raw) && hasNonASCII(raw) {
		return string(raw)
	}
	r, err := charset.Reader(l, bytes.NewReader(raw))
	if err != nil {
		return guessText(raw)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return guessText(raw)
	}
	if n := bytes.Count(out, replacement); n > 0 && !bytes.Contains(raw, replacement) {
		// x/text decoders turn invalid input into U+FFFD silently: many of
		// them mean the label lies.
		if g := guessText(raw); strings.Count(g, "\uFFFD") < n {
			return g
		}
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

var replacement = []byte("\uFFFD")

func normalizeLabel(label string) string {
	l := strings.ToLower(strings.TrimSpace(label))
	l = strings.Trim(l, `"' `)
	// RFC 2231 allows a language suffix on charsets in encoded words.
	if i := strings.IndexByte(l, '*'); i >= 0 {
		l = l[:i]
	}
	return l
}

// guessText decodes unlabelled or mislabelled bytes. ISO-2022-JP is checked
// before UTF-8 because it is 7-bit and therefore valid UTF-8 as well.
func guessText(raw []byte) string {
	if hasJISEscape(raw) && !hasNonASCII(raw) {
		if out, err := japanese.ISO2022JP.NewDecoder().Bytes(raw); err == nil {
			return strings.ToValidUTF8(string(out), "\uFFFD")
		}
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	sj, sjScore, sjBad := decodeScored(japanese.ShiftJIS, raw)
	eu, euScore, euBad := decodeScored(japanese.EUCJP, raw)
	best, bad := sj, sjBad
	if euScore < sjScore {
		best, bad = eu, euBad
	}
	// A few broken bytes in otherwise Japanese text still read better as
	// Japanese; mostly broken means it is something else entirely.
	if bad == 0 || bad*50 <= utf8.RuneCountInString(best) {
		return best
	}
	out, _ := charmap.ISO8859_1.NewDecoder().Bytes(raw)
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// decodeScored decodes raw and scores how unlikely the result is as real
// text: replacement characters weigh most, half-width katakana (what EUC-JP
// looks like read as Shift_JIS) a little.
func decodeScored(enc encoding.Encoding, raw []byte) (text string, score, bad int) {
	out, err := enc.NewDecoder().Bytes(raw)
	if err != nil {
		return "", 1 << 30, 1 << 30
	}
	text = strings.ToValidUTF8(string(out), "\uFFFD")
	for _, r := range text {
		switch {
		case r == utf8.RuneError:
			bad++
			score += 10
		case r >= 0xFF61 && r <= 0xFF9F:
			score++
		case r >= 0xE000 && r <= 0xF8FF: // private use: user-defined rows
			score += 3
		}
	}
	return text, score, bad
}

func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// hasJISEscape reports an ISO-2022-JP designation: ESC $ B, ESC $ @,
// ESC ( J, ESC ( I or ESC $ ( D.
func hasJISEscape(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0x1b {
			continue
		}
		switch {
		case b[i+1] == '$' && (b[i+2] == 'B' || b[i+2] == '@' || b[i+2] == '('):
			return true
		case b[i+1] == '(' && (b[i+2] == 'J' || b[i+2] == 'I'):
			return true
		}
	}
	return false
}
