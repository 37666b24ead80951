package desk

import (
	"errors"
	"fmt"
	"html"
	"strings"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
)

// KindStatus is a status inquiry and form reprint (001 FAQ 1.6, 1.7, 2.2).
const KindStatus = string(forms.KindStatus)

// statusLine is one request in a status report.
type statusLine struct {
	Ref, Title, State, Missing string
}

// status answers with the state of the sender's own requests: the one
// named by reference, or every open one from the sender's address. A
// request of someone else is reported exactly like no request at all.
func (d *Desk) status(in *inbound, form forms.Form) (result, error) {
	var reqs []*store.Request
	if ref := d.referenceIn("[" + strings.TrimSpace(form.Fields["reference"]) + "]"); ref != "" {
		r, err := in.tx.RequestByReference(ref)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return result{}, err
		}
		if err == nil && d.mayKnow(in, r) {
			reqs = append(reqs, r)
		}
	} else {
		var err error
		if reqs, err = in.tx.OpenRequestsOf(in.from); err != nil {
			return result{}, err
		}
	}
	var lines []statusLine
	var files []store.NoticeAttachment
	for _, r := range reqs {
		lines = append(lines, statusLine{Ref: r.Reference, Title: d.title(forms.Kind(r.Kind), in.lang),
			State: stateText(in.lang, r.State), Missing: missingText(in.lang, r)})
		if r.Open() && r.State == store.StateAwaitingDocuments {
			files = append(files, d.printableForm(r))
		}
	}
	if err := d.queue(in, notice{kind: "status_report", to: []string{in.from}, attachments: files,
		data: &statusReport{Requests: lines}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, fmt.Sprintf("status inquiry: %d requests reported", len(lines)))
}

// mayKnow: only the applicant (or the account's registered addresses)
// learn about a request.
func (d *Desk) mayKnow(in *inbound, r *store.Request) bool {
	if strings.EqualFold(r.Applicant, in.from) {
		return true
	}
	if r.AccountID != 0 {
		if a, err := in.tx.AccountByID(r.AccountID); err == nil {
			return containsFold(d.registeredAddresses(a), in.from)
		}
	}
	return false
}

// missingText says what a request still waits for.
func missingText(lang string, r *store.Request) string {
	if !r.Open() {
		return ""
	}
	ja := map[string]string{
		store.StateAwaitingDocuments: "署名した申請書（添付の書式を印刷して署名し、FAXまたはスキャンを返信で）",
		store.StateDocumentsReceived: "担当者の確認（お待ちください）",
		store.StateUnderReview:       "担当者の確認（お待ちください）",
		store.StateCodeSent:          "アクセスコードの入力（コードを送ったメールへの返信で。期限切れの場合は最初から）",
	}
	en := map[string]string{
		store.StateAwaitingDocuments: "the signed form (print the attached form, sign it, and FAX it or reply with a scan)",
		store.StateDocumentsReceived: "our staff's review (please wait)",
		store.StateUnderReview:       "our staff's review (please wait)",
		store.StateCodeSent:          "the access code (reply to the mail that carried it; start again if it expired)",
	}
	if r.Kind == KindIndiceReset && r.State == store.StateAwaitingDocuments {
		ja[r.State] = "署名した申請書のFAX（添付の書式を印刷して署名し、FAXで）"
		en[r.State] = "the signed form by FAX (print the attached form, sign it and FAX it)"
	}
	if lang == "en" {
		return en[r.State]
	}
	return ja[r.State]
}

// printableForm is the form to sign for a request, as an HTML page the
// applicant prints from any browser: the request's details, the
// signature lines and where to send it.
func (d *Desk) printableForm(r *store.Request) store.NoticeAttachment {
	lang := r.Lang
	spec, _ := forms.SpecFor(forms.Kind(r.Kind))
	title := spec.TitleJA
	if lang == "en" {
		title = spec.TitleEN
	}
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=%q><head><meta charset=\"utf-8\"><title>%s %s</title>\n", lang, esc(title), esc(r.Reference))
	b.WriteString("<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #444;padding:.4em .8em;text-align:left}table{border-collapse:collapse}.sign{height:4em;width:20em}</style></head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>%s: <strong>%s</strong></p>\n<table>\n", esc(d.cfg.Desk.Name+" "+title), map[bool]string{true: "Reference", false: "受付番号"}[lang == "en"], esc(r.Reference))
	for _, f := range spec.Fields {
		v, ok := r.Fields[f.Key]
		if f.Secret || !ok || v == "" {
			continue
		}
		label := f.JA
		if lang == "en" {
			label = f.EN
		}
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(label), esc(v))
	}
	if r.DesiredID != "" && r.Fields["desired_id"] == "" {
		fmt.Fprintf(&b, "<tr><th>ID</th><td>%s</td></tr>\n", esc(r.DesiredID))
	}
	b.WriteString("</table>\n")
	if lang == "en" {
		b.WriteString("<p>I apply as stated above.</p>\n<table><tr><th>Signature of the applicant</th><td class=sign></td></tr>\n" +
			"<tr><th>Superior's signature and seal (or attach a copy of an identity document)</th><td class=sign></td></tr>\n")
		if r.Kind == KindIndiceReset {
			b.WriteString("<tr><th>Group representative's signature (group-representative IDs only)</th><td class=sign></td></tr>\n")
		}
		fmt.Fprintf(&b, "</table>\n<p>Send by FAX to %s with the reference in the margin", esc(d.cfg.Desk.Fax))
		if r.Kind != KindIndiceReset {
			b.WriteString(", or reply to our mail with a scan (PDF, JPEG, PNG)")
		}
		b.WriteString(".</p>\n")
	} else {
		b.WriteString("<p>上記のとおり申請します。</p>\n<table><tr><th>本人の自署</th><td class=sign></td></tr>\n" +
			"<tr><th>上司の署名・捺印（または本人の身分証明書のコピーを添付）</th><td class=sign></td></tr>\n")
		if r.Kind == KindIndiceReset {
			b.WriteString("<tr><th>団体の代表者の署名（団体代表用IDの場合）</th><td class=sign></td></tr>\n")
		}
		fmt.Fprintf(&b, "</table>\n<p>受付番号を余白にご記入のうえ、FAX %s へお送りください", esc(d.cfg.Desk.Fax))
		if r.Kind != KindIndiceReset {
			b.WriteString("（またはスキャンをメールへの返信に添付）")
		}
		b.WriteString("。</p>\n")
	}
	b.WriteString("</body></html>\n")
	return store.NoticeAttachment{Filename: r.Reference + ".html", ContentType: "text/html; charset=utf-8", Data: []byte(b.String())}
}
