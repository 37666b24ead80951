package desk

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/rules"
	"github.com/madoguchi/madoguchi/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files of the notices (testdata/golden)")

// goldenCase is one rendering of a notice: name is the golden file's name,
// the notice kind or "kind.variant" for another branch of its template.
type goldenCase struct {
	name string
	// noFax renders with a desk that has no FAX number.
	noFax bool
	// noRef: the notice belongs to no request, so its subject has no tag.
	noRef bool
	// data builds the notice's data; nil for a notice that shows nothing
	// but what every notice does.
	data func(s goldenSample) noticeData
}

func (c goldenCase) kind() string { return strings.SplitN(c.name, ".", 2)[0] }

// goldenSample is the fixed sample data of one language.
type goldenSample struct {
	d    *Desk
	lang string
	name string // the applicant
}

func (s goldenSample) en() bool { return s.lang == "en" }

func (s goldenSample) pick(ja, en string) string {
	if s.en() {
		return en
	}
	return ja
}

func (s goldenSample) title(kind forms.Kind) string { return s.d.title(kind, s.lang) }

func (s goldenSample) blank(kind forms.Kind) string { return forms.Blank(kind, s.lang) }

func (s goldenSample) problems(kind forms.Kind, ps ...rules.Problem) []problemLine {
	return lines(kind, s.lang, ps)
}

var (
	goldenZone  = goldenLocation("Asia/Tokyo")
	goldenNow   = time.Date(2026, 11, 24, 19, 5, 0, 0, goldenZone)
	goldenRef   = "MDG-2026-000123"
	goldenCode  = "0123456789"
	goldenStaff = &config.Institution{Name: "東都大学病院", Staff: "touroku@toto-u.example"}
)

func goldenLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

var (
	goldenProblemPassword = rules.Problem{Field: "password", Code: "password.no_upper",
		JA: "先頭8文字に英大文字を1文字以上含めてください。", EN: "The first 8 characters need an upper-case letter."}
	goldenProblemBirth  = rules.Problem{Field: "birth_date", Code: "required", JA: "ご記入ください。", EN: "Required."}
	goldenWarningDigits = rules.Problem{Field: "desired_id", Code: "id.digits", Warning: true,
		JA: "数字を含むIDはおすすめしません。", EN: "Digits in an ID are allowed but discouraged."}
	goldenWarningNewID = rules.Problem{Field: "new_id", Code: "id.digits", Warning: true,
		JA: "数字を含むIDはおすすめしません。", EN: "Digits in an ID are allowed but discouraged."}
)

