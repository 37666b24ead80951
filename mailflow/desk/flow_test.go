package desk_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
)

const taro = "taro@hosp.example"

func applyTaro(h *harness) sent {
	h.t.Helper()
	h.deliver(samples.Mail{From: "山田 太郎 <" + taro + ">", Subject: "新規ID申請", Charset: "iso-2022-jp",
		Body: samples.NewIDJapanese("yamada-tk", "山田", "太郎")})
	h.once()
	return h.only(taro)
}

// A Japanese mail client's ISO-2022-JP application gets the received
// notice with its reference, operators in CC, and waits for the form; the
// password is kept nowhere but as a hash.
func TestNewIDApplicationISO2022JP(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	if n.Ref != "MDG-2026-000001" {
		t.Fatalf("subject %q lacks the reference", n.Subject)
	}
	contains(t, "received notice", n.Subject, "新規ID申請を受け付けました")
	contains(t, "received notice", n.Body, "山田 太郎 様", "yamada-tk@id.madoguchi.test", "03-0000-0000", "本人の自署", "7～10日")
	if strings.Contains(n.Body, "Gk7vQz2x#Lp") {
		t.Error("the notice contains the password")
	}
	if strings.Join(n.Cc, ",") != operator+",second-op@madoguchi.test" {
		t.Errorf("cc = %v, want the operators", n.Cc)
	}
	if n.AutoSubmitted != "auto-replied" || n.InReplyTo == "" || len(n.References) == 0 {
		t.Errorf("thread headers: Auto-Submitted %q, In-Reply-To %q, References %v", n.AutoSubmitted, n.InReplyTo, n.References)
	}
	r := h.request(n.Ref)
	if r.State != store.StateAwaitingDocuments || r.DesiredID != "yamada-tk" || r.Fields["family_reading"] != "ヤマダ" || r.Fields["birth_date"] != "1985-04-01" {
		t.Errorf("request = %+v", r)
	}
	if !strings.HasPrefix(r.PasswordHash, "$argon2id$") {
		t.Errorf("password hash %q", r.PasswordHash)
	}
	h.inboxEmpty()
	processed := h.folder("Processed")
	if len(processed) != 1 {
		t.Fatalf("processed folder has %d messages", len(processed))
	}
	assertSecretNowhere(t, h, "Gk7vQz2x#Lp")
	m := processed[0]
	if !bytes.Contains(m, []byte("X-Madoguchi-Masked")) {
		t.Errorf("processed copy is not the masked one:\n%s", m)
	}
}

// assertSecretNowhere searches the database file, its WAL and shared
// memory file, the log, the sink and every folder for a secret.
func assertSecretNowhere(t *testing.T, h *harness, secret string) {
	t.Helper()
	if h.db == "" {
		if tables := teststore.TablesHolding(t, h.cfg.Database.URL, secret); len(tables) > 0 {
			t.Errorf("the secret is in the tables %v", tables)
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(h.db + suffix)
		if h.db != "" && err == nil && bytes.Contains(data, []byte(secret)) {
			t.Errorf("the secret is in the database file %s", h.db+suffix)
		}
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Error("the secret is in the log")
	}
	for _, m := range h.sink.Messages() {
		if bytes.Contains(m.Data, []byte(secret)) {
			t.Error("the secret is in a sent notice")
		}
	}
	for _, folder := range []string{"Processed", "Quarantine", "INBOX"} {
		for _, m := range h.folder(folder) {
			if bytes.Contains(m, []byte(secret)) || strings.Contains(mustText(m), secret) {
				t.Errorf("the secret is in a message in %s", folder)
			}
		}
	}
}

func TestNewIDApplicationEnglishUTF8(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: "Alice <alice@univ.example>", Subject: "New ID application", Body: samples.NewIDEnglish("smith-al")})
	h.once()
	n := h.only("alice@univ.example")
	contains(t, "English received notice", n.Subject, "New ID application received")
	contains(t, "English received notice", n.Body, "Dear Smith Alice,", "smith-al@id.madoguchi.test", "signed application form")
}

