package desk

import (
	"fmt"
	"strings"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
)

// Signed forms are accepted as these types, judged from the content, not
// from the name or the declared type.
var acceptedDocumentTypes = map[string]bool{"application/pdf": true, "image/jpeg": true, "image/png": true}

// applicantReply handles mail on an existing thread from anyone but an
// authenticated operator: a signed form attached, or a question.
func (d *Desk) applicantReply(in *inbound) (result, error) {
	req := in.request
	fromApplicant := strings.EqualFold(in.from, req.Applicant)
	// A reply that quotes a form back may carry a password again.
	in.secrets = secretValues(forms.Parse(in.msg.Text))

	var accepted []documentLine
	var refused []refusedLine
	for _, a := range in.msg.Attachments {
		ok := acceptedDocumentTypes[a.SniffedType] && a.Size > 0
		if ok && !fromApplicant {
			// Evidence about a person comes from that person's address only.
			ok = false
		}
		faxOnly := req.Kind == KindIndiceReset
		if faxOnly {
			ok = false
		}
		in.documents = append(in.documents, &store.Document{
			RequestID: req.ID, Filename: a.Filename, ContentType: a.SniffedType, Size: a.Size,
			SHA256: a.SHA256, Data: a.Data, Accepted: ok, ReceivedAt: in.now,
		})
		if ok {
			accepted = append(accepted, documentLine{Filename: a.Filename, Type: a.SniffedType, Size: humanSize(a.Size)})
			continue
		}
		why := d.refusalReason(in.lang, a.SniffedType, a.DeclaredType, fromApplicant)
		if faxOnly && fromApplicant {
			why = map[string]string{"ja": "この申請の申請書はFAXでのみ受け付けます（FAX " + d.cfg.Desk.Fax + "）",
				"en": "the form for this request is accepted by FAX only (FAX " + d.cfg.Desk.Fax + ")"}[in.lang]
		}
		refused = append(refused, refusedLine{Filename: a.Filename, Why: why})
	}
	for _, w := range in.msg.DroppedAttachments {
		refused = append(refused, refusedLine{Filename: w.Filename, Why: d.droppedReason(in.lang, w.Reason)})
	}

	if len(accepted) > 0 && req.Open() {
		if req.State == store.StateAwaitingDocuments {
			if err := d.setState(in, store.StateDocumentsReceived, false, in.from, "signed form received by mail"); err != nil {
				return result{}, err
			}
		} else if err := in.tx.Audit(in.now, in.from, req.ID, "documents_added", fmt.Sprintf("%d more documents", len(accepted))); err != nil {
			return result{}, err
		}
		if err := d.queue(in, notice{kind: "documents_received", to: []string{req.Applicant}, ccOperators: true,
			data: noticeData{Documents: accepted}}); err != nil {
			return result{}, err
		}
	}
	if len(refused) > 0 && fromApplicant {
		if err := d.queue(in, notice{kind: "document_refused", to: []string{in.from}, ccOperators: true, data: noticeData{
			Refused: refused, MaxAttachment: humanSize(d.cfg.Limits.MaxAttachmentBytes),
		}}); err != nil {
			return result{}, err
		}
	}
	if len(accepted) == 0 && len(refused) == 0 || !req.Open() && len(accepted) > 0 {
		data := noticeData{Quoted: unquoted(in.msg.Text)}
		if fromApplicant {
			data.StateText = stateText(in.lang, req.State)
		} else {
			// Someone else on the thread learns nothing about the request.
			data.StateText = "-"
			data.Greeting = greetingFor(in.lang, "")
		}
		if err := d.queue(in, notice{kind: "reply_received", to: []string{in.from}, ccOperators: true, data: data}); err != nil {
			return result{}, err
		}
		if err := in.tx.Audit(in.now, in.from, req.ID, "reply", "applicant wrote on the thread"); err != nil {
			return result{}, err
		}
	}
	return d.finish(in, outcomeAnswered, fmt.Sprintf("reply on %s: %d documents accepted, %d refused", req.Reference, len(accepted), len(refused)))
}

func (d *Desk) refusalReason(lang, sniffed, declared string, fromApplicant bool) string {
	if !fromApplicant {
		if lang == "en" {
			return "documents are accepted only from the applicant's own address"
		}
		return "申請者ご本人のアドレスから送られた書類のみ受け付けます"
	}
	if lang == "en" {
		return fmt.Sprintf("the content is %s (declared as %s); only PDF, JPEG and PNG are accepted", sniffed, declared)
	}
	return fmt.Sprintf("ファイルの内容が %s です（%s として送信）。PDF・JPEG・PNGのみ受け付けます", sniffed, declared)
}

func (d *Desk) droppedReason(lang, why string) string {
	if lang == "en" {
		return "not read: " + why
	}
	return "読み取れませんでした（" + why + "）"
}

// unquoted is the new text of a reply: the quoted original is left out,
// operators have it already.
func unquoted(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), ">") {
			continue
		}
		out = append(out, l)
	}
	s := strings.TrimSpace(strings.Join(out, "\n"))
	if r := []rune(s); len(r) > 2000 {
		s = string(r[:2000]) + " …"
	}
	return s
}

func greetingFor(lang, name string) string {
	if lang == "en" {
		if name == "" {
			return "Hello,"
		}
		return "Dear " + name + ","
	}
	if name == "" {
		return "お問い合わせいただいた方へ"
	}
	return name + " 様"
}

// setState changes the request's state with its audit line and event.
func (d *Desk) setState(in *inbound, state string, closed bool, actor, why string) error {
	req := in.request
	from := req.State
	if err := in.tx.SetRequestState(req, state, in.now, closed); err != nil {
		return err
	}
	if err := in.tx.Audit(in.now, actor, req.ID, "state", from+" -> "+state+": "+why); err != nil {
		return err
	}
	d.emit("state", req.Reference, "%s: %s -> %s (%s)", req.Reference, from, state, why)
	return nil
}
