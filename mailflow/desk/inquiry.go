package desk

import (
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// KindInquiry is a question in free text that an operator answers by mail
// on its thread (seed 001 FAQ 1.7, 2.5: 「オペレーターが原因をお調べして
// メールにてご返答いたします」).
const KindInquiry = policy.KindInquiry

// counterInquiries counts the inquiries a sender opened; past the reply
// cap a sender's further mail joins the latest open inquiry instead of
// opening another, so a loop or a flood makes one thread, not hundreds.
const counterInquiries = "inquiries"

// counterInquiryMails counts the mail on inquiry threads forwarded to the
// operators, per sender; past the reply cap it is kept on the thread
// without telling the operators again within the hour.
const counterInquiryMails = "inquiry_mails"

// maxQuestionRunes bounds the text kept and forwarded of one mail.
const maxQuestionRunes = 4000

// questionOf is what the asker wrote, without the quoted mail, the marker
// line and any password: what operators read and the desk keeps.
func (d *Desk) questionOf(in *inbound) string {
	var kept []string
	for _, line := range strings.Split(unquotedAll(in.msg.Text), "\n") {
		if isMarkerLine(line) {
			continue
		}
		kept = append(kept, line)
	}
	text := strings.TrimSpace(strings.Join(kept, "\n"))
	text = maskSecrets(forms.Mask(text), in.secrets)
	return capRunes(text, maxQuestionRunes)
}

// isMarkerLine reports a line that only names a request kind
// ("申請種別: お問い合わせ").
func isMarkerLine(line string) bool {
	line = strings.TrimSpace(line)
	if line == "" || !strings.ContainsAny(line, ":：") {
		return false
	}
	f := forms.Parse(line + "\n")
	return f.Kind != "" && len(f.Fields) == 0
}

// unquotedAll is the new text of a mail: quoted lines left out, with no
// cut on length (see capRunes).
func unquotedAll(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), ">") {
			out = append(out, l)
		}
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func capRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + " …"
	}
	return s
}

// inquiry opens an inquiry for a question, or, past the sender's cap,
// adds the mail to the sender's latest open one.
func (d *Desk) inquiry(in *inbound, form forms.Form) (result, error) {
	over, _, err := d.spend(in, counterInquiries, d.cfg.Limits.RepliesPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		open, err := in.tx.OpenRequestsOf(in.from)
		if err != nil {
			return result{}, err
		}
		for i := len(open) - 1; i >= 0; i-- {
			if open[i].Kind == KindInquiry {
				in.request, in.requestID, in.lang = open[i], open[i].ID, open[i].Lang
				if err := in.tx.LinkThreadMessage(in.msg.MessageID, open[i].ID); err != nil {
					return result{}, err
				}
				return d.inquiryFollowUp(in)
			}
		}
		return d.tooManyRequests(in, "inquiry", fmt.Sprintf("inquiries from %s in the last hour", in.from))
	}
	return d.openInquiry(in, form, "")
}

// openInquiry makes the question an inquiry with a reference, tells the
// asker, and sends the operators the question with the asker's own
// requests and accounts. previous names a closed inquiry the mail
// followed.
func (d *Desk) openInquiry(in *inbound, form forms.Form, previous string) (result, error) {
	question := d.questionOf(in)
	fields := map[string]string{"question": question, "subject": capRunes(strings.TrimSpace(in.msg.Subject), 200)}
	for _, key := range []string{"id", "service", "url", "error_message"} {
		if v := strings.TrimSpace(form.Fields[key]); v != "" {
			fields[key] = capRunes(v, 500)
		}
	}
	if v := strings.TrimSpace(form.Fields["question"]); v != "" {
		fields["question"] = capRunes(maskSecrets(v, in.secrets), maxQuestionRunes)
	}
	if previous != "" {
		fields["previous"] = previous
	}
	if in.msg.From != nil && in.msg.From.Name != "" {
		fields["asker_name"] = capRunes(in.msg.From.Name, 60)
	}
	req, err := d.openRequest(in, &store.Request{Kind: KindInquiry, Fields: fields})
	if err != nil {
		return result{}, err
	}
	if err := in.tx.Audit(in.now, in.from, req.ID, "inquiry_question", question); err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new inquiry %s from %s -> %s", req.Reference, in.from, req.State)
	kept, err := d.keepAttachments(in, req, true)
	if err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "inquiry_received", to: []string{in.from}, data: &inquiryReceived{
		Question: question, Refused: kept.refused, Kinds: d.markerHints(in.lang),
		MaxAttachment: humanSize(d.cfg.Limits.MaxAttachmentBytes),
	}}); err != nil {
		return result{}, err
	}
	if err := d.tellOperatorsOfInquiry(in, req, question, kept, form, false); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, "inquiry "+req.Reference+" opened")
}

