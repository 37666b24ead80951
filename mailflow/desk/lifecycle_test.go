package desk_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

func renameForm(id, newID, forwarding string) string {
	return "申請種別: ID変更\nID: " + id + "\n新しいID: " + newID + "\nメール転送: " + forwarding + "\n"
}

// confirm replies to a confirmation-code notice with its code.
func (h *harness) confirm(n sent, from, code string) {
	// The holder's provider signs its mail, and our MX says so.
	h.deliver(samples.Mail{From: from, Subject: "Re: " + n.Subject, InReplyTo: n.MessageID, Body: "アクセスコード: " + code + "\n",
		Headers: []string{samples.SenderAuthResults(authservID, from)}})
	h.once()
}

// A rename from the registered address, confirmed by the code: the
// account has the new ID, the old address forwards for a year, the map
// for the mail server is written, and the notice names both addresses
// and the end of forwarding. A second rename within 365 days is refused
// with the date it becomes possible.
func TestRenameWithForwardingAndOncePerYear(t *testing.T) {
	dir := t.TempDir()
	postfix := filepath.Join(dir, "virtual")
	h := newHarness(t, withConfig("forwarding: {postfix_map: "+postfix+", csv: "+filepath.Join(dir, "fw.csv")+"}\n"))
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "ID変更", Body: renameForm("yamada-tk", "yamada-tr", "希望する")})
	h.once()
	n := h.only("taro@hosp.example")
	contains(t, "confirm code", n.Body, "yamada-tr@id.madoguchi.test", "1年間")
	if !containsAddr(n.To, "yamada-tk@id.madoguchi.test") || len(n.Cc) != 0 {
		t.Errorf("confirmation went to %v cc %v", n.To, n.Cc)
	}
	h.confirm(n, "taro@hosp.example", codeIn(t, n))
	done := h.only("taro@hosp.example")
	contains(t, "rename done", done.Body, "yamada-tk@id.madoguchi.test", "yamada-tr@id.madoguchi.test", "2027-11-24")
	if _, err := h.account("yamada-tr"); err != nil {
		t.Fatalf("no account under the new ID: %v", err)
	}
	table, err := os.ReadFile(postfix)
	if err != nil || !strings.Contains(string(table), "yamada-tk@id.madoguchi.test\tyamada-tr@id.madoguchi.test") {
		t.Errorf("forwarding map after the rename: %q %v", table, err)
	}

	h.now = h.now.Add(200 * 24 * time.Hour)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "ID変更", Body: renameForm("yamada-tr", "yamada-t3", "")})
	h.once()
	again := h.only("taro@hosp.example")
	contains(t, "second rename", again.Body, "365日に1回", "2027-11-24")
	if _, err := h.account("yamada-t3"); err == nil {
		t.Error("a second rename within a year went through")
	}
	// The old ID stays reserved: its mail must not reach a stranger.
	h.deliver(samples.Mail{From: "other@clinic.example", Subject: "ID", Body: samples.NewIDJapanese("yamada-tk", "山本", "健")})
	h.once()
	contains(t, "old ID reused", h.only("other@clinic.example").Body, "すでに使われているか")
}

// Renames to a taken, a forwarded or a malformed ID, and renames asked
// from an unregistered address, are refused without sending any code.
func TestRenameRefusals(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.seedAccount("suzuki-ic", "ichiro@hosp.example", store.AccountPersonal)
	for _, c := range []struct{ from, form, want string }{
		{"taro@hosp.example", renameForm("yamada-tk", "suzuki-ic", ""), "すでに使われているか"},
		{"taro@hosp.example", renameForm("yamada-tk", "Yamada_TK", ""), "新しいID"},
		{"taro@hosp.example", renameForm("yamada-tk", "yamada-tr", "たぶん"), "メール転送"},
		{"stranger@evil.example", renameForm("yamada-tk", "yamada-tr", ""), "登録されているメールアドレス"},
	} {
		h.deliver(samples.Mail{From: c.from, Subject: "rename", Body: c.form})
		h.once()
		n := h.only(c.from)
		contains(t, c.form, n.Body, c.want)
		if codePattern.MatchString(n.Body) {
			t.Errorf("a refused rename got a code: %s", n.Body)
		}
	}
}

