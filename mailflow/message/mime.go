package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseMediaHeader splits a Content-Type or Content-Disposition value into
// a lower-case value and its parameters. It is more forgiving than
// mime.ParseMediaType, which drops every parameter on one syntax error and
// reads RFC 2231 values only in UTF-8 or ASCII, while Japanese clients send
// them in Shift_JIS and ISO-2022-JP too.
func parseMediaHeader(v string) (string, map[string]string) {
	pieces := splitParams(v)
	value := ""
	if len(pieces) > 0 {
		value = strings.ToLower(strings.TrimSpace(pieces[0]))
		pieces = pieces[1:]
	}
	params := map[string]string{}
	type segment struct {
		index    int
		extended bool
		value    string
	}
	continued := map[string][]segment{}
	for _, p := range pieces {
		eq := strings.IndexByte(p, '=')
		if eq <= 0 {
			continue
		}
		key := strings.ToLower(strings.TrimSpace(p[:eq]))
		val := unquote(strings.TrimSpace(p[eq+1:]))
		if key == "" {
			continue
		}
		// RFC 2231: name*=charset'lang'%XX, name*0=..., name*1*=...
		if star := strings.IndexByte(key, '*'); star >= 0 {
			base, suffix := key[:star], key[star+1:]
			seg := segment{value: val}
			switch {
			case suffix == "":
				seg.extended = true
			default:
				seg.extended = strings.HasSuffix(suffix, "*")
				n, err := strconv.Atoi(strings.TrimSuffix(suffix, "*"))
				if err != nil || n < 0 || n > 1000 {
					continue
				}
				seg.index = n
			}
			continued[base] = append(continued[base], seg)
			continue
		}
		if _, dup := params[key]; !dup {
			params[key] = decodeHeaderText(val)
		}
	}
	for base, segs := range continued {
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].index < segs[j].index })
		var raw []byte
		cs := ""
		for i, s := range segs {
			if !s.extended {
				raw = append(raw, s.value...)
				continue
			}
			val := s.value
			if i == 0 {
				// charset'language'value
				if parts := strings.SplitN(val, "'", 3); len(parts) == 3 {
					cs, val = parts[0], parts[2]
				}
			}
			raw = append(raw, percentDecode(val)...)
		}
		if cs == "" {
			params[base] = decodeHeaderText(string(raw))
		} else {
			params[base] = cleanHeader(decodeText(raw, cs))
		}
	}
	return value, params
}

// splitParams splits at semicolons outside quoted strings. A backslash
// escapes only a quote or a backslash, and only in valid UTF-8: Windows
// clients put unescaped paths in names, and in raw Shift_JIS 0x5C is the
// second byte of many characters.
func splitParams(v string) []string {
	var out []string
	inQuote := false
	start := 0
	escapes := utf8.ValidString(v)
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			inQuote = !inQuote
		case '\\':
			if inQuote && escapes && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\') {
				i++
			}
		case ';':
			if !inQuote {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' {
		return strings.TrimRight(s, "\" \t")
	}
	s = s[1:]
	if strings.HasSuffix(s, `"`) {
		s = s[:len(s)-1]
	}
	if !utf8.ValidString(s) {
		return s // see splitParams: backslashes may be Shift_JIS bytes
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// transferDecoder wraps a part body in the reader its
// Content-Transfer-Encoding calls for. broken reports afterwards whether the
// encoding was unknown or the data could not all be decoded.
type transferDecoder struct {
	io.Reader
	b64     *base64Reader
	unknown bool
}

func (t *transferDecoder) broken() bool {
	return t.unknown || t.b64 != nil && t.b64.corrupt
}

func newTransferDecoder(cte string, r io.Reader) *transferDecoder {
	cte = strings.ToLower(strings.TrimSpace(cte))
	if i := strings.IndexAny(cte, " \t;("); i >= 0 {
		cte = cte[:i]
	}
	switch cte {
	case "base64":
		b := newBase64Reader(r)
		return &transferDecoder{Reader: b, b64: b}
	case "quoted-printable":
		return &transferDecoder{Reader: &qpReader{br: bufio.NewReader(r)}}
	case "", "7bit", "8bit", "binary":
		return &transferDecoder{Reader: r}
	default:
		return &transferDecoder{Reader: r, unknown: true}
	}
}

// base64Reader decodes base64 while streaming, skipping white space and
// accepting missing or repeated padding. At the first byte outside the
// alphabet it stops and marks the data corrupt: what came before is kept,
// the rest is not guessed at.
type base64Reader struct {
	r       io.Reader
	in      []byte
	obuf    []byte // backing store of out, reused
	out     []byte
	acc     uint32
	n       int
	done    bool
	corrupt bool
}

func newBase64Reader(r io.Reader) *base64Reader {
	return &base64Reader{r: r, in: make([]byte, 8192)}
}

var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.done {
			return 0, io.EOF
		}
		n, err := b.r.Read(b.in)
		out := b.obuf[:0]
		for _, c := range b.in[:n] {
			if v := b64Value[c]; v != 0xff {
				b.acc = b.acc<<6 | uint32(v)
				b.n++
				if b.n == 4 {
					out = append(out, byte(b.acc>>16), byte(b.acc>>8), byte(b.acc))
					b.acc, b.n = 0, 0
				}
				continue
			}
			switch c {
			case '=':
				out = b.flush(out)
			case ' ', '\t', '\r', '\n':
			default:
				b.corrupt = true
				b.done = true
			}
			if b.done {
				break
			}
		}
		if err != nil && !b.done {
			out = b.flush(out)
			b.done = true
		}
		b.obuf, b.out = out, out
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// flush emits a quantum cut short by padding or the end of the data.
func (b *base64Reader) flush(out []byte) []byte {
	switch b.n {
	case 2:
		out = append(out, byte(b.acc>>4))
	case 3:
		out = append(out, byte(b.acc>>10), byte(b.acc>>2))
	}
	b.acc, b.n = 0, 0
	return out
}

// qpReader decodes quoted-printable leniently: an "=" that starts neither a
// hex pair nor a soft line break is kept as it is, where mime/quotedprintable
// would stop with an error.
type qpReader struct {
	br *bufio.Reader
}

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := q.br.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c != '=' {
			p[n] = c
			n++
			continue
		}
		peek, _ := q.br.Peek(2)
		if len(peek) == 2 && isHex(peek[0]) && isHex(peek[1]) {
			p[n] = unhex(peek[0])<<4 | unhex(peek[1])
			n++
			_, _ = q.br.Discard(2)
			continue
		}
		if skip, soft := q.softBreak(); soft {
			_, _ = q.br.Discard(skip)
			continue
		}
		p[n] = '='
		n++
	}
	return n, nil
}