// inquiryReply handles mail on an inquiry's thread from someone who is not
// an operator: the asker's further mail; anyone else's mail is a question
// of their own (classify routes it to a new inquiry).
func (d *Desk) inquiryReply(in *inbound) (result, error) {
	if !in.request.Open() {
		// Closed: the mail starts a new inquiry that names the old one,
		// so nothing the asker writes goes unread.
		prev := in.request.Reference
		in.request, in.requestID = nil, 0
		return d.openInquiry(in, in.form(), prev)
	}
	return d.inquiryFollowUp(in)
}

// inquiryFollowUp adds the asker's mail to the open inquiry in hand and
// sends it to the operators; an answered inquiry waits for an answer
// again.
func (d *Desk) inquiryFollowUp(in *inbound) (result, error) {
	req := in.request
	in.secrets = secretValues(in.form())
	question := d.questionOf(in)
	if err := in.tx.Audit(in.now, in.from, req.ID, "inquiry_followup", question); err != nil {
		return result{}, err
	}
	over, n, err := d.spend(in, counterInquiryMails, d.cfg.Limits.RepliesPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		// The text is on the thread (audit, Processed folder); a loop
		// stops costing the operators mail.
		return d.finish(in, outcomeAnswered, fmt.Sprintf("mail on %s kept; operators already told of %d mails from %s this hour", req.Reference, n, in.from))
	}
	if req.State == policy.StateAnswered {
		if err := d.move(in, policy.FollowUp, in.from, "the asker wrote again"); err != nil {
			return result{}, err
		}
	}
	kept, err := d.keepAttachments(in, req, true)
	if err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "inquiry_received", to: []string{in.from}, data: &inquiryReceived{
		FollowUp: true, Question: question, Refused: kept.refused, MaxAttachment: humanSize(d.cfg.Limits.MaxAttachmentBytes),
	}}); err != nil {
		return result{}, err
	}
	if err := d.tellOperatorsOfInquiry(in, req, question, kept, forms.Form{}, true); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, "follow-up on "+req.Reference)
}

