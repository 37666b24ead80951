package desk_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

const asker = "hanako@univ.example"

// screenshot is a PNG as the content sniffer sees one.
var screenshot = samples.Attachment{Filename: "error.png", ContentType: "image/png",
	Data: append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 2000)...)}

// ask sends a question from the asker and returns the acknowledgement and
// the operators' copy.
func (h *harness) ask(m samples.Mail) (ack, ops sent) {
	h.t.Helper()
	if m.From == "" {
		m.From = "佐藤 花子 <" + asker + ">"
	}
	h.deliver(m)
	h.once()
	got := h.fresh()
	for _, n := range got {
		switch n.To[0] {
		case operator:
			ops = n
		default:
			ack = n
		}
	}
	if len(got) != 2 || ack.Ref == "" || ops.Ref != ack.Ref {
		h.t.Fatalf("want an acknowledgement and the operators' copy with one reference, got %s\nlog:\n%s", describe(got), h.logs)
	}
	return ack, ops
}

// The whole life of an inquiry: question, acknowledgement, the operators'
// copy with what they need, an answer by reply, the asker's follow-up, and
// close; a mail after that opens a new inquiry naming the old one.
func TestInquiryFromQuestionToClose(t *testing.T) {
	h := newHarness(t)
	// The asker holds an ID and has a request open: operators see both.
	h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.CreateAccount(&store.Account{Login: "sato-hn", Kind: store.AccountPersonal, Email: asker,
			Institution: "東都大学", Department: "医学部", PasswordHash: "$argon2id$not-shown", CreatedAt: h.now.Add(-400 * 24 * time.Hour)})
	})
	h.deliver(samples.Mail{From: asker, Subject: "rename", Body: "申請種別: ID変更\nID: sato-hn\n新しいID: sato-hanako\n"})
	h.once()
	h.fresh()

	ack, ops := h.ask(samples.Mail{Subject: "ジャーナルにログインできません",
		Body:        "ログインテストは成功しますが、電子ジャーナルのサイトで 403 になります。\n原因を教えてください。\n",
		Attachments: []samples.Attachment{screenshot}})
	ref := ack.Ref
	contains(t, "acknowledgement", ack.Subject, "お問い合わせを受け付けました")
	contains(t, "acknowledgement", ack.Body, "佐藤 花子 様", "受付番号は "+ref, "電子ジャーナルのサイトで 403", "申請種別: パスワード再設定")
	if len(ack.Cc) != 0 {
		t.Errorf("the acknowledgement is copied to %v: it must not carry what operators see", ack.Cc)
	}
	contains(t, "operators' copy", ops.Body, "質問者: "+asker, "電子ジャーナルのサイトで 403", "sato-hn", "東都大学", "ID変更", "アクセスコード送付済み",
		"error.png", "回答: / reply:")
	if strings.Contains(ops.Body, "argon2id") {
		t.Error("the operators' copy shows a password hash")
	}
	if !slices.Contains(ops.Cc, "second-op@madoguchi.test") || len(ops.Attachments) != 1 || ops.Attachments[0].Filename != "error.png" {
		t.Errorf("operators' copy: cc %v, %d attachments", ops.Cc, len(ops.Attachments))
	}
	if r := h.request(ref); r.Kind != desk.KindInquiry || r.State != policy.StateAwaitingAnswer {
		t.Fatalf("inquiry %s is %s %s", ref, r.Kind, r.State)
	}

	// The operator answers by replying to the copy, quoting it.
	answer := operatorMail(ref, "回答:\nご利用の電子ジャーナルは、所属機関の契約が必要です。\n図書館にお問い合わせください。\n\n"+
		"2026年11月24日(火) 10:00 ID登録窓口 <"+deskAddr+">:\n"+quote(ops.Body))
	answer.InReplyTo = ops.MessageID
	h.deliver(answer)
	h.once()
	got := h.only(asker)
	contains(t, "answer", got.Subject, ref, "お問い合わせへの回答")
	contains(t, "answer", got.Body, "所属機関の契約が必要です。\n図書館にお問い合わせください。")
	for _, leak := range []string{"sato-hn", "東都大学", "ID変更", "2026年11月24日", "担当者各位"} {
		if strings.Contains(got.Body, leak) {
			t.Errorf("the answer carries %q from the quoted operators' copy:\n%s", leak, got.Body)
		}
	}
	if !slices.Contains(got.Cc, operator) || !slices.Contains(got.Cc, "second-op@madoguchi.test") || got.InReplyTo == "" {
		t.Errorf("answer: cc %v, in-reply-to %q", got.Cc, got.InReplyTo)
	}
	if r := h.request(ref); r.State != policy.StateAnswered {
		t.Fatalf("after the answer the inquiry is %s", r.State)
	}

	// The asker writes again on the thread: the operators get it.
	h.now = h.now.Add(time.Hour)
	h.deliver(samples.Mail{From: asker, Subject: "Re: " + got.Subject, InReplyTo: got.MessageID,
		Body: "図書館に確認しましたが、まだ入れません。\n\n" + quote(got.Body)})
	h.once()
	var followAck, followOps *sent
	for _, n := range h.fresh() {
		switch n.To[0] {
		case asker:
			followAck = &n
		case operator:
			followOps = &n
		}
	}
	if followAck == nil || followOps == nil {
		t.Fatalf("the follow-up did not reach both the asker and the operators\nlog:\n%s", h.logs)
	}
	contains(t, "follow-up to operators", followOps.Body, "追加のメール", "まだ入れません")
	if strings.Contains(followOps.Body, "> ご利用の電子ジャーナル") {
		t.Error("the operators' copy repeats the quoted answer")
	}
	if r := h.request(ref); r.State != policy.StateAwaitingAnswer {
		t.Fatalf("after the follow-up the inquiry is %s", r.State)
	}

	// close ends it; the asker is not mailed.
	h.deliver(operatorMail(ref, "完了\n"))
	h.once()
	res := h.only(operator)
	contains(t, "close result", res.Body, "完了にしました")
	if r := h.request(ref); r.State != policy.StateCompleted || r.Open() {
		t.Fatalf("after close the inquiry is %s", r.State)
	}

	// A later mail on the closed thread opens a new inquiry naming it.
	h.deliver(samples.Mail{From: asker, Subject: "Re: " + got.Subject, InReplyTo: got.MessageID, Body: "もう一つ質問です。"})
	h.once()
	var again *sent
	for _, n := range h.fresh() {
		if n.To[0] == operator {
			again = &n
		}
	}
	if again == nil || again.Ref == ref || again.Ref == "" {
		t.Fatalf("the mail after close did not open a new inquiry\nlog:\n%s", h.logs)
	}
	contains(t, "new inquiry", again.Body, "完了済みのお問い合わせ "+ref+" の続き", "もう一つ質問です。")
	h.inboxEmpty()
}