// A holder's deletion is confirmed by the code: a wrong code deletes
// nothing; the right one does, and the ID is never issued again. Spam as
// the reason gets the advice to rename first.
func TestDeletionByHolder(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "削除", Body: "申請種別: ID削除\nID: yamada-tk\n申請者: 本人\n理由: 迷惑メールが多いため\n"})
	h.once()
	n := h.only("taro@hosp.example")
	contains(t, "deletion code", n.Body, "ID変更をご検討ください")
	code := codeIn(t, n)
	wrong := otherCode(code)
	h.confirm(n, "taro@hosp.example", wrong)
	contains(t, "wrong code", h.only("taro@hosp.example").Body, "あと 2 回")
	if a, _ := h.account("yamada-tk"); a.Status != store.AccountActive {
		t.Fatal("a wrong code deleted the account")
	}
	h.confirm(n, "taro@hosp.example", code)
	contains(t, "deleted", h.only("taro@hosp.example").Subject, "削除しました")
	if a, _ := h.account("yamada-tk"); a.Status != store.AccountDeleted {
		t.Fatalf("account is %s", a.Status)
	}
	h.deliver(samples.Mail{From: "new@clinic.example", Subject: "ID", Body: samples.NewIDJapanese("yamada-tk", "新井", "一郎")})
	h.once()
	contains(t, "reuse of a deleted ID", h.only("new@clinic.example").Body, "すでに使われているか")
}

// A third party's deletion waits for documents: approving before they
// arrive is refused; after the FAX is recorded it deletes.
func TestThirdPartyDeletionNeedsDocuments(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "family@home.example", Subject: "削除", Body: "申請種別: ID削除\nID: yamada-tk\n申請者: 本人以外（家族）\n理由: 本人が逝去しました\n"})
	h.once()
	n := h.only("family@home.example")
	contains(t, "received", n.Body, "書類", n.Ref)
	if len(n.Attachments) != 1 || !strings.HasSuffix(n.Attachments[0].Filename, ".html") {
		t.Errorf("no printable form attached: %+v", n.Attachments)
	}
	h.deliver(operatorMail(n.Ref, "approve\n"))
	h.once()
	contains(t, "early approve", h.only(operator).Body, "署名した申請書がまだ届いていません")
	if a, _ := h.account("yamada-tk"); a.Status != store.AccountActive {
		t.Fatal("deleted without documents")
	}
	h.deliver(operatorMail(n.Ref, "FAX受領\n"))
	h.once()
	h.fresh()
	h.deliver(operatorMail(n.Ref, "承認\n"))
	h.once()
	h.fresh()
	if a, _ := h.account("yamada-tk"); a.Status != store.AccountDeleted {
		t.Fatalf("account is %s after approval", a.Status)
	}
}

// An affiliation change is the holder's only after a code to the address
// on record comes back; a new address becomes the registered one only when
// a second code, mailed to it, comes back. Then both addresses are told,
// codes go to the old one too for 30 days, and an institution with its
// own staff gets the form and a copy.
func TestAffiliationChangeToStaffedInstitution(t *testing.T) {
	h := newHarness(t, withConfig("institutions_with_staff:\n  - {name: 北都大学, staff_address: staff@hokuto-u.example}\n"))
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "所属変更",
		Body: "申請種別: 所属変更\nID: yamada-tk\n所属機関: 北都大学病院\n所属部署: 内科\n所属メールアドレス: taro@hokuto-u.example\n"})
	h.once()
	first := h.only("taro@hosp.example")
	contains(t, "code to the address on record", first.Body, "北都大学病院 内科", "taro@hokuto-u.example")
	if containsAddr(first.To, "taro@hokuto-u.example") {
		t.Errorf("the first code went to the new address: %v", first.To)
	}
	if a, _ := h.account("yamada-tk"); a.Institution == "北都大学病院" || a.Email != "taro@hosp.example" {
		t.Fatalf("changed before any code came back: %+v", a)
	}
	h.confirm(first, "taro@hosp.example", codeIn(t, first))
	second := h.only("taro@hokuto-u.example")
	contains(t, "code to the new address", second.Body, "新しい登録アドレス")
	a, _ := h.account("yamada-tk")
	if a.Institution != "北都大学病院" || a.Email != "taro@hosp.example" {
		t.Fatalf("after the holder's code: institution %q, email %q", a.Institution, a.Email)
	}
	// The second code only counts from the new address.
	h.confirm(second, "taro@hosp.example", codeIn(t, second))
	h.fresh()
	if a, _ := h.account("yamada-tk"); a.Email != "taro@hosp.example" {
		t.Fatalf("the old address confirmed the new one")
	}
	h.confirm(second, "taro@hokuto-u.example", codeIn(t, second))
	n := h.only("taro@hokuto-u.example")
	contains(t, "affiliation", n.Body, "北都大学病院 内科", "staff@hokuto-u.example", "所属変更届", "以前のアドレス")
	if !containsAddr(n.Cc, "staff@hokuto-u.example") || !containsAddr(n.To, "taro@hosp.example") {
		t.Errorf("to %v cc %v", n.To, n.Cc)
	}
	a, _ = h.account("yamada-tk")
	if a.Institution != "北都大学病院" || a.Email != "taro@hokuto-u.example" || a.PreviousEmail != "taro@hosp.example" {
		t.Errorf("account not updated: %+v", a)
	}
	// Within 30 days a reset code goes to the previous address too.
	h.now = h.now.Add(24 * time.Hour)
	h.deliver(samples.Mail{From: "taro@hokuto-u.example", Subject: "reset", Body: samples.ResetForm("yamada-tk")})
	h.once()
	codes := h.fresh()
	if len(codes) != 1 || !containsAddr(codes[0].To, "taro@hosp.example") || !containsAddr(codes[0].To, "taro@hokuto-u.example") {
		t.Errorf("reset code within 30 days of the change went to %v", codes)
	}
}

