package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/japanese"
)

// readHeader reads one header block from br, enforcing the byte limits
// itself: go-message's textproto joins over-long lines without a bound, so
// it only ever sees a block that has already been measured. Lines that are
// not header fields (an mbox "From " line, stray text) are skipped rather
// than failing the whole message. The reader is left at the first body byte.
func readHeader(br *bufio.Reader, maxBytes int) (textproto.Header, int, error) {
	var block bytes.Buffer
	var line []byte
	fields := 0
	total := 0
	lastKept := false
	for {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			total += len(chunk)
			if len(line)+len(chunk) > maxBytes {
				return textproto.Header{}, 0, lineTooLong(maxBytes)
			}
			if total > maxBytes {
				// Say which limit: finish measuring this line first.
				n := len(line) + len(chunk)
				for errors.Is(err, bufio.ErrBufferFull) && n <= maxBytes {
					chunk, err = br.ReadSlice('\n')
					n += len(chunk)
				}
				if n > maxBytes {
					return textproto.Header{}, 0, lineTooLong(maxBytes)
				}
				return textproto.Header{}, 0, &ParseError{Reason: fmt.Sprintf("header larger than %d bytes", maxBytes)}
			}
			line = append(line, chunk...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			break // blank line or end of input: the header is over
		}
		switch {
		case content[0] == ' ' || content[0] == '\t':
			if lastKept {
				block.Write(content)
				block.WriteString("\r\n")
			}
		case validFieldStart(content):
			block.Write(content)
			block.WriteString("\r\n")
			fields++
			lastKept = true
		default:
			lastKept = false
		}
		if err != nil {
			break
		}
	}
	block.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&block))
	if err != nil && h.Len() == 0 {
		// Lines were checked above, so this is unexpected; an empty header
		// is still a usable answer.
		return textproto.Header{}, fields, nil
	}
	return h, fields, nil
}

func lineTooLong(max int) error {
	return &ParseError{Reason: fmt.Sprintf("header line longer than %d bytes", max)}
}

// validFieldStart reports whether a line starts a field: a non-empty name of
// printable ASCII, then a colon.
func validFieldStart(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// decodeHeaderText decodes a header value to UTF-8: raw 8-bit bytes by
// guessing their charset, encoded words by their label (or by guessing when
// the label is unknown or lies). Adjacent encoded words in one charset are
// joined before decoding, because some clients split a multi-byte character
// across two words.
func decodeHeaderText(v string) string {
	var out strings.Builder
	var pending []byte // bytes of consecutive encoded words in one charset
	pendingCharset := ""
	inWords := false // the last token was an encoded word
	flush := func() {
		if pendingCharset != "" {
			out.WriteString(decodeText(pending, pendingCharset))
		}
		pending, pendingCharset = nil, ""
	}
	rest := v
	for rest != "" {
		i := strings.Index(rest, "=?")
		if i < 0 {
			flush()
			out.WriteString(rawToUTF8(rest))
			break
		}
		cs, data, n, ok := parseEncodedWord(rest[i:])
		if !ok {
			flush()
			out.WriteString(rawToUTF8(rest[:i+2]))
			inWords = false
			rest = rest[i+2:]
			continue
		}
		between := rest[:i]
		// Whitespace between two encoded words is dropped (RFC 2047 6.2).
		onlySpace := inWords && strings.Trim(between, " \t\r\n") == ""
		if !onlySpace || normalizeLabel(cs) != normalizeLabel(pendingCharset) {
			flush()
		}
		if !onlySpace {
			out.WriteString(rawToUTF8(between))
		}
		pending = append(pending, data...)
		pendingCharset = cs
		inWords = true
		rest = rest[i+n:]
	}
	flush()
	return cleanHeader(out.String())
}

// parseEncodedWord reads "=?charset?B|Q?text?=" at the start of s.
func parseEncodedWord(s string) (cs string, data []byte, n int, ok bool) {
	if !strings.HasPrefix(s, "=?") {
		return "", nil, 0, false
	}
	q1 := strings.IndexByte(s[2:], '?')
	if q1 <= 0 || 2+q1+3 > len(s) {
		return "", nil, 0, false
	}
	cs = s[2 : 2+q1]
	encPos := 2 + q1 + 1
	if s[encPos+1] != '?' {
		return "", nil, 0, false
	}
	enc := s[encPos]
	textStart := encPos + 2
	end := strings.Index(s[textStart:], "?=")
	if end < 0 {
		return "", nil, 0, false
	}
	text := s[textStart : textStart+end]
	if strings.ContainsAny(text, " \t\r\n") || strings.ContainsAny(cs, " \t\r\n") {
		return "", nil, 0, false
	}
	switch enc {
	case 'B', 'b':
		data = decodeBase64Lenient(text)
	case 'Q', 'q':
		data = decodeQWord(text)
	default:
		return "", nil, 0, false
	}
	return cs, data, textStart + end + 2, true
}

func decodeBase64Lenient(s string) []byte {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b
	}
	b, _ := io.ReadAll(newBase64Reader(strings.NewReader(s)))
	return b
}