// Every problem of a Shift_JIS application is named, by field, in one reply.
func TestNewIDApplicationWithErrorsShiftJIS(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: "hanako@west.example", Subject: "ID申請", Charset: "shift_jis", Body: samples.NewIDWithErrors()})
	h.once()
	n := h.only("hanako@west.example")
	contains(t, "invalid notice", n.Subject, "不備")
	contains(t, "invalid notice", n.Body, "希望ID", "パスワード", "生年月日", "ふりがな", "利用資格", "所属メールアドレス", "確認")
	if n.Ref != "" || len(n.Cc) != 0 {
		t.Errorf("a refused application got a reference %q or CC %v", n.Ref, n.Cc)
	}
	assertSecretNowhere(t, h, "abcd1234")
}

// An empty mail gets the blank forms; a reply that quotes the form with
// the answers filled in is an application.
func TestBlankFormsAndFilledReply(t *testing.T) {
	h := newHarness(t)
	h.deliver(samples.Mail{From: "newcomer@clinic.example", Subject: ""})
	h.once()
	n := h.only("newcomer@clinic.example")
	contains(t, "blank forms", n.Body, "希望ID", "パスワード", "利用資格")
	var reply strings.Builder
	filled := map[string]string{
		"氏名(姓)": "鈴木", "氏名(名)": "一郎", "ふりがな(姓)": "すずき", "ふりがな(名)": "いちろう", "性別": "男", "生年月日": "1980/01/02",
		"所属機関": "南山病院", "所属部署": "内科", "所属メールアドレス": "suzuki@minami.example", "希望ID": "suzuki-ic",
		"パスワード": "Hq3wZr8n!", "パスワード(確認)": "Hq3wZr8n!", "利用資格": "1",
	}
	reply.WriteString("記入しました。\n\n")
	for _, line := range strings.Split(n.Body, "\n") {
		label, _, ok := strings.Cut(line, ":")
		if v, known := filled[strings.TrimSpace(label)]; ok && known {
			line = label + ": " + v
		}
		reply.WriteString("> " + line + "\n")
	}
	h.deliver(samples.Mail{From: "newcomer@clinic.example", Subject: "Re: " + n.Subject, Body: reply.String(), InReplyTo: n.MessageID})
	h.once()
	got := h.only("newcomer@clinic.example")
	if got.Ref == "" {
		t.Fatalf("the filled-in reply was not accepted: %s\n%s", got.Subject, got.Body)
	}
}

// One personal ID per person; an ID cannot be taken twice.
func TestOneIDPerPersonAndTakenID(t *testing.T) {
	h := newHarness(t)
	first := applyTaro(h)
	// The same person again, while the first is open.
	h.deliver(samples.Mail{From: taro, Subject: "再申請", Body: samples.NewIDJapanese("yamada-tk2", "山田", "太郎")})
	h.once()
	contains(t, "pending notice", h.only(taro).Body, first.Ref)
	// Someone else asking for the same ID.
	h.deliver(samples.Mail{From: "other@hosp.example", Body: strings.Replace(samples.NewIDJapanese("yamada-tk", "山中", "花"), "1985", "1985", 1)})
	h.once()
	contains(t, "taken notice", h.only("other@hosp.example").Body, "yamada-tk", "すでに使われている")
	// Approve the first. An application with the same person's name and
	// birth date from another address may be a stranger's: it gets the
	// answer anyone gets, the operators get the match, and the holder is
	// told at the address on record.
	approveByFax(h, first.Ref)
	h.deliver(samples.Mail{From: "taro2@else.example", Body: samples.NewIDJapanese("taro-new", "山田", "太郎")})
	h.once()
	got := h.fresh()
	if len(got) != 3 {
		t.Fatalf("want 3 notices (applicant, operators, holder), got %d: %v", len(got), got)
	}
	for _, n := range got {
		switch {
		case n.To[0] == "taro2@else.example":
			contains(t, "stranger's answer", n.Subject, "新規ID申請を受け付けました")
			if strings.Contains(n.Body, "yamada-tk") || strings.Contains(n.Body, "すでに") {
				t.Errorf("the answer to another address tells of the holder:\n%s", n.Body)
			}
		case n.To[0] == operator:
			contains(t, "operators' match notice", n.Body, "yamada-tk", "taro-new")
		case n.To[0] == "taro.yamada@hosp.example": // the address on record
			contains(t, "holder's notice", n.Body, "yamada-tk", "パスワード再設定")
		default:
			t.Errorf("unexpected notice to %v: %s", n.To, n.Subject)
		}
	}
	// From the address on record, the holder is told directly.
	h.deliver(samples.Mail{From: "taro.yamada@hosp.example", Body: samples.NewIDJapanese("taro-new2", "山田", "太郎")})
	h.once()
	contains(t, "existing account notice", h.only("taro.yamada@hosp.example").Body, "yamada-tk", "パスワード再設定")
}