// goldenCases are every notice, with a variant for each branch that says
// something different.
func goldenCases() []goldenCase {
	inTenMinutes := goldenNow.Add(10 * time.Minute)
	codeRefusedCase := func(status string, left int, stillValid bool) func(s goldenSample) noticeData {
		return func(s goldenSample) noticeData {
			n := &codeRefused{Status: status, TriesLeft: left, Title: s.title(forms.KindPasswordReset), Form: s.blank(forms.KindPasswordReset)}
			if stillValid {
				n.ExpiresAt = inTenMinutes
			}
			return n
		}
	}
	confirmCodeCase := func(kind forms.Kind, fill func(s goldenSample, n *confirmCode)) func(s goldenSample) noticeData {
		return func(s goldenSample) noticeData {
			n := &confirmCode{ID: "yamada-tr", Title: s.title(kind), accessCode: s.d.accessCode(goldenCode, inTenMinutes)}
			fill(s, n)
			return n
		}
	}
	// fixed is for data that is the same in both languages; it is built
	// anew for each rendering because render fills in its common part.
	fixed := func(n func() noticeData) func(goldenSample) noticeData {
		return func(goldenSample) noticeData { return n() }
	}
	return []goldenCase{
		{name: "address_confirm_code", data: func(s goldenSample) noticeData {
			return &addressConfirmCode{ID: "yamada-tr", Title: s.title(forms.KindAffiliation), accessCode: s.d.accessCode(goldenCode, inTenMinutes)}
		}},
		{name: "affiliation_done", data: fixed(func() noticeData {
			return &affiliationDone{ID: "yamada-tr", Affiliation: "東都大学病院 第一内科"}
		})},
		{name: "affiliation_done.new_address", data: fixed(func() noticeData {
			return &affiliationDone{ID: "yamada-tr", Affiliation: "東都大学病院 第一内科",
				NewAddress: "taro.yamada@toto-u.example", PreviousAddressUntil: goldenNow.Add(30 * 24 * time.Hour)}
		})},
		{name: "affiliation_done.staff", data: fixed(func() noticeData {
			return &affiliationDone{ID: "yamada-tr", Affiliation: "東都大学病院 第一内科", Staff: goldenStaff}
		})},
		{name: "already_pending", data: func(s goldenSample) noticeData {
			return &alreadyPending{common: common{Ref: "MDG-2026-000100"}, Title: s.title(forms.KindOperatorReset)}
		}},
		{name: "application_expired", data: func(s goldenSample) noticeData {
			return &FormReminder{Title: s.title(forms.KindNewID), Deadline: goldenNow}
		}},
		{name: "approved", data: fixed(func() noticeData {
			return &approved{ID: "yamada-tr", PasswordActiveFrom: goldenNow.Add(7 * 24 * time.Hour), PasswordActiveBy: goldenNow.Add(10 * 24 * time.Hour)}
		})},
		{name: "blank_forms", noRef: true, data: func(s goldenSample) noticeData {
			return &blankForms{Note: s.pick("お送りいただいたメールから、申請の種類を判別できませんでした。", "We could not tell which request your mail is."),
				Forms: []string{s.blank(forms.KindNewID)}, Kinds: s.d.otherKinds(s.lang)}
		}},
		{name: "blank_forms.empty", noRef: true, data: func(s goldenSample) noticeData {
			return &blankForms{Forms: []string{s.blank(forms.KindNewID)}, Kinds: s.d.otherKinds(s.lang)}
		}},
		{name: "blank_forms.title", noRef: true, data: func(s goldenSample) noticeData {
			return &blankForms{Title: s.title(forms.KindRename), Forms: []string{s.blank(forms.KindRename)}, Kinds: s.d.otherKinds(s.lang)}
		}},
		{name: "bulk_refused", noRef: true, data: func(s goldenSample) noticeData {
			return &bulkRefused{Filename: "touroku-2026-11.csv",
				Reason: s.pick("1行目に「希望ID」の列がありません。", "The first line has no column \"desired ID\".")}
		}},
		{name: "bulk_result", noRef: true, data: fixed(func() noticeData {
			return &bulkResult{Filename: "touroku-2026-11.csv", RowsTotal: 120, RowsCreated: 117, RowsRefused: 3}
		})},
		{name: "code_refused", data: codeRefusedCase(codeNoRequest, 0, false)},
		{name: "code_refused.done", data: codeRefusedCase(codeDone, 0, false)},
		{name: "code_refused.expired", data: codeRefusedCase(codeExpired, 0, false)},
		{name: "code_refused.locked", data: codeRefusedCase(codeLocked, 0, false)},
		{name: "code_refused.missing", data: codeRefusedCase(codeMissing, 3, true)},
		{name: "code_refused.unchecked", data: codeRefusedCase(codeUnchecked, 3, true)},
		{name: "code_refused.wrong", data: codeRefusedCase(codeWrong, 2, true)},
		{name: "code_refused.wrong_sender", data: codeRefusedCase(codeWrongSender, 3, true)},
		{name: "code_refused.wrong_unproved", data: codeRefusedCase(codeWrongUnproved, 3, true)},
		{name: "confirm_code.affiliation", data: confirmCodeCase(forms.KindAffiliation, func(s goldenSample, n *confirmCode) {
			n.Changes = []string{"東都大学病院 第一内科", "taro.yamada@toto-u.example"}
		})},
		{name: "confirm_code.deletion", data: confirmCodeCase(forms.KindDeletion, func(goldenSample, *confirmCode) {})},
		{name: "confirm_code.deletion_spam", data: confirmCodeCase(forms.KindDeletion, func(s goldenSample, n *confirmCode) { n.Spam = true })},
		{name: "confirm_code.rename", data: confirmCodeCase(forms.KindRename, func(s goldenSample, n *confirmCode) {
			n.NewID, n.Forwarding, n.Warnings = "yamada-taro2", true, s.problems(forms.KindRename, goldenWarningNewID)
		})},
		{name: "confirm_code.rename_no_forwarding", data: confirmCodeCase(forms.KindRename, func(s goldenSample, n *confirmCode) { n.NewID = "yamada-taro" })},
		{name: "deletion_done", data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "deletion_received", data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "affiliation_form_received", data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "affiliation_form_received.no_fax", noFax: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "deletion_received.no_fax", noFax: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "digest", noRef: true, data: fixed(func() noticeData {
			return &Digest{Day: goldenNow, Report: "2026-11-23 の処理\n  新規ID申請: 受付 12 / 承認 9 / 却下 1\n  送信できなかった通知: 0"}
		})},
		{name: "document_refused", data: func(s goldenSample) noticeData {
			return &documentRefused{MaxAttachment: humanSize(s.d.cfg.Limits.MaxAttachmentBytes), Refused: []refusedLine{
				{Filename: "form.docx", Why: s.d.refusalReason(s.lang, "application/zip", "application/msword", true)},
				{Filename: "scan.pdf", Why: s.d.droppedReason(s.lang, "broken base64")},
			}}
		}},
		{name: "document_refused.no_fax", noFax: true, data: func(s goldenSample) noticeData {
			return &documentRefused{MaxAttachment: humanSize(s.d.cfg.Limits.MaxAttachmentBytes), Refused: []refusedLine{
				{Filename: "form.docx", Why: s.d.refusalReason(s.lang, "application/zip", "application/msword", true)}}}
		}},
		{name: "documents_received", data: fixed(func() noticeData {
			return &documentsReceived{Documents: []documentLine{
				{Filename: "signed-form.pdf", Type: "application/pdf", Size: humanSize(186_000)},
				{Filename: "id-card.jpg", Type: "image/jpeg", Size: humanSize(1_300_000)}}}
		})},
		{name: "documents_received.fax", data: fixed(func() noticeData { return &documentsReceived{ViaFax: true} })},
		{name: "facility_approved", data: fixed(func() noticeData {
			return &facilityApproved{UserID: "41234567", VPNID: "vpn80123456", Facility: "東都大学病院",
				PasswordChangeURL: "https://vpn.gan-touroku.example/password"}
		})},
		{name: "facility_approved.no_url", data: fixed(func() noticeData {
			return &facilityApproved{UserID: "41234567", VPNID: "vpn80123456", Facility: "東都大学病院"}
		})},
		{name: "facility_initial_password", data: fixed(func() noticeData {
			return &facilityInitialPassword{UserID: "41234567", InitialPassword: "012345", Facility: "東都大学病院", Applicant: "山田 花子",
				Phone: "03-1234-5678", Extension: "4321"}
		})},
		{name: "facility_mobile_refused", noRef: true},
		{name: "facility_password_changed", noRef: true, data: fixed(func() noticeData { return &facilityPasswordChanged{UserID: "41234567"} })},
		{name: "facility_received", data: fixed(func() noticeData {
			return &facilityReceived{Summary: facilitySummary(map[string]string{
				"prefecture": "東京都", "facility": "東都大学病院", "manager_name": "鈴木 一郎", "manager_kana": "スズキ イチロウ",
				"applicant_name": "山田 花子", "applicant_kana": "ヤマダ ハナコ", "facility_department": "医事課", "facility_title": "主任",
				"email": "iji@toto-u.example", "phone": "03-1234-5678", "extension": "4321"})}
		})},
		{name: "facility_rejected", data: fixed(func() noticeData {
			return &rejection{Reason: "お電話で申請の事実を確認できませんでした。"}
		})},
		{name: "facility_service_approved", data: fixed(func() noticeData { return &facilityService{UserID: "41234567", Facility: "東都大学病院"} })},
		{name: "facility_service_cancelled", data: fixed(func() noticeData { return &facilityService{UserID: "41234567", Facility: "東都大学病院"} })},
		{name: "facility_service_received", data: fixed(func() noticeData { return &facilityService{UserID: "41234567", Facility: "東都大学病院"} })},
		{name: "facility_token_expired"},
		{name: "facility_url", data: func(s goldenSample) noticeData {
			blank := strings.Replace(s.blank(forms.KindFacilityApplication), "仮申請番号: \n", "仮申請番号: 482913\n", 1)
			blank = strings.Replace(blank, "Provisional number: \n", "Provisional number: 482913\n", 1)
			return &facilityURL{Form: blank, ExpiresAt: goldenNow.Add(7 * 24 * time.Hour)}
		}},
		{name: "facility_verify_reminder", data: fixed(func() noticeData {
			return &VerifyReminder{Facility: "東都大学病院", Applicant: "山田 花子", Days: 14}
		})},
		{name: "forwarding_ended", noRef: true, data: fixed(func() noticeData {
			return &ForwardingEnd{OldID: "yamada-tr", NewID: "yamada-taro", EndsAt: goldenNow}
		})},
		{name: "forwarding_ending", noRef: true, data: fixed(func() noticeData {
			return &ForwardingEnd{OldID: "yamada-tr", NewID: "yamada-taro", EndsAt: goldenNow.Add(30 * 24 * time.Hour)}
		})},
		{name: "indice_not_issued", noRef: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "indice_reset_received", data: func(s goldenSample) noticeData {
			return &reviewedResetReceived{Name: s.name, Scope: scopeIndice}
		}},
		{name: "indice_reset_received.both", data: func(s goldenSample) noticeData {
			return &reviewedResetReceived{Name: s.name, ID: "yamada-tr", Scope: scopeBoth}
		}},
		{name: "indice_reset_received.no_fax", noFax: true, data: func(s goldenSample) noticeData {
			return &reviewedResetReceived{Name: s.name, ID: "yamada-tr", Scope: scopeIndice}
		}},
		{name: "lifecycle_refused", noRef: true, data: func(s goldenSample) noticeData { return &lifecycleRefused{Title: s.title(forms.KindRename)} }},
		{name: "message_refused", noRef: true, data: func(s goldenSample) noticeData {
			return &messageRefused{OriginalSubject: "申請書の送付",
				Reason: s.pick("メールが大きすぎます（上限 25.0 MB）。", "The mail is too large (at most 25.0 MB).")}
		}},
		{name: "need_documents", data: fixed(func() noticeData {
			return &needDocuments{Needed: "本人確認書類の写し（運転免許証など）"}
		})},
		{name: "need_documents.no_fax", noFax: true, data: fixed(func() noticeData {
			return &needDocuments{Needed: "本人確認書類の写し（運転免許証など）"}
		})},
		{name: "new_id_already_pending", data: fixed(func() noticeData { return &plain{common{Ref: "MDG-2026-000100"}} })},
		{name: "new_id_existing_account", noRef: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "new_id_invalid", noRef: true, data: func(s goldenSample) noticeData {
			return &formProblems{Problems: s.problems(forms.KindNewID, goldenProblemPassword, goldenProblemBirth), Form: s.blank(forms.KindNewID)}
		}},
		{name: "new_id_invalid.warnings", noRef: true, data: func(s goldenSample) noticeData {
			return &formProblems{Problems: s.problems(forms.KindNewID, goldenProblemPassword), Warnings: s.problems(forms.KindNewID, goldenWarningDigits),
				Form: s.blank(forms.KindNewID)}
		}},
		{name: "new_id_received", data: func(s goldenSample) noticeData { return &newIDReceived{Name: s.name, DesiredID: "yamada-tr"} }},
		{name: "new_id_received.no_fax", noFax: true, data: func(s goldenSample) noticeData {
			return &newIDReceived{Name: s.name, DesiredID: "yamada-tr"}
		}},
		{name: "new_id_received.staff", data: func(s goldenSample) noticeData {
			return &newIDReceived{Name: s.name, DesiredID: "yamada-tr2", Staff: goldenStaff, Warnings: s.problems(forms.KindNewID, goldenWarningDigits)}
		}},
		{name: "operator_identity_match.account", data: fixed(func() noticeData {
			return &operatorIdentityMatch{DesiredID: "yamada-taro", HolderID: "yamada-tr"}
		})},
		{name: "operator_identity_match.pending", data: fixed(func() noticeData {
			return &operatorIdentityMatch{DesiredID: "yamada-taro", PendingRef: "MDG-2026-000100"}
		})},
		{name: "operator_not_obeyed", noRef: true, data: fixed(func() noticeData {
			return &operatorNotObeyed{OriginalSubject: "Re: [MDG-2026-000123] 新規ID申請を受け付けました", FirstLine: "approve",
				Reason: "no aligned dkim, spf or dmarc pass from mx.madoguchi.test", AuthservID: "mx.madoguchi.test"}
		})},
		{name: "operator_reset_received", data: func(s goldenSample) noticeData {
			return &reviewedResetReceived{Name: s.name, ID: "yamada-tr"}
		}},
		{name: "operator_reset_received.no_fax", noFax: true, data: func(s goldenSample) noticeData {
			return &reviewedResetReceived{Name: s.name}
		}},
		{name: "operator_result", data: func(s goldenSample) noticeData {
			r := &store.Request{Kind: KindNewID, State: store.StateDocumentsReceived}
			return &operatorResult{Command: "documents-received", Result: s.pick("書類受領を記録しました。", "Documents recorded as received."),
				State: stateText(s.lang, r.State), Commands: s.d.commandLines(s.lang, r)}
		}},
		{name: "rejected", data: fixed(func() noticeData { return &rejection{Reason: "所属機関を確認できませんでした。"} })},
		{name: "reminder", data: func(s goldenSample) noticeData {
			return &FormReminder{Title: s.title(forms.KindNewID), Deadline: goldenNow.Add(30 * 24 * time.Hour)}
		}},
		{name: "reminder.staff", data: func(s goldenSample) noticeData {
			return &FormReminder{Title: s.title(forms.KindNewID), Deadline: goldenNow.Add(30 * 24 * time.Hour), Staff: goldenStaff}
		}},
		{name: "rename_done", data: fixed(func() noticeData {
			return &renameDone{OldID: "yamada-tr", NewID: "yamada-taro", Forwarding: true, ForwardingUntil: goldenNow.Add(365 * 24 * time.Hour)}
		})},
		{name: "rename_done.no_forwarding", data: fixed(func() noticeData { return &renameDone{OldID: "yamada-tr", NewID: "yamada-taro"} })},
		{name: "rename_too_soon", noRef: true, data: fixed(func() noticeData {
			return &renameTooSoon{ID: "yamada-tr", RenamedAt: goldenNow.Add(-100 * 24 * time.Hour), NextRename: goldenNow.Add(265 * 24 * time.Hour)}
		})},
		{name: "reply_received", data: func(s goldenSample) noticeData {
			return &replyReceived{State: stateText(s.lang, store.StateAwaitingDocuments), Quoted: "申請書はFAXで送りました。\n届いているでしょうか。"}
		}},
		{name: "reply_received.no_quote", data: func(s goldenSample) noticeData {
			return &replyReceived{State: stateText(s.lang, store.StateDocumentsReceived)}
		}},
		{name: "reply_received.stranger", data: func(s goldenSample) noticeData {
			return &replyReceived{common: common{Greeting: greetingFor(s.lang, "")}, State: "-", Quoted: "scan attached",
				Note: s.pick("添付ファイルは、申請者ご本人のアドレスから送られたものだけを受け付けます。このメールの添付ファイルは保存していません。",
					"Attachments are accepted only from the applicant's own address; the ones in this mail were not kept.")}
		}},
		{name: "request_invalid", noRef: true, data: func(s goldenSample) noticeData {
			return &formProblems{Title: s.title(forms.KindRename), Form: s.blank(forms.KindRename),
				Problems: s.problems(forms.KindRename, rules.Problem{Field: "new_id", JA: "現在のIDと同じです。", EN: "It is the same as the current ID."}),
				Warnings: s.problems(forms.KindRename, goldenWarningNewID)}
		}},
		{name: "reset_approved.both", data: fixed(func() noticeData {
			return &resetApproved{ID: "yamada-tr", PasswordActiveAt: goldenNow.Add(time.Hour), Scope: scopeBoth}
		})},
		{name: "reset_approved.indice", data: fixed(func() noticeData {
			return &resetApproved{ID: "yamada-tr", PasswordActiveAt: goldenNow.Add(time.Hour), Scope: scopeIndice}
		})},
		{name: "reset_approved.operator_reset", data: fixed(func() noticeData {
			return &resetApproved{ID: "yamada-tr", PasswordActiveAt: goldenNow.Add(time.Hour), OperatorReset: true}
		})},
		{name: "reset_code", data: func(s goldenSample) noticeData {
			return &resetCode{ID: "yamada-tr", accessCode: s.d.accessCode(goldenCode, inTenMinutes), Form: s.blank(forms.KindAccessCode)}
		}},
		{name: "reset_code_sent"},
		{name: "reset_done", data: fixed(func() noticeData { return &resetDone{ID: "yamada-tr", PasswordActiveAt: goldenNow.Add(time.Hour)} })},
		{name: "reset_failed", noRef: true, data: func(s goldenSample) noticeData { return &resetFailed{Form: s.blank(forms.KindOperatorReset)} }},
		{name: "reset_password_invalid", data: func(s goldenSample) noticeData {
			return &resetPasswordInvalid{ExpiresAt: inTenMinutes, Form: s.blank(forms.KindAccessCode),
				Problems: s.problems(forms.KindAccessCode, rules.Problem{Field: "new_password", JA: "IDの文字列を含んでいます。", EN: "It contains the ID."})}
		}},
		{name: "review_approved.handover", data: func(s goldenSample) noticeData {
			return &review{ID: "naika-jimu", NewHolder: "佐藤 次郎", Title: s.title(forms.KindHandover)}
		}},
		{name: "review_approved.merge", data: func(s goldenSample) noticeData {
			return &review{ID: "yamada-tr", MergedIDs: []string{"yamada-t", "tyamada"}, Title: s.title(forms.KindMerge)}
		}},
		{name: "review_received.handover", data: func(s goldenSample) noticeData {
			return &review{ID: "naika-jimu", NewHolder: "佐藤 次郎", Title: s.title(forms.KindHandover)}
		}},
		{name: "review_received.merge", data: func(s goldenSample) noticeData {
			return &review{ID: "yamada-tr", MergedIDs: []string{"yamada-t", "tyamada"}, Title: s.title(forms.KindMerge)}
		}},
		{name: "status_report", noRef: true, data: func(s goldenSample) noticeData {
			waiting := &store.Request{Kind: KindNewID, State: store.StateAwaitingDocuments}
			done := &store.Request{Kind: KindRename, State: store.StateCompleted, ClosedAt: goldenNow}
			return &statusReport{Requests: []statusLine{
				{Ref: goldenRef, Title: s.title(forms.KindNewID), State: stateText(s.lang, waiting.State), Missing: missingText(s.lang, waiting)},
				{Ref: "MDG-2026-000100", Title: s.title(forms.KindRename), State: stateText(s.lang, done.State), Missing: missingText(s.lang, done)},
			}}
		}},
		{name: "status_report.none", noRef: true, data: fixed(func() noticeData { return &statusReport{} })},
		{name: "too_many_requests", noRef: true},
	}
}

