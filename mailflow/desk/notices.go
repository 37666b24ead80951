package desk

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// inbound is one message being handled, with what the handlers learn.
type inbound struct {
	delivery  intake.Delivery
	sha256    string
	now       time.Time
	tx        *store.Tx
	earlier   store.Earlier // records of this message already held
	msg       *message.Message
	from      string
	lang      string
	request   *store.Request
	requestID int64
	// secrets are the secret values the message carried; when set the
	// message is filed only as a masked copy.
	secrets   []string
	documents []*store.Document
	queued    int
	// forwardingChanged asks for the forwarding map to be written again
	// once the transaction has committed.
	forwardingChanged bool
	// bulk is a program administrator's CSV, read and hashed beforehand.
	bulk *bulkJob
	// proved is what the mail has proved so far (see proof.go).
	proved proofs
	// fromRecord: the From address is on record for the request's account.
	fromRecord bool
	// parsedForm is the body's form, read once (see form).
	parsedForm *forms.Form
	// refused names the limit that refused the message (see Tally).
	refused string
	// parsed is the message, parsed once for every step of Process.
	parsed *parsedOnce
}

// parsedOnce parses a delivery at most once, whichever step needs it
// first: a worker that prepared it, bulk registration, the handler.
type parsedOnce struct {
	raw    []byte
	limits message.Limits
	m      *message.Message
	err    error
	done   bool
}

func (p *parsedOnce) get() (*message.Message, error) {
	if !p.done {
		p.m, p.err = message.Parse(bytes.NewReader(p.raw), p.limits)
		p.done = true
	}
	return p.m, p.err
}

// form is the body's form, parsed on first use and kept: handlers, the
// secret check and the filing all read the same one.
func (in *inbound) form() forms.Form {
	if in.parsedForm == nil {
		f := forms.Parse(in.msg.Text)
		in.parsedForm = &f
	}
	return *in.parsedForm
}

func (in *inbound) ref() string {
	if in.request != nil {
		return in.request.Reference
	}
	return ""
}

type problemLine struct{ Label, Text string }

type documentLine struct{ Filename, Type, Size string }

type refusedLine struct{ Filename, Why string }

// notice is one mail to queue.
type notice struct {
	kind string // template name
	to   []string
	// ccOperators copies the desk's operators, as the notice kinds of
	// a desk thread do; extraCc adds others (an institution's staff).
	ccOperators bool
	extraCc     []string
	lang        string
	data        noticeData // nil for a notice that shows nothing but common
	attachments []store.NoticeAttachment
	// sensitive notices carry an access code: never CC'd, never logged
	// with their body, and their text is dropped once sent.
	sensitive bool
}

// urgentNotices are the ones someone waits for with a 10-minute code in
// hand: they go out before any backlog.
var urgentNotices = map[string]bool{
	"reset_code": true, "reset_code_sent": true, "confirm_code": true, "rename_done": true, "deletion_done": true, "code_refused": true, "reset_password_invalid": true, "reset_done": true,
}

