package desk

import (
	"fmt"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/policy"
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
	in.secrets = secretValues(in.form())
	// References are easy to guess: only the request's own people add
	// documents to it; anyone else's attachments are not kept at all.
	mayAdd := fromApplicant || d.isStaffOf(req, in.from)

	var accepted []documentLine
	var refused []refusedLine
	budget, err := d.documentBudget(in, req)
	if err != nil {
		return result{}, err
	}
	for _, a := range in.msg.Attachments {
		if !mayAdd {
			break
		}
		ok := acceptedDocumentTypes[a.SniffedType] && a.Size > 0
		faxOnly := req.Kind == KindIndiceReset
		if faxOnly {
			ok = false
		}
		why := ""
		switch {
		case faxOnly:
			why = map[string]string{"ja": "この申請の申請書はFAXでのみ受け付けます（FAX " + d.cfg.Desk.Fax + "）",
				"en": "the form for this request is accepted by FAX only (FAX " + d.cfg.Desk.Fax + ")"}[in.lang]
		case !ok:
			why = d.refusalReason(in.lang, a.SniffedType, a.DeclaredType, true)
		case a.Size > budget:
			ok, why = false, d.overBudgetReason(in.lang)
		}
		if !ok {
			refused = append(refused, refusedLine{Filename: a.Filename, Why: why})
			continue
		}
		budget -= a.Size
		if err := in.tx.CountEvent(counterDocumentBytes, in.from, a.Size, in.now); err != nil {
			return result{}, err
		}
		in.documents = append(in.documents, &store.Document{
			RequestID: req.ID, Filename: a.Filename, ContentType: a.SniffedType, Size: a.Size,
			SHA256: a.SHA256, Data: a.Data, Accepted: true, ReceivedAt: in.now,
		})
		accepted = append(accepted, documentLine{Filename: a.Filename, Type: a.SniffedType, Size: humanSize(a.Size)})
	}
	for _, w := range in.msg.DroppedAttachments {
		if mayAdd {
			refused = append(refused, refusedLine{Filename: w.Filename, Why: d.droppedReason(in.lang, w.Reason)})
		}
	}

	if len(accepted) > 0 && req.Open() {
		if req.State == store.StateAwaitingDocuments {
			if err := d.move(in, policy.DocumentsMailed, in.from, "signed form received by mail"); err != nil {
				return result{}, err
			}
		} else if err := in.tx.Audit(in.now, in.from, req.ID, "documents_added", fmt.Sprintf("%d more documents", len(accepted))); err != nil {
			return result{}, err
		}
		if err := d.queue(in, notice{kind: "documents_received", to: []string{req.Applicant}, ccOperators: true,
			data: &documentsReceived{Documents: accepted}}); err != nil {
			return result{}, err
		}
	}
	if len(refused) > 0 && mayAdd {
		if err := d.queue(in, notice{kind: "document_refused", to: []string{in.from}, ccOperators: true, data: &documentRefused{
			Refused: refused, MaxAttachment: humanSize(d.cfg.Limits.MaxAttachmentBytes),
		}}); err != nil {
			return result{}, err
		}
	}
	if len(accepted) == 0 && len(refused) == 0 || !req.Open() && len(accepted) > 0 {
		data := &replyReceived{Quoted: unquoted(in.msg.Text)}
		if fromApplicant {
			data.State = stateText(in.lang, req.State)
		} else if len(in.msg.Attachments) > 0 && !mayAdd {
			data.State = "-"
			data.Greeting = greetingFor(in.lang, "")
			data.Note = map[string]string{"ja": "添付ファイルは、申請者ご本人のアドレスから送られたものだけを受け付けます。このメールの添付ファイルは保存していません。",
				"en": "Attachments are accepted only from the applicant's own address; the ones in this mail were not kept."}[in.lang]
		} else {
			// Someone else on the thread learns nothing about the request.
			data.State = "-"
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

// move carries out the policy table's transition of event on the request
// in hand, when the mail proves what the table asks, with its audit line.
func (d *Desk) move(in *inbound, event policy.Event, actor, why string) error {
	req := in.request
	t, err := d.rules.Move(policyKind(req), req.State, event, in)
	if err != nil {
		return err
	}
	from := req.State
	if err := in.tx.SetRequestState(req, t.To, in.now, t.Closes); err != nil {
		return err
	}
	if err := in.tx.Audit(in.now, actor, req.ID, "state", fmt.Sprintf("%s -> %s (%s by %s): %s", from, t.To, event, t.By, why)); err != nil {
		return err
	}
	d.emit("state", req.Reference, "%s: %s -> %s (%s)", req.Reference, from, t.To, why)
	return nil
}

// isStaffOf reports whether addr is the registration staff of the
// institution the request names.
func (d *Desk) isStaffOf(req *store.Request, addr string) bool {
	staff := d.institutionStaff(req.Fields["institution"])
	return staff != nil && strings.EqualFold(staff.Staff, addr)
}

// documentBudget is how many more bytes of documents the request may keep
// from this sender: the lesser of what is left of the request's cap and
// of the sender's daily cap.
func (d *Desk) documentBudget(in *inbound, req *store.Request) (int64, error) {
	stored, err := in.tx.DocumentBytes(req.ID)
	if err != nil {
		return 0, err
	}
	sent, err := in.tx.CountedSince(counterDocumentBytes, in.from, in.now.Add(-24*time.Hour))
	if err != nil {
		return 0, err
	}
	return max(0, min(d.cfg.Limits.DocumentBytesPerRequest-stored, d.cfg.Limits.DocumentBytesPerSenderPerDay-sent)), nil
}
