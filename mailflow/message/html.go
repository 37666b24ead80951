package message

import (
	"html"
	"strings"
	"unicode/utf8"
)

// htmlToText renders HTML as plain text for the desk: scripts, styles and
// comments vanish, block elements become line breaks, entities are decoded.
// It is a small tokenizer of its own because golang.org/x/net/html is not a
// dependency of this module; it only has to be readable, never exact, and it
// must not be fooled into looping or panicking by broken markup.
func htmlToText(s string) string {
	b := &textOut{}
	pre := 0
	for i := 0; i < len(s); {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			writeHTMLText(b, s[i:i+j], pre > 0)
			i += j
			continue
		}
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		name, closing, end, ok := parseTag(s, i)
		if !ok {
			b.write("<")
			i++
			continue
		}
		i = end
		switch name {
		case "script", "style", "title", "noscript", "template":
			if !closing {
				i = skipElement(s, i, name)
			}
		case "br":
			b.write("\n")
		case "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
			"ul", "ol", "dl", "dt", "dd", "blockquote", "hr", "section", "article",
			"header", "footer", "center", "address", "form", "fieldset":
			b.lineBreak()
		case "pre":
			b.lineBreak()
			if closing {
				if pre > 0 {
					pre--
				}
			} else {
				pre++
			}
		case "td", "th":
			b.space()
		}
	}
	return tidyLines(string(b.buf))
}

// textOut collects rendered text; block elements start a line only when
// not already at the start of one, so "</p><div>" is one break, not two.
type textOut struct{ buf []byte }

func (t *textOut) write(s string) { t.buf = append(t.buf, s...) }

func (t *textOut) last() byte {
	// Trailing spaces do not count: "text </p>" still ends the line once.
	for i := len(t.buf) - 1; i >= 0; i-- {
		if t.buf[i] != ' ' {
			return t.buf[i]
		}
	}
	return '\n'
}

func (t *textOut) lineBreak() {
	if t.last() != '\n' {
		t.write("\n")
	}
}

func (t *textOut) space() {
	if c := t.last(); c != '\n' && (len(t.buf) == 0 || t.buf[len(t.buf)-1] != ' ') {
		t.write(" ")
	}
}

// parseTag reads the tag starting at s[i] == '<'. It returns ok false for
// a '<' that starts no tag ("a < b"), and end just past the closing '>'.
func parseTag(s string, i int) (name string, closing bool, end int, ok bool) {
	j := i + 1
	if j < len(s) && (s[j] == '!' || s[j] == '?') {
		// Doctype or processing instruction.
		k := strings.IndexByte(s[j:], '>')
		if k < 0 {
			return "", false, len(s), true
		}
		return "", false, j + k + 1, true
	}
	if j < len(s) && s[j] == '/' {
		closing = true
		j++
	}
	start := j
	for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j == start {
		return "", false, 0, false
	}
	name = strings.ToLower(s[start:j])
	for j < len(s) {
		switch c := s[j]; c {
		case '>':
			return name, closing, j + 1, true
		case '"', '\'':
			k := strings.IndexByte(s[j+1:], c)
			if k < 0 {
				return name, closing, len(s), true
			}
			j += k + 2
		default:
			j++
		}
	}
	return name, closing, len(s), true
}

// skipElement returns the index after the end tag of a script-like
// element, or the end of s when it is never closed.
func skipElement(s string, i int, name string) int {
	lower := strings.ToLower(s[i:])
	k := strings.Index(lower, "</"+name)
	if k < 0 {
		return len(s)
	}
	gt := strings.IndexByte(s[i+k:], '>')
	if gt < 0 {
		return len(s)
	}
	return i + k + gt + 1
}

func writeHTMLText(b *textOut, raw string, pre bool) {
	t := html.UnescapeString(raw)
	t = strings.ReplaceAll(t, "\u00a0", " ")
	if pre {
		b.write(t)
		return
	}
	space := false
	for _, r := range t {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' {
			space = true
			continue
		}
		if space {
			b.space()
			space = false
		}
		b.buf = utf8.AppendRune(b.buf, r)
	}
	if space {
		b.space()
	}
}

// tidyLines trims each line and keeps at most one blank line in a row.
func tidyLines(s string) string {
	s = normalizeNewlines(s)
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