// tellOperatorsOfInquiry sends the operators the asker's mail on the
// inquiry's thread, with what most answers need: the asker's own open
// requests and accounts (kind, state, dates; never a secret), and the
// screenshots attached.
func (d *Desk) tellOperatorsOfInquiry(in *inbound, req *store.Request, question string, kept keptAttachments, form forms.Form, followUp bool) error {
	if len(d.cfg.Operators) == 0 {
		return nil
	}
	lang := d.cfg.Desk.Language
	data := &inquiryForOperators{
		Asker: req.Applicant, Subject: bareSubject(in.msg.Subject), Question: question, FollowUp: followUp,
		State: stateText(lang, req.State), Previous: req.Fields["previous"], Documents: kept.accepted, Refused: kept.refused,
		Commands: d.commandLines(lang, req),
	}
	data.Sender = map[string]string{"ja": "未確認（From ヘッダーのみ。本人確認が必要な回答は登録アドレスへ）", "en": "not proved (From header only; answer account questions to the registered address)"}[lang]
	if in.proved.sender {
		data.Sender = map[string]string{"ja": "当方MXで確認済み", "en": "proved by our MX"}[lang]
	}
	for _, spec := range []struct{ key, ja, en string }{
		{"id", "ID", "ID"}, {"service", "サービス", "Service"}, {"url", "URL", "URL"}, {"error_message", "エラーメッセージ", "Error message"},
	} {
		if v := strings.TrimSpace(form.Fields[spec.key]); v != "" {
			label := spec.ja
			if lang == "en" {
				label = spec.en
			}
			data.Fields = append(data.Fields, problemLine{Label: label, Text: capRunes(v, 500)})
		}
	}
	open, err := in.tx.OpenRequestsOf(req.Applicant)
	if err != nil {
		return err
	}
	for _, r := range open {
		if r.ID == req.ID {
			continue
		}
		data.Requests = append(data.Requests, askerRequest{Ref: r.Reference, Title: d.title(forms.Kind(r.Kind), lang),
			State: stateText(lang, r.State), Created: r.CreatedAt, Updated: r.UpdatedAt})
	}
	accounts, err := in.tx.AccountsByAddress(req.Applicant, d.cfg.Desk.Domain)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		data.Accounts = append(data.Accounts, askerAccount{ID: a.Login, Status: accountStatusText(lang, a.Status), Institution: a.Institution,
			Department: a.Department, Created: a.CreatedAt, PasswordActiveAt: a.PasswordActiveAt,
			ByIDMailbox: !strings.EqualFold(a.Email, req.Applicant)})
	}
	return d.queue(in, notice{kind: "inquiry_for_operators", to: d.cfg.Operators[:1], ccOperators: true, lang: lang,
		attachments: kept.files, data: data})
}

func accountStatusText(lang, status string) string {
	texts := map[string][2]string{
		store.AccountActive: {"有効", "active"}, store.AccountDeleted: {"削除済み", "deleted"}, store.AccountMerged: {"統合済み", "merged"},
	}
	t, ok := texts[status]
	switch {
	case !ok:
		return status
	case lang == "en":
		return t[1]
	}
	return t[0]
}

// markerHints are the marker lines of the self-service requests, for the
// asker whose question is one of them.
func (d *Desk) markerHints(lang string) []string {
	spec, _ := forms.SpecFor(forms.KindNewID)
	first := "申請種別: " + spec.TitleJA
	if lang == "en" {
		first = "Request: " + spec.TitleEN
	}
	return append([]string{first}, d.otherKinds(lang)...)
}

// keptAttachments are the attachments of a mail on an inquiry: kept as
// documents within the caps, and passed on to the operators.
type keptAttachments struct {
	accepted []documentLine
	refused  []refusedLine
	files    []store.NoticeAttachment
}

// keepAttachments stores the mail's attachments on the request within the
// per-request and per-sender caps, for the request's own people only.
// forward passes the kept files on to the operators' copy.
func (d *Desk) keepAttachments(in *inbound, req *store.Request, forward bool) (keptAttachments, error) {
	var k keptAttachments
	var budget int64
	if len(in.msg.Attachments) > 0 {
		// Two queries most questions, having no attachment, do without.
		var err error
		if budget, err = d.documentBudget(in, req); err != nil {
			return k, err
		}
	}
	for _, a := range in.msg.Attachments {
		ok := acceptedDocumentTypes[a.SniffedType] && a.Size > 0
		why := ""
		switch {
		case !ok:
			why = d.refusalReason(in.lang, a.SniffedType, a.DeclaredType, true)
		case a.Size > budget:
			ok, why = false, d.overBudgetReason(in.lang)
		}
		if !ok {
			k.refused = append(k.refused, refusedLine{Filename: a.Filename, Why: why})
			continue
		}
		budget -= a.Size
		if err := in.tx.CountEvent(counterDocumentBytes, in.from, a.Size, in.now); err != nil {
			return k, err
		}
		in.documents = append(in.documents, &store.Document{
			RequestID: req.ID, Filename: a.Filename, ContentType: a.SniffedType, Size: a.Size,
			SHA256: a.SHA256, Data: a.Data, Accepted: true, ReceivedAt: in.now,
		})
		k.accepted = append(k.accepted, documentLine{Filename: a.Filename, Type: a.SniffedType, Size: humanSize(a.Size)})
		if forward {
			k.files = append(k.files, store.NoticeAttachment{Filename: a.Filename, ContentType: a.SniffedType, Data: a.Data})
		}
	}
	for _, w := range in.msg.DroppedAttachments {
		k.refused = append(k.refused, refusedLine{Filename: w.Filename, Why: d.droppedReason(in.lang, w.Reason)})
	}
	return k, nil
}

