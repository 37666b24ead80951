package desk_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// seedAccount registers an account as an approved application would.
func (h *harness) seedAccount(login, email, kind string) *store.Account {
	h.t.Helper()
	a := &store.Account{Login: login, Kind: kind, FamilyName: "山田", GivenName: "太郎", FamilyReading: "ヤマダ",
		GivenReading: "タロウ", IdentityKey: "山田|太郎|1985-04-01", Sex: "male", BirthDate: "1985-04-01",
		Email: email, CreatedAt: h.now.Add(-365 * 24 * time.Hour)}
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error { return tx.CreateAccount(a) })
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// requestReset sends the reset form of yamada-tk from addr and returns
// the one notice it gets back (the code, when addr is on record).
func (h *harness) requestReset(addr string) sent {
	h.t.Helper()
	h.deliver(samples.Mail{From: addr, Subject: "reset", Body: samples.ResetForm("yamada-tk")})
	h.once()
	return h.only(addr)
}

// otherCode is a well-formed code that is not code.
func otherCode(code string) string {
	if code == "0000000000" {
		return "1111111111"
	}
	return "0000000000"
}

var codePattern = regexp.MustCompile(`(?:アクセスコード|Access code): (\d{10})`)

func codeIn(t *testing.T, n sent) string {
	t.Helper()
	m := codePattern.FindStringSubmatch(n.Body)
	if m == nil {
		t.Fatalf("no 10-digit code in the notice:\n%s", n.Body)
	}
	return m[1]
}

const newPassword = "Vb4nRt8wQ#z"

// The whole self-service reset: the code goes to the registered address
// and the ID's mailbox, the reply with code and password twice completes
// it, the password is active an hour later, and neither the password nor
// the code is left anywhere.
func TestPasswordResetByAccessCode(t *testing.T) {
	h := newHarness(t)
	acct := h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "山田 太郎 <taro@hosp.example>", Subject: "パスワード再設定", Charset: "iso-2022-jp", Body: samples.ResetForm("yamada-tk")})
	h.once()
	n := h.only("taro@hosp.example")
	if len(n.Envelope) != 2 || !containsAddr(n.To, "yamada-tk@id.madoguchi.test") {
		t.Fatalf("the code went to %v (envelope %v); want the registered address and yamada-tk@id.madoguchi.test", n.To, n.Envelope)
	}
	if len(n.Cc) != 0 {
		t.Errorf("the code notice was copied to %v", n.Cc)
	}
	code := codeIn(t, n)
	contains(t, "code notice", n.Body, "2026-11-24 19:10 JST", "yamada-tk")
	if n.Ref == "" {
		t.Fatal("the code notice has no reference to reply on")
	}

	h.now = h.now.Add(9*time.Minute + 59*time.Second)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Charset: "shift_jis",
		Body: samples.CodeReply(code, newPassword, newPassword), InReplyTo: n.MessageID})
	h.once()
	done := h.only("taro@hosp.example")
	contains(t, "completion notice", done.Subject, "完了")
	contains(t, "completion notice", done.Body, "yamada-tk", "1時間", "INDICE", "一般用パスワード")
	if !containsAddr(done.To, "yamada-tk@id.madoguchi.test") {
		t.Errorf("completion notice went to %v", done.To)
	}
	got, err := h.account("yamada-tk")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secret.Verify(newPassword, got.PasswordHash); !ok {
		t.Error("the stored hash does not verify the new password")
	}
	if want := h.now.Add(time.Hour); !got.PasswordActiveAt.Equal(want.Truncate(time.Second)) {
		t.Errorf("password active at %v, want %v", got.PasswordActiveAt, want)
	}
	if got.IndicePasswordHash != acct.IndicePasswordHash {
		t.Error("the INDICE password changed with the general one")
	}
	if r := h.request(n.Ref); r.State != store.StateCompleted || r.Open() {
		t.Errorf("request %s is %s, open=%v", n.Ref, r.State, r.Open())
	}
	h.inboxEmpty()
	assertSecretNowhere(t, h, newPassword)
	assertCodeGone(t, h, code)
}