// Merge and hand-over are operator-reviewed: received, then approved.
func TestMergeAndHandover(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.seedAccount("yamada-t2", "taro2@hosp.example", store.AccountPersonal)
	h.seedAccount("lab-office", "office@lab.example", "group")
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "統合", Body: "申請種別: ID統合\nID: yamada-tk\n統合するID: yamada-t2\n"})
	h.once()
	merge := h.only("taro@hosp.example")
	contains(t, "merge received", merge.Body, "yamada-t2", merge.Ref)
	h.deliver(operatorMail(merge.Ref, "approve\n"))
	h.once()
	h.fresh()
	if a, _ := h.account("yamada-t2"); a.Status != store.AccountMerged {
		t.Errorf("merged ID is %s", a.Status)
	}

	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "引継ぎ", Body: "申請種別: ID引継ぎ\nID: yamada-tk\n新しい担当者: 佐藤\n"})
	h.once()
	contains(t, "personal handover", h.only("taro@hosp.example").Body, "個人用IDは引き継げません")
	h.deliver(samples.Mail{From: "office@lab.example", Subject: "引継ぎ", Body: "申請種別: ID引継ぎ\nID: lab-office\n新しい担当者: 佐藤花子\n新しい担当者のメールアドレス: sato@lab.example\n"})
	h.once()
	ho := h.only("office@lab.example")
	h.deliver(operatorMail(ho.Ref, "承認\n"))
	h.once()
	got := h.fresh()
	if len(got) < 1 || !containsAddr(got[0].To, "sato@lab.example") {
		t.Errorf("the new holder was not told: %+v", got)
	}
	if a, _ := h.account("lab-office"); a.Email != "sato@lab.example" {
		t.Errorf("holder address %q", a.Email)
	}
}

// A status inquiry shows the sender's own open requests with what is
// missing and the form to print again; a stranger asking with someone
// else's reference learns nothing.
func TestStatusInquiryAndReprint(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "申請", Body: samples.NewIDJapanese("yamada-tk", "山田", "太郎")})
	h.once()
	ref := h.only("taro@hosp.example").Ref
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "状況", Body: "申請種別: 状況確認\n"})
	h.once()
	n := h.only("taro@hosp.example")
	contains(t, "status", n.Body, ref, "新規ID申請", "署名した申請書")
	if len(n.Attachments) != 1 || !strings.Contains(string(n.Attachments[0].Data), "yamada-tk") || !strings.Contains(string(n.Attachments[0].Data), "本人の自署") {
		t.Errorf("printable form: %+v", n.Attachments)
	}
	if strings.Contains(string(n.Attachments[0].Data), "Gk7vQz2x#Lp") {
		t.Fatal("the printable form holds the password")
	}
	h.deliver(samples.Mail{From: "stranger@evil.example", Subject: "状況", Body: "申請種別: 状況確認\n受付番号: " + ref + "\n"})
	h.once()
	s := h.only("stranger@evil.example")
	if strings.Contains(s.Body, ref) || strings.Contains(s.Body, "yamada") || len(s.Attachments) != 0 {
		t.Errorf("a stranger learned about another's request:\n%s", s.Body)
	}
	contains(t, "stranger", s.Body, "見つかりませんでした")
}
