package desk_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/smtp"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

// BenchmarkAccessCodeUnderBacklog measures, with the daemon running
// (IDLE, real argon2id cost), the time from an access-code reply landing
// in the mailbox to its completion notice reaching the SMTP sink while
// 1,000 new applications (a password hash each) wait in the mailbox.
// Beside it: the raw IMAP NOOP and SMTP send round trips of the same
// servers in the same run.
//
//	go test -run '^$' -bench AccessCodeUnderBacklog -benchtime 1x ./mailflow/desk/
func BenchmarkAccessCodeUnderBacklog(b *testing.B) {
	const backlog, replies = 1000, 20
	// As the daemon runs (cmd/madoguchi applyRuntime).
	defer runtime.GOMAXPROCS(app.AddSpareP())
	for b.Loop() {
		p50, p99, imapRTT, smtpRTT, drained := accessCodeScenario(b, backlog, replies)
		b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
		b.ReportMetric(float64(imapRTT.Microseconds())/1000, "imap-noop-ms")
		b.ReportMetric(float64(smtpRTT.Microseconds())/1000, "smtp-send-ms")
		b.ReportMetric(drained.Seconds(), "backlog-s")
		b.Logf("access-code reply -> completion notice with %d messages waiting: p50 %v, p99 %v; raw IMAP NOOP %v, raw SMTP send %v; the backlog took %v",
			backlog, p50, p99, imapRTT, smtpRTT, drained)
	}
}

func accessCodeScenario(b *testing.B, backlog, replies int) (p50, p99, imapRTT, smtpRTT, drained time.Duration) {
	b.Helper()
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{"desk": "pw"}})
	if err != nil {
		b.Fatal(err)
	}
	defer imapSrv.Close()
	sink, err := loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	dir := b.TempDir()
	cfg, err := config.Parse(fmt.Appendf(nil, `desk: {address: %s, domain: id.madoguchi.test}
imap: {address: "%s", tls: none, username: desk, password: pw, poll_interval: 1s}
smtp: {address: "%s", tls: none}
database: {path: %s}
operators: [%s]
operator_auth: {authserv_id: mx.madoguchi.test}
limits: {replies_per_sender_per_hour: 100000}
`, deskAddr, imapSrv.Addr, sink.Addr, filepath.Join(dir, "desk.db"), operator), os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Hash: secret.DefaultParams(),
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()

	// The holders and their reset requests, answered before the backlog.
	err = a.Store.Tx(context.Background(), func(tx *store.Tx) error {
		for i := 0; i < replies; i++ {
			given := fmt.Sprintf("太郎%d", i)
			if err := tx.CreateAccount(&store.Account{Login: fmt.Sprintf("bench-u%02d", i), Kind: store.AccountPersonal,
				FamilyName: "山田", GivenName: given, FamilyReading: "ヤマダ", GivenReading: "タロウ",
				IdentityKey: "山田|" + given + "|1985-04-01", Sex: "male", BirthDate: "1985-04-01",
				Email: fmt.Sprintf("holder%02d@hosp.example", i), CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make(chan error, 1)
	go func() { running <- a.Run(ctx) }()

	for i := 0; i < replies; i++ {
		body := strings.Replace(samples.ResetForm(fmt.Sprintf("bench-u%02d", i)), "氏名(名): 太郎", fmt.Sprintf("氏名(名): 太郎%d", i), 1)
		if err := imapSrv.Append("desk", "INBOX", samples.Mail{From: fmt.Sprintf("holder%02d@hosp.example", i), To: deskAddr,
			Subject: "reset", Body: body}.Build()); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, sink, replies)
	codes := map[string]sent{}
	for _, r := range sink.Messages() {
		m, err := message.Parse(bytes.NewReader(r.Data), message.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		if c := codePattern.FindStringSubmatch(m.Text); c != nil {
			codes[r.To[0]] = sent{Subject: m.Subject, MessageID: m.MessageID, Body: c[1]}
		}
	}
	if len(codes) != replies {
		b.Fatalf("%d codes for %d holders", len(codes), replies)
	}

	// The backlog: new applications, each with a password to hash.
	start := time.Now()
	for i := 0; i < backlog; i++ {
		body := strings.Replace(samples.NewIDJapanese(fmt.Sprintf("bl-%c%c%c", 'a'+i/676, 'a'+i/26%26, 'a'+i%26), "佐藤", fmt.Sprintf("花子%d", i)),
			"taro.yamada@", fmt.Sprintf("u%d@", i), 1)
		if err := imapSrv.Append("desk", "INBOX", samples.Mail{From: fmt.Sprintf("applicant%d@clinic.example", i), To: deskAddr,
			Subject: "新規ID申請", Body: body}.Build()); err != nil {
			b.Fatal(err)
		}
	}
	imapRTT = imapNoopRoundTrip(b, imapSrv.Addr)

	// The replies arrive one by one while the backlog is worked through.
	landed := map[string]time.Time{}
	before := len(sink.Messages())
	for i := 0; i < replies; i++ {
		holder := fmt.Sprintf("holder%02d@hosp.example", i)
		c := codes[holder]
		landed[holder] = time.Now()
		if err := imapSrv.Append("desk", "INBOX", samples.Mail{From: holder, To: deskAddr, Subject: "Re: " + c.Subject,
			InReplyTo: c.MessageID, Body: samples.CodeReply(c.Body, newPassword, newPassword)}.Build()); err != nil {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var latencies []time.Duration
	deadline := time.Now().Add(5 * time.Minute)
	for len(latencies) < replies && time.Now().Before(deadline) {
		latencies = latencies[:0]
		for _, r := range sink.Messages()[before:] {
			if t, ok := landed[r.To[0]]; ok && bytes.Contains(r.Data, []byte("bench-u")) {
				latencies = append(latencies, r.At.Sub(t))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(latencies) != replies {
		b.Fatalf("%d of %d completion notices arrived", len(latencies), replies)
	}
	waitFor(b, sink, replies+backlog+replies)
	drained = time.Since(start)
	cancel()
	<-running

	// Raw SMTP: one message straight to the same sink.
	t0 := time.Now()
	if err := smtp.SendMail(sink.Addr, nil, "bench@madoguchi.test", []string{"raw@x.example"}, []byte("Subject: raw\r\n\r\nraw\r\n")); err != nil {
		b.Fatal(err)
	}
	smtpRTT = time.Since(t0)

	slices.Sort(latencies)
	return latencies[len(latencies)/2], latencies[(len(latencies)*99)/100], imapRTT, smtpRTT, drained
}

func waitFor(b *testing.B, sink *loopback.SMTPSink, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sink.Wait(ctx, n); err != nil {
		b.Fatalf("waiting for %d notices (have %d): %v", n, len(sink.Messages()), err)
	}
}

// imapNoopRoundTrip is the mean time of an IMAP command round trip on a
// logged-in connection to the same server, measured while it is busy.
func imapNoopRoundTrip(b *testing.B, addr string) time.Duration {
	b.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("desk", "pw").Wait(); err != nil {
		b.Fatal(err)
	}
	const n = 50
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := c.Noop().Wait(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0) / n
}
