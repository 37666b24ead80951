package desk_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/intake"
)

// ar is an Authentication-Results header line of our MX.
func ar(value string) string { return "Authentication-Results: " + authservID + "; " + value }

// Every attack of the trial against operators' commands, and a real
// operator with each MTA's header format as the positive control: only
// the controls move the request and create the account.
func TestForgeryTable(t *testing.T) {
	const (
		failing = "dkim=none; spf=fail smtp.mailfrom=ops@madoguchi.test"
		forged  = "dkim=pass header.d=madoguchi.test"
	)
	for _, tc := range []struct {
		name    string
		headers []string
		obeyed  bool
		forgery bool // a lower header with our id is logged as a forgery attempt
	}{
		{"OpenDKIM", []string{ar("dkim=pass (2048-bit key; unprotected) header.d=madoguchi.test header.i=@madoguchi.test header.a=rsa-sha256 header.s=default header.b=AbCdEfGh")}, true, false},
		{"OpenDMARC", []string{ar("dmarc=pass (p=none dis=none) header.from=madoguchi.test")}, true, false},
		{"rspamd", []string{ar("dkim=pass header.d=madoguchi.test header.s=dkim header.b=abc;\r\n\tspf=pass (mx.madoguchi.test: domain of ops@madoguchi.test designates 192.0.2.1 as permitted sender) smtp.mailfrom=ops@madoguchi.test;\r\n\tdmarc=pass (policy=reject) header.from=madoguchi.test")}, true, false},
		{"Postfix policyd-spf", []string{ar("spf=pass (sender SPF authorized) smtp.mailfrom=ops@madoguchi.test")}, true, false},
		{"Exim", []string{ar("iprev=pass (mail.madoguchi.test) smtp.remote-ip=192.0.2.1; spf=pass smtp.mailfrom=madoguchi.test; dkim=pass header.d=madoguchi.test header.s=s1 header.a=rsa-sha256; dmarc=pass header.from=madoguchi.test")}, true, false},
		{"a subdomain signs for the organization", []string{ar("dkim=pass header.d=mail.madoguchi.test")}, true, false},

		{"forged pass below the MX's failing header", []string{ar(failing), ar(forged)}, false, true},
		{"forged pass below the MX's header with an upper-case id", []string{ar(failing), "Authentication-Results: MX.MADOGUCHI.TEST; " + forged}, false, true},
		{"pass hidden in a comment", []string{ar("spf=fail (x;dkim=pass header.d=madoguchi.test) smtp.mailfrom=ops@madoguchi.test")}, false, false},
		{"pass hidden in a quoted string", []string{ar(`spf=fail reason="; dkim=pass header.d=madoguchi.test" smtp.mailfrom=ops@madoguchi.test`)}, false, false},
		{"signed by the public suffix", []string{ar("dkim=pass header.d=test")}, false, false},
		{"signed by another domain", []string{ar("dkim=pass header.d=attacker.example")}, false, false},
		{"spf for another domain", []string{ar("spf=pass smtp.mailfrom=x@attacker.example")}, false, false},
		{"no header at all", nil, false, false},
		{"another server's header", []string{"Authentication-Results: mx.attacker.example; dkim=pass header.d=madoguchi.test"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			n := applyTaro(h)
			h.deliver(samples.Mail{From: "窓口担当 <" + operator + ">", Subject: "Re: [" + n.Ref + "]", Body: "documents-received\napprove\n", Headers: tc.headers})
			h.once()
			_, err := h.account("yamada-tk")
			if created := err == nil; created != tc.obeyed {
				t.Fatalf("account created: %v, want %v\n%s", created, tc.obeyed, h.logs)
			}
			got := h.fresh()
			if !tc.obeyed {
				if r := h.request(n.Ref); r.State != store.StateAwaitingDocuments {
					t.Errorf("request moved to %s", r.State)
				}
				if len(got) != 1 || got[0].To[0] != operator || !strings.Contains(got[0].Subject, "実行されませんでした") {
					t.Fatalf("want one not-obeyed notice to the operator's address, got %v", got)
				}
			}
			if logged := hasAudit(t, h, "forged_authentication_results"); logged != tc.forgery {
				t.Errorf("forgery attempt logged: %v, want %v", logged, tc.forgery)
			}
		})
	}
}

