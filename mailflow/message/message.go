// Package message turns a raw RFC 5322 message into what the desk reads:
// addresses, a decoded subject, the body as UTF-8 text, attachments,
// whether the mail was sent automatically, and bounce details. It works
// within limits while streaming and never panics on hostile input.
package message

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Limits bound what Parse accepts. A zero or negative field takes the
// default, so that a forgotten field never means "drop everything".
type Limits struct {
	MaxAttachments     int   // attachments beyond this are dropped (listed in DroppedAttachments)
	MaxAttachmentBytes int64 // larger attachment: dropped with reason
	MaxTotalBytes      int64 // whole message; larger -> *ParseError
	MaxDepth           int   // multipart nesting; deeper -> *ParseError
	MaxHeaderBytes     int   // header block / single header line; larger -> *ParseError
}

// DefaultLimits returns 10 attachments of up to 10 MiB each, 25 MiB in
// all, 10 levels of nesting and 256 KiB of header.
func DefaultLimits() Limits {
	return Limits{
		MaxAttachments:     10,
		MaxAttachmentBytes: 10 << 20,
		MaxTotalBytes:      25 << 20,
		MaxDepth:           10,
		MaxHeaderBytes:     256 << 10,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxAttachments <= 0 {
		l.MaxAttachments = d.MaxAttachments
	}
	if l.MaxAttachmentBytes <= 0 {
		l.MaxAttachmentBytes = d.MaxAttachmentBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// maxParts bounds the work a message of many tiny parts can cause.
const maxParts = 1000

// Address is one mailbox. It is our own type rather than net/mail.Address
// (whose field is Address) because the desk reads Addr.
type Address struct {
	Name string // display name, decoded
	Addr string // local@domain
}

// Attachment is a file that came with the message.
type Attachment struct {
	Filename     string // decoded (RFC 2231, encoded words, raw 8-bit names); no directories
	DeclaredType string // Content-Type as sent, lower case, no parameters
	SniffedType  string // from the content: SniffType(Data)
	Size         int64
	SHA256       string // hex
	Data         []byte
}

// Dropped is an attachment that was not kept, with a short English reason.
type Dropped struct{ Filename, Reason string }

// Automatic says why a message counts as automatic mail, which must never be
// answered (RFC 3834). Kind is one of "auto-submitted", "precedence",
// "list", "null-sender", "mailer-daemon", "dsn", "auto-reply"; Detail names
// the header that showed it.
type Automatic struct{ Kind, Detail string }

// IsAutomatic reports whether the message was sent automatically.
func (a Automatic) IsAutomatic() bool { return a.Kind != "" }

// Bounce describes a delivery failure report.
type Bounce struct {
	OriginalMessageIDs []string // without <>: the returned message's Message-ID, and the bounce's In-Reply-To/References
	Recipients         []string
	Status             string // e.g. "5.1.1"
	Permanent          bool   // Action: failed, or status 5.x.x
}

// Message is a parsed message.
type Message struct {
	Header     gomail.Header // the top-level header, values as sent
	From       *Address      // first usable From address, or nil
	To, Cc     []*Address
	ReplyTo    []*Address
	Subject    string // decoded
	MessageID  string // without <>
	InReplyTo  []string
	References []string // in order
	Date       time.Time

	Text    string // body as UTF-8 with \n line ends; text/plain preferred, else HTML made readable
	Charset string // charset of the chosen text part, as labelled

	Attachments        []Attachment
	DroppedAttachments []Dropped

	Automatic Automatic
	Bounce    *Bounce // non-nil for a delivery status notification or a recognisable bounce
}

// ParseError says why a message cannot be read. Reason is English and
// names what is wrong.
type ParseError struct{ Reason string }

func (e *ParseError) Error() string { return "unreadable message: " + e.Reason }

// Parse reads one message from r. It returns a *ParseError for hostile or
// unparseable input and any other error only when reading r fails.
func Parse(r io.Reader, lim Limits) (m *Message, err error) {
	defer func() {
		// Last resort: a bug here must cost one message, not the desk.
		if v := recover(); v != nil {
			m, err = nil, &ParseError{Reason: "internal parser failure"}
		}
	}()
	lim = lim.withDefaults()
	cr := &countingReader{r: r, max: lim.MaxTotalBytes}
	p := &parser{lim: lim, msg: &Message{}}
	perr := p.parse(cr)
	// Read to the end so the size limit holds for the whole message,
	// epilogue included.
	_, _ = io.Copy(io.Discard, cr)
	switch {
	case cr.err != nil:
		return nil, fmt.Errorf("read message: %w", cr.err)
	case cr.over:
		return nil, &ParseError{Reason: fmt.Sprintf("message larger than %d bytes", lim.MaxTotalBytes)}
	case perr != nil:
		return nil, perr
	}
	return p.msg, nil
}

// countingReader passes at most max+1 bytes, notes whether there were
// more than max, and keeps a read error apart from the end of the data so
// that I/O failures are not mistaken for bad mail.
type countingReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
	err  error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.over || c.err != nil {
		return 0, io.EOF
	}
	if room := c.max + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
	}
	if err != nil && err != io.EOF {
		c.err = err
		return n, io.EOF
	}
	return n, err
}

type parser struct {
	lim   Limits
	msg   *Message
	parts int

	isReport bool // top level is multipart/report; report-type=delivery-status
	dsn      []dsnRecipient
	returned []string // Message-IDs of returned or quoted original messages
}

// body is the readable text found in a part or subtree.
type body struct {
	text    string
	charset string
	html    bool
	nested  bool // from an attached message: used only when nothing else is
}

// walkCtx carries what an entity's position means for it.
type walkCtx struct {
	related bool // inside multipart/related: nameless parts are HTML resources
	report  bool // a child of the top-level delivery report
}

func (p *parser) parse(r io.Reader) error {
	br := bufio.NewReaderSize(r, lineBuffer)
	h, fields, err := readHeader(br, p.lim.MaxHeaderBytes)
	if err != nil {
		return err
	}
	if fields == 0 {
		return &ParseError{Reason: "no header"}
	}
	p.msg.Header = gomail.Header{Header: gomessage.Header{Header: h}}
	p.readTopHeader(h)

	ph := newPartHeader(h)
	if ph.mediaType == "multipart/report" && strings.EqualFold(strings.TrimSpace(ph.params["report-type"]), "delivery-status") {
		p.isReport = true
	}
	b, err := p.entity(ph, br, 0, walkCtx{})
	if err != nil {
		return err
	}
	p.msg.Text = b.text
	p.msg.Charset = b.charset
	p.finishBounce()
	p.msg.Automatic = detectAutomatic(p.msg)
	return nil
}

func (p *parser) readTopHeader(h textproto.Header) {
	m := p.msg
	m.From = parseFrom(h.Get("From"))
	m.To = parseAddressList(strings.Join(h.Values("To"), ", "))
	m.Cc = parseAddressList(strings.Join(h.Values("Cc"), ", "))
	m.ReplyTo = parseAddressList(strings.Join(h.Values("Reply-To"), ", "))
	m.Subject = strings.TrimSpace(decodeHeaderText(h.Get("Subject")))
	if ids := parseMsgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	m.InReplyTo = parseMsgIDs(h.Get("In-Reply-To"))
	m.References = parseMsgIDs(strings.Join(h.Values("References"), " "))
	if d, err := mail.ParseDate(strings.TrimSpace(h.Get("Date"))); err == nil {
		m.Date = d
	}
}

// partHeader is what the walk needs from a part's header.
type partHeader struct {
	h           textproto.Header
	declared    string // Content-Type as sent, no parameters; "" when absent
	mediaType   string // effective type: text/plain when absent or invalid
	params      map[string]string
	disposition string
	filename    string
}

func newPartHeader(h textproto.Header) *partHeader {
	ph := &partHeader{h: h}
	ph.declared, ph.params = parseMediaHeader(h.Get("Content-Type"))
	ph.mediaType = ph.declared
	if !strings.Contains(ph.mediaType, "/") {
		ph.mediaType = "text/plain" // RFC 2045 5.2
	}
	disp, dparams := parseMediaHeader(h.Get("Content-Disposition"))
	ph.disposition = disp
	name := dparams["filename"]
	if name == "" {
		name = ph.params["name"]
	}
	ph.filename = cleanFilename(name)
	return ph
}

// cleanFilename keeps only the last path element: some clients send the
// sender's full path, and the name must never reach a file system as a path.
func cleanFilename(name string) string {
	name = strings.TrimSpace(cleanHeader(name))
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	return name
}

func (p *parser) tooDeep() error {
	return &ParseError{Reason: fmt.Sprintf("multipart nested deeper than %d levels", p.lim.MaxDepth)}
}

// entity reads one entity's body from r and returns the text it holds.
// Attachments and report data are recorded in p as they pass.
func (p *parser) entity(ph *partHeader, r io.Reader, depth int, ctx walkCtx) (body, error) {
	mt := ph.mediaType
	switch {
	case strings.HasPrefix(mt, "multipart/") && ph.params["boundary"] != "":
		return p.multipart(ph, r, depth, ctx)
	case mt == "message/rfc822" || mt == "message/global":
		return p.embedded(ph, r, depth, ctx)
	case mt == "text/rfc822-headers" || mt == "message/rfc822-headers" || mt == "message/global-headers":
		dec := newTransferDecoder(ph.h.Get("Content-Transfer-Encoding"), r)
		h, _, err := readHeader(bufio.NewReader(dec), p.lim.MaxHeaderBytes)
		if err != nil {
			return body{}, err
		}
		_, _ = io.Copy(io.Discard, r)
		p.noteReturned(h)
		return body{}, nil
	case mt == "message/delivery-status" || mt == "message/global-delivery-status":
		// Read only in the top-level report; a forwarded one is not ours.
		if ctx.report {
			dec := newTransferDecoder(ph.h.Get("Content-Transfer-Encoding"), r)
			raw, _ := io.ReadAll(io.LimitReader(dec, 1<<20))
			p.dsn = append(p.dsn, parseDeliveryStatus(raw)...)
		}
		_, _ = io.Copy(io.Discard, r)
		return body{}, nil
	}
	if p.isAttachment(ph, ctx) {
		p.attachment(ph, r)
		return body{}, nil
	}
	if mt == "text/plain" || mt == "text/html" || strings.HasPrefix(mt, "multipart/") {
		// A multipart without a boundary is read as the text it contains.
		return p.text(ph, r), nil
	}
	// Nameless resources of an HTML body, and the like: not for the desk.
	_, _ = io.Copy(io.Discard, r)
	return body{}, nil
}

// isAttachment decides whether a leaf part is a file for the desk: anything
// marked as an attachment, anything named, and any non-text part except the
// nameless resources (inline images by Content-ID) of an HTML body.
func (p *parser) isAttachment(ph *partHeader, ctx walkCtx) bool {
	mt := ph.mediaType
	switch {
	case ph.disposition == "attachment":
		return true
	case mt == "text/plain" || mt == "text/html":
		return ph.filename != "" && ph.disposition != "inline"
	case strings.HasPrefix(mt, "multipart/"):
		return false
	case ph.filename != "":
		return true
	case ctx.related:
		return false
	}
	return true
}

func (p *parser) multipart(ph *partHeader, r io.Reader, depth int, ctx walkCtx) (body, error) {
	if depth+1 > p.lim.MaxDepth {
		return body{}, p.tooDeep()
	}
	mr := newMultipartReader(r, ph.params["boundary"], p.lim.MaxHeaderBytes)
	kidCtx := walkCtx{related: ph.mediaType == "multipart/related"}
	// Only the top-level report is a report: a forwarded one is just mail.
	if depth == 0 && p.isReport {
		kidCtx.report = true
	}
	var kids []body
	for {
		kh, kr, err := mr.next()
		if err != nil {
			return body{}, err
		}
		if kr == nil {
			break
		}
		p.parts++
		if p.parts > maxParts {
			return body{}, &ParseError{Reason: fmt.Sprintf("more than %d MIME parts", maxParts)}
		}
		b, err := p.entity(kh, kr, depth+1, kidCtx)
		if err != nil {
			return body{}, err
		}
		kids = append(kids, b)
	}
	if ph.mediaType == "multipart/alternative" {
		return chooseAlternative(kids), nil
	}
	return joinBodies(kids), nil
}

// chooseAlternative prefers plain text, unless it is empty and another
// version is not.
func chooseAlternative(kids []body) body {
	var best body
	for _, k := range kids {
		if strings.TrimSpace(k.text) == "" {
			continue
		}
		if best.text == "" || best.html && !k.html {
			best = k
		}
	}
	return best
}

// joinBodies puts the texts of a mixed multipart together in order (Apple
// Mail splits a body around inline attachments); text from attached
// messages counts only when there is nothing else.
func joinBodies(kids []body) body {
	var own, nested []body
	for _, k := range kids {
		if strings.TrimSpace(k.text) == "" {
			continue
		}
		if k.nested {
			nested = append(nested, k)
		} else {
			own = append(own, k)
		}
	}
	use := own
	if len(use) == 0 {
		use = nested
	}
	if len(use) == 0 {
		return body{}
	}
	out := use[0]
	for _, k := range use[1:] {
		out.text = strings.TrimRight(out.text, "\n") + "\n" + k.text
	}
	return out
}

// embedded reads an attached message. Inside the top-level report it is
// the returned message: only its header matters. Elsewhere it is walked
// like a part of this message, its text kept as a fallback.
func (p *parser) embedded(ph *partHeader, r io.Reader, depth int, ctx walkCtx) (body, error) {
	if depth+1 > p.lim.MaxDepth {
		return body{}, p.tooDeep()
	}
	dec := newTransferDecoder(ph.h.Get("Content-Transfer-Encoding"), r)
	br := bufio.NewReaderSize(dec, lineBuffer)
	h, _, err := readHeader(br, p.lim.MaxHeaderBytes)
	if err != nil {
		return body{}, err
	}
	if ctx.report {
		p.noteReturned(h)
		_, _ = io.Copy(io.Discard, r)
		return body{}, nil
	}
	b, err := p.entity(newPartHeader(h), br, depth+1, walkCtx{})
	if err != nil {
		return body{}, err
	}
	_, _ = io.Copy(io.Discard, r)
	b.nested = true
	return b, nil
}

func (p *parser) noteReturned(h textproto.Header) {
	p.returned = append(p.returned, parseMsgIDs(h.Get("Message-Id"))...)
}

// text reads a text part, capped at the attachment size limit.
func (p *parser) text(ph *partHeader, r io.Reader) body {
	dec := newTransferDecoder(ph.h.Get("Content-Transfer-Encoding"), r)
	raw, _ := io.ReadAll(io.LimitReader(dec, p.lim.MaxAttachmentBytes))
	_, _ = io.Copy(io.Discard, r)
	label := ph.params["charset"]
	isHTML := ph.mediaType == "text/html"
	effective := label
	if isHTML && effective == "" {
		effective = metaCharset(raw)
	}
	s := decodeText(raw, effective)
	s = strings.TrimPrefix(s, "\uFEFF")
	if isHTML {
		s = htmlToText(s)
	} else {
		s = normalizeNewlines(s)
	}
	return body{text: s, charset: label, html: isHTML}
}

// metaCharset finds <meta charset=...> or http-equiv's charset= near the
// start of unlabelled HTML.
func metaCharset(raw []byte) string {
	head := raw
	if len(head) > 4096 {
		head = head[:4096]
	}
	lower := bytes.ToLower(head)
	i := bytes.Index(lower, []byte("charset="))
	if i < 0 {
		return ""
	}
	v := lower[i+len("charset="):]
	v = bytes.TrimLeft(v, `"' `)
	end := 0
	for end < len(v) && (v[end] == '-' || v[end] == '_' || v[end] >= 'a' && v[end] <= 'z' || v[end] >= '0' && v[end] <= '9') {
		end++
	}
	return string(v[:end])
}

// attachment keeps a file, or records why it was dropped. The data is read
// through a limit so an oversized file is never held whole.
func (p *parser) attachment(ph *partHeader, r io.Reader) {
	m := p.msg
	drop := func(reason string) {
		_, _ = io.Copy(io.Discard, r)
		m.DroppedAttachments = append(m.DroppedAttachments, Dropped{Filename: ph.filename, Reason: reason})
	}
	if len(m.Attachments) >= p.lim.MaxAttachments {
		drop(fmt.Sprintf("more than %d attachments", p.lim.MaxAttachments))
		return
	}
	dec := newTransferDecoder(ph.h.Get("Content-Transfer-Encoding"), r)
	var buf bytes.Buffer
	n, _ := buf.ReadFrom(io.LimitReader(dec, p.lim.MaxAttachmentBytes+1))
	if n > p.lim.MaxAttachmentBytes {
		drop("larger than " + sizeText(p.lim.MaxAttachmentBytes))
		return
	}
	_, _ = io.Copy(io.Discard, r)
	if dec.broken() {
		drop("unreadable encoding")
		return
	}
	data := buf.Bytes()
	sum := sha256.Sum256(data)
	m.Attachments = append(m.Attachments, Attachment{
		Filename:     ph.filename,
		DeclaredType: ph.declared,
		SniffedType:  SniffType(data),
		Size:         int64(len(data)),
		SHA256:       hex.EncodeToString(sum[:]),
		Data:         data,
	})
}

// sizeText writes a limit the way the desk's notices do ("10.0 MB").
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
