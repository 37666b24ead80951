package desk

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/facility"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// The facility connection service desk (seed 004): a provisional
// application by mail, the main application with the number mailed back,
// phone verification by operators, approval with the user and VPN IDs,
// and the national cancer registry filing service.
const (
	KindFacilityApplication = string(forms.KindFacilityApplication)
	KindFacilityService     = string(forms.KindFacilityService)

	reasonFacility = "facility"
	// The service the filing service application names.
	filingService = "全国がん登録届出サービス"
	tokenDigits   = 10
)

// facilityNew handles a new mail to the facility desk: a service
// application, an initial password change, or else a provisional
// application (any mail from an address that is not a mobile carrier's).
func (d *Desk) facilityNew(in *inbound) (result, error) {
	form := in.form()
	in.secrets = secretValues(form)
	switch form.Kind {
	case forms.KindFacilityService:
		return d.facilityServiceApplication(in, form)
	case forms.KindFacilityPassword:
		return d.facilityPasswordChange(in, form)
	}
	if facility.IsMobile(in.from, d.cfg.Facility.MobileDomains) {
		if err := d.queue(in, notice{kind: "facility_mobile_refused", to: []string{in.from}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reasonFacility+": mobile carrier address refused")
	}
	over, n, err := d.spend(in, counterFacilityRequests, d.cfg.Limits.CodeRequestsPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		return d.tooManyRequests(in, reasonFacility, fmt.Sprintf("%d provisional applications from %s in the last hour", n, in.from))
	}
	req, err := d.openRequest(in, &store.Request{Kind: KindFacilityApplication, Fields: map[string]string{}})
	if err != nil {
		return result{}, err
	}
	token, expires, err := in.tx.IssueRequestToken(req.ID, tokenDigits, in.now, d.cfg.Facility.TokenValidFor)
	if err != nil {
		return result{}, err
	}
	d.emit("state", req.Reference, "new request %s: provisional facility application from %s -> %s", req.Reference, in.from, req.State)
	blank := forms.Blank(forms.KindFacilityApplication, in.lang)
	blank = strings.Replace(blank, "仮申請番号: \n", "仮申請番号: "+token+"\n", 1)
	blank = strings.Replace(blank, "Provisional number: \n", "Provisional number: "+token+"\n", 1)
	if err := d.queue(in, notice{kind: "facility_url", to: []string{in.from}, sensitive: true, data: &facilityURL{
		Form: blank, ExpiresAt: expires,
	}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonFacility+": provisional application "+req.Reference)
}

// facilityReply handles the applicant's mail on an application's thread:
// the main application while the number is outstanding, otherwise an
// inquiry (such as "no call within two weeks") that operators see.
func (d *Desk) facilityReply(in *inbound) (result, error) {
	req := in.request
	if req.Kind != KindFacilityApplication || req.State != store.StateTokenSent {
		return d.applicantReply(in)
	}
	form := in.form()
	in.secrets = secretValues(form)
	if !strings.EqualFold(in.from, req.Applicant) {
		// The filing address is the one of the provisional application.
		if err := d.queue(in, notice{kind: "lifecycle_refused", to: []string{in.from}, data: &lifecycleRefused{Title: d.title(forms.KindFacilityApplication, in.lang)}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reasonFacility+": main application from another address")
	}
	token := digitsOnly(form.Fields["token"])
	check, err := in.tx.CheckRequestToken(req.ID, token, in.now)
	if err != nil {
		return result{}, err
	}
	if check == store.TokenExpired || check == store.TokenUsed {
		if err := d.move(in, policy.TokenExpired, "desk", "the number of the provisional application expired"); err != nil {
			return result{}, err
		}
		if err := d.queue(in, notice{kind: "facility_token_expired", to: []string{in.from}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, reasonFacility+": number expired")
	}
	var problems []rules.Problem
	if check == store.TokenWrong {
		problems = append(problems, rules.Problem{Field: "token", Code: "facility.token",
			JA: "仮申請番号が正しくありません。利用申請URLのご案内に記載の番号をご記入ください。",
			EN: "The provisional number is not correct; copy it from our first mail."})
	}
	fields, ps := d.checkFacilityApplication(form.Fields)
	problems = append(problems, ps...)
	if len(problems) > 0 {
		spec, _ := forms.SpecFor(forms.KindFacilityApplication)
		title := spec.TitleJA
		if in.lang == "en" {
			title = spec.TitleEN
		}
		blank := forms.Blank(forms.KindFacilityApplication, in.lang)
		if err := d.queue(in, notice{kind: "request_invalid", to: []string{in.from}, data: &formProblems{
			Title: title, Problems: lines(forms.KindFacilityApplication, in.lang, problems), Form: blank}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, fmt.Sprintf("%s: main application refused (%d problems)", reasonFacility, len(problems)))
	}
	fields["email"] = req.Applicant
	in.proved.token = check == store.TokenOK
	if err := in.tx.UseRequestToken(req.ID, in.now); err != nil {
		return result{}, err
	}
	if err := in.tx.SetRequestFields(req, fields); err != nil {
		return result{}, err
	}
	if err := d.move(in, policy.TokenConfirmed, in.from, "main application received: "+fields["facility"]); err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "facility_received", to: []string{in.from}, ccOperators: true, data: &facilityReceived{
		Summary: facilitySummary(fields)}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonFacility+": main application "+req.Reference)
}

func facilitySummary(f map[string]string) []string {
	return []string{
		"都道府県: " + f["prefecture"], "医療機関名: " + f["facility"],
		"施設管理者氏名: " + f["manager_name"] + "（" + f["manager_kana"] + "）",
		"申請者氏名: " + f["applicant_name"] + "（" + f["applicant_kana"] + "）",
		"施設内部署: " + f["facility_department"], "施設内役職: " + f["facility_title"],
		"届出用メールアドレス: " + f["email"], "施設代表電話番号: " + f["phone"], "内線番号: " + f["extension"],
	}
}

// checkFacilityApplication applies the main application's rules; every
// problem is named by field.
func (d *Desk) checkFacilityApplication(f map[string]string) (map[string]string, []rules.Problem) {
	out := map[string]string{}
	var problems []rules.Problem
	pref, ps := facility.ParsePrefecture("prefecture", f["prefecture"])
	problems = append(problems, ps...)
	out["prefecture"] = pref
	if q := strings.TrimSpace(f["facility"]); q == "" {
		problems = append(problems, rules.Required("facility", q)...)
	} else if pref != "" && d.facilities != nil {
		found := d.facilities.Search(pref, q)
		switch len(found) {
		case 0:
			problems = append(problems, rules.Problem{Field: "facility", Code: "facility.not_found",
				JA: fmt.Sprintf("「%s」に一致する医療機関が%sにありません（該当の施設なし）。%sの担当部署にお問い合わせください。", q, pref, pref),
				EN: fmt.Sprintf("No facility in %s matches %q. Please ask the office in charge in %s.", pref, q, pref)})
		case 1:
			out["facility"], out["facility_code"] = found[0].Name, found[0].Code
		default:
			var names []string
			for i, e := range found {
				if i == 20 {
					names = append(names, fmt.Sprintf("…ほか%d件", len(found)-20))
					break
				}
				names = append(names, e.Name)
			}
			problems = append(problems, rules.Problem{Field: "facility", Code: "facility.several",
				JA: "複数の医療機関が一致しました。次の中から正確な名称をご記入ください: " + strings.Join(names, "、"),
				EN: "Several facilities match; write the exact name of one of: " + strings.Join(names, ", ")})
		}
	}
	for _, k := range []string{"manager_name", "applicant_name"} {
		v := strings.TrimSpace(norm.NFKC.String(f[k]))
		problems = append(problems, rules.Required(k, v)...)
		out[k] = v
	}
	for _, k := range []string{"manager_kana", "applicant_kana"} {
		v, ps := facility.CheckKatakana(k, f[k])
		problems = append(problems, ps...)
		out[k] = v
	}
	for _, k := range []string{"facility_department", "facility_title"} {
		v := strings.TrimSpace(f[k])
		if v == "" {
			problems = append(problems, rules.Problem{Field: k, Code: "required",
				JA: "ご記入ください（ない場合は「なし」）。", EN: "Required (write なし if there is none)."})
		}
		out[k] = v
	}
	phone, ps := facility.CheckPhone("phone", f["phone"])
	problems = append(problems, ps...)
	out["phone"] = phone
	ext, ps := facility.CheckExtension("extension", f["extension"])
	problems = append(problems, ps...)
	out["extension"] = ext
	if _, ps := facility.Agreed("agreement", f["agreement"]); len(ps) > 0 {
		problems = append(problems, ps...)
	}
	return out, problems
}

// approveFacility issues the user ID and VPN-ID of a phone-verified
// application. The 6-digit initial password goes to the operators only:
// it is given by phone, never by mail to the applicant.
func (d *Desk) approveFacility(in *inbound, actor string) error {
	req := in.request
	if req.State != store.StateVerified {
		return errRefused{
			"電話での確認がまだ記録されていません。確認後に phone-verified（電話確認済み）を送ってから承認してください。",
			"The phone verification is not recorded yet. Send phone-verified after the call, then approve.",
		}
	}
	initial, err := store.NewCodeDigits(6)
	if err != nil {
		return err
	}
	hash, err := d.hasher.Hash(initial)
	if err != nil {
		return err
	}
	f := req.Fields
	u := &store.FacilityUser{Prefecture: f["prefecture"], Facility: f["facility"], FacilityCode: f["facility_code"],
		Email: req.Applicant, Name: f["applicant_name"], Role: "filing_manager", PasswordHash: hash, RequestID: req.ID, CreatedAt: in.now}
	for {
		if u.UserID, err = store.NewCodeDigits(8); err != nil {
			return err
		}
		vpn, err := store.NewCodeDigits(8)
		if err != nil {
			return err
		}
		u.VPNID = "vpn" + vpn
		if u.UserID[0] == '0' {
			continue // an 8-digit ID reads as one only without a leading zero
		}
		taken, err := in.tx.FacilityIDsTaken(u.UserID, u.VPNID)
		if err != nil {
			return err
		}
		if !taken {
			break
		}
	}
	if err := in.tx.CreateFacilityUser(u); err != nil {
		return err
	}
	if err := d.move(in, policy.Approve, actor, "user ID "+u.UserID+" issued for "+u.Facility); err != nil {
		return err
	}
	if err := d.queue(in, notice{kind: "facility_approved", to: []string{req.Applicant}, ccOperators: true, data: &facilityApproved{
		UserID: u.UserID, VPNID: u.VPNID, Facility: u.Facility, PasswordChangeURL: d.cfg.Facility.PasswordChangeURL}}); err != nil {
		return err
	}
	return d.queue(in, notice{kind: "facility_initial_password", to: []string{in.from}, sensitive: true, lang: d.cfg.Desk.Language,
		data: &facilityInitialPassword{UserID: u.UserID, InitialPassword: initial, Facility: u.Facility, Applicant: f["applicant_name"],
			Phone: f["phone"], Extension: f["extension"]}})
}

// facilityServiceApplication takes the filing manager's application for
// the national cancer registry filing service.
func (d *Desk) facilityServiceApplication(in *inbound, form forms.Form) (result, error) {
	uid := digitsOnly(form.Fields["facility_user_id"])
	var problems []rules.Problem
	if len(uid) != 8 {
		problems = append(problems, rules.Problem{Field: "facility_user_id", Code: "facility.user_id",
			JA: "利用者IDは数字8桁です（利用申請承認のご案内に記載）。", EN: "The user ID is 8 digits (in the approval notice)."})
	}
	service := strings.TrimSpace(norm.NFKC.String(form.Fields["service"]))
	if !strings.Contains(service, "がん登録") && !strings.Contains(strings.ToLower(service), "cancer registry") {
		problems = append(problems, rules.Problem{Field: "service", Code: "facility.service",
			JA: "申請できるサービスは「" + filingService + "」です。", EN: "The service that can be applied for is " + filingService + "."})
	}
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindFacilityService, problems, reasonFacility)
	}
	u, err := in.tx.FacilityUserByUserID(uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return result{}, err
	}
	if u == nil || !strings.EqualFold(u.Email, in.from) {
		return d.notFromHolder(in, forms.KindFacilityService, reasonFacility)
	}
	req := &store.Request{Kind: KindFacilityService,
		Fields: map[string]string{"facility_user_id": uid, "service": filingService, "facility": u.Facility}}
	if _, err := d.openRequest(in, req); err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "facility_service_received", to: []string{in.from}, ccOperators: true,
		data: &facilityService{UserID: uid, Facility: u.Facility}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonFacility+": service application "+req.Reference)
}

// approveFacilityService starts the filing service for the user.
func (d *Desk) facilityServiceDecision(in *inbound, actor string, event policy.Event) error {
	req := in.request
	u, err := in.tx.FacilityUserByUserID(req.Fields["facility_user_id"])
	if err != nil {
		return err
	}
	active := map[policy.Event]string{policy.Approve: "active", policy.Cancel: "cancelled"}[event]
	if err := in.tx.SetFacilityService(u.ID, filingService, active, req.ID, in.now); err != nil {
		return err
	}
	if err := d.move(in, event, actor, filingService+" "+active+" for "+u.UserID); err != nil {
		return err
	}
	kind := "facility_service_approved"
	if event == policy.Cancel {
		kind = "facility_service_cancelled"
	}
	return d.queue(in, notice{kind: kind, to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
		data: &facilityService{UserID: u.UserID, Facility: u.Facility}})
}

// facilityPasswordChange replaces the initial password: the facility
// desk's own rule (8 or more with letters, digits and symbols).
func (d *Desk) facilityPasswordChange(in *inbound, form forms.Form) (result, error) {
	f := form.Fields
	uid := digitsOnly(f["facility_user_id"])
	problems := rules.Required("current_password", f["current_password"])
	if pw := f["new_password"]; pw == "" {
		problems = append(problems, rules.Required("new_password", pw)...)
	} else {
		problems = append(problems, rules.CheckFacilityPassword("new_password", pw)...)
		if f["new_password_confirm"] != pw {
			problems = append(problems, application.ConfirmMismatch("new_password_confirm"))
		}
	}
	if len(problems) > 0 {
		return d.formRefused(in, forms.KindFacilityPassword, problems, reasonFacility)
	}
	u, err := in.tx.FacilityUserByUserID(uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return result{}, err
	}
	ok := false
	if u != nil && strings.EqualFold(u.Email, in.from) {
		// Verifying costs a hash too: it counts against the same cap.
		capped, err := d.spendHash(in)
		if err != nil {
			return result{}, err
		}
		if capped {
			return d.tooManyRequests(in, reasonFacility, "password checks for "+in.from+" this hour")
		}
		ok, _ = d.hasher.Verify(f["current_password"], u.PasswordHash)
	}
	if !ok {
		// Which of ID, address or password was wrong is not told.
		return d.formRefused(in, forms.KindFacilityPassword, []rules.Problem{{Field: "current_password", Code: "facility.login",
			JA: "利用者ID・現在のパスワード・送信元のアドレスの組み合わせを確認できませんでした。",
			EN: "The user ID, current password and sending address do not match our records."}}, reasonFacility)
	}
	hash, capped, err := d.hashFor(in, f["new_password"])
	if err != nil {
		return result{}, err
	}
	if capped {
		return d.tooManyRequests(in, reasonFacility, "password hashes for "+in.from+" this hour")
	}
	if err := in.tx.SetFacilityPassword(u.ID, hash); err != nil {
		return result{}, err
	}
	if err := in.tx.Audit(in.now, in.from, 0, "facility_password_changed", u.UserID); err != nil {
		return result{}, err
	}
	if err := d.queue(in, notice{kind: "facility_password_changed", to: []string{in.from}, data: &facilityPasswordChanged{UserID: u.UserID}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, reasonFacility+": initial password changed for "+u.UserID)
}