func (d *Desk) overBudgetReason(lang string) string {
	return map[string]string{
		"ja": "この申請に保存できる書類の容量（1申請 " + humanSize(d.cfg.Limits.DocumentBytesPerRequest) + "、1日 " + humanSize(d.cfg.Limits.DocumentBytesPerSenderPerDay) + "）を超えます。FAXでお送りください",
		"en": "it exceeds what can be stored for this request (" + humanSize(d.cfg.Limits.DocumentBytesPerRequest) + " a request, " + humanSize(d.cfg.Limits.DocumentBytesPerSenderPerDay) + " a day); please use FAX",
	}[lang]
}

// answer mails an operator's reply to the request's applicant on its
// thread, with the operators in CC. Only the text below "reply:" goes,
// never the quote; an answer that repeats an internal note is refused.
func (d *Desk) answer(in *inbound, c command) error {
	req := in.request
	text := strings.TrimSpace(c.text)
	if text == "" {
		return errRefused{"「回答:」（reply:）の次の行から、申請者に送る回答文を書いてください。",
			"Write the answer to the applicant below \"reply:\"."}
	}
	if leaked, err := d.repeatsNote(in, text); err != nil {
		return err
	} else if leaked != "" {
		return errRefused{"回答文に内部メモ（" + leaked + "）と同じ文が含まれているため、送信しませんでした。回答文だけを「回答:」の下に書いてください。",
			"The answer repeats an internal note (" + leaked + "), so it was not sent. Write only the answer below \"reply:\"."}
	}
	if req.Kind == KindInquiry {
		if !req.Open() {
			return errRefused{"このお問い合わせは完了しています。", "This inquiry is closed."}
		}
		if err := d.move(in, policy.Answer, in.from, "answered by mail"); err != nil {
			return err
		}
	}
	if err := in.tx.Audit(in.now, in.from, req.ID, "answer", text); err != nil {
		return err
	}
	// The asker's own thread and language; the operators see what went.
	return d.queue(in, notice{kind: "inquiry_answer", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
		data: &inquiryAnswer{Answer: text}})
}

// repeatsNote returns the internal note an answer repeats, if any: the
// last guard between what operators wrote to each other and the asker.
func (d *Desk) repeatsNote(in *inbound, answer string) (string, error) {
	entries, err := in.tx.AuditLog(in.request.ID)
	if err != nil {
		return "", err
	}
	flat := flatten(answer)
	for _, e := range entries {
		if e.Action != "note" {
			continue
		}
		if n := flatten(e.Detail); len([]rune(n)) >= 6 && strings.Contains(flat, n) {
			return capRunes(e.Detail, 30), nil
		}
	}
	return "", nil
}

// flatten compares texts across re-wrapping and width: NFKC, lower case,
// no white space.
func flatten(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(s))), "")
}

// closeInquiry closes an inquiry; the asker is not mailed (the last answer
// said what there was to say), a later mail opens a new one.
func (d *Desk) closeInquiry(in *inbound, c command) error {
	if in.request.Kind != KindInquiry {
		return errRefused{"完了（close）はお問い合わせにのみ使えます。", "close applies to inquiries only."}
	}
	if err := d.move(in, policy.Close, in.from, "closed"); err != nil {
		return err
	}
	return d.operatorResult(in, c.line, map[string]string{"ja": "お問い合わせを完了にしました。", "en": "The inquiry is closed."}[d.cfg.Desk.Language])
}