// assertCodeGone checks that a used code is in no table, no log and no
// filed message (the notice that carried it had to, until it was sent).
func assertCodeGone(t *testing.T, h *harness, code string) {
	t.Helper()
	rows, err := h.app.Store.Outbox(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no outbox rows")
	}
	err = h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		n, err := tx.CountContaining(code)
		if err == nil && n > 0 {
			t.Errorf("the access code is still stored in %d rows", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.logs.String(), code) {
		t.Error("the access code is in the log")
	}
	for _, folder := range []string{"Processed", "Quarantine"} {
		for _, m := range h.folder(folder) {
			if strings.Contains(string(m), code) || strings.Contains(mustText(m), code) {
				t.Errorf("the access code is in a message in %s", folder)
			}
		}
	}
}

func containsAddr(list []string, addr string) bool {
	for _, a := range list {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// A holder who forgot the ID writes from an unregistered address: the
// code goes only to the registered addresses, the writer is told where it
// went, and the completion notice names the ID.
func TestResetWithForgottenIDFromUnregisteredAddress(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro.home@mail.example", Subject: "password", Body: samples.ResetForm("")})
	h.once()
	got := h.fresh()
	if len(got) != 2 {
		t.Fatalf("want the code notice and the notice to the writer, got %d", len(got))
	}
	var codeNotice, told sent
	for _, s := range got {
		if containsAddr(s.Envelope, "taro.home@mail.example") {
			told = s
		} else {
			codeNotice = s
		}
	}
	if containsAddr(codeNotice.Envelope, "taro.home@mail.example") || !containsAddr(codeNotice.Envelope, "taro@hosp.example") {
		t.Fatalf("code notice envelope %v", codeNotice.Envelope)
	}
	if codePattern.MatchString(told.Body) || strings.Contains(told.Body, "taro@hosp.example") {
		t.Errorf("the unregistered writer learned the code or the registered address:\n%s", told.Body)
	}
	code := codeIn(t, codeNotice)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + codeNotice.Subject, Body: samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	done := h.only("taro@hosp.example")
	contains(t, "completion", done.Body, "ID: yamada-tk")
}

// No match, several matches and a kind that needs review all get the
// same notice: it names every reason and points to the operator reset.
func TestResetFailureDoesNotRevealTheReason(t *testing.T) {
	bodies := map[string]string{}
	for name, setup := range map[string]func(h *harness){
		"no match": func(h *harness) {},
		"several": func(h *harness) {
			h.seedAccount("yamada-tk", "a@x.example", "personal")
			h.seedAccount("yamada-tr", "b@x.example", "personal")
		},
		"needs review":  func(h *harness) { h.seedAccount("lab-office", "c@x.example", "group") },
		"wrong ID only": func(h *harness) { h.seedAccount("yamada-tk", "a@x.example", "personal") },
	} {
		h := newHarness(t)
		setup(h)
		id := ""
		if name == "wrong ID only" {
			id = "yamada-xx"
		}
		h.deliver(samples.Mail{From: "someone@x.example", Subject: "reset", Body: samples.ResetForm(id)})
		h.once()
		n := h.only("someone@x.example")
		contains(t, name, n.Body, "一致するIDが存在しない", "複数のIDが存在する", "役職・業務・管理・団体", "担当者によるパスワード再設定", "過去の所属機関")
		bodies[name] = n.Body
	}
	for name, b := range bodies {
		if b != bodies["no match"] {
			t.Errorf("the %q notice differs from the no-match notice: the reason leaks", name)
		}
	}
}

// 9:59 after the code was sent it works; 10:01 it has expired, and the
// notice says to start again.
func TestAccessCodeExpiresAfterTenMinutes(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	n := h.requestReset("taro@hosp.example")
	code := codeIn(t, n)
	h.now = h.now.Add(10*time.Minute + time.Second)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	late := h.only("taro@hosp.example")
	contains(t, "expired notice", late.Subject, "有効期限が切れました")
	contains(t, "expired notice", late.Body, "最初からお手続きください", "申請種別: パスワード再設定")
	if r := h.request(n.Ref); r.State != store.StateExpired {
		t.Errorf("request is %s, want expired", r.State)
	}
	if a, _ := h.account("yamada-tk"); a.PasswordHash != "" {
		t.Error("an expired code changed the password")
	}
}

// Two wrong codes say how many tries remain; the third locks and clears
// the code, after which even the right code is refused.
func TestThirdWrongCodeLocks(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	n := h.requestReset("taro@hosp.example")
	code := codeIn(t, n)
	wrong := otherCode(code)
	for i, want := range []string{"あと 2 回", "あと 1 回", "ロックされました"} {
		h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(wrong, newPassword, newPassword),
			Headers: []string{samples.SenderAuthResults(authservID, "taro@hosp.example")}})
		h.once()
		got := h.only("taro@hosp.example")
		contains(t, "try "+string(rune('1'+i)), got.Body, want)
	}
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	after := h.only("taro@hosp.example")
	contains(t, "right code after lock", after.Subject, "ロック")
	if a, _ := h.account("yamada-tk"); a.PasswordHash != "" {
		t.Error("a locked code changed the password")
	}
	if r := h.request(n.Ref); r.State != store.StateLocked {
		t.Errorf("request is %s, want locked", r.State)
	}
}

// Wrong codes in mail whose From our MX did not prove (anyone can write
// the holder's address into From) do not count toward the lock: the
// holder, at that address, is told, and the right code still works.
func TestForgedWrongCodesDoNotLock(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	n := h.requestReset("taro@hosp.example")
	code := codeIn(t, n)
	wrong := otherCode(code)
	for i := 0; i < 5; i++ {
		h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(wrong, newPassword, newPassword),
			Headers: []string{"Authentication-Results: " + authservID + "; dkim=none; spf=fail smtp.mailfrom=taro@hosp.example"}})
		h.once()
		got := h.only("taro@hosp.example")
		contains(t, "forged try", got.Body, "誤入力の回数には数えていません")
	}
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	done := h.only("taro@hosp.example")
	contains(t, "right code after forged tries", done.Subject, "完了")
	if r := h.request(n.Ref); r.State != store.StateCompleted {
		t.Errorf("request is %s, want completed", r.State)
	}
}

