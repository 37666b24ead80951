// Package demo runs the whole desk against in-process IMAP and SMTP
// servers on loopback, seeded with sample mail, and prints what happens.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/charset"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

const (
	facilityUser     = "canreg"
	facilityPassword = "canregpass"
	facilityAddress  = "canreg@madoguchi.example"
	facilityList     = "都道府県,医療機関名,コード\n東京都,国立がん研究センター中央病院,131001\n東京都,がん研有明病院,131002\n大阪府,大阪国際がんセンター,271001\n"
	// facilityDesk is the second desk of the demo (config desks:).
	facilityDesk = `desks:
  - name: facility
    service: facility
    desk: {address: %s, name: 医療機関オンライン接続サービス (demo)}
    imap: {username: %s, password: %s}
    facility: {facility_list: %q, password_change_url: "https://mio.example/ikss/"}
`
	deskUser     = "desk"
	deskPassword = "deskpass"
	deskAddress  = "desk@madoguchi.example"
	operator     = "ops@madoguchi.example"
)

// Options say how the demo runs.
type Options struct {
	// Serve keeps the servers and the desks running after the script,
	// for a person with a real mail client.
	Serve bool
	// Verbose prints the full text of every notice, not only its subject.
	Verbose bool
	// IMAPAddr, SinkAddr and SubmitAddr are where the IMAP server, the SMTP
	// sink the desks send through, and the SMTP server a mail client
	// submits to listen; "" means a free port, or with Serve the fixed
	// Default* ports, so that a mail client's settings keep working.
	IMAPAddr, SinkAddr, SubmitAddr string
}

// The ports of a served demo.
const (
	DefaultIMAPAddr   = "127.0.0.1:1143"
	DefaultSinkAddr   = "127.0.0.1:1025"
	DefaultSubmitAddr = "127.0.0.1:1587"
)

// The account a person opens with a mail client: every notice the desks
// send lands in its INBOX, whoever it is addressed to, so one client shows
// both sides of each conversation.
const (
	personUser     = "you"
	personPassword = "you"
	personAddress  = "you@madoguchi.example"
)