// queue renders a notice and writes it to the outbox in the message's
// transaction. The per-sender reply cap applies to applicants, not to
// operators.
func (d *Desk) queue(in *inbound, n notice) error {
	if n.data == nil {
		n.data = &plain{}
	}
	c := n.data.shared()
	if in.request != nil && c.Ref == "" {
		c.Ref = in.request.Reference
	}
	if n.lang == "" {
		n.lang = in.lang
	}
	if c.Greeting == "" {
		c.Greeting = greeting(n.lang, n, in)
	}
	subject, body, err := d.render(&n)
	if err != nil {
		return err
	}
	var cc []string
	if n.ccOperators && !n.sensitive {
		cc = append(cc, d.cfg.Operators...)
	}
	cc = append(cc, n.extraCc...)
	cc = withoutAddresses(cc, n.to)
	out := store.Notice{
		MessageID:   d.newMessageID(c.Ref),
		Date:        in.now,
		From:        d.fromHeader(),
		To:          n.to,
		Cc:          cc,
		Subject:     subject,
		Body:        body,
		Charset:     d.cfg.SMTP.Charset,
		Attachments: n.attachments,
	}
	if in.msg != nil && in.msg.MessageID != "" {
		out.InReplyTo = in.msg.MessageID
		out.References = threadReferences(in)
	} else if in.request != nil && in.request.ThreadRoot != "" {
		// A job's notice threads under the mail that opened the request.
		out.InReplyTo = in.request.ThreadRoot
		out.References = []string{in.request.ThreadRoot}
	}
	q := store.Queued{Notice: out, Kind: n.kind, RequestID: in.requestID, Sensitive: n.sensitive, Urgent: urgentNotices[n.kind]}
	// The cap stops loops: it holds back answers to the recipient's own
	// mail, never what an operator decided or a job sends.
	if !d.cfg.IsOperator(n.to[0]) && strings.EqualFold(n.to[0], in.from) {
		since, err := in.tx.RepliesSince(n.to[0], in.now.Add(-time.Hour))
		if err != nil {
			return err
		}
		if since >= d.cfg.Limits.RepliesPerSenderPerHour {
			q.Suppressed = true
			q.Reason = fmt.Sprintf("reply cap: %d notices to %s in the last hour", since, n.to[0])
		}
	}
	if err := in.tx.Queue(q); err != nil {
		return err
	}
	if q.Suppressed {
		d.emit("notice", c.Ref, "NOT sent (%s): %s", q.Reason, subject)
		return in.tx.Audit(in.now, "desk", in.requestID, "notice_suppressed", n.kind+" to "+n.to[0]+": "+q.Reason)
	}
	in.queued++
	d.emit("notice", c.Ref, "notice %s to %s%s: %s", n.kind, strings.Join(n.to, ", "), ccText(cc), subject)
	return nil
}

// render adds what every notice shows from the configuration and renders
// n; the subject carries the reference tag that threads replies.
func (d *Desk) render(n *notice) (subject, body string, err error) {
	c := n.data.shared()
	c.Desk = d.cfg.Desk
	subject, body, err = d.tmpl.Render(n.kind, n.lang, n.data)
	if err != nil {
		return "", "", err
	}
	if c.Ref != "" {
		subject = "[" + c.Ref + "] " + subject
	}
	return subject, body, nil
}

func ccText(cc []string) string {
	if len(cc) == 0 {
		return ""
	}
	return " (cc " + strings.Join(cc, ", ") + ")"
}