// softBreak looks past trailing white space for the line end of a soft
// line break.
func (q *qpReader) softBreak() (int, bool) {
	peek, _ := q.br.Peek(128)
	i := 0
	for i < len(peek) && (peek[i] == ' ' || peek[i] == '\t') {
		i++
	}
	switch {
	case i == len(peek) && len(peek) < 128:
		return i, true // "=" at the end of the data
	case i < len(peek) && peek[i] == '\n':
		return i + 1, true
	case i+1 < len(peek) && peek[i] == '\r' && peek[i+1] == '\n':
		return i + 2, true
	case i+1 == len(peek) && peek[i] == '\r':
		return i + 1, true
	}
	return 0, false
}

// multipartReader splits a multipart body into parts while streaming. It is
// ours rather than go-message's so that part headers obey the header limit,
// long lines in a preamble do not fail the message, and a missing closing
// boundary simply ends the last part.
type multipartReader struct {
	br       *bufio.Reader
	dash     []byte // "--" + boundary
	started  bool
	finished bool
	current  *partReader
	maxHdr   int
}

const lineBuffer = 32 << 10

func newMultipartReader(r io.Reader, boundary string, maxHeader int) *multipartReader {
	return &multipartReader{
		br:     bufio.NewReaderSize(r, lineBuffer),
		dash:   []byte("--" + boundary),
		maxHdr: maxHeader,
	}
}

type boundaryKind int

const (
	notBoundary boundaryKind = iota
	delimiter
	closing
)

func (m *multipartReader) kind(line []byte) boundaryKind {
	if !bytes.HasPrefix(line, m.dash) {
		return notBoundary
	}
	rest := bytes.TrimRight(line[len(m.dash):], " \t\r\n")
	switch {
	case len(rest) == 0:
		return delimiter
	case bytes.HasPrefix(rest, []byte("--")):
		return closing
	}
	return notBoundary
}

// next returns the next part's header and body, or a nil body when there
// are no more parts. The error is only ever a *ParseError.
func (m *multipartReader) next() (*partHeader, io.Reader, error) {
	if m.current != nil {
		_, _ = io.Copy(io.Discard, m.current)
		m.current = nil
	}
	if m.finished {
		return nil, nil, nil
	}
	if !m.started {
		// Skip the preamble up to the first delimiter.
		atLineStart := true
		for {
			line, err := m.br.ReadSlice('\n')
			if atLineStart && !errors.Is(err, bufio.ErrBufferFull) {
				switch m.kind(line) {
				case delimiter:
					m.started = true
				case closing:
					m.finished = true
					return nil, nil, nil
				}
			}
			if m.started {
				break
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				m.finished = true
				return nil, nil, nil
			}
			atLineStart = !errors.Is(err, bufio.ErrBufferFull)
		}
	}
	h, _, err := readHeader(m.br, m.maxHdr)
	if err != nil {
		return nil, nil, err
	}
	m.current = &partReader{m: m, atLineStart: true}
	return newPartHeader(h), m.current, nil
}

// partReader returns a part's body up to the next boundary line. The line
// end before a boundary belongs to the boundary (RFC 2046 5.1.1), so it is
// held back until the next line shows it was body after all.
type partReader struct {
	m           *multipartReader
	buf         []byte
	out         []byte
	heldEOL     []byte
	atLineStart bool
	done        bool
}

func (pr *partReader) Read(p []byte) (int, error) {
	for len(pr.out) == 0 {
		if pr.done {
			return 0, io.EOF
		}
		line, err := pr.m.br.ReadSlice('\n')
		partial := errors.Is(err, bufio.ErrBufferFull)
		if pr.atLineStart && !partial && len(line) > 0 {
			if k := pr.m.kind(line); k != notBoundary {
				pr.done = true
				if k == closing {
					pr.m.finished = true
				}
				return 0, io.EOF
			}
		}
		pr.buf = append(pr.buf[:0], pr.heldEOL...)
		pr.heldEOL = pr.heldEOL[:0]
		body := line
		if !partial && bytes.HasSuffix(body, []byte("\n")) {
			cut := len(body) - 1
			if cut > 0 && body[cut-1] == '\r' {
				cut--
			}
			pr.heldEOL = append(pr.heldEOL, body[cut:]...)
			body = body[:cut]
		}
		pr.buf = append(pr.buf, body...)
		pr.out = pr.buf
		pr.atLineStart = !partial
		if err != nil && !partial {
			// End of input without a closing boundary: the part ends here.
			pr.done = true
			pr.m.finished = true
		}
	}
	n := copy(p, pr.out)
	pr.out = pr.out[n:]
	return n, nil
}