// Run seeds the mailbox, runs the desk until every message is handled,
// and prints a transcript. With opts.Serve it then keeps everything
// running until ctx ends, for a person with a real mail client.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if opts.Serve {
		opts.IMAPAddr = cmp.Or(opts.IMAPAddr, DefaultIMAPAddr)
		opts.SinkAddr = cmp.Or(opts.SinkAddr, DefaultSinkAddr)
		opts.SubmitAddr = cmp.Or(opts.SubmitAddr, DefaultSubmitAddr)
	}
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Addr: opts.IMAPAddr,
		Users: map[string]string{deskUser: deskPassword, facilityUser: facilityPassword, personUser: personPassword}})
	if err != nil {
		return fmt.Errorf("start IMAP server on %s: %w", cmp.Or(opts.IMAPAddr, "a free port"), err)
	}
	defer imapSrv.Close()
	// Every notice also lands in the person's INBOX (a demo has no real
	// recipients), so a mail client shows what the desks answered.
	toPerson := func(m loopback.Received) {
		if err := imapSrv.Append(personUser, "INBOX", m.Data); err != nil {
			fmt.Fprintf(out, "   (could not put a notice into %s's INBOX: %v)\n", personUser, err)
		}
	}
	sink, err := loopback.StartSMTP(loopback.SinkOptions{Addr: opts.SinkAddr, Deliver: toPerson})
	if err != nil {
		return fmt.Errorf("start SMTP sink on %s: %w", cmp.Or(opts.SinkAddr, "a free port"), err)
	}
	defer sink.Close()
	dir, err := os.MkdirTemp("", "madoguchi-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	facilities := filepath.Join(dir, "facilities.csv")
	if err := os.WriteFile(facilities, []byte(facilityList), 0o644); err != nil {
		return err
	}
	yaml := Config(imapSrv.Addr, sink.Addr, filepath.Join(dir, "desk.db")) + fmt.Sprintf(facilityDesk, facilityAddress, facilityUser, facilityPassword, facilities)
	cfg, err := config.Parse([]byte(yaml), os.Getenv)
	if err != nil {
		return err
	}
	p := &printer{out: out}
	fmt.Fprintf(out, "madoguchi demo: two desks\n  IMAP %s (users %s / %s and %s / %s)\n  SMTP sink %s\n  databases %s, %s\n\n", imapSrv.Addr,
		deskUser, deskPassword, facilityUser, facilityPassword, sink.Addr, cfg.Database.Path, cfg.Desks[0].Database.Path)
	g, err := app.NewGroup(ctx, cfg, app.Options{Events: p.event})
	if err != nil {
		return err
	}
	defer g.Close()
	a := g.Apps[0]

	d := &driver{imap: imapSrv, sink: sink, app: a, group: g, p: p, verbose: opts.Verbose}
	if err := d.script(ctx); err != nil {
		return err
	}
	if err := d.check(ctx); err != nil {
		return err
	}
	if !opts.Serve {
		return nil
	}
	// Mail a client submits goes into the INBOX of the desk it is
	// addressed to, as the desks' real MX would put it.
	submit, err := loopback.StartSMTP(loopback.SinkOptions{Addr: opts.SubmitAddr, Deliver: func(m loopback.Received) {
		for _, to := range m.To {
			user := map[string]string{deskAddress: deskUser, facilityAddress: facilityUser}[strings.ToLower(to)]
			if user == "" {
				continue
			}
			if err := imapSrv.Append(user, "INBOX", m.Data); err != nil {
				fmt.Fprintf(out, "   (could not deliver to %s: %v)\n", to, err)
			}
		}
	}})
	if err != nil {
		return fmt.Errorf("start the submission server on %s: %w", opts.SubmitAddr, err)
	}
	defer submit.Close()
	fmt.Fprintf(out, `
Serving until interrupted (Ctrl-C). Set up a mail client with this account:
  IMAP     %s  user %q  password %q  (no TLS)
  SMTP     %s  (no TLS, no authentication needed)
  address  %s
Every notice either desk sends lands in that INBOX, whoever it is addressed to.
Write to %s (the ID desk) or %s (the facility desk);
the desks answer within seconds. To act as an operator, send from %s
(this demo trusts operators by their From header; a real installation proves
them by its MX's Authentication-Results).
`, imapSrv.Addr, personUser, personPassword, submit.Addr, personAddress, deskAddress, facilityAddress, operator)
	go d.echoSink(ctx)
	if err := g.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Config is the demo's configuration: the same keys as config.example.yaml.
func Config(imapAddr, smtpAddr, dbPath string) string {
	return fmt.Sprintf(`desk:
  address: %s
  name: ID登録窓口 (demo)
  domain: id.madoguchi.example
  fax: 03-0000-0000
imap:
  address: %s
  tls: none
  username: %s
  password: %s
  poll_interval: 2s
smtp:
  address: %s
  tls: none
database:
  path: %s
operators: [%s]
operator_auth:
  # The demo's operator mail does not pass through a real MX, so nothing
  # writes Authentication-Results: trust the From header. Never in production.
  required: false
institutions_with_staff:
  - name: 北都大学
    staff_address: umin-staff@hokuto-u.example
`, deskAddress, imapAddr, deskUser, deskPassword, smtpAddr, dbPath, operator)
}

type driver struct {
	imap  *loopback.IMAPServer
	sink  *loopback.SMTPSink
	app   *app.App
	group *app.Group
	p     *printer
	seen  int // sink messages already printed
	// verbose prints each notice's full text.
	verbose bool
}

func (d *driver) deliver(m samples.Mail) error {
	if m.To == "" {
		m.To = deskAddress
	}
	return d.imap.Append(deskUser, "INBOX", m.Build())
}

func (d *driver) pass(ctx context.Context, title string) error {
	fmt.Fprintf(d.p.out, "== %s ==\n", title)
	s, err := d.group.Once(ctx)
	if err != nil {
		return err
	}
	d.printSink()
	fmt.Fprintf(d.p.out, "   (%d messages processed, %d notices sent)\n\n", s.Processed, s.Sent)
	return nil
}

func (d *driver) script(ctx context.Context) error {
	first := []samples.Mail{
		{From: "山田 太郎 <taro@hosp.example>", Subject: "新規ID申請", Charset: "iso-2022-jp", Body: samples.NewIDJapanese("yamada-tk", "山田", "太郎")},
		{From: "Alice Smith <alice@univ.example>", Subject: "New ID application", Body: samples.NewIDEnglish("smith-al")},
		{From: "佐藤 花子 <hanako@west.example>", Subject: "ID申請", Charset: "shift_jis", Body: samples.NewIDWithErrors()},
		{From: "newcomer@clinic.example", Subject: "", Body: ""},
		{From: "鈴木 一郎 <suzuki@med.example>", Subject: "ジャーナルにログインできません", Charset: "iso-2022-jp",
			Body: "ログインテストは成功しますが、電子ジャーナルのサイトで「アクセス権がありません」と表示されます。\n原因を教えてください。\n鈴木"},
		{From: "Out of office <vacation@hosp.example>", Subject: "自動応答: 不在です", Body: "11/30まで不在です。",
			Headers: []string{"Auto-Submitted: auto-replied"}},
	}
	for _, m := range first {
		if err := d.deliver(m); err != nil {
			return err
		}
	}
	if err := d.pass(ctx, "1. applications arrive (ISO-2022-JP, English UTF-8, Shift_JIS with errors, an empty mail, a question, an auto-reply)"); err != nil {
		return err
	}

	taroRef, taroID, err := d.reference("taro@hosp.example")
	if err != nil {
		return err
	}
	aliceRef, aliceID, err := d.reference("alice@univ.example")
	if err != nil {
		return err
	}
	if err := d.deliver(samples.Mail{From: "山田 太郎 <taro@hosp.example>", Subject: "Re: [" + taroRef + "] 申請書を送ります",
		Charset: "iso-2022-jp", InReplyTo: taroID, References: []string{taroID},
		Body:        "署名した申請書をスキャンして添付します。\n山田",
		Attachments: []samples.Attachment{{Filename: "申請書.pdf", ContentType: "application/pdf", Data: samples.ScannedPDF()}}}); err != nil {
		return err
	}
	if err := d.deliver(samples.Mail{From: operator, Subject: "Re: [" + aliceRef + "] New ID application received",
		InReplyTo: aliceID, Body: "documents-received\n\n> (quoted notice)\n"}); err != nil {
		return err
	}
	if err := d.pass(ctx, "2. the signed form: a scan attached to a reply, and an operator's word that a FAX arrived"); err != nil {
		return err
	}

	if err := d.deliver(samples.Mail{From: operator, Subject: "Re: [" + taroRef + "] 申請書類を受け取りました", Body: "承認\n"}); err != nil {
		return err
	}
	if err := d.deliver(samples.Mail{From: operator, Subject: "Re: [" + aliceRef + "] Documents received",
		Body: "reject: the institution e-mail address could not be confirmed; please apply with your university address\n"}); err != nil {
		return err
	}
	inquiryRef, _, err := d.reference("suzuki@med.example")
	if err != nil {
		return err
	}
	if err := d.deliver(samples.Mail{From: operator, Subject: "Re: [" + inquiryRef + "] 新しいお問い合わせ",
		Body: "回答:\nご利用の電子ジャーナルは、所属機関の契約で利用できるものです。\n所属機関の図書館にお問い合わせください。\n\n" +
			"-- \n窓口 担当\n\n> 担当者各位\n> 新しいお問い合わせを受け付けました\n"}); err != nil {
		return err
	}
	if err := d.pass(ctx, "3. operators approve one application, reject the other and answer the question, all by replying"); err != nil {
		return err
	}
	return d.facilityScript(ctx)
}

// facilityScript is the second desk: the cancer registry's facility
// connection service (seed 004).
func (d *driver) facilityScript(ctx context.Context) error {
	hospital := "iji@ariake-hosp.example"
	for _, m := range []samples.Mail{
		{From: "医事課 <" + hospital + ">", Subject: "利用申請", Body: "医療機関オンライン接続サービスの利用を申請します。"},
		{From: "someone@docomo.ne.jp", Subject: "利用申請", Body: "申請します"},
	} {
		m.To = facilityAddress
		if err := d.imap.Append(facilityUser, "INBOX", m.Build()); err != nil {
			return err
		}
	}
	if err := d.pass(ctx, "4. the facility desk: provisional applications (one from a mobile carrier's address)"); err != nil {
		return err
	}
	ref, msgID, body, err := d.lastTo(hospital)
	if err != nil {
		return err
	}
	token := regexp.MustCompile(`仮申請番号: (\d+)`).FindStringSubmatch(body)
	if token == nil {
		return errors.New("the facility desk sent no provisional number")
	}
	form := "申請種別: 利用本申請\n仮申請番号: " + token[1] + "\n都道府県: 東京\n医療機関名: ｶﾞﾝ研有明病院\n施設管理者氏名: 医療 太郎\n" +
		"施設管理者氏名(全角フリカナ): イリョウ タロウ\n申請者氏名: 医療 一郎\n申請者氏名(全角フリカナ): イリョウ イチロウ\n施設内部署: 医事課\n" +
		"施設内役職: 課長\n施設代表電話番号: 012-123-1234\n内線番号: 1234\n利用規約への同意: 同意する\n"
	form = strings.Replace(form, "ｶﾞﾝ研有明病院", "がん研有明", 1)
	reply := samples.Mail{From: hospital, To: facilityAddress, Subject: "Re: [" + ref + "] 利用申請URLのご案内", InReplyTo: msgID, Body: form}
	if err := d.imap.Append(facilityUser, "INBOX", reply.Build()); err != nil {
		return err
	}
	if err := d.pass(ctx, "5. the main application (facility searched by partial name)"); err != nil {
		return err
	}
	for _, cmd := range []string{"電話確認済み", "承認"} {
		m := samples.Mail{From: operator, To: facilityAddress, Subject: "Re: [" + ref + "] 利用申請受付のご案内", Body: cmd + "\n"}
		if err := d.imap.Append(facilityUser, "INBOX", m.Build()); err != nil {
			return err
		}
	}
	return d.pass(ctx, "6. operators verify by phone and approve: user ID and VPN-ID to the applicant, the initial password to operators only")
}

// lastTo is the reference, Message-ID and text of the newest notice to addr.
func (d *driver) lastTo(addr string) (ref, messageID, text string, err error) {
	msgs := d.sink.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if !strings.EqualFold(msgs[i].To[0], addr) {
			continue
		}
		m, err := message.Parse(strings.NewReader(string(msgs[i].Data)), message.DefaultLimits())
		if err != nil {
			return "", "", "", err
		}
		r := regexp.MustCompile(`\[([A-Z]+-\d{4}-\d{6})\]`).FindStringSubmatch(m.Subject)
		if r == nil {
			return "", "", "", fmt.Errorf("the notice to %s has no reference", addr)
		}
		return r[1], m.MessageID, m.Text, nil
	}
	return "", "", "", fmt.Errorf("no notice reached %s", addr)
}

