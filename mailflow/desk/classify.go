package desk

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/authresults"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// classify routes a message that a person wrote: an operator's command on
// a thread, an applicant's reply on a thread, or a new request.
func (d *Desk) classify(in *inbound) (result, error) {
	req, err := d.findThread(in)
	if err != nil {
		return result{}, err
	}
	if req != nil && req.Kind == KindInquiry && !strings.EqualFold(in.from, req.Applicant) && !d.cfg.IsOperator(in.from) {
		// Someone else's mail on an inquiry's thread is a question of its
		// own: it joins nobody's conversation and learns nothing of it.
		req = nil
	}
	if req != nil {
		in.request, in.requestID, in.lang = req, req.ID, req.Lang
		if err := in.tx.LinkThreadMessage(in.msg.MessageID, req.ID); err != nil {
			return result{}, err
		}
	}
	var verdict authresults.Verdict
	in.proved, verdict = d.mailProofs(in.msg, in.from)
	for _, forged := range verdict.Forged {
		// Our MX writes one header; one more with our id below it is the
		// sender's own claim.
		d.log.Warn("forged Authentication-Results header", "from", in.from, "header", forged)
		if err := in.tx.Audit(in.now, "desk", in.requestID, "forged_authentication_results", in.from+": "+forged); err != nil {
			return result{}, err
		}
	}
	operator, admin := d.cfg.IsOperator(in.from), d.cfg.IsProgramAdministrator(in.from)
	if in.proved.operator && req != nil {
		return d.operatorCommand(in)
	}
	if !verdict.Pass && (operator && req != nil || admin && csvAttachment(in.msg) != nil) {
		return d.operatorNotObeyed(in, verdict.Why)
	}
	if d.cfg.Service == "facility" {
		if req != nil {
			return d.facilityReply(in)
		}
		return d.facilityNew(in)
	}
	if in.bulk != nil && req == nil {
		return d.bulkRegistration(in, in.bulk)
	}
	if req != nil {
		// Threads confirmed by an access code; a third party's deletion
		// and a form-proved affiliation change wait for documents like an
		// application.
		switch policyKind(req) {
		case policy.KindPasswordReset, policy.KindRename, policy.KindAffiliation, policy.KindDeletion:
			return d.codeReply(in)
		case policy.KindInquiry:
			return d.inquiryReply(in)
		}
		return d.applicantReply(in)
	}
	return d.newRequest(in)
}