// A forged program administrator's CSV registers nothing, and the
// configured address is told.
func TestForgedProgramAdministrator(t *testing.T) {
	h := newHarness(t, withConfig("program_administrators: ["+admin+"]\n"))
	csv := bulkHeader + "鈴木,一郎,スズキ,イチロウ,男性,1980-01-02,南山病院,内科,suzuki@minami.example,suzuki-ic,Hq3wZr8n!,Hq3wZr8n!,1\r\n"
	m := bulkMail("x.csv", []byte(csv))
	m.Headers = []string{ar("dkim=none; spf=fail smtp.mailfrom=admin@madoguchi.test"), ar("dkim=pass header.d=madoguchi.test")}
	h.deliver(m)
	h.once()
	if _, err := h.account("suzuki-ic"); err == nil {
		t.Fatal("a forged administrator registered an account")
	}
	contains(t, "administrator's notice", h.only(admin).Subject, "実行されませんでした")
	assertSecretNowhere(t, h, "Hq3wZr8n!")
}

// Knowing only an ID and writing ID@domain into From changes nothing: the
// code goes to the address on record, the registered address stays, and
// the next reset code still goes there only.
func TestAccountTakeoverByAffiliationNeedsTheHolder(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "yamada-tk@id.madoguchi.test", Subject: "所属変更",
		Body: "申請種別: 所属変更\nID: yamada-tk\n所属機関: 悪い病院\n所属部署: 内科\n所属メールアドレス: attacker@evil.example\n"})
	h.once()
	for _, n := range h.fresh() {
		if containsAddr(n.To, "attacker@evil.example") || containsAddr(n.Cc, "attacker@evil.example") {
			t.Fatalf("a notice went to the attacker: %s", n.Subject)
		}
	}
	if a, _ := h.account("yamada-tk"); a.Email != "taro@hosp.example" || a.Institution == "悪い病院" {
		t.Fatalf("changed without the holder's code: %+v", a)
	}
	h.deliver(samples.Mail{From: "attacker@evil.example", Subject: "reset", Body: samples.ResetForm("yamada-tk")})
	h.once()
	for _, n := range h.fresh() {
		if strings.Contains(n.Body, "アクセスコード: ") && containsAddr(n.To, "attacker@evil.example") {
			t.Fatal("the reset code went to the attacker")
		}
	}
	// A holder's deletion or rename by a spoofed From waits for the code too.
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "削除", Body: "申請種別: ID削除\nID: yamada-tk\n申請者: 本人\n理由: test\n"})
	h.once()
	h.fresh()
	if a, _ := h.account("yamada-tk"); a.Status != store.AccountActive {
		t.Fatal("a deletion happened without the code")
	}
}

var refOrDate = regexp.MustCompile(`MDG-\d{4}-\d{6}|\d{4}-\d{2}-\d{2}( \d{2}:\d{2} \w+)?`)

// A stranger who sends a new-ID form with someone's name and birth date
// gets the same answer whether that person holds an ID, has an
// application pending, or neither.
func TestNewIDAnswerTellsNothingAboutOthers(t *testing.T) {
	answer := func(setup func(h *harness)) string {
		h := newHarness(t)
		setup(h)
		h.fresh()
		h.deliver(samples.Mail{From: "stranger@else.example", Subject: "申請", Body: samples.NewIDJapanese("probe-id", "山田", "太郎")})
		h.once()
		var to []sent
		for _, n := range h.fresh() {
			if containsAddr(n.To, "stranger@else.example") || containsAddr(n.Cc, "stranger@else.example") {
				to = append(to, n)
			}
		}
		if len(to) != 1 {
			t.Fatalf("the stranger got %d notices", len(to))
		}
		return refOrDate.ReplaceAllString(to[0].Subject+"\n"+to[0].Body, "X")
	}
	neither := answer(func(h *harness) {})
	holds := answer(func(h *harness) { h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal) })
	pending := answer(func(h *harness) { applyTaro(h) })
	if neither != holds || neither != pending {
		t.Errorf("answers differ:\nneither:\n%s\nholds an ID:\n%s\npending:\n%s", neither, holds, pending)
	}
}