func approveByFax(h *harness, ref string) {
	h.t.Helper()
	h.deliver(operatorMail(ref, "documents-received\napprove\n"))
	h.once()
	h.fresh()
}

// The signed form as a scan attached to a reply moves the application on;
// a file that is not PDF/JPEG/PNG inside is refused with the reason.
func TestScannedFormAttachedToReply(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	zipAsPDF := append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 100)...)
	h.deliver(samples.Mail{From: taro, Subject: "Re: " + n.Subject, Body: "添付します",
		Attachments: []samples.Attachment{{Filename: "form.pdf", ContentType: "application/pdf", Data: zipAsPDF}}})
	h.once()
	refused := h.only(taro)
	contains(t, "refused notice", refused.Body, "form.pdf", "PDF・JPEG・PNG")
	if h.request(n.Ref).State != store.StateAwaitingDocuments {
		t.Fatal("a refused file moved the application on")
	}
	// No subject tag this time: the reply is matched by In-Reply-To.
	h.deliver(samples.Mail{From: taro, Subject: "申請書", Body: "スキャンです", InReplyTo: n.MessageID, Charset: "iso-2022-jp",
		Attachments: []samples.Attachment{{Filename: "申請書.pdf", ContentType: "application/octet-stream", Data: samples.ScannedPDF()}}})
	h.once()
	got := h.only(taro)
	contains(t, "documents notice", got.Subject, n.Ref, "申請書類を受け取りました")
	contains(t, "documents notice", got.Body, "申請書.pdf", "application/pdf")
	if h.request(n.Ref).State != store.StateDocumentsReceived {
		t.Fatalf("state = %s", h.request(n.Ref).State)
	}
}

// Operators approve by replying: the account exists, the password hash
// moved to it, the notice names the ID and never the password.
func TestOperatorApproves(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	h.deliver(operatorMail(n.Ref, "approve\n"))
	h.once()
	refused := h.only(operator)
	contains(t, "operator result", refused.Body, "署名した申請書がまだ届いていません")
	if _, err := h.account("yamada-tk"); err == nil {
		t.Fatal("approved before the documents came")
	}

	h.deliver(operatorMail(n.Ref, "書類受領\n"))
	h.once()
	contains(t, "fax notice", h.only(taro).Body, "FAX")

	h.deliver(operatorMail(n.Ref, "承認\n\n> 引用された通知\n"))
	h.once()
	approved := h.only(taro)
	contains(t, "approved notice", approved.Body, "ID: yamada-tk", "封書")
	a, err := h.account("yamada-tk")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") || a.PasswordActiveAt.Sub(h.now).Hours() != 7*24 {
		t.Errorf("account = %+v", a)
	}
	r := h.request(n.Ref)
	if r.State != store.StateApproved || r.PasswordHash != "" || r.AccountID != a.ID {
		t.Errorf("request after approval = %+v", r)
	}
	var actions []string
	h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		log, err := tx.AuditLog(r.ID)
		for _, e := range log {
			actions = append(actions, e.Actor+" "+e.Action)
		}
		return err
	})
	contains(t, "audit log", strings.Join(actions, "\n"), operator+" command_refused", operator+" state")
	// A closed request refuses further commands.
	h.deliver(operatorMail(n.Ref, "reject: too late\n"))
	h.once()
	contains(t, "operator result", h.only(operator).Body, "完了しています")
}