// goldenDesks are a desk with a FAX number and one without, as the sample
// configuration sets them.
func goldenDesks(t *testing.T) (withFax, noFax *Desk) {
	t.Helper()
	desk := func(fax string) *Desk {
		cfg, err := config.Parse([]byte(`desk: {address: touroku@madoguchi.test, name: ID登録窓口, domain: id.madoguchi.test, timezone: Asia/Tokyo, reference_prefix: MDG, fax: "`+fax+`"}
imap: {address: "127.0.0.1:1", tls: none, username: desk, password: pw}
smtp: {address: "127.0.0.1:1", tls: none}
database: {path: unused.db}
operators: [ops@madoguchi.test]
operator_auth: {authserv_id: mx.madoguchi.test}
`), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := templates.Load("", cfg.Desk.Location)
		if err != nil {
			t.Fatal(err)
		}
		return New(Options{Config: cfg, Templates: tmpl})
	}
	return desk("03-0000-0000"), desk("")
}

// Every notice in both languages, rendered with fixed sample data, is
// compared with its golden file, so that a change of wording or of the
// data a template receives shows as a diff. go test -run Golden -update
// rewrites them.
func TestNoticesGolden(t *testing.T) {
	withFax, noFax := goldenDesks(t)
	cases := goldenCases()
	byKind := map[string]bool{}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Errorf("golden case %s is listed twice", c.name)
		}
		names[c.name] = true
		byKind[c.kind()] = true
	}
	templateNames := withFax.tmpl.Names()
	isTemplate := map[string]bool{}
	for _, n := range templateNames {
		isTemplate[n] = true
		if !byKind[n] {
			t.Errorf("template %s has no golden case: add one to goldenCases", n)
		}
	}
	for _, c := range cases {
		if !isTemplate[c.kind()] {
			t.Errorf("golden case %s names no template %s", c.name, c.kind())
		}
	}
	for _, lang := range []string{"ja", "en"} {
		dir := filepath.Join("testdata", "golden", lang)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cases {
			if !isTemplate[c.kind()] {
				continue
			}
			d := withFax
			if c.noFax {
				d = noFax
			}
			got, err := renderGolden(d, c, lang)
			if err != nil {
				t.Errorf("%s/%s: %v", lang, c.name, err)
				continue
			}
			if strings.Contains(got, "<no value>") {
				t.Errorf("%s/%s shows <no value>:\n%s", lang, c.name, got)
			}
			path := filepath.Join(dir, c.name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: no golden file (go test ./mailflow/desk -run Golden -update writes it): %v", path, err)
				continue
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendered notice (- golden, + rendered; -update rewrites it):\n%s", path, goldenDiff(string(want), got))
			}
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".txt")
			if names[name] && isTemplate[strings.SplitN(name, ".", 2)[0]] {
				continue
			}
			if *update {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("golden file %s has no template or case (-update removes it)", f)
		}
	}
}