// A stranger's reply on a guessed thread stores none of its attachments
// and learns nothing of the request; the applicant's documents are capped
// per request.
func TestStrangerOnThreadStoresNothing(t *testing.T) {
	h := newHarness(t, withConfig("limits: {max_attachment_bytes: 3000000, document_bytes_per_request: 3000000}\n"))
	n := applyTaro(h)
	big := bytes.Repeat([]byte("x"), 2<<20)
	var atts []samples.Attachment
	for i := 0; i < 5; i++ {
		atts = append(atts, samples.Attachment{Filename: "scan.pdf", ContentType: "application/pdf", Data: append(samples.ScannedPDF(), big...)})
	}
	h.deliver(samples.Mail{From: "stranger@else.example", Subject: "Re: [" + n.Ref + "]", Body: "書類です", Attachments: atts})
	h.once()
	got := h.only("stranger@else.example")
	contains(t, "stranger's answer", got.Body, "保存していません")
	if strings.Contains(got.Body, "到着待ち") {
		t.Errorf("the stranger learns the state:\n%s", got.Body)
	}
	if stored := documentBytes(t, h, n.Ref); stored != 0 {
		t.Fatalf("%d bytes of a stranger's attachments stored", stored)
	}
	if r := h.request(n.Ref); r.State != store.StateAwaitingDocuments {
		t.Errorf("a stranger's attachments moved the request to %s", r.State)
	}
	// The applicant: the first scan fits, the second is over the cap.
	h.deliver(samples.Mail{From: taro, Subject: "Re: [" + n.Ref + "]", Body: "署名済みです", Attachments: atts[:2]})
	h.once()
	var refused bool
	for _, m := range h.fresh() {
		refused = refused || strings.Contains(m.Body, "保存できる書類の容量")
	}
	if !refused {
		t.Error("the scan over the per-request cap was not refused with the reason")
	}
	if stored := documentBytes(t, h, n.Ref); stored == 0 || stored > 3000000 {
		t.Errorf("%d bytes stored, want one scan within the cap", stored)
	}
}

// Rotating From addresses buys no more hashing than the share of
// senders our MX did not prove; a proved sender keeps its own budget.
func TestUnprovedSendersShareTheHashBudget(t *testing.T) {
	h := newHarness(t, withConfig("limits: {unauthenticated_hashes_per_hour: 5, replies_per_sender_per_hour: 50}\n"))
	for i := 0; i < 12; i++ {
		from := "rotating" + string(rune('a'+i)) + "@else.example"
		h.deliver(samples.Mail{From: from, Subject: "申請", Body: samples.NewIDJapanese("rot-"+string(rune('a'+i)), "山田", "太"+string(rune('一'+i)))})
	}
	h.once()
	if n := hashes(t, h, "*unproved"); n != 5 {
		t.Errorf("%d hashes for unproved senders, want the share of 5", n)
	}
	h.fresh()
	proved := "signed@hosp.example"
	h.deliver(samples.Mail{From: proved, Subject: "申請", Body: samples.NewIDJapanese("signed-id", "署名", "太郎"),
		Headers: []string{samples.SenderAuthResults(authservID, proved)}})
	h.once()
	contains(t, "proved sender", h.only(proved).Subject, "受け付けました")
}

// A subject can name any reference: the fast lane is only for a request
// that exists and whose thread the sender is on.
func TestFastLaneOnlyOnARealThread(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	ctx := context.Background()
	for _, tc := range []struct {
		env  intake.Envelope
		want int
	}{
		{intake.Envelope{Subject: "Re: [MDG-2026-999999]", From: taro}, 1},
		{intake.Envelope{Subject: "Re: [" + n.Ref + "]", From: "stranger@else.example"}, 1},
		{intake.Envelope{Subject: "Re: [" + n.Ref + "]", From: taro}, 0},
		{intake.Envelope{Subject: "Re: [" + n.Ref + "]", From: operator}, 0},
		{intake.Envelope{Subject: "Re: no tag", InReplyTo: []string{n.MessageID}, From: taro}, 0},
		{intake.Envelope{Subject: "Re: no tag", InReplyTo: []string{n.MessageID}, From: "stranger@else.example"}, 1},
		{intake.Envelope{Subject: "Re: no tag", InReplyTo: []string{"made-up@else.example"}, From: taro}, 1},
		{intake.Envelope{Subject: "申請", From: taro}, 1},
	} {
		if got := h.app.Desk.Lane(ctx, tc.env); got != tc.want {
			t.Errorf("Lane(%+v) = %d, want %d", tc.env, got, tc.want)
		}
	}
}

