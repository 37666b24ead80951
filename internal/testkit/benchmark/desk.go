package benchmark

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

const (
	deskUser     = "desk"
	deskPassword = "deskpass"
	deskAddr     = "desk@madoguchi.example"
	operatorAddr = "ops@madoguchi.example"
	newPassword  = "Vb4nRt8wQ#z"

	// replyStart and replyEvery space the access-code replies over the
	// first seconds of the backlog.
	replyStart = 250 * time.Millisecond
	replyEvery = 100 * time.Millisecond
	// stallAfter ends a desk run that makes no progress at all.
	stallAfter = 2 * time.Minute
)

// benchAuthservID is the authserv-id of the run's imagined MX.
const benchAuthservID = "mx.madoguchi.example"

// deskConfig is the desk's configuration for the run: the keys of
// config.example.yaml, IMAP and SMTP on the loopback servers, limits
// raised so that no sender cap holds anything back.
func deskConfig(imapAddr, smtpAddr, database string) string {
	return fmt.Sprintf(`desk:
  address: %s
  name: ID登録窓口 (bench)
  domain: id.madoguchi.example
  fax: 03-0000-0000
imap:
  address: "%s"
  tls: none
  username: %s
  password: %s
  poll_interval: 2s
smtp:
  address: "%s"
  tls: none
%soperators: [%s]
http:
  address: "127.0.0.1:0"
operator_auth:
  authserv_id: %s
limits:
  replies_per_sender_per_hour: 100000
  hashes_per_sender_per_hour: 100000
  unauthenticated_hashes_per_hour: 100000
  code_requests_per_sender_per_hour: 100000
`, deskAddr, imapAddr, deskUser, deskPassword, smtpAddr, database, operatorAddr, benchAuthservID)
}

// deskResult is what the run of the real desk measured.
type deskResult struct {
	appendTime time.Duration
	elapsed    time.Duration // Run started -> last notice at the sink
	messages   int           // backlog + access-code replies
	notices    int           // notices the sink received for them
	kinds      map[string]int
	latencies  []time.Duration
	peakRSS    int64 // VmHWM when the last notice arrived
	sinkBytes  int64 // notice bytes the in-process sink received (it keeps only the holders')
	heapInUse  int64 // Go heap in use when the last notice arrived
	cpu        cpuUse
}