func withoutAddresses(list, drop []string) []string {
	var out []string
	for _, a := range list {
		keep := true
		for _, b := range drop {
			if strings.EqualFold(a, b) {
				keep = false
			}
		}
		for _, b := range out {
			if strings.EqualFold(a, b) {
				keep = false
			}
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}

// threadReferences keeps the thread root and the latest references so
// that mail clients thread the notice under the applicant's mail.
func threadReferences(in *inbound) []string {
	var refs []string
	if in.request != nil && in.request.ThreadRoot != "" {
		refs = append(refs, in.request.ThreadRoot)
	}
	tail := in.msg.References
	if len(tail) > 8 {
		tail = tail[len(tail)-8:]
	}
	for _, r := range append(tail, in.msg.MessageID) {
		if r != "" && (len(refs) == 0 || refs[0] != r) {
			refs = append(refs, r)
		}
	}
	return refs
}

func (d *Desk) fromHeader() string {
	return fmt.Sprintf("%s <%s>", d.cfg.Desk.Name, d.cfg.Desk.Address)
}

// newMessageID makes the notice's Message-ID once, at enqueue time; a
// resend after a crash reuses it, which is how a repeat is recognisable.
func (d *Desk) newMessageID(ref string) string {
	var b [9]byte
	rand.Read(b[:])
	domain := d.cfg.Desk.Address[strings.LastIndex(d.cfg.Desk.Address, "@")+1:]
	if ref == "" {
		ref = strings.ToLower(d.cfg.Desk.ReferencePrefix)
	}
	return fmt.Sprintf("%s.%s@%s", ref, hex.EncodeToString(b[:]), domain)
}

// greeting names the notice's addressee when the desk knows the name:
// the request's applicant by the form's name, or the sender of the mail in
// hand by its From. A notice to anyone else gets the plain greeting, so an
// approval sent on an operator's command never greets the operator.
func greeting(lang string, n notice, in *inbound) string {
	to, name := n.to[0], ""
	if in.request != nil && strings.EqualFold(to, in.request.Applicant) {
		name = applicantName(in.request)
	}
	if name == "" && strings.EqualFold(to, in.from) && in.msg != nil && in.msg.From != nil {
		name = in.msg.From.Name
	}
	return greetingFor(lang, name)
}

// applicantName is the person's name as the request's form gave it.
func applicantName(r *store.Request) string {
	if r.Fields["family_name"] != "" {
		return r.Fields["family_name"] + " " + r.Fields["given_name"]
	}
	if r.Fields["applicant_name"] != "" {
		return r.Fields["applicant_name"]
	}
	// An inquiry knows the asker only by the From header's name.
	return r.Fields["asker_name"]
}

// stateText describes a request state for applicants and operators.
// StateText is a request state in words, in lang ("ja" or "en"), as the
// notices and the operators' commands show it.
func StateText(lang, state string) string { return stateText(lang, state) }

func stateText(lang, state string) string {
	ja := map[string]string{
		store.StateAwaitingDocuments:    "署名した申請書の到着待ち",
		store.StateDocumentsReceived:    "書類受領済み・審査中",
		store.StateApproved:             "承認済み",
		store.StateRejected:             "却下",
		store.StateExpired:              "期限切れ",
		store.StateCodeSent:             "アクセスコード送付済み・入力待ち",
		store.StateCompleted:            "完了",
		store.StateLocked:               "誤入力によりロック",
		store.StateUnderReview:          "担当者が審査中",
		store.StateTokenSent:            "仮申請番号送付済み・本申請待ち",
		store.StateAwaitingVerification: "本申請受付済み・電話確認待ち",
		store.StateVerified:             "電話確認済み・承認待ち",
		store.StateCancelled:            "取消",
		policy.StateAwaitingNewAddress:  "新しいアドレスの確認待ち",
		policy.StateAwaitingAnswer:      "担当者の回答待ち",
		policy.StateAnswered:            "回答済み",
	}
	en := map[string]string{
		store.StateAwaitingDocuments:    "waiting for the signed form",
		store.StateDocumentsReceived:    "documents received, under review",
		store.StateApproved:             "approved",
		store.StateRejected:             "rejected",
		store.StateExpired:              "expired",
		store.StateCodeSent:             "access code sent, waiting for it",
		store.StateCompleted:            "completed",
		store.StateLocked:               "locked after wrong codes",
		store.StateUnderReview:          "under review by the staff",
		store.StateTokenSent:            "provisional number sent, waiting for the main application",
		store.StateAwaitingVerification: "main application received, waiting for the phone check",
		store.StateVerified:             "verified by phone, waiting for approval",
		store.StateCancelled:            "cancelled",
		policy.StateAwaitingNewAddress:  "waiting for the new address to be confirmed",
		policy.StateAwaitingAnswer:      "waiting for our staff's answer",
		policy.StateAnswered:            "answered",
	}
	m := ja
	if lang == "en" {
		m = en
	}
	if s, ok := m[state]; ok {
		return s
	}
	return state
}

// fieldLabel is the label of a form field as the applicant saw it.
func fieldLabel(kind forms.Kind, key, lang string) string {
	if spec, ok := forms.SpecFor(kind); ok {
		for _, f := range spec.Fields {
			if f.Key == key {
				if lang == "en" {
					return f.EN
				}
				return f.JA
			}
		}
	}
	return key
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