// A code notice held back by the reply cap keeps no code; sent ones keep
// none either; the database files are private.
func TestSecretsAtRest(t *testing.T) {
	h := newHarness(t, withConfig("limits: {replies_per_sender_per_hour: 1}\n"))
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "reset", Body: samples.ResetForm("yamada-tk")})
	h.once()
	code := codeIn(t, h.only("taro@hosp.example"))
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "reset", Body: samples.ResetForm("yamada-tk")})
	h.once() // held back by the cap of one reply an hour
	if got := h.fresh(); len(got) != 0 {
		t.Fatalf("the cap let %d notices through", len(got))
	}
	if err := h.app.Store.CheckpointWAL(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertSecretNowhere(t, h, code)
	rows, err := h.app.Store.Outbox(context.Background(), store.OutboxSuppressed)
	if err != nil || len(rows) != 1 {
		t.Fatalf("suppressed rows: %v %v", rows, err)
	}
	for _, suffix := range []string{"", "-wal", "-shm", ".key"} {
		if h.db == "" {
			break // PostgreSQL: no database files of ours
		}
		if fi, err := os.Stat(h.db + suffix); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", h.db+suffix, fi.Mode().Perm())
		}
	}
}

// A password-bearing form ignored as automatic mail is filed masked.
func TestIgnoredFormIsFiledMasked(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: "bulk@hosp.example", Subject: "申請", Body: samples.NewIDJapanese("bulk-id", "山田", "太郎"),
		Headers: []string{"Precedence: bulk"}})
	h.once()
	if got := h.fresh(); len(got) != 0 {
		t.Fatalf("automatic mail answered: %v", got)
	}
	assertSecretNowhere(t, h, "Gk7vQz2x#Lp")
}

// The marker line alone, as the blank-form notice tells people to send,
// gets that form back and is not a request: it counts against no limit.
func TestMarkerLineAloneGetsItsForm(t *testing.T) {
	h := newHarness(t, withConfig("limits: {code_requests_per_sender_per_hour: 2, replies_per_sender_per_hour: 50}\n"))
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	for i := 0; i < 3; i++ {
		h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "再設定", Body: "申請種別: パスワード再設定\n"})
		h.once()
		n := h.only("taro@hosp.example")
		contains(t, "blank form", n.Body, "パスワード再設定」の書式", "生年月日:")
		if strings.Contains(n.Body, "必須") || strings.Contains(n.Body, "ご記入ください") && strings.Contains(n.Body, "の問題") {
			t.Errorf("the marker line got a refusal:\n%s", n.Body)
		}
	}
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "reset", Body: samples.ResetForm("yamada-tk")})
	h.once()
	contains(t, "reset after marker lines", h.only("taro@hosp.example").Body, "アクセスコード: ")
}

// The reset limit counts reset requests, not the code replies between
// them: a typo and an expired code do not use up the holder's requests.
func TestResetLimitCountsRequestsNotReplies(t *testing.T) {
	h := newHarness(t, withConfig("limits: {code_requests_per_sender_per_hour: 2, replies_per_sender_per_hour: 50}\n"))
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	reset := func() sent {
		h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "reset", Body: samples.ResetForm("yamada-tk")})
		h.once()
		return h.only("taro@hosp.example")
	}
	first := reset()
	h.confirm(first, "taro@hosp.example", "0000000001") // a typo
	h.fresh()
	h.now = h.now.Add(11 * time.Minute)
	h.confirm(first, "taro@hosp.example", codeIn(t, first)) // too late
	h.fresh()
	second := reset()
	contains(t, "second request within the hour", second.Body, "アクセスコード: ")
	third := reset()
	contains(t, "third request within the hour", third.Subject, "多すぎ")
}

// The code notice says what the configuration decides.
func TestCodeNoticeFollowsConfig(t *testing.T) {
	h := newHarness(t, withConfig("access_codes: {valid_for: 15m, max_tries: 5, digits: 10}\n"))
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	n := h.requestReset("taro@hosp.example")
	contains(t, "code notice", n.Body, "15分間", "5回")
	if strings.Contains(n.Body, "10分") || strings.Contains(n.Body, "3回") {
		t.Errorf("the code notice still says the defaults:\n%s", n.Body)
	}
}

// Operators' results show the state in words and the commands valid in
// it; the applicant's approval never greets the operator.
func TestOperatorNoticesAndGreetings(t *testing.T) {
	h := facilityHarness(t)
	applicant := "iji@ariake-hosp.example"
	first, token := h.provisional(applicant)
	got := h.reply(first, applicant, mainApplication(token, nil))
	ref := ganRef.FindStringSubmatch(got.Subject)[1]
	op := operatorMail(ref, "approve\n")
	op.From = "窓口担当 鈴木 <" + operator + ">"
	h.deliver(op)
	h.once()
	res := h.only(operator)
	contains(t, "operator result", res.Body, "本申請受付済み・電話確認待ち", "phone-verified", "reject")
	if strings.Contains(res.Body, "awaiting_verification") || strings.Contains(res.Body, "documents-received") {
		t.Errorf("raw state or a command not valid in it:\n%s", res.Body)
	}
	op.Body = "電話確認済み\n承認\n"
	h.deliver(op)
	h.once()
	for _, n := range h.fresh() {
		if containsAddr(n.To, applicant) && strings.Contains(n.Body, "鈴木") {
			t.Errorf("the applicant's notice greets the operator:\n%s", n.Body)
		}
	}
}