func TestOperatorRejectsAndAsksForDocuments(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	h.deliver(operatorMail(n.Ref, "need-documents: 身分証明書のコピーが読み取れません\n"))
	h.once()
	contains(t, "need documents", h.only(taro).Body, "身分証明書のコピーが読み取れません")
	h.deliver(operatorMail(n.Ref, "reject\n"))
	h.once()
	contains(t, "operator result", h.only(operator).Body, "理由")
	h.deliver(operatorMail(n.Ref, "却下: 利用資格を確認できませんでした\n"))
	h.once()
	got := h.only(taro)
	contains(t, "rejected notice", got.Body, "利用資格を確認できませんでした", "空のメール")
	if r := h.request(n.Ref); r.State != store.StateRejected || r.PasswordHash != "" {
		t.Errorf("request = %s, hash kept: %v", r.State, r.PasswordHash != "")
	}
}

// An operator's address without a trusted authentication result is not
// obeyed: its "approve" approves nothing, and the configured address is
// told that and why (which is how a forgery reaches the real operator).
func TestForgedOperatorIsNotObeyed(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	h.deliver(operatorMail(n.Ref, "documents-received\n"))
	h.once()
	h.fresh()
	for _, headers := range [][]string{
		nil, // no Authentication-Results at all
		{"Authentication-Results: evil.example; dkim=pass header.d=madoguchi.test"},         // untrusted authserv-id
		{"Authentication-Results: " + authservID + "; dkim=fail header.d=madoguchi.test"},   // failing
		{"Authentication-Results: " + authservID + "; dkim=pass header.d=attacker.example"}, // not aligned
	} {
		h.deliver(samples.Mail{From: operator, Subject: "Re: [" + n.Ref + "]", Body: "approve\n", Headers: headers})
		h.once()
		got := h.only(operator)
		contains(t, "reply to forged operator", got.Subject, "実行されませんでした")
		contains(t, "reply to forged operator", got.Body, "approve", "理由:")
		if _, err := h.account("yamada-tk"); err == nil {
			t.Fatalf("forged approval with %v created the account", headers)
		}
	}
}

// Automatic mail is never answered; a bounce of our notice is recorded.
func TestAutomaticMailIsNotAnswered(t *testing.T) {
	h := newHarness(t)
	n := applyTaro(h)
	h.deliver(samples.Mail{From: "vacation@hosp.example", Subject: "不在", Body: "不在です", Headers: []string{"Auto-Submitted: auto-replied"}})
	h.deliver(samples.Mail{From: "list@lists.example", Subject: "news", Body: "hello", Headers: []string{"List-Id: <news.lists.example>", "Precedence: list"}})
	h.deliver(samples.Mail{From: deskAddr, Subject: "loop", Body: "our own mail"})
	h.deliverRaw(dsnFor(n.MessageID, taro))
	s := h.once()
	if s.Processed != 4 {
		t.Errorf("processed %d, want 4", s.Processed)
	}
	if got := h.fresh(); len(got) != 0 {
		t.Fatalf("automatic mail was answered: %v", got[0].Subject)
	}
	rows, _ := h.app.Store.Outbox(context.Background(), "")
	if !rows[0].Bounced {
		t.Errorf("bounce not recorded against %s", rows[0].MessageID)
	}
	h.inboxEmpty()
}

func dsnFor(messageID, rcpt string) []byte {
	return []byte("From: MAILER-DAEMON@mx.hosp.example\r\nTo: " + deskAddr + "\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"Message-ID: <dsn1@mx.hosp.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.hosp.example\r\n\r\n" +
		"Final-Recipient: rfc822; " + rcpt + "\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: " + deskAddr + "\r\nMessage-ID: <" + messageID + ">\r\nSubject: x\r\n\r\n" +
		"--b--\r\n")
}

