package authresults

import (
	"errors"
	"fmt"
	"strings"
)

// Result is one resinfo of an Authentication-Results header: a method, its
// result and the properties the verifier reported with it.
type Result struct {
	Method string            // lower-cased, e.g. "dkim"; a method version other than 1 stays attached ("dkim/2") so it matches nothing we trust
	Value  string            // the result keyword, lower-cased, e.g. "pass"
	Reason string            // the reason= value, if any
	Props  map[string]string // lower-cased "ptype.property" (or the bare key some MTAs write, e.g. Microsoft's "action") to its value, comments removed; nil when none
}

// Parse reads one header value per RFC 8601. On an error after its first
// token was read, authservID is still that token, so that a caller can tell
// whose header was unreadable.
func Parse(value string) (authservID string, results []Result, err error) {
	authservID, p, err := parseHead(value)
	if err != nil {
		return authservID, nil, err
	}
	results, err = p.resinfos()
	if err != nil {
		return authservID, nil, err
	}
	return authservID, results, nil
}

// parseHead unfolds value and reads its authserv-id, leaving the parser at
// the results. Check reads no further than this into headers that are not
// ours, however long the sender made them.
func parseHead(value string) (authservID string, p *parser, err error) {
	s, unfoldErr := unfold(value)
	// On an unfolding error s still holds the text before the bad byte,
	// enough to tell whose header it was.
	p = &parser{s: s}
	authservID, err = p.authservID()
	if unfoldErr != nil {
		return authservID, nil, unfoldErr
	}
	return authservID, p, err
}

// parser walks an unfolded header value byte by byte. Every byte that
// matters to the grammar is ASCII, so UTF-8 (RFC 8616) passes through
// values untouched.
type parser struct {
	s   string
	pos int
}

// unfold removes the line breaks of folded lines (RFC 5322 2.2.3), bare LF
// included because Exim and Go's textproto hand those over too. Any other
// control character is refused, since no verifier writes one; the text
// before it comes back with the error.
func unfold(value string) (string, error) {
	value = strings.TrimRight(value, "\r\n")
	i := indexControl(value, 0)
	if i < 0 {
		return value, nil
	}
	var b strings.Builder
	b.Grow(len(value))
	kept := 0 // value[kept:i] is yet to be copied
	for ; i >= 0; i = indexControl(value, kept) {
		b.WriteString(value[kept:i])
		switch {
		case value[i] == '\r' && i+2 < len(value) && value[i+1] == '\n' && isWSP(value[i+2]):
			kept = i + 2 // the whitespace after the line break stays
		case value[i] == '\n' && i+1 < len(value) && isWSP(value[i+1]):
			kept = i + 1
		default:
			return b.String(), fmt.Errorf("control character %q at byte %d", value[i], i)
		}
	}
	b.WriteString(value[kept:])
	return b.String(), nil
}

