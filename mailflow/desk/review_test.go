package desk_test

import (
	"context"
	"testing"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

func operatorResetForm(id, password string) string {
	return "申請種別: 担当者によるパスワード再設定\nID: " + id + `
氏名(姓): 山田
氏名(名): 太郎
ふりがな(姓): ヤマダ
ふりがな(名): タロウ
性別: 男
生年月日: 1985/04/01
過去の所属機関: 東都大学病院 (2010-2020)
出身校: 東都大学医学部 2010年卒
所属学会: 日本内科学会
資格・免許: 医師免許 第123456号
新しいパスワード: ` + password + `
新しいパスワード(確認): ` + password + "\n"
}

func indiceForm(id, scope, password string) string {
	return "申請種別: INDICEパスワード再設定\nID: " + id + `
氏名(姓): 山田
氏名(名): 太郎
ふりがな(姓): やまだ
ふりがな(名): たろう
性別: 男性
生年月日: 1985-04-01
再設定の範囲: ` + scope + `
新しいパスワード: ` + password + `
新しいパスワード(確認): ` + password + "\n"
}

// The reset the access code could not do: received with a reference,
// the signed form as a scan, an operator approves and the notice names
// the ID the desk found.
func TestOperatorResetApprovedNamesTheID(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "old@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@new.example", Subject: "パスワード", Charset: "iso-2022-jp", Body: operatorResetForm("", newPassword)})
	h.once()
	got := h.only("taro@new.example")
	contains(t, "received", got.Subject, "担当者によるパスワード再設定を受け付けました")
	if got.Ref == "" || !containsAddr(got.Cc, operator) {
		t.Fatalf("received notice: ref %q cc %v", got.Ref, got.Cc)
	}
	h.deliver(samples.Mail{From: "taro@new.example", Subject: "Re: " + got.Subject, Body: "申請書です。",
		Attachments: []samples.Attachment{{Filename: "form.pdf", ContentType: "application/pdf", Data: samples.ScannedPDF()}}})
	h.once()
	contains(t, "documents", h.only("taro@new.example").Subject, "受け取りました")
	h.deliver(operatorMail(got.Ref, "承認\n"))
	h.once()
	var approved sent
	for _, n := range h.fresh() {
		if containsAddr(n.To, "taro@new.example") {
			approved = n
		}
	}
	contains(t, "approved", approved.Body, "ID: yamada-tk", "一般用パスワード")
	if !containsAddr(approved.To, "old@hosp.example") {
		t.Errorf("the registered address was not told: %v", approved.To)
	}
	a, _ := h.account("yamada-tk")
	if ok, _ := secret.Verify(newPassword, a.PasswordHash); !ok {
		t.Error("the approved password is not the account's")
	}
	if r := h.request(got.Ref); r.State != store.StateApproved || r.PasswordHash != "" {
		t.Errorf("request %s, hash kept %v", r.State, r.PasswordHash != "")
	}
	assertSecretNowhere(t, h, newPassword)
}

// When the identity matches two IDs the operator must name one.
func TestOperatorResetNeedsTheIDWhenAmbiguous(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "a@x.example", store.AccountPersonal)
	h.seedAccount("yamada-tr", "b@x.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@new.example", Subject: "reset", Body: operatorResetForm("", newPassword)})
	h.once()
	ref := h.only("taro@new.example").Ref
	h.deliver(operatorMail(ref, "FAX受領\n"))
	h.once()
	h.fresh()
	h.deliver(operatorMail(ref, "approve\n"))
	h.once()
	refusal := h.only(operator)
	contains(t, "operator result", refusal.Body, "approve: ID")
	h.deliver(operatorMail(ref, "approve: yamada-tr\n"))
	h.once()
	h.fresh()
	if a, _ := h.account("yamada-tr"); a.PasswordHash == "" {
		t.Error("the named ID did not get the password")
	}
	if a, _ := h.account("yamada-tk"); a.PasswordHash != "" {
		t.Error("the other ID got the password")
	}
}

