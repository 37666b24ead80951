package desk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/rules"
	"github.com/madoguchi/madoguchi/templates"
)

// CheckTemplates renders every notice and each of its variants in both
// languages with sample data, through set as the desk would. A broken
// override (a misspelt field, a bad pipeline) thus stops the start with its
// file named, instead of failing every notice of its kind later.
func CheckTemplates(set *templates.Set, cfg *config.Config) error {
	problems := TemplateProblems(set, cfg)
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("templates.dir: notices do not render with sample data:\n%w", errors.Join(problems...))
}

// TemplateProblems is CheckTemplates' list: one error per template file
// and language that fails to render a sample, naming the override when
// there is one. It also names a templates.dir that is not a directory and
// the files in it that override no notice (a misspelt name is never used).
func TemplateProblems(set *templates.Set, cfg *config.Config) []error {
	var problems []error
	dir := cfg.Templates.Dir
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			problems = append(problems, fmt.Errorf("%s is not a directory of overrides (%s/ja/NAME.txt, %s/en/NAME.txt)", dir, dir, dir))
		}
	}
	noFax := *cfg
	noFax.Desk.Fax = ""
	desks := map[bool]*Desk{false: New(Options{Config: cfg, Templates: set}), true: New(Options{Config: &noFax, Templates: set})}
	notices := map[string]bool{}
	for _, n := range set.Names() {
		notices[n] = true
	}
	for _, lang := range []string{"ja", "en"} {
		// A broken shared piece (the footer) breaks every notice that
		// includes it: one problem per file that fails, not per notice.
		var failed []string
		first := map[string]error{}
		others := map[string]int{}
		for _, c := range noticeSamples() {
			if !notices[c.kind()] {
				continue
			}
			out, err := renderSample(desks[c.noFax], c, lang)
			if err == nil && strings.Contains(out, "<no value>") {
				err = errors.New("shows <no value>: a field the notice's data does not have")
			}
			if err == nil {
				continue
			}
			name := c.kind()
			if m := failedTemplate.FindStringSubmatch(err.Error()); m != nil {
				name = m[1]
			}
			file := templateFile(dir, lang, name)
			if _, seen := first[file]; seen {
				others[file]++
				continue
			}
			failed = append(failed, file)
			first[file] = fmt.Errorf("%s (sample %s): %w", file, c.name, err)
		}
		for _, file := range failed {
			err := first[file]
			if n := others[file]; n > 0 {
				err = fmt.Errorf("%w (and %d more samples fail there)", err, n)
			}
			problems = append(problems, err)
		}
		if dir == "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, lang, "*.txt"))
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".txt")
			if !notices[name] && !strings.HasPrefix(name, "_") {
				problems = append(problems, fmt.Errorf("%s overrides no notice (the notices are the files of templates/%s)", f, lang))
			}
		}
	}
	return problems
}

// failedTemplate finds the template that failed in a text/template
// execution error ("template: _footer:1:2: executing ...").
var failedTemplate = regexp.MustCompile(`template: ([^:\s]+):\d+`)

// templateFile names the file a notice was read from: the override when
// there is one, else the built-in template.
func templateFile(dir, lang, kind string) string {
	if dir != "" {
		override := filepath.Join(dir, lang, kind+".txt")
		if _, err := os.Stat(override); err == nil {
			return override
		}
	}
	return "built-in template " + lang + "/" + kind + ".txt"
}

// noticeSample is one rendering of a notice with sample data: name is the
// notice kind, or "kind.variant" for another branch of its template (and
// the name of its golden file in testdata/golden).
type noticeSample struct {
	name string
	// noFax renders with a desk that has no FAX number.
	noFax bool
	// noRef: the notice belongs to no request, so its subject has no tag.
	noRef bool
	// data builds the notice's data; nil for a notice that shows nothing
	// but what every notice does.
	data func(s sampleData) noticeData
}

func (c noticeSample) kind() string { return strings.SplitN(c.name, ".", 2)[0] }

// sampleData is the fixed sample data of one language.
type sampleData struct {
	d    *Desk
	lang string
	name string // the applicant
}

func (s sampleData) en() bool { return s.lang == "en" }

func (s sampleData) pick(ja, en string) string {
	if s.en() {
		return en
	}
	return ja
}

func (s sampleData) title(kind forms.Kind) string { return s.d.title(kind, s.lang) }