// indexControl finds the first control character at or after from, or -1.
func indexControl(s string, from int) int {
	for i := from; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// isIDStop ends an unquoted authserv-id; '=' too, so that a header that
// starts with a result has no id.
func isIDStop(c byte) bool {
	return c == ' ' || c == '\t' || c == ';' || c == '(' || c == '"' || c == '='
}

func isKeywordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

// errorf says where the value went wrong, with a short look at what follows.
func (p *parser) errorf(format string, args ...any) error {
	rest := p.s[p.pos:]
	if len(rest) > 20 {
		rest = rest[:20] + "…"
	}
	return fmt.Errorf("at byte %d (%q): %s", p.pos, rest, fmt.Sprintf(format, args...))
}

// skipCFWS skips whitespace and comments (RFC 5322 3.2.2), which may nest
// and may hide ';' or '=' behind a backslash or inside them.
func (p *parser) skipCFWS() error {
	for !p.eof() {
		switch p.s[p.pos] {
		case ' ', '\t':
			p.pos++
		case '(':
			if err := p.skipComment(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) skipComment() error {
	start := p.pos
	depth := 0
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case '\\':
			p.pos++ // the quoted character, whatever it is
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				p.pos++
				return nil
			}
		}
		p.pos++
	}
	p.pos = start
	return p.errorf("unterminated comment")
}

// quotedString reads a quoted-string and returns its content unescaped.
func (p *parser) quotedString() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	if end := strings.IndexAny(p.s[p.pos:], `"\`); end >= 0 && p.s[p.pos+end] == '"' {
		// Nothing escaped: the content is a substring.
		content := p.s[p.pos : p.pos+end]
		p.pos += end + 1
		return content, nil
	}
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch c {
		case '\\':
			if p.pos+1 >= len(p.s) {
				p.pos = len(p.s)
				continue
			}
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case '"':
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.pos = start
	return "", p.errorf("unterminated quoted string")
}

// keyword reads a method, result, ptype or property name, lower-cased; ""
// when there is none. Callers word the error: building it here for every
// keyword would cost more than the parse.
func (p *parser) keyword() string {
	start := p.pos
	for !p.eof() && isKeywordByte(p.s[p.pos]) {
		p.pos++
	}
	return strings.ToLower(p.s[start:p.pos])
}

// digits reads a version number.
func (p *parser) digits() string {
	start := p.pos
	for !p.eof() && '0' <= p.s[p.pos] && p.s[p.pos] <= '9' {
		p.pos++
	}
	return p.s[start:p.pos]
}

// accept consumes c if it comes next.
func (p *parser) accept(c byte) bool {
	if p.peek() != c {
		return false
	}
	p.pos++
	return true
}

// authservID reads `[CFWS] authserv-id [CFWS [version]]` and leaves the
// parser at the ';' that starts the results, or at the end.
func (p *parser) authservID() (string, error) {
	if err := p.skipCFWS(); err != nil {
		return "", err
	}
	var id string
	if p.peek() == '"' {
		quoted, err := p.quotedString()
		if err != nil {
			return "", err
		}
		id = quoted
	} else {
		start := p.pos
		for !p.eof() && !isIDStop(p.s[p.pos]) {
			p.pos++
		}
		id = p.s[start:p.pos]
	}
	if id == "" {
		return "", p.errorf("missing authserv-id")
	}
	if err := p.skipCFWS(); err != nil {
		return id, err
	}
	if version := p.digits(); version != "" {
		// Only version 1 exists; a reader must not guess at another.
		if strings.TrimLeft(version, "0") != "1" {
			return id, p.errorf("unsupported Authentication-Results version %s", version)
		}
		if err := p.skipCFWS(); err != nil {
			return id, err
		}
	}
	if !p.eof() && p.peek() != ';' {
		// Microsoft writes results with no authserv-id at all, so "dkim"
		// here is no id; the first token still comes back, so that a broken
		// header that starts with our id counts as ours, unreadable.
		return id, p.errorf("expected ';' after authserv-id %q", id)
	}
	return id, nil
}

// resinfos reads the `; resinfo` list (or `; none`) that follows the
// authserv-id. Empty entries (";;", a trailing ';') are tolerated because
// MTAs write them; anything that does not fit the grammar is an error rather
// than skipped, so that text a sender smuggled into a value cannot become a
// result of its own.
func (p *parser) resinfos() ([]Result, error) {
	var results []Result
	sawNone := false
	for {
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() {
			break
		}
		if !p.accept(';') {
			return nil, p.errorf("expected ';' between results")
		}
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() || p.peek() == ';' {
			continue
		}
		r, none, err := p.resinfo()
		if err != nil {
			return nil, err
		}
		if none {
			sawNone = true
		} else {
			results = append(results, r)
		}
	}
	if sawNone && len(results) > 0 {
		return nil, errors.New(`"none" together with results`)
	}
	return results, nil
}

// resinfo reads `method[/version] = result [reason=value] *propspec`, or the
// lone keyword "none". It stops before the next ';' or at the end.
func (p *parser) resinfo() (r Result, none bool, err error) {
	method := p.keyword()
	if method == "" {
		return Result{}, false, p.errorf("expected a method")
	}
	if err := p.skipCFWS(); err != nil {
		return Result{}, false, err
	}
	if method == "none" && (p.eof() || p.peek() == ';') {
		return Result{}, true, nil
	}
	if p.peek() == '/' {
		p.pos++
		if err := p.skipCFWS(); err != nil {
			return Result{}, false, err
		}
		version := p.digits()
		if version == "" {
			return Result{}, false, p.errorf("expected a version after %s/", method)
		}
		if strings.TrimLeft(version, "0") != "1" {
			method += "/" + version
		}
		if err := p.skipCFWS(); err != nil {
			return Result{}, false, err
		}
	}
	if !p.accept('=') {
		return Result{}, false, p.errorf("expected '=' after method %s", method)
	}
	if err := p.skipCFWS(); err != nil {
		return Result{}, false, err
	}
	value := p.keyword()
	if value == "" {
		return Result{}, false, p.errorf("expected a result for %s", method)
	}
	r = Result{Method: method, Value: value}
	sawReason := false
	for {
		if err := p.skipCFWS(); err != nil {
			return Result{}, false, err
		}
		if p.eof() || p.peek() == ';' {
			return r, false, nil
		}
		key, err := p.propertyName()
		if err != nil {
			return Result{}, false, err
		}
		if key == "" {
			return Result{}, false, p.errorf("expected a property in %s result", method)
		}
		if err := p.skipCFWS(); err != nil {
			return Result{}, false, err
		}
		if !p.accept('=') {
			return Result{}, false, p.errorf("expected '=' after %s in %s result", key, method)
		}
		// Whitespace right after '=' ends an empty value, so that
		// "smtp.mailfrom= smtp.helo=x" cannot read as a mailfrom of
		// "smtp.helo=x". A comment may still stand before a value.
		val := ""
		if !isWSP(p.peek()) {
			if err := p.skipCFWS(); err != nil {
				return Result{}, false, err
			}
			if val, err = p.pvalue(); err != nil {
				return Result{}, false, err
			}
		}
		// A repeated property means some of the text is not what the
		// verifier meant to write; refuse rather than guess which one counts.
		if key == "reason" {
			if sawReason {
				return Result{}, false, fmt.Errorf("reason repeated in %s result", method)
			}
			r.Reason, sawReason = val, true
			continue
		}
		if _, repeated := r.Props[key]; repeated {
			return Result{}, false, fmt.Errorf("%s repeated in %s result", key, method)
		}
		if r.Props == nil {
			r.Props = make(map[string]string, 4)
		}
		r.Props[key] = val
	}
}

// propertyName reads `ptype [CFWS] "." [CFWS] property`, or a bare key such as
// reason, or Microsoft's action and Exim's u.
func (p *parser) propertyName() (string, error) {
	start := p.pos
	ptype := p.keyword()
	if ptype == "" {
		return "", nil
	}
	save := p.pos
	if err := p.skipCFWS(); err != nil {
		return "", err
	}
	if p.peek() != '.' {
		p.pos = save
		return ptype, nil
	}
	dot := p.pos
	p.pos++
	if err := p.skipCFWS(); err != nil {
		return "", err
	}
	property := p.keyword()
	if property == "" {
		return "", p.errorf("expected a property name after %s.", ptype)
	}
	if dot == save && p.pos-len(property) == dot+1 {
		// Written without comments around the dot, as every MTA does:
		// spare the concatenation.
		return strings.ToLower(p.s[start:p.pos]), nil
	}
	return ptype + "." + property, nil
}

// pvalue reads a property value: a token, a quoted-string, or a mix such as
// "local part"@example.jp. It ends at whitespace, ';' or a comment. A value
// that is one quoted-string comes back unquoted; a mix comes back as written.
func (p *parser) pvalue() (string, error) {
	start := p.pos
	var unquoted string
	quotedParts, plainBytes := 0, 0
	for !p.eof() {
		c := p.s[p.pos]
		if isWSP(c) || c == ';' || c == '(' {
			break
		}
		if c == '"' {
			q, err := p.quotedString()
			if err != nil {
				return "", err
			}
			unquoted = q
			quotedParts++
			continue
		}
		plainBytes++
		p.pos++
	}
	if quotedParts == 1 && plainBytes == 0 {
		return unquoted, nil
	}
	return p.s[start:p.pos], nil
}