// runDesk runs the whole desk (app.New, app.Run with IDLE) against the
// loopback servers with the backlog already in the mailbox, and measures
// the access-code replies that land while it works through it.
func runDesk(ctx context.Context, m *mix, replies int, dir string, pg *pgTarget, progress io.Writer) (*deskResult, error) {
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{deskUser: deskPassword}})
	if err != nil {
		return nil, fmt.Errorf("start IMAP server: %w", err)
	}
	defer imapSrv.Close()
	// Only the holders' notices are read back (codes, completions); the
	// backlog's notices are only counted, as a real MTA would not hold
	// them in the desk's memory either.
	sink, err := loopback.StartSMTP(loopback.SinkOptions{Keep: func(to []string) bool {
		return len(to) > 0 && strings.HasPrefix(to[0], "holder")
	}})
	if err != nil {
		return nil, fmt.Errorf("start SMTP sink: %w", err)
	}
	defer sink.Close()
	database := fmt.Sprintf("database:\n  path: %s\n", filepath.Join(dir, "desk.db"))
	if pg != nil {
		database = pg.databaseYAML()
	}
	cfg, err := config.Parse([]byte(deskConfig(imapSrv.Addr, sink.Addr, database)), os.Getenv)
	if err != nil {
		return nil, err
	}
	var sent atomic.Int64 // notices the sender handed to the sink
	// As the daemon runs: a group with its metrics listener, scraped
	// every second (Prometheus scrapes every 15 s or more).
	g, err := app.NewGroup(ctx, cfg, app.Options{Events: func(e desk.Event) {
		if e.Kind == "sent" {
			sent.Add(1)
		}
	}})
	if err != nil {
		return nil, err
	}
	defer g.Close()
	a := g.Apps[0]
	metricsAddr, err := g.Listen()
	if err != nil {
		return nil, err
	}

	// The holders ask for a reset before the backlog and get their codes.
	codes, err := seedCodes(ctx, a, imapSrv, sink, replies)
	if err != nil {
		return nil, err
	}
	base, baseKept := sink.Tally(), len(sink.Messages())
	sent.Store(0)

	// The backlog, already in the mailbox when the desk starts.
	t := time.Now()
	for i := range m.msgs {
		if err := imapSrv.Append(deskUser, "INBOX", m.msgs[i].raw); err != nil {
			return nil, err
		}
		m.msgs[i].raw = nil // the server keeps its own copy
	}
	res := &deskResult{appendTime: time.Since(t), messages: len(m.msgs) + replies}
	fmt.Fprintf(progress, "  %d messages in the desk's INBOX (appended in %s, not timed); desk starting, /metrics on %s scraped every second\n",
		len(m.msgs), round(res.appendTime), metricsAddr)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	running := make(chan error, 1)
	start, startCPU := time.Now(), takeCPUSnapshot()
	go func() { running <- g.Run(runCtx) }()
	go scrape(runCtx, "http://"+metricsAddr.String()+"/metrics")
	stopDesk := func() error {
		stop()
		if err := <-running; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}

	// The access-code replies land one by one while the backlog is worked.
	landed := make(map[string]time.Time, replies)
	for i := 0; i < replies; i++ {
		wait := replyStart + time.Duration(i)*replyEvery - time.Since(start)
		select {
		case <-ctx.Done():
			stopDesk()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		holder := holderAddr(i)
		c := codes[holder]
		landed[holder] = time.Now()
		// The holder's provider signs, and our MX says so: the reply takes
		// the path a proved sender's takes, Authentication-Results read.
		if err := imapSrv.Append(deskUser, "INBOX", samples.Mail{From: holder, To: deskAddr, Subject: "Re: " + c.subject,
			InReplyTo: c.messageID, Body: samples.CodeReply(c.code, newPassword, newPassword),
			Headers: []string{samples.SenderAuthResults(benchAuthservID, holder)}}.Build()); err != nil {
			stopDesk()
			return nil, err
		}
	}

	expected, err := waitDrained(ctx, a, imapSrv, sink, &sent, base.Count, res.messages, progress, start)
	res.peakRSS, res.cpu = peakRSS(), takeCPUSnapshot().since(startCPU)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heapInUse = int64(ms.HeapInuse)
	if err != nil {
		stopDesk()
		return nil, err
	}
	if err := stopDesk(); err != nil {
		return nil, fmt.Errorf("desk: %w", err)
	}

	// Everything below reads what was measured; nothing is timed.
	tally := sink.Tally()
	if got := tally.Count - base.Count; got != expected {
		return nil, fmt.Errorf("the sink received %d notices, the outbox sent %d", got, expected)
	}
	res.notices = expected
	res.sinkBytes = tally.Bytes - base.Bytes
	for _, r := range sink.Messages()[baseKept:] {
		t, ok := landed[r.To[0]]
		if !ok {
			continue
		}
		msg, err := message.Parse(bytes.NewReader(r.Data), message.DefaultLimits())
		if err != nil {
			return nil, fmt.Errorf("notice to %s: %w", r.To[0], err)
		}
		if !strings.Contains(msg.Subject, "完了") {
			return nil, fmt.Errorf("the access-code reply of %s was answered with %q, not the completion notice", r.To[0], msg.Subject)
		}
		res.latencies = append(res.latencies, r.At.Sub(t))
	}
	if len(res.latencies) != replies {
		return nil, fmt.Errorf("%d of %d access-code replies were completed", len(res.latencies), replies)
	}
	slices.Sort(res.latencies)
	res.elapsed = tally.Last.Sub(start)

	rows, err := a.Store.Outbox(ctx, store.OutboxSent)
	if err != nil {
		return nil, err
	}
	res.kinds = map[string]int{}
	for _, r := range rows[len(rows)-expected:] {
		res.kinds[r.Kind]++
	}
	return res, nil
}

