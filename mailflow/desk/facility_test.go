package desk_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

func facilityHarness(t *testing.T) *harness {
	t.Helper()
	list := filepath.Join(t.TempDir(), "facilities.csv")
	csv := "都道府県,医療機関名,コード\n東京都,国立がん研究センター中央病院,131001\n東京都,がん研有明病院,131002\n東京都,ＡＢＣクリニック,131003\n大阪府,大阪国際がんセンター,271001\n"
	if err := os.WriteFile(list, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return newHarness(t, withConfig("service: facility\nlimits: {replies_per_sender_per_hour: 50}\nfacility: {facility_list: "+list+", password_change_url: https://mio.example/ikss/}\n"))
}

var (
	ganRef      = regexp.MustCompile(`\[(GAN-\d{4}-\d{6})\]`)
	tokenLine   = regexp.MustCompile(`仮申請番号: (\d{10})`)
	userIDLine  = regexp.MustCompile(`利用者ID: (\d{8})`)
	initialLine = regexp.MustCompile(`初期パスワード: (\d{6})`)
)

func mainApplication(token string, changes map[string]string) string {
	f := map[string]string{
		"仮申請番号": token, "都道府県": "東京", "医療機関名": "有明", "施設管理者氏名": "医療 太郎", "施設管理者氏名(全角フリカナ)": "イリョウ タロウ",
		"申請者氏名": "医療 一郎", "申請者氏名(全角フリカナ)": "イリョウ イチロウ", "施設内部署": "医事課", "施設内役職": "課長",
		"施設代表電話番号": "012-123-1234", "内線番号": "1234", "利用規約への同意": "同意する",
	}
	for k, v := range changes {
		f[k] = v
	}
	var b strings.Builder
	b.WriteString("申請種別: 利用本申請\n")
	for _, k := range []string{"仮申請番号", "都道府県", "医療機関名", "施設管理者氏名", "施設管理者氏名(全角フリカナ)", "申請者氏名", "申請者氏名(全角フリカナ)",
		"施設内部署", "施設内役職", "施設代表電話番号", "内線番号", "利用規約への同意"} {
		b.WriteString(k + ": " + f[k] + "\n")
	}
	return b.String()
}

// provisional sends the provisional application and returns the notice
// with the number.
func (h *harness) provisional(from string) (sent, string) {
	h.t.Helper()
	h.deliver(samples.Mail{From: from, Subject: "利用申請"})
	h.once()
	n := h.only(from)
	m := tokenLine.FindStringSubmatch(n.Body)
	if m == nil {
		h.t.Fatalf("no number in %s\n%s", n.Subject, n.Body)
	}
	return n, m[1]
}

func (h *harness) reply(n sent, from, body string) sent {
	h.t.Helper()
	h.deliver(samples.Mail{From: from, Subject: "Re: " + n.Subject, InReplyTo: n.MessageID, Body: body})
	h.once()
	return h.only(from)
}

// A mobile carrier's address is refused with the reason.
func TestFacilityMobileAddressRefused(t *testing.T) {
	h := facilityHarness(t)
	for _, from := range []string{"taro@docomo.ne.jp", "x@i.softbank.jp", "y@ezweb.ne.jp"} {
		h.deliver(samples.Mail{From: from, Subject: "申請"})
		h.once()
		contains(t, from, h.only(from).Body, "携帯電話などのメールアドレス")
	}
}

// The whole application: provisional, a main application with every kind
// of problem, the corrected one, phone verification, approval with the
// user and VPN IDs; the initial password reaches operators only.
func TestFacilityApplicationFlow(t *testing.T) {
	h := facilityHarness(t)
	applicant := "iji@ariake-hosp.example"
	first, token := h.provisional(applicant)
	contains(t, "provisional", first.Subject, "【医療機関オンライン接続サービス】利用申請URLのご案内")

	bad := h.reply(first, applicant, mainApplication(token, map[string]string{
		"申請者氏名(全角フリカナ)": "ｲﾘｮｳ ｲﾁﾛｳ", "利用規約への同意": "", "施設代表電話番号": "123-4567", "施設内役職": "",
	}))
	contains(t, "problems", bad.Body, "半角カタカナ", "利用規約への同意", "施設代表電話番号", "施設内役職", "「なし」")

	several := h.reply(first, applicant, mainApplication(token, map[string]string{"医療機関名": "がん"}))
	contains(t, "several", several.Body, "国立がん研究センター中央病院", "がん研有明病院")
	none := h.reply(first, applicant, mainApplication(token, map[string]string{"医療機関名": "存在しない病院"}))
	contains(t, "none", none.Body, "該当の施設なし", "東京都の担当部署")

	// Width and case do not matter: ｸﾘﾆｯｸ finds クリニック, abc finds ＡＢＣ.
	got := h.reply(first, applicant, mainApplication(token, map[string]string{"医療機関名": "abcｸﾘﾆｯｸ"}))
	contains(t, "received", got.Subject, "利用申請受付のご案内")
	contains(t, "received", got.Body, "ＡＢＣクリニック", applicant, "2週間")
	if !containsAddr(got.Cc, operator) {
		t.Errorf("operators not copied: %v", got.Cc)
	}
	ref := ganRef.FindStringSubmatch(got.Subject)[1]

	// The applicant's "no call yet" mail is threaded onto the application.
	inquiry := h.reply(got, applicant, "2週間たっても電話がありません。")
	if !containsAddr(inquiry.Cc, operator) || !strings.Contains(inquiry.Subject, ref) {
		t.Errorf("inquiry not threaded to operators: %s cc %v", inquiry.Subject, inquiry.Cc)
	}

	h.deliver(operatorMail(ref, "approve\n"))
	h.once()
	contains(t, "early approve", h.only(operator).Body, "電話での確認がまだ記録されていません")
	h.deliver(operatorMail(ref, "電話確認済み\n"))
	h.once()
	h.fresh()
	h.deliver(operatorMail(ref, "承認\n"))
	h.once()
	var approved, toOperator sent
	for _, n := range h.fresh() {
		switch {
		case containsAddr(n.To, applicant):
			approved = n
		case containsAddr(n.To, operator) && strings.Contains(n.Subject, "初期パスワード"):
			toOperator = n
		}
	}
	contains(t, "approved", approved.Subject, "利用申請承認のご案内")
	contains(t, "approved", approved.Body, "VPN-ID: vpn", "https://mio.example/ikss/", "お電話でお知らせします")
	if userIDLine.FindStringSubmatch(approved.Body) == nil {
		t.Errorf("no 8-digit user ID:\n%s", approved.Body)
	}
	m := initialLine.FindStringSubmatch(toOperator.Body)
	if m == nil {
		t.Fatalf("operators did not get the initial password:\n%s", toOperator.Body)
	}
	if len(toOperator.Cc) != 0 || containsAddr(toOperator.Envelope, applicant) {
		t.Errorf("the initial password notice went to %v cc %v", toOperator.Envelope, toOperator.Cc)
	}
	initial := m[1]
	for _, r := range h.sink.Messages() {
		if containsAddr(r.To, applicant) && strings.Contains(mustText(r.Data), initial) {
			t.Fatalf("the initial password reached the applicant")
		}
	}

	// The filing manager changes the initial password under the desk's own rule.
	uid := userIDLine.FindStringSubmatch(approved.Body)[1]
	change := "申請種別: 初期パスワード変更\n利用者ID(数字8桁): " + uid + "\n現在のパスワード: " + initial + "\n新しいパスワード: %s\n新しいパスワード(確認): %s\n"
	h.deliver(samples.Mail{From: applicant, Subject: "pw", Body: strings.ReplaceAll(change, "%s", "abcdefgh1")})
	h.once()
	contains(t, "weak facility password", h.only(applicant).Body, "記号")
	h.deliver(samples.Mail{From: applicant, Subject: "pw", Body: strings.ReplaceAll(change, "%s", "Ariake#2026x")})
	h.once()
	contains(t, "changed", h.only(applicant).Subject, "パスワードを変更しました")
	assertSecretNowhere(t, h, "Ariake#2026x")

	// The national cancer registry filing service: received, approved;
	// a second application cancelled.
	service := "申請種別: サービス利用申請\n利用者ID(数字8桁): " + uid + "\n利用するサービス: 全国がん登録届出サービス\n"
	h.deliver(samples.Mail{From: applicant, Subject: "サービス", Body: service})
	h.once()
	sr := h.only(applicant)
	contains(t, "service received", sr.Subject, "サービス利用申請受付のご案内")
	h.deliver(operatorMail(ganRef.FindStringSubmatch(sr.Subject)[1], "approve\n"))
	h.once()
	var serviceApproved bool
	for _, n := range h.fresh() {
		serviceApproved = serviceApproved || strings.Contains(n.Subject, "サービス利用申請承認のご案内")
	}
	if !serviceApproved {
		t.Error("no service approval notice")
	}
	h.deliver(samples.Mail{From: applicant, Subject: "サービス", Body: service})
	h.once()
	sr2 := h.only(applicant)
	h.deliver(operatorMail(ganRef.FindStringSubmatch(sr2.Subject)[1], "取消\n"))
	h.once()
	var cancelled bool
	for _, n := range h.fresh() {
		cancelled = cancelled || strings.Contains(n.Subject, "サービス利用申請取消のご案内")
	}
	if !cancelled {
		t.Error("no cancellation notice")
	}
}

// The number expires; a rejected application says how to apply again.
func TestFacilityExpiredNumberAndRejection(t *testing.T) {
	h := facilityHarness(t)
	first, token := h.provisional("a@hosp-a.example")
	h.now = h.now.Add(25 * time.Hour)
	late := h.reply(first, "a@hosp-a.example", mainApplication(token, nil))
	contains(t, "expired", late.Subject, "有効期限が切れました")

	first, token = h.provisional("b@hosp-b.example")
	got := h.reply(first, "b@hosp-b.example", mainApplication(token, nil))
	ref := ganRef.FindStringSubmatch(got.Subject)[1]
	h.deliver(operatorMail(ref, "reject: 申請者に電話がつながりませんでした\n"))
	h.once()
	var rejected sent
	for _, n := range h.fresh() {
		if containsAddr(n.To, "b@hosp-b.example") {
			rejected = n
		}
	}
	contains(t, "rejected", rejected.Subject, "利用申請却下のご案内")
	contains(t, "rejected", rejected.Body, "電話がつながりませんでした", "仮申請から")
}