// renderGolden renders a case the way queue does, with the greeting of
// the sample applicant unless the case sets its own.
func renderGolden(d *Desk, c goldenCase, lang string) (string, error) {
	s := goldenSample{d: d, lang: lang, name: map[string]string{"ja": "山田 太郎", "en": "Taro Yamada"}[lang]}
	n := notice{kind: c.kind(), lang: lang, data: &plain{}}
	if c.data != nil {
		n.data = c.data(s)
	}
	shared := n.data.shared()
	if shared.Greeting == "" {
		shared.Greeting = greetingFor(lang, s.name)
	}
	if shared.Ref == "" && !c.noRef {
		shared.Ref = goldenRef
	}
	subject, body, err := d.render(&n)
	if err != nil {
		return "", err
	}
	return "Subject: " + subject + "\n\n" + body, nil
}

// goldenDiff shows the lines that differ between want and got, with a line
// of context, from their longest common subsequence.
func goldenDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var out []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, line{' ', a[i]})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, line{'+', b[j]})
			j++
		default:
			out = append(out, line{'-', a[i]})
			i++
		}
	}
	var sb strings.Builder
	shown := -1
	for k, l := range out {
		near := false
		for m := max(0, k-1); m <= min(len(out)-1, k+1); m++ {
			near = near || out[m].op != ' '
		}
		if !near {
			continue
		}
		if shown >= 0 && k > shown+1 {
			sb.WriteString("  ...\n")
		}
		fmt.Fprintf(&sb, "%c %s\n", l.op, l.text)
		shown = k
	}
	return sb.String()
}