func decodeQWord(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

// rawToUTF8 reads header bytes sent without encoded words: raw JIS escape
// sequences, Shift_JIS, EUC-JP or UTF-8, as old and careless clients do.
func rawToUTF8(s string) string {
	if hasJISEscape([]byte(s)) && !hasNonASCII([]byte(s)) {
		if out, err := japanese.ISO2022JP.NewDecoder().String(s); err == nil {
			return out
		}
	}
	if utf8.ValidString(s) {
		return s
	}
	return guessText([]byte(s))
}

// cleanHeader makes a decoded value safe to show on one line.
func cleanHeader(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// addressParser decodes encoded words in display names with our lenient
// charset handling instead of failing on unknown labels.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: lenientCharsetReader}}

func lenientCharsetReader(label string, r io.Reader) (io.Reader, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	return strings.NewReader(decodeText(raw, label)), nil
}

// parseAddressList reads an address header leniently: a list that does not
// parse as a whole is split at commas and the parts that do parse are kept.
func parseAddressList(v string) []*Address {
	v = strings.TrimSpace(rawToUTF8(v))
	if v == "" {
		return nil
	}
	if list, err := addressParser.ParseList(v); err == nil {
		return fixNames(list)
	}
	var out []*Address
	for _, piece := range splitOutsideQuotes(v, ',') {
		if a := parseOneAddress(piece); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// parseFrom returns the first usable From address, or nil. Group syntax is
// refused: a From group names nobody we can answer.
func parseFrom(v string) *Address {
	v = strings.TrimSpace(rawToUTF8(v))
	if v == "" || hasGroupColon(v) {
		return nil
	}
	if list, err := addressParser.ParseList(v); err == nil && len(list) > 0 {
		return fixNames(list[:1])[0]
	}
	// "Yamada, Taro <taro@example.jp>": the first angle address wins over
	// splitting at a comma in an unquoted name.
	if a := parseOneAddress(v); a != nil {
		return a
	}
	return parseOneAddress(splitOutsideQuotes(v, ',')[0])
}

// parseOneAddress parses one address, salvaging "Name <local@domain>" that
// net/mail refuses (unquoted specials in the name, say).
func parseOneAddress(s string) *Address {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if a, err := addressParser.Parse(s); err == nil {
		return fixNames([]*mail.Address{a})[0]
	}
	lt := strings.IndexByte(s, '<')
	if lt < 0 {
		return nil
	}
	gt := strings.IndexByte(s[lt:], '>')
	if gt < 0 {
		return nil
	}
	gt += lt
	addr := strings.TrimSpace(s[lt+1 : gt])
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t<>\"(),;:\\") {
		return nil
	}
	name := strings.Trim(strings.TrimSpace(s[:lt]), `"`)
	return &Address{Name: decodeHeaderText(name), Addr: addr}
}

func fixNames(list []*mail.Address) []*Address {
	out := make([]*Address, 0, len(list))
	for _, a := range list {
		out = append(out, &Address{Name: cleanHeader(a.Name), Addr: a.Address})
	}
	return out
}

// eachTopLevel calls visit with the index of every byte of an address
// list that is outside quoted strings, comments and angle brackets, until
// visit returns false.
func eachTopLevel(s string, visit func(i int) bool) {
	inQuote, depth, angle := false, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case !angle:
			if !visit(i) {
				return
			}
		}
	}
}

// hasGroupColon reports a colon outside quotes, comments and angle brackets,
// which only group syntax ("name: a@b, c@d;") has.
func hasGroupColon(s string) bool {
	found := false
	eachTopLevel(s, func(i int) bool {
		found = s[i] == ':'
		return !found
	})
	return found
}

// splitOutsideQuotes splits an address list at sep where sep is not
// quoted, commented or inside angle brackets.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	start := 0
	eachTopLevel(s, func(i int) bool {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
		return true
	})
	return append(out, s[start:])
}

// parseMsgIDs returns the ids in a Message-ID, In-Reply-To or References
// value without angle brackets. Ids without brackets (seen from broken
// clients) are accepted when they look like local@domain.
func parseMsgIDs(v string) []string {
	var out []string
	rest := v
	found := false
	for {
		lt := strings.IndexByte(rest, '<')
		if lt < 0 {
			break
		}
		gt := strings.IndexByte(rest[lt:], '>')
		if gt < 0 {
			break
		}
		found = true
		if id := cleanID(rest[lt+1 : lt+gt]); id != "" {
			out = append(out, id)
		}
		rest = rest[lt+gt+1:]
	}
	if found {
		return out
	}
	for _, tok := range strings.Fields(v) {
		if strings.Contains(tok, "@") {
			if id := cleanID(strings.Trim(tok, "<>,;")); id != "" {
				out = append(out, id)
			}
		}
	}
	return out
}

func cleanID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" || len(id) > 998 || strings.ContainsAny(id, " \t\r\n<>") || !utf8.ValidString(id) {
		return ""
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return id
}