// The per-sender cap keeps a loop small: notices past it are kept but not
// sent, and the operators hear of a looping sender a bounded number of
// times (three inquiries, then three mails on the latest one).
func TestReplyCapPerSender(t *testing.T) {
	h := newHarness(t, withConfig("limits: {replies_per_sender_per_hour: 3}\n"))
	for i := 0; i < 20; i++ {
		h.deliver(samples.Mail{From: "looper@robot.example", Subject: "hello"})
	}
	h.once()
	toLooper, toOperators := 0, 0
	for _, n := range h.fresh() {
		switch n.To[0] {
		case "looper@robot.example":
			toLooper++
		case operator:
			toOperators++
		}
	}
	if toLooper != 3 {
		t.Errorf("%d notices sent to the looping sender, want 3", toLooper)
	}
	if toOperators != 6 {
		t.Errorf("%d notices sent to the operators, want 6", toOperators)
	}
	suppressed, _ := h.app.Store.Outbox(context.Background(), store.OutboxSuppressed)
	if len(suppressed) != 3 {
		t.Errorf("%d suppressed, want 3 (the acknowledgements of the mails added to the inquiry)", len(suppressed))
	}
	var inquiries int
	h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		open, err := tx.OpenRequestsOf("looper@robot.example")
		inquiries = len(open)
		return err
	})
	if inquiries != 3 {
		t.Errorf("%d inquiries opened, want 3", inquiries)
	}
	h.inboxEmpty()
}

// Bad input is quarantined with its reason, answered when there is someone
// to answer, and never stops the desk.
func TestBadInputIsQuarantinedAndAnswered(t *testing.T) {
	h := newHarness(t, withConfig("limits: {max_nesting_depth: 5}\n"))
	deep := "From: deep@x.example\r\nTo: " + deskAddr + "\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
	for i := 0; i < 50; i++ {
		deep += "Content-Type: multipart/mixed; boundary=\"b" + string(rune('A'+i%26)) + strings.Repeat("x", i) + "\"\r\n\r\n--b" + string(rune('A'+i%26)) + strings.Repeat("x", i) + "\r\n"
	}
	deep += "Content-Type: text/plain\r\n\r\nhi\r\n"
	h.deliverRaw([]byte(deep))
	h.deliverRaw([]byte("To: " + deskAddr + "\r\nSubject: no sender\r\n\r\nwho am I\r\n"))
	h.deliver(samples.Mail{From: "ok@x.example"}) // no text: the blank forms
	h.once()
	got := h.fresh()
	var subjects []string
	for _, s := range got {
		subjects = append(subjects, s.To[0]+": "+s.Subject)
	}
	joined := strings.Join(subjects, "\n")
	contains(t, "answers", joined, "deep@x.example: 【ID登録窓口】メールを処理できませんでした", "ok@x.example: 【ID登録窓口】申請書式のご案内")
	if len(got) != 2 {
		t.Errorf("want 2 notices, got:\n%s", joined)
	}
	if q := h.folder("Quarantine"); len(q) != 2 {
		t.Errorf("quarantine has %d messages, want 2", len(q))
	}
	h.inboxEmpty()
}

// A message larger than the limit is not fetched whole: quarantined, and
// the sender is told the limit.
func TestOversizedMessage(t *testing.T) {
	h := newHarness(t, withIMAP("max_message_bytes: 2097152"))
	big := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0x25}, 3<<20)...)
	h.deliver(samples.Mail{From: "big@x.example", Subject: "scan", Body: "big scan",
		Attachments: []samples.Attachment{{Filename: "scan.pdf", ContentType: "application/pdf", Data: big}}})
	h.deliver(samples.Mail{From: "small@x.example"}) // no text: the blank forms
	h.once()
	got := h.only2("big@x.example", "small@x.example")
	contains(t, "too large notice", got.Body, "上限", "2.0 MB")
	if q := h.folder("Quarantine"); len(q) != 1 {
		t.Errorf("quarantine has %d messages, want 1", len(q))
	}
	h.inboxEmpty()
}

// The same message seen again at another UID (a re-scan after a
// UIDVALIDITY change, or a double delivery) is filed, not acted on twice.
func TestDuplicateDeliveryIsNotProcessedTwice(t *testing.T) {
	h := newHarness(t)
	raw := samples.Mail{From: "Alice <alice@univ.example>", Subject: "New ID application", Body: samples.NewIDEnglish("smith-al")}.Build()
	h.deliverRaw(raw)
	h.once()
	if len(h.fresh()) != 1 {
		t.Fatal("first delivery not answered")
	}
	h.deliverRaw(raw)
	h.once()
	if got := h.fresh(); len(got) != 0 {
		t.Fatalf("the second copy was answered: %s", got[0].Subject)
	}
	h.inboxEmpty()
	assertSecretNowhere(t, h, "Rw9mTq4z!Hv")
}