func (s sampleData) blank(kind forms.Kind) string { return forms.Blank(kind, s.lang) }

func (s sampleData) problems(kind forms.Kind, ps ...rules.Problem) []problemLine {
	return lines(kind, s.lang, ps)
}

var (
	// A fixed zone: the daemon must not depend on the system's zone data
	// to start (times are shown in the desk's zone anyway).
	sampleZone  = time.FixedZone("JST", 9*60*60)
	sampleNow   = time.Date(2026, 11, 24, 19, 5, 0, 0, sampleZone)
	sampleRef   = "MDG-2026-000123"
	sampleCode  = "0123456789"
	sampleStaff = &config.Institution{Name: "東都大学病院", Staff: "touroku@toto-u.example"}
)

var (
	sampleProblemPassword = rules.Problem{Field: "password", Code: "password.no_upper",
		JA: "先頭8文字に英大文字を1文字以上含めてください。", EN: "The first 8 characters need an upper-case letter."}
	sampleProblemBirth  = rules.Problem{Field: "birth_date", Code: "required", JA: "ご記入ください。", EN: "Required."}
	sampleWarningDigits = rules.Problem{Field: "desired_id", Code: "id.digits", Warning: true,
		JA: "数字を含むIDはおすすめしません。", EN: "Digits in an ID are allowed but discouraged."}
	sampleWarningNewID = rules.Problem{Field: "new_id", Code: "id.digits", Warning: true,
		JA: "数字を含むIDはおすすめしません。", EN: "Digits in an ID are allowed but discouraged."}
)