// waitDrained waits until the desk has handled every message and the sink
// has every notice. The count is taken from the outbox once the mailbox is
// empty and no row is pending: every sent row is one notice at the sink.
// It returns the number of notices sent since base.
func waitDrained(ctx context.Context, a *app.App, imapSrv *loopback.IMAPServer, sink *loopback.SMTPSink, sent *atomic.Int64, base, messages int,
	progress io.Writer, start time.Time) (int, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastCount, lastChange, lastPrint := -1, time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		inbox, err := imapSrv.Count(deskUser, "INBOX")
		if err != nil {
			return 0, err
		}
		count := int(sent.Load())
		if count != lastCount {
			lastCount, lastChange = count, time.Now()
		} else if time.Since(lastChange) > stallAfter {
			return 0, fmt.Errorf("the desk made no progress for %s: %d messages left in INBOX, %d notices at the sink", stallAfter, inbox, count)
		}
		if time.Since(lastPrint) >= 10*time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(progress, "  %5.0fs: %d of %d messages left in INBOX, %d notices at the sink\n", time.Since(start).Seconds(), inbox, messages, count)
		}
		if inbox != 0 {
			continue
		}
		// The gauges' query, through the index of pending rows: listing the
		// outbox every 100 ms cost the desk a tenth of its CPU and its one
		// SQLite connection once the notices outnumbered the messages.
		figures, err := a.Store.OutboxFigures(ctx, time.Now())
		if err != nil {
			return 0, err
		}
		if figures.Pending != 0 {
			continue
		}
		rows, err := a.Store.Outbox(ctx, store.OutboxSent)
		if err != nil {
			return 0, err
		}
		expected := len(rows) - base
		if count < expected {
			continue
		}
		// Each sent row was accepted by the sink before it was marked.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = sink.Wait(wctx, base+expected)
		cancel()
		return expected, err
	}
}

// code is an access-code notice as the holder's mail client sees it.
type code struct {
	subject, messageID, code string
}

var codePattern = regexp.MustCompile(`(?:アクセスコード|Access code): (\d{10})`)

func holderAddr(i int) string { return fmt.Sprintf("holder%02d@hosp.example", i) }

// seedCodes registers replies account holders, has each ask for a
// password reset (one pass of the desk) and reads their codes at the sink.
func seedCodes(ctx context.Context, a *app.App, imapSrv *loopback.IMAPServer, sink *loopback.SMTPSink, replies int) (map[string]code, error) {
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		for i := 0; i < replies; i++ {
			given := fmt.Sprintf("太郎%d", i)
			if err := tx.CreateAccount(&store.Account{Login: fmt.Sprintf("bench-u%02d", i), Kind: store.AccountPersonal,
				FamilyName: "山田", GivenName: given, FamilyReading: "ヤマダ", GivenReading: "タロウ",
				IdentityKey: "山田|" + given + "|1985-04-01", Sex: "male", BirthDate: "1985-04-01",
				Email: holderAddr(i), CreatedAt: time.Now().Add(-365 * 24 * time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seed accounts: %w", err)
	}
	for i := 0; i < replies; i++ {
		body := strings.Replace(samples.ResetForm(fmt.Sprintf("bench-u%02d", i)), "氏名(名): 太郎", fmt.Sprintf("氏名(名): 太郎%d", i), 1)
		if err := imapSrv.Append(deskUser, "INBOX", samples.Mail{From: holderAddr(i), To: deskAddr, Subject: "パスワード再設定",
			Charset: "iso-2022-jp", Body: body}.Build()); err != nil {
			return nil, err
		}
	}
	if _, err := a.Once(ctx); err != nil {
		return nil, fmt.Errorf("reset requests: %w", err)
	}
	codes := map[string]code{}
	for _, r := range sink.Messages() {
		m, err := message.Parse(bytes.NewReader(r.Data), message.DefaultLimits())
		if err != nil {
			return nil, err
		}
		if c := codePattern.FindStringSubmatch(m.Text); c != nil {
			codes[r.To[0]] = code{subject: m.Subject, messageID: m.MessageID, code: c[1]}
		}
	}
	if len(codes) != replies {
		return nil, fmt.Errorf("%d access codes for %d holders", len(codes), replies)
	}
	return codes, nil
}

// scrape reads the metrics page every second until ctx ends, as a
// monitoring system would, so that the run pays for it.
func scrape(ctx context.Context, url string) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}