// reference finds the reference and Message-ID of the received notice
// sent to an applicant, as the applicant's mail client would see them.
func (d *driver) reference(to string) (ref, messageID string, err error) {
	re := regexp.MustCompile(`\[([A-Z]+-\d{4}-\d{6})\]`)
	for _, m := range d.sink.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil || !strings.Contains(strings.ToLower(msg.Header.Get("To")), to) {
			continue
		}
		dec := mime.WordDecoder{CharsetReader: charset.Reader}
		subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		if r := re.FindStringSubmatch(subject); r != nil {
			return r[1], strings.Trim(msg.Header.Get("Message-ID"), "<>"), nil
		}
	}
	return "", "", fmt.Errorf("no notice with a reference reached %s", to)
}

func (d *driver) printSink() {
	msgs := d.sink.Messages()
	for _, m := range msgs[d.seen:] {
		fmt.Fprintf(d.p.out, "   SMTP sink <- %s\n", summarize(m))
		if d.verbose {
			fmt.Fprintln(d.p.out, fullText(m))
		}
	}
	d.seen = len(msgs)
}

// fullText is a notice as its reader sees it: the decoded text, indented,
// with its attachments named.
func fullText(m loopback.Received) string {
	msg, err := message.Parse(strings.NewReader(string(m.Data)), message.DefaultLimits())
	if err != nil {
		return "      (unreadable: " + err.Error() + ")"
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(msg.Text, "\n"), "\n") {
		b.WriteString("      | " + line + "\n")
	}
	for _, a := range msg.Attachments {
		fmt.Fprintf(&b, "      | [attached: %s, %s, %d bytes]\n", a.Filename, a.SniffedType, a.Size)
	}
	return b.String()
}