// noticeSamples are every notice, with a variant for each branch that says
// something different.
func noticeSamples() []noticeSample {
	inTenMinutes := sampleNow.Add(10 * time.Minute)
	codeRefusedCase := func(status string, left int, stillValid bool) func(s sampleData) noticeData {
		return func(s sampleData) noticeData {
			n := &codeRefused{Status: status, TriesLeft: left, Title: s.title(forms.KindPasswordReset), Form: s.blank(forms.KindPasswordReset)}
			if stillValid {
				n.ExpiresAt = inTenMinutes
			}
			return n
		}
	}
	confirmCodeCase := func(kind forms.Kind, fill func(s sampleData, n *confirmCode)) func(s sampleData) noticeData {
		return func(s sampleData) noticeData {
			n := &confirmCode{ID: "yamada-tr", Title: s.title(kind), accessCode: s.d.accessCode(sampleCode, inTenMinutes)}
			fill(s, n)
			return n
		}
	}
	// fixed is for data that is the same in both languages; it is built
	// anew for each rendering because render fills in its common part.
	fixed := func(n func() noticeData) func(sampleData) noticeData {
		return func(sampleData) noticeData { return n() }
	}
	return []noticeSample{
		{name: "address_confirm_code", data: func(s sampleData) noticeData {
			return &addressConfirmCode{ID: "yamada-tr", Title: s.title(forms.KindAffiliation), accessCode: s.d.accessCode(sampleCode, inTenMinutes)}
		}},
		{name: "affiliation_done", data: fixed(func() noticeData {
			return &affiliationDone{ID: "yamada-tr", Affiliation: "東都大学病院 第一内科"}
		})},
		{name: "affiliation_done.new_address", data: fixed(func() noticeData {
			return &affiliationDone{ID: "yamada-tr", Affiliation: "東都大学病院 第一内科",
				NewAddress: "taro.yamada@toto-u.example", PreviousAddressUntil: sampleNow.Add(30 * 24 * time.Hour)}
		})},
		{name: "affiliation_done.staff", data: fixed(func() noticeData {
			return &affiliationDone{ID: "yamada-tr", Affiliation: "東都大学病院 第一内科", Staff: sampleStaff}
		})},
		{name: "already_pending", data: func(s sampleData) noticeData {
			return &alreadyPending{common: common{Ref: "MDG-2026-000100"}, Title: s.title(forms.KindOperatorReset)}
		}},
		{name: "application_expired", data: func(s sampleData) noticeData {
			return &FormReminder{Title: s.title(forms.KindNewID), Deadline: sampleNow}
		}},
		{name: "approved", data: fixed(func() noticeData {
			return &approved{ID: "yamada-tr", PasswordActiveFrom: sampleNow.Add(7 * 24 * time.Hour), PasswordActiveBy: sampleNow.Add(10 * 24 * time.Hour)}
		})},
		{name: "blank_forms", noRef: true, data: func(s sampleData) noticeData {
			return &blankForms{Note: s.pick("お送りいただいたメールから、申請の種類を判別できませんでした。", "We could not tell which request your mail is."),
				Forms: []string{s.blank(forms.KindNewID)}, Kinds: s.d.otherKinds(s.lang)}
		}},
		{name: "blank_forms.empty", noRef: true, data: func(s sampleData) noticeData {
			return &blankForms{Forms: []string{s.blank(forms.KindNewID)}, Kinds: s.d.otherKinds(s.lang)}
		}},
		{name: "blank_forms.title", noRef: true, data: func(s sampleData) noticeData {
			return &blankForms{Title: s.title(forms.KindRename), Forms: []string{s.blank(forms.KindRename)}, Kinds: s.d.otherKinds(s.lang)}
		}},
		{name: "bulk_refused", noRef: true, data: func(s sampleData) noticeData {
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
		{name: "confirm_code.affiliation", data: confirmCodeCase(forms.KindAffiliation, func(s sampleData, n *confirmCode) {
			n.Changes = []string{"東都大学病院 第一内科", "taro.yamada@toto-u.example"}
		})},
		{name: "confirm_code.deletion", data: confirmCodeCase(forms.KindDeletion, func(sampleData, *confirmCode) {})},
		{name: "confirm_code.deletion_spam", data: confirmCodeCase(forms.KindDeletion, func(s sampleData, n *confirmCode) { n.Spam = true })},
		{name: "confirm_code.rename", data: confirmCodeCase(forms.KindRename, func(s sampleData, n *confirmCode) {
			n.NewID, n.Forwarding, n.Warnings = "yamada-taro2", true, s.problems(forms.KindRename, sampleWarningNewID)
		})},
		{name: "confirm_code.rename_no_forwarding", data: confirmCodeCase(forms.KindRename, func(s sampleData, n *confirmCode) { n.NewID = "yamada-taro" })},
		{name: "deletion_done", data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "deletion_received", data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "affiliation_form_received", data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "affiliation_form_received.no_fax", noFax: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "deletion_received.no_fax", noFax: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "digest", noRef: true, data: fixed(func() noticeData {
			return &Digest{Day: sampleNow, Report: "2026-11-23 の処理\n  新規ID申請: 受付 12 / 承認 9 / 却下 1\n  送信できなかった通知: 0"}
		})},
		{name: "document_refused", data: func(s sampleData) noticeData {
			return &documentRefused{MaxAttachment: humanSize(s.d.cfg.Limits.MaxAttachmentBytes), Refused: []refusedLine{
				{Filename: "form.docx", Why: s.d.refusalReason(s.lang, "application/zip", "application/msword", true)},
				{Filename: "scan.pdf", Why: s.d.droppedReason(s.lang, "broken base64")},
			}}
		}},
		{name: "document_refused.no_fax", noFax: true, data: func(s sampleData) noticeData {
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
		{name: "facility_url", data: func(s sampleData) noticeData {
			blank := strings.Replace(s.blank(forms.KindFacilityApplication), "仮申請番号: \n", "仮申請番号: 482913\n", 1)
			blank = strings.Replace(blank, "Provisional number: \n", "Provisional number: 482913\n", 1)
			return &facilityURL{Form: blank, ExpiresAt: sampleNow.Add(7 * 24 * time.Hour)}
		}},
		{name: "facility_verify_reminder", data: fixed(func() noticeData {
			return &VerifyReminder{Facility: "東都大学病院", Applicant: "山田 花子", Days: 14}
		})},
		{name: "forwarding_ended", noRef: true, data: fixed(func() noticeData {
			return &ForwardingEnd{OldID: "yamada-tr", NewID: "yamada-taro", EndsAt: sampleNow}
		})},
		{name: "forwarding_ending", noRef: true, data: fixed(func() noticeData {
			return &ForwardingEnd{OldID: "yamada-tr", NewID: "yamada-taro", EndsAt: sampleNow.Add(30 * 24 * time.Hour)}
		})},
		{name: "inquiry_answer", data: fixed(func() noticeData {
			return &inquiryAnswer{Answer: "ログインテストは成功していますので、ID とパスワードは正しく入力されています。\nご利用の電子ジャーナルには、所属機関からの利用権限の付与が必要です。\n所属機関の図書館にお問い合わせください。"}
		})},
		{name: "inquiry_for_operators", data: func(s sampleData) noticeData {
			return &inquiryForOperators{Asker: "taro@example.ac.jp", Sender: s.pick("当方MXで確認済み", "proved by our MX"),
				Subject: s.pick("ログインできません", "Cannot log in"), State: stateText(s.lang, "awaiting_answer"),
				Question: s.pick("ログインテストは成功しますが、電子ジャーナルのサイトでエラーになります。", "The login test passes, but the journal site refuses me."),
				Fields:   []problemLine{{Label: "URL", Text: "https://journal.example.jp/login"}, {Label: s.pick("エラーメッセージ", "Error message"), Text: "403 Forbidden"}},
				Accounts: []askerAccount{{ID: "yamada-tr", Status: accountStatusText(s.lang, store.AccountActive), Institution: "東都大学", Department: "医学部",
					Created: sampleNow.Add(-400 * 24 * time.Hour), PasswordActiveAt: sampleNow.Add(-390 * 24 * time.Hour)}},
				Requests: []askerRequest{{Ref: "MDG-2026-000099", Title: s.title(forms.KindRename), State: stateText(s.lang, store.StateCodeSent),
					Created: sampleNow.Add(-time.Hour), Updated: sampleNow.Add(-time.Hour)}},
				Documents: []documentLine{{Filename: "screenshot.png", Type: "image/png", Size: "120 KB"}},
				Commands:  s.d.commandLines(s.lang, &store.Request{Kind: KindInquiry, State: "awaiting_answer"})}
		}},
		{name: "inquiry_for_operators.follow_up", data: func(s sampleData) noticeData {
			return &inquiryForOperators{Asker: "taro@example.ac.jp", Sender: s.pick("未確認（From ヘッダーのみ）", "not proved (From header only)"),
				Subject: "Re: [MDG-2026-000123] " + s.pick("お問い合わせへの回答", "Answer to your inquiry"), FollowUp: true,
				State: stateText(s.lang, "awaiting_answer"), Previous: "MDG-2026-000077", Question: s.pick("図書館に確認しましたが、まだ入れません。", "I asked the library; it still fails."),
				Refused:  []refusedLine{{Filename: "movie.mp4", Why: s.pick("ファイルの内容が video/mp4 です", "the content is video/mp4")}},
				Commands: s.d.commandLines(s.lang, &store.Request{Kind: KindInquiry, State: "awaiting_answer"})}
		}},
		{name: "inquiry_received", data: func(s sampleData) noticeData {
			return &inquiryReceived{Question: s.pick("ログインテストは成功しますが、電子ジャーナルのサイトでエラーになります。", "The login test passes, but the journal site refuses me."),
				Kinds: s.d.markerHints(s.lang), MaxAttachment: "5 MB"}
		}},
		{name: "inquiry_received.follow_up", data: func(s sampleData) noticeData {
			return &inquiryReceived{FollowUp: true, Question: s.pick("スクリーンショットを添付します。", "Here is a screenshot."), MaxAttachment: "5 MB",
				Refused: []refusedLine{{Filename: "movie.mp4", Why: s.pick("ファイルの内容が video/mp4 です", "the content is video/mp4")}}}
		}},
		{name: "inquiry_reminder", data: fixed(func() noticeData {
			return &InquiryReminder{Asker: "taro@example.ac.jp", Topic: "ログインテストは成功しますが、電子ジャーナルのサイトでエラーになります。",
				Since: sampleNow.Add(-26 * time.Hour), WorkingHours: 9}
		})},
		{name: "indice_not_issued", noRef: true, data: fixed(func() noticeData { return &aboutID{ID: "yamada-tr"} })},
		{name: "indice_reset_received", data: func(s sampleData) noticeData {
			return &reviewedResetReceived{Name: s.name, Scope: scopeIndice}
		}},
		{name: "indice_reset_received.both", data: func(s sampleData) noticeData {
			return &reviewedResetReceived{Name: s.name, ID: "yamada-tr", Scope: scopeBoth}
		}},
		{name: "indice_reset_received.no_fax", noFax: true, data: func(s sampleData) noticeData {
			return &reviewedResetReceived{Name: s.name, ID: "yamada-tr", Scope: scopeIndice}
		}},
		{name: "lifecycle_refused", noRef: true, data: func(s sampleData) noticeData { return &lifecycleRefused{Title: s.title(forms.KindRename)} }},
		{name: "message_refused", noRef: true, data: func(s sampleData) noticeData {
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
		{name: "new_id_invalid", noRef: true, data: func(s sampleData) noticeData {
			return &formProblems{Problems: s.problems(forms.KindNewID, sampleProblemPassword, sampleProblemBirth), Form: s.blank(forms.KindNewID)}
		}},
		{name: "new_id_invalid.warnings", noRef: true, data: func(s sampleData) noticeData {
			return &formProblems{Problems: s.problems(forms.KindNewID, sampleProblemPassword), Warnings: s.problems(forms.KindNewID, sampleWarningDigits),
				Form: s.blank(forms.KindNewID)}
		}},
		{name: "new_id_received", data: func(s sampleData) noticeData { return &newIDReceived{Name: s.name, DesiredID: "yamada-tr"} }},
		{name: "new_id_received.no_fax", noFax: true, data: func(s sampleData) noticeData {
			return &newIDReceived{Name: s.name, DesiredID: "yamada-tr"}
		}},
		{name: "new_id_received.staff", data: func(s sampleData) noticeData {
			return &newIDReceived{Name: s.name, DesiredID: "yamada-tr2", Staff: sampleStaff, Warnings: s.problems(forms.KindNewID, sampleWarningDigits)}
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
		{name: "operator_reset_received", data: func(s sampleData) noticeData {
			return &reviewedResetReceived{Name: s.name, ID: "yamada-tr"}
		}},
		{name: "operator_reset_received.no_fax", noFax: true, data: func(s sampleData) noticeData {
			return &reviewedResetReceived{Name: s.name}
		}},
		{name: "operator_result", data: func(s sampleData) noticeData {
			r := &store.Request{Kind: KindNewID, State: store.StateDocumentsReceived}
			return &operatorResult{Command: "documents-received", Result: s.pick("書類受領を記録しました。", "Documents recorded as received."),
				State: stateText(s.lang, r.State), Commands: s.d.commandLines(s.lang, r)}
		}},
		{name: "rejected", data: fixed(func() noticeData { return &rejection{Reason: "所属機関を確認できませんでした。"} })},
		{name: "reminder", data: func(s sampleData) noticeData {
			return &FormReminder{Title: s.title(forms.KindNewID), Deadline: sampleNow.Add(30 * 24 * time.Hour)}
		}},
		{name: "reminder.staff", data: func(s sampleData) noticeData {
			return &FormReminder{Title: s.title(forms.KindNewID), Deadline: sampleNow.Add(30 * 24 * time.Hour), Staff: sampleStaff}
		}},
		{name: "rename_done", data: fixed(func() noticeData {
			return &renameDone{OldID: "yamada-tr", NewID: "yamada-taro", Forwarding: true, ForwardingUntil: sampleNow.Add(365 * 24 * time.Hour)}
		})},
		{name: "rename_done.no_forwarding", data: fixed(func() noticeData { return &renameDone{OldID: "yamada-tr", NewID: "yamada-taro"} })},
		{name: "rename_too_soon", noRef: true, data: fixed(func() noticeData {
			return &renameTooSoon{ID: "yamada-tr", RenamedAt: sampleNow.Add(-100 * 24 * time.Hour), NextRename: sampleNow.Add(265 * 24 * time.Hour)}
		})},
		{name: "reply_received", data: func(s sampleData) noticeData {
			return &replyReceived{State: stateText(s.lang, store.StateAwaitingDocuments), Quoted: "申請書はFAXで送りました。\n届いているでしょうか。"}
		}},
		{name: "reply_received.no_quote", data: func(s sampleData) noticeData {
			return &replyReceived{State: stateText(s.lang, store.StateDocumentsReceived)}
		}},
		{name: "reply_received.stranger", data: func(s sampleData) noticeData {
			return &replyReceived{common: common{Greeting: greetingFor(s.lang, "")}, State: "-", Quoted: "scan attached",
				Note: s.pick("添付ファイルは、申請者ご本人のアドレスから送られたものだけを受け付けます。このメールの添付ファイルは保存していません。",
					"Attachments are accepted only from the applicant's own address; the ones in this mail were not kept.")}
		}},
		{name: "request_invalid", noRef: true, data: func(s sampleData) noticeData {
			return &formProblems{Title: s.title(forms.KindRename), Form: s.blank(forms.KindRename),
				Problems: s.problems(forms.KindRename, rules.Problem{Field: "new_id", JA: "現在のIDと同じです。", EN: "It is the same as the current ID."}),
				Warnings: s.problems(forms.KindRename, sampleWarningNewID)}
		}},
		{name: "reset_approved.both", data: fixed(func() noticeData {
			return &resetApproved{ID: "yamada-tr", PasswordActiveAt: sampleNow.Add(time.Hour), Scope: scopeBoth}
		})},
		{name: "reset_approved.indice", data: fixed(func() noticeData {
			return &resetApproved{ID: "yamada-tr", PasswordActiveAt: sampleNow.Add(time.Hour), Scope: scopeIndice}
		})},
		{name: "reset_approved.operator_reset", data: fixed(func() noticeData {
			return &resetApproved{ID: "yamada-tr", PasswordActiveAt: sampleNow.Add(time.Hour), OperatorReset: true}
		})},
		{name: "reset_code", data: func(s sampleData) noticeData {
			return &resetCode{ID: "yamada-tr", accessCode: s.d.accessCode(sampleCode, inTenMinutes), Form: s.blank(forms.KindAccessCode)}
		}},
		{name: "reset_code_sent"},
		{name: "reset_done", data: fixed(func() noticeData { return &resetDone{ID: "yamada-tr", PasswordActiveAt: sampleNow.Add(time.Hour)} })},
		{name: "reset_failed", noRef: true, data: func(s sampleData) noticeData { return &resetFailed{Form: s.blank(forms.KindOperatorReset)} }},
		{name: "reset_password_invalid", data: func(s sampleData) noticeData {
			return &resetPasswordInvalid{ExpiresAt: inTenMinutes, Form: s.blank(forms.KindAccessCode),
				Problems: s.problems(forms.KindAccessCode, rules.Problem{Field: "new_password", JA: "IDの文字列を含んでいます。", EN: "It contains the ID."})}
		}},
		{name: "review_approved.handover", data: func(s sampleData) noticeData {
			return &review{ID: "naika-jimu", NewHolder: "佐藤 次郎", Title: s.title(forms.KindHandover)}
		}},
		{name: "review_approved.merge", data: func(s sampleData) noticeData {
			return &review{ID: "yamada-tr", MergedIDs: []string{"yamada-t", "tyamada"}, Title: s.title(forms.KindMerge)}
		}},
		{name: "review_received.handover", data: func(s sampleData) noticeData {
			return &review{ID: "naika-jimu", NewHolder: "佐藤 次郎", Title: s.title(forms.KindHandover)}
		}},
		{name: "review_received.merge", data: func(s sampleData) noticeData {
			return &review{ID: "yamada-tr", MergedIDs: []string{"yamada-t", "tyamada"}, Title: s.title(forms.KindMerge)}
		}},
		{name: "status_report", noRef: true, data: func(s sampleData) noticeData {
			waiting := &store.Request{Kind: KindNewID, State: store.StateAwaitingDocuments}
			done := &store.Request{Kind: KindRename, State: store.StateCompleted, ClosedAt: sampleNow}
			return &statusReport{Requests: []statusLine{
				{Ref: sampleRef, Title: s.title(forms.KindNewID), State: stateText(s.lang, waiting.State), Missing: missingText(s.lang, waiting)},
				{Ref: "MDG-2026-000100", Title: s.title(forms.KindRename), State: stateText(s.lang, done.State), Missing: missingText(s.lang, done)},
			}}
		}},
		{name: "status_report.none", noRef: true, data: fixed(func() noticeData { return &statusReport{} })},
		{name: "too_many_requests", noRef: true},
	}
}

// renderSample renders a case the way queue does, with the greeting of
// the sample applicant unless the case sets its own.
func renderSample(d *Desk, c noticeSample, lang string) (string, error) {
	s := sampleData{d: d, lang: lang, name: map[string]string{"ja": "山田 太郎", "en": "Taro Yamada"}[lang]}
	n := notice{kind: c.kind(), lang: lang, data: &plain{}}
	if c.data != nil {
		n.data = c.data(s)
	}
	shared := n.data.shared()
	if shared.Greeting == "" {
		shared.Greeting = greetingFor(lang, s.name)
	}
	if shared.Ref == "" && !c.noRef {
		shared.Ref = sampleRef
	}
	subject, body, err := d.render(&n)
	if err != nil {
		return "", err
	}
	return "Subject: " + subject + "\n\n" + body, nil
}