// A weak new password is refused with every rule named, nothing kept.
func TestOperatorResetWeakPassword(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: "taro@new.example", Subject: "reset", Body: operatorResetForm("yamada-tk", "password1")})
	h.once()
	n := h.only("taro@new.example")
	contains(t, "refusal", n.Subject, "不備")
	contains(t, "refusal", n.Body, "新しいパスワード", "英大文字", "辞書")
	assertSecretNowhere(t, h, "password1")
}

// INDICE only needs the ID; an ID without an INDICE password is told
// where INDICE and NCD access come from.
func TestIndiceResetRefusals(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "INDICE", Body: indiceForm("", "INDICEのみ", newPassword)})
	h.once()
	contains(t, "no ID", h.only("taro@hosp.example").Body, "IDが必要です")
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "INDICE", Body: indiceForm("yamada-tk", "INDICEのみ", newPassword)})
	h.once()
	n := h.only("taro@hosp.example")
	contains(t, "not issued", n.Body, "発行されていません", "研究グループの事務局長", "NCD", "yamada-tk")
}

// INDICE and general: received with the FAX instructions, a scan is not
// taken, the operator records the FAX and approves; both passwords change
// and stay apart from each other's fields.
func TestIndiceResetByFax(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "INDICE", Body: indiceForm("", "INDICEと一般", newPassword)})
	h.once()
	got := h.only("taro@hosp.example")
	contains(t, "received", got.Body, "FAX", "団体の代表者の署名", "INDICE用と一般用の両方", got.Ref)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + got.Subject, Body: "スキャンです",
		Attachments: []samples.Attachment{{Filename: "form.pdf", ContentType: "application/pdf", Data: samples.ScannedPDF()}}})
	h.once()
	contains(t, "scan refused", h.only("taro@hosp.example").Body, "FAXでのみ受け付けます")
	if r := h.request(got.Ref); r.State != store.StateAwaitingDocuments {
		t.Fatalf("a scan moved the INDICE request to %s", r.State)
	}
	h.deliver(operatorMail(got.Ref, "FAX受領\n"))
	h.once()
	h.fresh()
	h.deliver(operatorMail(got.Ref, "承認\n"))
	h.once()
	h.fresh()
	a, _ := h.account("yamada-tk")
	if ok, _ := secret.Verify(newPassword, a.IndicePasswordHash); !ok {
		t.Error("the INDICE password was not set")
	}
	if ok, _ := secret.Verify(newPassword, a.PasswordHash); !ok {
		t.Error("INDICE and general: the general password was not set")
	}
}

// INDICE only changes the INDICE password and leaves the general one.
func TestIndiceOnlyLeavesTheGeneralPassword(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		a, _ := tx.AccountByLogin("yamada-tk")
		if err := tx.SetPassword(a.ID, "general-hash", h.now); err != nil {
			return err
		}
		return tx.SetIndicePassword(a.ID, "old-indice-hash", h.now)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "INDICE", Body: indiceForm("yamada-tk", "INDICE only", newPassword)})
	h.once()
	ref := h.only("taro@hosp.example").Ref
	h.deliver(operatorMail(ref, "documents-received\n"))
	h.once()
	h.deliver(operatorMail(ref, "approve\n"))
	h.once()
	var approved sent
	for _, n := range h.fresh() {
		if containsAddr(n.To, "taro@hosp.example") {
			approved = n
		}
	}
	contains(t, "approved", approved.Body, "INDICE用パスワード", "yamada-tk")
	a, _ := h.account("yamada-tk")
	if a.PasswordHash != "general-hash" {
		t.Error("INDICE only changed the general password")
	}
	if ok, _ := secret.Verify(newPassword, a.IndicePasswordHash); !ok {
		t.Error("the INDICE password was not set")
	}
}