func hasAudit(t *testing.T, h *harness, action string) bool {
	t.Helper()
	var found bool
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		log, err := tx.AuditLog(0)
		for _, e := range log {
			found = found || e.Action == action
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func documentBytes(t *testing.T, h *harness, ref string) int64 {
	t.Helper()
	var n int64
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		r, err := tx.RequestByReference(ref)
		if err != nil {
			return err
		}
		n, err = tx.DocumentBytes(r.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func hashes(t *testing.T, h *harness, sender string) int {
	t.Helper()
	var n int
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		at, err := tx.HashWorkSince(sender, h.now.Add(-time.Hour))
		n = len(at)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A holder who no longer reads the address on record takes the
// operator-reviewed path: a signed form, checked by an operator, and then
// the new address is the registered one; the old one is told. The answer
// is the same whether the ID exists or not.
func TestAffiliationFromAnotherAddressNeedsTheSignedForm(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@old-hosp.example", store.AccountPersonal)
	body := "申請種別: 所属変更\nID: %s\n所属機関: 新病院\n所属部署: 内科\n所属メールアドレス: taro@new-hosp.example\n"
	answers := map[string]string{}
	var ref string
	for _, id := range []string{"yamada-tk", "nobody-xx"} {
		h.deliver(samples.Mail{From: "taro@new-hosp.example", Subject: "所属変更", Body: fmt.Sprintf(body, id)})
		h.once()
		n := h.only("taro@new-hosp.example")
		if id == "yamada-tk" {
			ref = n.Ref
		}
		answers[id] = refOrDate.ReplaceAllString(strings.ReplaceAll(n.Subject+n.Body, id, "ID"), "X")
		if len(n.Attachments) != 1 {
			t.Errorf("no printable form attached for %s", id)
		}
	}
	if answers["yamada-tk"] != answers["nobody-xx"] {
		t.Errorf("the answer tells whether the ID exists:\n%s\n---\n%s", answers["yamada-tk"], answers["nobody-xx"])
	}
	if a, _ := h.account("yamada-tk"); a.Email != "taro@old-hosp.example" {
		t.Fatal("changed before any review")
	}
	h.deliver(operatorMail(ref, "approve\n"))
	h.once()
	contains(t, "early approve", h.only(operator).Body, "署名した申請書がまだ届いていません")
	fax := operatorMail(ref, "書類受領\n承認\n")
	fax.Attachments = []samples.Attachment{{Filename: "fax.pdf", ContentType: "application/pdf", Data: samples.ScannedPDF()}}
	h.deliver(fax)
	h.once()
	if documentBytes(t, h, ref) == 0 {
		t.Error("the operator's FAX scan was not kept with the request")
	}
	var done sent
	for _, n := range h.fresh() {
		if strings.Contains(n.Subject, "所属を変更しました") {
			done = n
		}
	}
	if !containsAddr(done.To, "taro@new-hosp.example") || !containsAddr(done.To, "taro@old-hosp.example") {
		t.Errorf("the change was not told to both addresses: %v", done.To)
	}
	if a, _ := h.account("yamada-tk"); a.Email != "taro@new-hosp.example" || a.Institution != "新病院" {
		t.Errorf("account after approval: %+v", a)
	}
}

// A flood of forged operator mail tells the real operator at most as
// often as the reply cap allows; every attempt is still audited.
func TestForgedOperatorFloodIsCapped(t *testing.T) {
	h := newHarness(t, withConfig("limits: {replies_per_sender_per_hour: 3}\n"))
	n := applyTaro(h)
	for i := 0; i < 6; i++ {
		h.deliver(samples.Mail{From: operator, Subject: "Re: [" + n.Ref + "]", Body: "approve\n"})
	}
	h.once()
	if got := len(h.fresh()); got != 3 {
		t.Errorf("%d not-obeyed notices for 6 forged mails, want the cap of 3", got)
	}
	var audited int
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		log, err := tx.AuditLog(0)
		for _, e := range log {
			if e.Action == "operator_unauthenticated" {
				audited++
			}
		}
		return err
	})
	if err != nil || audited != 6 {
		t.Errorf("%d attempts audited (%v), want 6", audited, err)
	}
}
