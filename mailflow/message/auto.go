package message

import (
	"bufio"
	"regexp"
	"strings"
)

// detectAutomatic applies RFC 3834 and the conventions around it. The first
// sign found wins; Detail names the header so an operator can see why.
func detectAutomatic(m *Message) Automatic {
	h := &m.Header
	if ct, _ := parseMediaHeader(h.Get("Content-Type")); ct == "multipart/report" {
		return Automatic{"dsn", "Content-Type: multipart/report"}
	}
	if v := strings.TrimSpace(h.Get("Auto-Submitted")); v != "" && !strings.EqualFold(firstToken(v), "no") {
		return Automatic{"auto-submitted", "Auto-Submitted: " + v}
	}
	if v := strings.TrimSpace(h.Get("X-Autoreply")); v != "" && !strings.EqualFold(v, "no") {
		return Automatic{"auto-reply", "X-Autoreply: " + v}
	}
	if h.Has("X-Autorespond") {
		return Automatic{"auto-reply", "X-Autorespond: " + h.Get("X-Autorespond")}
	}
	if h.Has("X-Auto-Response-Suppress") {
		v := h.Get("X-Auto-Response-Suppress")
		for _, tok := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if tok == "all" || tok == "oof" {
				return Automatic{"auto-reply", "X-Auto-Response-Suppress: " + v}
			}
		}
		// Exchange marks its out-of-office replies with this header; only
		// then is a subject prefix trusted, never on ordinary mail.
		if autoReplySubject(m.Subject) {
			return Automatic{"auto-reply", "Subject: " + m.Subject}
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); v {
	case "bulk", "list", "junk":
		return Automatic{"precedence", "Precedence: " + v}
	}
	for _, k := range []string{"List-Id", "List-Unsubscribe", "List-Post"} {
		if h.Has(k) {
			return Automatic{"list", k + ": " + h.Get(k)}
		}
	}
	for _, v := range h.Values("Return-Path") {
		if strings.ReplaceAll(strings.TrimSpace(v), " ", "") == "<>" {
			return Automatic{"null-sender", "Return-Path: <>"}
		}
	}
	if local, ok := daemonSender(m); ok {
		return Automatic{"mailer-daemon", "From: " + local}
	}
	if m.Bounce != nil {
		return Automatic{"dsn", "delivery failure report"}
	}
	return Automatic{}
}

func firstToken(v string) string {
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		return v[:i]
	}
	return v
}

var autoReplyPrefixes = []string{
	"auto:", "automatic reply", "autoreply", "auto reply", "out of office",
	"自動応答", "自動返信", "不在",
}