// findThread matches a reply to its request: by the reference tag in the
// subject, else by In-Reply-To and References.
func (d *Desk) findThread(in *inbound) (*store.Request, error) {
	if ref := d.referenceIn(in.msg.Subject); ref != "" {
		req, err := in.tx.RequestByReference(ref)
		if err == nil {
			return req, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	ids := append(append([]string{}, in.msg.InReplyTo...), reversed(in.msg.References)...)
	for _, id := range ids {
		req, err := in.tx.RequestByThreadMessage(id)
		if err == nil {
			return req, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// referenceIn finds "[MDG-2026-000123]" in a subject; NFKC first, because
// some phones turn the brackets and digits full-width when replying.
func (d *Desk) referenceIn(subject string) string {
	m := d.refPattern.FindStringSubmatch(strings.ToUpper(norm.NFKC.String(subject)))
	if m == nil {
		return ""
	}
	return m[1]
}

// newRequest reads the form in the body and hands it to its kind.
func (d *Desk) newRequest(in *inbound) (result, error) {
	form := in.form()
	in.lang = form.Lang
	in.secrets = secretValues(form)
	if form.Kind == forms.KindInquiry && d.questionOf(in) != "" && !hasValues(form) {
		// "申請種別: お問い合わせ" above a question in free text.
		return d.inquiry(in, form)
	}
	if form.Kind != "" && form.Kind != forms.KindStatus && !hasValues(form) {
		// The marker line alone is how the blank-form notice tells people
		// to ask for a form: answer with that form, not with its problems.
		return d.blankForm(in, form.Kind)
	}
	switch form.Kind {
	case forms.KindNewID:
		return d.newID(in, form)
	case forms.KindPasswordReset:
		return d.passwordReset(in, form)
	case forms.KindAccessCode:
		return d.codeWithoutThread(in, form)
	case forms.KindOperatorReset:
		return d.operatorReset(in, form)
	case forms.KindIndiceReset:
		return d.indiceReset(in, form)
	case forms.KindRename:
		return d.rename(in, form)
	case forms.KindAffiliation:
		return d.affiliation(in, form)
	case forms.KindDeletion:
		return d.deletion(in, form)
	case forms.KindMerge:
		return d.merge(in, form)
	case forms.KindHandover:
		return d.handover(in, form)
	case forms.KindStatus:
		return d.status(in, form)
	case forms.KindInquiry:
		return d.inquiry(in, form)
	case "":
		if d.questionOf(in) != "" {
			// Whatever the forms do not cover is a question for the
			// operators (seed 001 FAQ 1.7, 2.5).
			return d.inquiry(in, form)
		}
		return d.subjectOnly(in, form)
	default:
		spec, _ := forms.SpecFor(form.Kind)
		title := spec.TitleJA
		if in.lang == "en" {
			title = spec.TitleEN
		}
		reason := map[string]string{
			"ja": fmt.Sprintf("「%s」はメールではまだ受け付けていません。担当者にお問い合わせいただくか、下記の書式をご利用ください。", title),
			"en": fmt.Sprintf("%q is not yet accepted by mail. Please contact our staff, or use one of the forms below.", title),
		}[in.lang]
		return d.blankForms(in, reason)
	}
}

// subjectOnly answers a mail with no text of its own: a subject naming a
// request gets its form, any other subject is a question, and an empty
// mail gets the forms.
func (d *Desk) subjectOnly(in *inbound, form forms.Form) (result, error) {
	subject := bareSubject(in.msg.Subject)
	if subject == "" {
		return d.blankForms(in, "")
	}
	switch kind := forms.Parse("申請種別: " + subject + "\n").Kind; kind {
	case "":
		return d.inquiry(in, form)
	case forms.KindStatus:
		return d.status(in, form)
	case forms.KindAccessCode:
		return d.blankForms(in, "")
	default:
		return d.blankForm(in, kind)
	}
}

// bareSubject is a subject without reply and forward prefixes and
// reference tags.
func bareSubject(s string) string {
	s = strings.TrimSpace(norm.NFKC.String(s))
	for {
		lower := strings.ToLower(s)
		cut := false
		for _, p := range []string{"re:", "fw:", "fwd:", "返信:", "転送:", "aw:", "sv:"} {
			if strings.HasPrefix(lower, p) {
				s, cut = strings.TrimSpace(s[len(p):]), true
			}
		}
		if strings.HasPrefix(s, "[") {
			if i := strings.Index(s, "]"); i > 0 {
				s, cut = strings.TrimSpace(s[i+1:]), true
			}
		}
		if !cut {
			return s
		}
	}
}

// blankForms answers with the forms the desk accepts by mail.
func (d *Desk) blankForms(in *inbound, reason string) (result, error) {
	err := d.queue(in, notice{kind: "blank_forms", to: []string{in.from}, data: &blankForms{
		Note:  reason,
		Forms: []string{forms.Blank(forms.KindNewID, in.lang)},
		Kinds: d.otherKinds(in.lang),
	}})
	if err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, "blank forms sent")
}

// blankForm answers a marker line alone with that request's form.
func (d *Desk) blankForm(in *inbound, kind forms.Kind) (result, error) {
	err := d.queue(in, notice{kind: "blank_forms", to: []string{in.from}, data: &blankForms{
		Title: d.title(kind, in.lang),
		Forms: []string{forms.Blank(kind, in.lang)},
		Kinds: d.otherKinds(in.lang),
	}})
	if err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, "blank form of "+string(kind)+" sent")
}

func hasValues(form forms.Form) bool {
	for _, v := range form.Fields {
		if strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// mailKinds are the requests the desk takes by mail besides a new ID.
var mailKinds = []forms.Kind{forms.KindPasswordReset, forms.KindOperatorReset, forms.KindIndiceReset, forms.KindRename,
	forms.KindAffiliation, forms.KindDeletion, forms.KindMerge, forms.KindHandover, forms.KindStatus}

// otherKinds names the other requests by their marker line: a mail with
// that line alone gets the form of that kind back.
func (d *Desk) otherKinds(lang string) []string {
	var out []string
	for _, k := range mailKinds {
		spec, _ := forms.SpecFor(k)
		if lang == "en" {
			out = append(out, "Request: "+spec.TitleEN)
		} else {
			out = append(out, "申請種別: "+spec.TitleJA)
		}
	}
	return out
}

// secretValues lists the secret values a form carried, whatever kind
// it was read as: a password typed under any form's label is a secret.
func secretValues(form forms.Form) []string {
	var out []string
	for key, v := range form.Fields {
		if v != "" && forms.IsSecret(key) {
			out = append(out, v)
		}
	}
	return out
}

// automatic handles mail that must never be answered (RFC 3834): bounces
// of our notices are noted against them for the operators.
func (d *Desk) automatic(in *inbound) (result, error) {
	m := in.msg
	if m.Bounce != nil {
		for _, id := range m.Bounce.OriginalMessageIDs {
			rid, found, err := in.tx.RecordBounce(id, in.now, bounceDetail(m))
			if err != nil {
				return result{}, err
			}
			if found {
				in.requestID = rid
				if req, err := in.tx.RequestByID(rid); err == nil {
					in.request = req
				}
				if err := in.tx.Audit(in.now, "desk", rid, "bounce", fmt.Sprintf("notice %s: %s", id, bounceDetail(m))); err != nil {
					return result{}, err
				}
				d.emit("state", in.ref(), "bounce recorded against notice %s", id)
			}
		}
	}
	return d.finish(in, outcomeIgnored, "automatic mail ("+m.Automatic.Kind+": "+m.Automatic.Detail+")")
}

func bounceDetail(m *message.Message) string {
	b := m.Bounce
	kind := "temporary"
	if b.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("%s delivery failure %s for %s", kind, b.Status, strings.Join(b.Recipients, ", "))
}

// refuseTruncated answers a message that was too large to fetch.
func (d *Desk) refuseTruncated(in *inbound) (result, error) {
	reason := fmt.Sprintf("message of %s exceeds the limit of %s", humanSize(in.delivery.Size), humanSize(d.cfg.IMAP.MaxMessageBytes))
	return d.refuseWithHeaderOnly(in, reason, map[string]string{
		"ja": fmt.Sprintf("メールの大きさ（%s）が上限（%s）を超えています。添付ファイルを小さくするか、FAXでお送りください。", humanSize(in.delivery.Size), humanSize(d.cfg.IMAP.MaxMessageBytes)),
		"en": fmt.Sprintf("The message (%s) is larger than the limit of %s. Please send smaller attachments, or use FAX.", humanSize(in.delivery.Size), humanSize(d.cfg.IMAP.MaxMessageBytes)),
	})
}

// refuseUnparseable quarantines mail the parser refused, answering the
// sender when the header is readable and the mail is not automatic.
func (d *Desk) refuseUnparseable(in *inbound, why string) (result, error) {
	return d.refuseWithHeaderOnly(in, why, map[string]string{
		"ja": "メールの形式を読み取れませんでした（" + why + "）。通常の形式（テキスト本文）でお送りください。",
		"en": "The message could not be read (" + why + "). Please send it again as a plain text mail.",
	})
}

func (d *Desk) refuseWithHeaderOnly(in *inbound, why string, text map[string]string) (result, error) {
	h := readHeader(in.delivery.Raw)
	if h == nil {
		return d.finish(in, outcomeQuarantined, why)
	}
	from, err := mail.ParseAddress(decodeHeader(h.Get("From")))
	if err != nil || looksAutomatic(h) || strings.EqualFold(from.Address, d.cfg.Desk.Address) {
		return d.finish(in, outcomeQuarantined, why)
	}
	in.from = strings.ToLower(from.Address)
	in.lang = d.cfg.Desk.Language
	subject := decodeHeader(h.Get("Subject"))
	// One Latin word ("scan", "ID") says little; a sentence in English
	// without any Japanese does.
	if !hasJapanese(subject) && !hasJapanese(from.Name) && latinWords(subject) >= 2 {
		in.lang = "en"
	}
	err = d.queue(in, notice{kind: "message_refused", to: []string{in.from}, data: &messageRefused{
		Reason: text[in.lang], OriginalSubject: subject,
	}})
	if err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeQuarantined, why)
}