func quote(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		b.WriteString("> " + l + "\n")
	}
	return b.String()
}

// An operator's reply carries the quoted thread (with the operators' copy
// and an internal note), a signature and a note command: only the text
// below reply: reaches the asker. An answer repeating a note is refused.
func TestInquiryAnswerLeaksNoInternalNote(t *testing.T) {
	h := newHarness(t)
	_, ops := h.ask(samples.Mail{Subject: "question", Body: "How do I print my form again?"})
	ref := ops.Ref
	const note = "asker phoned twice, seems to hold two IDs"
	h.deliver(operatorMail(ref, "note: "+note+"\n"))
	h.once()
	noteResult := h.only(operator)

	body := "reply: Please send a mail with the line below; we answer with your form.\n" +
		"  Request: status inquiry\n\n" +
		"note: answered the reprint question\n\n" +
		"-- \nOperator Suzuki\nRegistration desk, ext. 1234\n\n" +
		"On Tue, Nov 24, 2026 at 10:00 AM Desk <" + deskAddr + "> wrote:\n" + quote(noteResult.Body) + quote(ops.Body)
	h.deliver(operatorMail(ref, body))
	h.once()
	var toAsker []sent
	for _, n := range h.fresh() {
		if n.To[0] == asker {
			toAsker = append(toAsker, n)
		}
	}
	if len(toAsker) != 1 {
		t.Fatalf("%d notices to the asker, want the answer\nlog:\n%s", len(toAsker), h.logs)
	}
	a := toAsker[0].Body
	contains(t, "answer", a, "Please send a mail with the line below", "Request: status inquiry")
	for _, leak := range []string{note, "answered the reprint question", "Suzuki", "ext. 1234", "wrote:", "note:", "担当者", "How do I print"} {
		if strings.Contains(a, leak) {
			t.Errorf("the answer carries %q:\n%s", leak, a)
		}
	}
	entries := h.audit(ref)
	if !slices.ContainsFunc(entries, func(e store.AuditEntry) bool {
		return e.Action == "note" && e.Detail == "answered the reprint question"
	}) {
		t.Error("the note below the answer was not recorded as a note")
	}

	// An answer that repeats the note is held back and the operator told.
	h.deliver(operatorMail(ref, "reply:\nOur notes say: Asker phoned twice, seems to hold two IDs.\n"))
	h.once()
	refused := h.only(operator)
	contains(t, "refusal", refused.Body, "内部メモ")
}