func autoReplySubject(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range autoReplyPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// daemonSender reports a From of mailer-daemon or postmaster (any case),
// also when the From is too broken to parse as an address.
func daemonSender(m *Message) (string, bool) {
	addr := ""
	if m.From != nil {
		addr = m.From.Addr
	} else {
		addr = strings.TrimSpace(m.Header.Get("From"))
		if lt := strings.LastIndexByte(addr, '<'); lt >= 0 {
			addr = strings.TrimRight(addr[lt+1:], "> \t")
		} else if i := strings.IndexByte(addr, '('); i >= 0 {
			addr = strings.TrimSpace(addr[:i]) // "MAILER-DAEMON (Mail Delivery System)"
		}
	}
	local := addr
	if at := strings.LastIndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	switch strings.ToLower(strings.Trim(local, `" `)) {
	case "mailer-daemon", "mailer_daemon", "postmaster":
		return addr, true
	}
	return "", false
}

type dsnRecipient struct {
	recipient, action, status string
}

// parseDeliveryStatus reads a message/delivery-status body (RFC 3464):
// header-like blocks separated by blank lines, the first about the message,
// each later one about a recipient.
func parseDeliveryStatus(raw []byte) []dsnRecipient {
	text := normalizeNewlines(string(raw))
	var out []dsnRecipient
	for _, block := range splitBlocks(text) {
		h, _, err := readHeader(bufio.NewReader(strings.NewReader(block+"\n\n")), 64<<10)
		if err != nil {
			continue
		}
		rcpt := h.Get("Final-Recipient")
		if rcpt == "" {
			rcpt = h.Get("Original-Recipient")
		}
		action := strings.ToLower(firstToken(strings.TrimSpace(h.Get("Action"))))
		if rcpt == "" && action == "" {
			continue // the per-message block
		}
		if i := strings.IndexByte(rcpt, ';'); i >= 0 {
			rcpt = rcpt[i+1:]
		}
		rcpt = strings.Trim(strings.TrimSpace(rcpt), "<>")
		status := findStatus(h.Get("Status"))
		if status == "" {
			status = findStatus(h.Get("Diagnostic-Code"))
		}
		out = append(out, dsnRecipient{recipient: rcpt, action: action, status: status})
	}
	return out
}

// splitBlocks splits at lines that are empty or only white space.
func splitBlocks(text string) []string {
	var blocks []string
	var cur []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == "" {
			if len(cur) > 0 {
				blocks = append(blocks, strings.Join(cur, "\n"))
				cur = nil
			}
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		blocks = append(blocks, strings.Join(cur, "\n"))
	}
	return blocks
}

// statusPattern is an RFC 3463 status code not embedded in a longer
// dotted number such as an IP address.
var statusPattern = regexp.MustCompile(`(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|$)`)

func findStatus(s string) string {
	if g := statusPattern.FindStringSubmatch(s); g != nil {
		return g[1]
	}
	return ""
}

var (
	quotedMessageID = regexp.MustCompile(`(?i)message-id:\s*<([^<>\s]+)>`)
	bouncedAddress  = regexp.MustCompile(`(?m)^[ \t]*<([^<>\s@]+@[^<>\s]+)>:`)
	textRecipient   = regexp.MustCompile(`(?im)^[ \t]*final-recipient:[^;\n]*;[ \t]*<?([^<>\s]+@[^<>\s]+)>?`)
)

// finishBounce builds Message.Bounce from a delivery report, or from a
// MAILER-DAEMON message that quotes the original in its text.
func (p *parser) finishBounce() {
	m := p.msg
	var b *Bounce
	ids := append([]string(nil), p.returned...)
	switch {
	case p.isReport:
		b = &Bounce{}
		for _, r := range p.dsn {
			if r.recipient != "" && !contains(b.Recipients, r.recipient) {
				b.Recipients = append(b.Recipients, r.recipient)
			}
			if r.action == "failed" || strings.HasPrefix(r.status, "5.") {
				b.Permanent = true
				if b.Status == "" || !strings.HasPrefix(b.Status, "5.") {
					b.Status = r.status
				}
			}
			if b.Status == "" {
				b.Status = r.status
			}
		}
		if len(ids) == 0 {
			ids = quotedIDs(m.Text)
		}
	default:
		if _, ok := daemonSender(m); !ok {
			return
		}
		ids = append(ids, quotedIDs(m.Text)...)
		status := findStatus(m.Text)
		if len(ids) == 0 && status == "" {
			return // a message from postmaster, not a recognisable bounce
		}
		b = &Bounce{Status: status}
		for _, re := range []*regexp.Regexp{bouncedAddress, textRecipient} {
			for _, g := range re.FindAllStringSubmatch(m.Text, 100) {
				if !contains(b.Recipients, g[1]) {
					b.Recipients = append(b.Recipients, g[1])
				}
			}
		}
		switch {
		case status != "":
			b.Permanent = strings.HasPrefix(status, "5.")
		default:
			lower := strings.ToLower(m.Text)
			b.Permanent = !strings.Contains(lower, "delayed") && !strings.Contains(lower, "will retry") &&
				!strings.Contains(lower, "temporar")
		}
	}
	ids = append(ids, m.InReplyTo...)
	ids = append(ids, m.References...)
	for _, id := range ids {
		if !contains(b.OriginalMessageIDs, id) {
			b.OriginalMessageIDs = append(b.OriginalMessageIDs, id)
		}
	}
	m.Bounce = b
}

func quotedIDs(text string) []string {
	var out []string
	for _, g := range quotedMessageID.FindAllStringSubmatch(text, 100) {
		if id := cleanID(g[1]); id != "" {
			out = append(out, id)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