// A right code with a weak password names every broken rule, and the
// code still works for a good password before it expires.
func TestWeakPasswordKeepsTheCodeUsable(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	n := h.requestReset("taro@hosp.example")
	code := codeIn(t, n)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(code, "yamada-tk1234", "yamada-tk1234")})
	h.once()
	weak := h.only("taro@hosp.example")
	contains(t, "weak password notice", weak.Body, "新しいパスワード", "英大文字", "ID", "並び", "2026-11-24 19:10 JST")
	h.now = h.now.Add(5 * time.Minute)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	contains(t, "completion", h.only("taro@hosp.example").Subject, "完了")
	assertSecretNowhere(t, h, "yamada-tk1234")
}

// A reply with the right code from an address the code was not sent to is
// refused and does not use up a try.
func TestCodeFromUnregisteredAddressIsRefused(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	n := h.requestReset("taro@hosp.example")
	code := codeIn(t, n)
	h.deliver(samples.Mail{From: "attacker@evil.example", Subject: "Re: " + n.Subject, Body: samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	refused := h.only("attacker@evil.example")
	contains(t, "wrong sender", refused.Body, "登録されているメールアドレスからの返信でのみ")
	if a, _ := h.account("yamada-tk"); a.PasswordHash != "" {
		t.Fatal("a code from a stranger's address changed the password")
	}
	// The holder can still use the code: a new mail, not a reply, works too.
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "code", Body: "申請種別: アクセスコード入力\n" + samples.CodeReply(code, newPassword, newPassword)})
	h.once()
	contains(t, "completion", h.only("taro@hosp.example").Subject, "完了")
}

// More reset requests from one sender than the limit get one clear
// notice each and nothing else.
func TestResetRequestsAreRateLimitedPerSender(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 6; i++ {
		h.deliver(samples.Mail{From: "flood@x.example", Subject: "reset", Body: samples.ResetForm("")})
	}
	h.once()
	got := h.fresh()
	if len(got) != 6 {
		t.Fatalf("%d notices for 6 requests", len(got))
	}
	limited := 0
	for _, n := range got {
		if strings.Contains(n.Subject, "多すぎます") {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("%d too-many-requests notices, want 1 (the limit is 5 an hour)", limited)
	}
	h.now = h.now.Add(61 * time.Minute)
	h.deliver(samples.Mail{From: "flood@x.example", Subject: "reset", Body: samples.ResetForm("")})
	h.once()
	if n := h.only("flood@x.example"); strings.Contains(n.Subject, "多すぎます") {
		t.Error("the limit did not reset after an hour")
	}
}