func (h *harness) audit(ref string) []store.AuditEntry {
	h.t.Helper()
	var out []store.AuditEntry
	r := h.request(ref)
	h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		out, err = tx.AuditLog(r.ID)
		return err
	})
	return out
}

// The marker line alone gets the inquiry form of seed 001 2.5; filled in,
// its fields reach the operators.
func TestInquiryForm(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: asker, Subject: "form", Body: "申請種別: お問い合わせ\n"})
	h.once()
	form := h.only(asker)
	contains(t, "inquiry form", form.Body, "お問い合わせ", "URL:", "エラーメッセージ:", "お問い合わせ内容:", "スクリーンショット")

	_, ops := h.ask(samples.Mail{Subject: "Re: form", Body: "申請種別: お問い合わせ\nID: sato-hn\n利用するサービス: 電子ジャーナル\n" +
		"URL: https://journal.example.jp/login\nエラーメッセージ: 403 Forbidden\nお問い合わせ内容: ログインできません\n"})
	contains(t, "operators' copy", ops.Body, "URL: https://journal.example.jp/login", "エラーメッセージ: 403 Forbidden", "ID: sato-hn")
	if r := h.request(ops.Ref); r.Fields["question"] != "ログインできません" || r.Fields["url"] != "https://journal.example.jp/login" {
		t.Errorf("recorded fields %v", r.Fields)
	}
}

// Someone else writing on an inquiry's thread learns nothing of it: the
// mail opens an inquiry of its own.
func TestStrangerOnInquiryThreadOpensOwnInquiry(t *testing.T) {
	h := newHarness(t)
	ack, _ := h.ask(samples.Mail{Subject: "question", Body: "ログインできません。"})
	const stranger = "mallory@evil.example"
	sAck, sOps := h.ask(samples.Mail{From: stranger, Subject: "Re: " + ack.Subject, InReplyTo: ack.MessageID, Body: "what did she ask?"})
	if sAck.Ref == ack.Ref || sAck.To[0] != stranger {
		t.Fatalf("the stranger's mail joined %s", sAck.Ref)
	}
	if strings.Contains(sAck.Body, "ログインできません") || strings.Contains(sOps.Body, "ログインできません") {
		t.Error("the stranger's notices carry the asker's question")
	}
	if r := h.request(ack.Ref); r.State != policy.StateAwaitingAnswer {
		t.Errorf("the asker's inquiry moved to %s", r.State)
	}
}

// A question on an application's thread reaches the operators, who may
// answer it with reply: without moving the application.
func TestReplyCommandOnApplicationThread(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	h.deliver(samples.Mail{From: taro, Subject: "Re: " + n.Subject, InReplyTo: n.MessageID, Body: "昨日FAXを送りましたが、届いていますか。"})
	h.once()
	got := h.only(taro)
	if !slices.Contains(got.Cc, operator) {
		t.Fatalf("the question on the thread did not reach the operators (cc %v)", got.Cc)
	}
	contains(t, "reply received", got.Body, "FAXを送りましたが")

	h.deliver(operatorMail(n.Ref, "reply:\nFAXは本日受領しました。審査をお待ちください。\n"))
	h.once()
	answer := h.only(taro)
	contains(t, "answer", answer.Body, "FAXは本日受領しました", "山田 太郎 様")
	if r := h.request(n.Ref); r.State != store.StateAwaitingDocuments {
		t.Errorf("reply moved the application to %s", r.State)
	}
}

// An operator address without our MX's pass answers nothing.
func TestUnprovedOperatorCannotAnswer(t *testing.T) {
	h := newHarness(t)
	_, ops := h.ask(samples.Mail{Subject: "question", Body: "ログインできません。"})
	m := operatorMail(ops.Ref, "reply:\nyour password is reset\n")
	m.Headers = nil
	h.deliver(m)
	h.once()
	for _, n := range h.fresh() {
		if n.To[0] == asker {
			t.Fatalf("an unproved operator's answer reached the asker: %s", n.Body)
		}
	}
	if r := h.request(ops.Ref); r.State != policy.StateAwaitingAnswer {
		t.Errorf("the inquiry moved to %s", r.State)
	}
}