func (d *driver) echoSink(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
			d.printSink()
		}
	}
}

func summarize(m loopback.Received) string {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return fmt.Sprintf("to %s (unreadable: %v)", strings.Join(m.To, ", "), err)
	}
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	return fmt.Sprintf("to %s: %s", strings.Join(m.To, ", "), subject)
}

// check fails the demo unless both desks' mailboxes are empty and every
// notice went, and prints what each desk did.
func (d *driver) check(ctx context.Context) error {
	fmt.Fprintln(d.p.out, "== summary ==")
	users := map[string]string{d.group.Apps[0].Name(): deskUser}
	if len(d.group.Apps) > 1 {
		users[d.group.Apps[1].Name()] = facilityUser
	}
	var leftAll, pendingAll int
	for _, a := range d.group.Apps {
		user := users[a.Name()]
		left, err := d.imap.List(user, "INBOX")
		if err != nil {
			return err
		}
		processed, err := d.imap.List(user, "Processed")
		if err != nil {
			return err
		}
		quarantined, _ := d.imap.List(user, "Quarantine")
		rows, err := a.Store.Outbox(ctx, "")
		if err != nil {
			return err
		}
		count := map[string]int{}
		for _, r := range rows {
			count[r.State]++
		}
		fmt.Fprintf(d.p.out, "   desk %-9s INBOX %d left; Processed %d, Quarantine %d; notices sent %d, pending %d, held back %d, failed %d\n",
			a.Name(), len(left), len(processed), len(quarantined), count[store.OutboxSent], count[store.OutboxPending],
			count[store.OutboxSuppressed], count[store.OutboxFailed])
		for _, m := range processed {
			if strings.Contains(string(m), "Gk7vQz2x#Lp") || strings.Contains(string(m), "Rw9mTq4z!Hv") {
				return errors.New("a password reached the processed folder")
			}
		}
		leftAll += len(left)
		pendingAll += count[store.OutboxPending]
	}
	if leftAll != 0 || pendingAll != 0 {
		return fmt.Errorf("demo incomplete: %d messages left in the INBOXes, %d notices pending", leftAll, pendingAll)
	}
	fmt.Fprintln(d.p.out, "   passwords appear nowhere in the processed folders (masked copies)")
	return nil
}

// printer writes the desk's events as a transcript.
type printer struct {
	mu  sync.Mutex
	out io.Writer
}

func (p *printer) event(e desk.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mark := map[string]string{"in": "<-", "state": " *", "notice": "->", "quarantine": " !", "ignored": " -", "duplicate": " ="}[e.Kind]
	if mark == "" {
		return
	}
	fmt.Fprintf(p.out, "   %s %s\n", mark, e.Text)
}
