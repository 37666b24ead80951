package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/scheduler"
)

// desk is the whole desk on loopback servers with a clock the test moves.
type desk struct {
	t    *testing.T
	imap *loopback.IMAPServer
	sink *loopback.SMTPSink
	cfg  *config.Config
	app  *app.App
	dir  string
	mu   sync.Mutex
	now  time.Time
	read int
}

func (d *desk) clock() time.Time      { d.mu.Lock(); defer d.mu.Unlock(); return d.now }
func (d *desk) add(dur time.Duration) { d.mu.Lock(); d.now = d.now.Add(dur); d.mu.Unlock() }

func newDesk(t *testing.T) *desk {
	t.Helper()
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{"desk": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	sink, err := loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	d := &desk{t: t, imap: imapSrv, sink: sink, dir: t.TempDir(), now: time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)}
	d.cfg, err = config.Parse(fmt.Appendf(nil, `desk: {address: desk@madoguchi.test, domain: id.madoguchi.test, fax: 03-0000-0000}
imap: {address: "%s", tls: none, username: desk, password: pw}
smtp: {address: "%s", tls: none}
database: {path: %s, synchronous: normal}
operators: [ops@madoguchi.test]
operator_auth: {required: false}
forwarding: {postfix_map: %s}
jobs: {status_text: %s, status_html: %s}
`, imapSrv.Addr, sink.Addr, filepath.Join(d.dir, "desk.db"), filepath.Join(d.dir, "virtual"),
		filepath.Join(d.dir, "status.txt"), filepath.Join(d.dir, "status.html")), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	d.app = d.open()
	return d
}

// open starts another process's worth of desk on the same database.
func (d *desk) open() *app.App {
	a, err := app.New(context.Background(), d.cfg, app.Options{Now: d.clock, Hash: secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { a.Close() })
	return a
}

func (d *desk) apply(from, id string) string {
	d.t.Helper()
	if err := d.imap.Append("desk", "INBOX", samples.Mail{From: from, To: "desk@madoguchi.test", Subject: "申請",
		Body: strings.Replace(samples.NewIDJapanese(id, "山田", "太郎"+id), "taro.yamada@", id+"@", 1)}.Build()); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.app.Once(context.Background()); err != nil {
		d.t.Fatal(err)
	}
	subjects := d.fresh()
	if len(subjects) != 1 {
		d.t.Fatalf("application answered with %v", subjects)
	}
	return subjects[0]
}

// run runs a job by hand at the current clock and delivers what it queued.
func (d *desk) run(name string) string {
	d.t.Helper()
	out, err := d.app.Scheduler.RunByHand(context.Background(), name)
	if err != nil {
		d.t.Fatalf("job %s: %v", name, err)
	}
	if _, err := d.app.DeliverOutbox(context.Background()); err != nil {
		d.t.Fatal(err)
	}
	return out
}

// fresh returns "to: subject" of the notices since the last call.
func (d *desk) fresh() []string {
	msgs := d.sink.Messages()
	var out []string
	for _, r := range msgs[d.read:] {
		m, err := message.Parse(bytes.NewReader(r.Data), message.DefaultLimits())
		if err != nil {
			d.t.Fatal(err)
		}
		out = append(out, r.To[0]+": "+m.Subject+"\n"+m.Text)
	}
	d.read = len(msgs)
	return out
}

func (d *desk) request(ref string) *store.Request {
	var r *store.Request
	err := d.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		r, err = tx.RequestByReference(ref)
		return err
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return r
}

func refOf(notice string) string {
	i := strings.Index(notice, "[MDG-")
	return notice[i+1 : i+16]
}

func countContaining(list []string, s string) int {
	n := 0
	for _, v := range list {
		if strings.Contains(v, s) {
			n++
		}
	}
	return n
}

// Day 7 and day 14 reminders go out exactly once each, however often the
// job runs, with the form attached again; on day 30 the application
// expires with a notice that says how to apply again.
func TestRemindersOnceEachThenExpiry(t *testing.T) {
	d := newDesk(t)
	ref := refOf(d.apply("taro@hosp.example", "yamada-tk"))
	d.add(6 * 24 * time.Hour)
	d.run(scheduler.JobReminders)
	if got := d.fresh(); len(got) != 0 {
		t.Fatalf("day 6: %v", got)
	}
	for day := 7; day <= 31; day++ {
		d.add(24 * time.Hour)
		d.run(scheduler.JobReminders)
		d.add(time.Minute)
		d.run(scheduler.JobReminders) // a second run the same day sends nothing
		got := d.fresh()
		switch day {
		case 7, 14:
			if len(got) != 1 || !strings.Contains(got[0], "署名した申請書が届いていません") || !strings.Contains(got[0], "FAX 03-0000-0000") {
				t.Fatalf("day %d: want one reminder, got %v", day, got)
			}
		case 30:
			if len(got) != 1 || !strings.Contains(got[0], "期限切れ") || !strings.Contains(got[0], "空のメール") {
				t.Fatalf("day 30: want the expiry notice, got %v", got)
			}
			if r := d.request(ref); r.State != store.StateExpired || r.PasswordHash != "" {
				t.Fatalf("request %s, hash kept %v", r.State, r.PasswordHash != "")
			}
		default:
			if len(got) != 0 {
				t.Fatalf("day %d: unexpected %v", day, got)
			}
		}
	}
}

// Two processes running the job at the same moment send one reminder.
func TestConcurrentReminderRunsSendOnce(t *testing.T) {
	d := newDesk(t)
	d.apply("taro@hosp.example", "yamada-tk")
	d.apply("hanako@hosp.example", "sato-hn")
	d.add(7*24*time.Hour + time.Hour)
	other := d.open()
	var wg sync.WaitGroup
	for _, a := range []*app.App{d.app, other, d.app, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Scheduler.RunByHand(context.Background(), scheduler.JobReminders); err != nil && !errors.Is(err, scheduler.ErrAlreadyRan) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	d.app.DeliverOutbox(context.Background())
	if got := d.fresh(); len(got) != 2 {
		t.Fatalf("want one reminder for each of the 2 applications, got %d: %v", len(got), got)
	}
}

// After three days down, the nightly job runs once, and an application
// that passed both reminder days meanwhile gets only the later reminder.
func TestCatchUpAfterThreeDays(t *testing.T) {
	d := newDesk(t)
	d.apply("taro@hosp.example", "yamada-tk")
	ctx := context.Background()
	d.add(12 * 24 * time.Hour)
	if ran, _, err := d.app.Scheduler.Due(ctx, scheduler.JobReminders); err != nil || ran {
		t.Fatalf("baseline: ran=%v %v", ran, err)
	}
	d.add(3 * 24 * time.Hour) // down from day 12 to day 15
	ran, out, err := d.app.Scheduler.Due(ctx, scheduler.JobReminders)
	if err != nil || !ran {
		t.Fatalf("catch-up: ran=%v %v", ran, err)
	}
	if ran, _, _ := d.app.Scheduler.Due(ctx, scheduler.JobReminders); ran {
		t.Fatal("caught up more than once")
	}
	d.app.DeliverOutbox(ctx)
	got := d.fresh()
	if len(got) != 1 || !strings.Contains(out, "0 first reminders, 1 second reminders") {
		t.Fatalf("catch-up sent %v (%s); want only the second reminder", got, out)
	}
}

// The holder hears 30 days before the forwarding ends, once; on the day
// it ends, the map for the mail server no longer has it.
func TestForwardingNoticeAndEnd(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	err := d.app.Store.Tx(ctx, func(tx *store.Tx) error {
		a := &store.Account{Login: "yamada-tr", Kind: store.AccountPersonal, Email: "taro@hosp.example", CreatedAt: d.now}
		if err := tx.CreateAccount(a); err != nil {
			return err
		}
		return tx.AddForwarding(&store.Forwarding{AccountID: a.ID, OldLogin: "yamada-tk", NewLogin: "yamada-tr",
			StartsAt: d.now.AddDate(-1, 0, 40), EndsAt: d.now.Add(40 * 24 * time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	d.run(scheduler.JobForwarding)
	if got := d.fresh(); len(got) != 0 {
		t.Fatalf("40 days before: %v", got)
	}
	table, _ := os.ReadFile(filepath.Join(d.dir, "virtual"))
	if !strings.Contains(string(table), "yamada-tk@id.madoguchi.test\tyamada-tr@id.madoguchi.test") {
		t.Fatalf("map while forwarding: %q", table)
	}
	d.add(10*24*time.Hour + time.Hour)
	d.run(scheduler.JobForwarding)
	got := d.fresh()
	if len(got) != 1 || countContaining(got, "まもなく終了") != 1 || !strings.Contains(got[0], "2027-01-10") {
		t.Fatalf("30 days before: want one notice (to the registered address and the new ID), got %v", got)
	}
	d.add(24 * time.Hour)
	d.run(scheduler.JobForwarding)
	if got := d.fresh(); len(got) != 0 {
		t.Fatalf("the next day repeated: %v", got)
	}
	d.add(30 * 24 * time.Hour)
	d.run(scheduler.JobForwarding)
	if got := d.fresh(); len(got) != 1 || countContaining(got, "終了しました") != 1 {
		t.Fatalf("end: %v", got)
	}
	table, _ = os.ReadFile(filepath.Join(d.dir, "virtual"))
	if strings.Contains(string(table), "yamada-tk") {
		t.Fatalf("the ended forwarding is still in the map: %q", table)
	}
}

// The digest's figures match a seeded database, and the status files say
// up to which day everything is processed.
func TestDigestFigures(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	tokyo := d.cfg.Desk.Location
	today := time.Date(2026, 12, 9, 8, 0, 0, 0, tokyo)
	d.now = today.UTC()
	yesterday := today.Add(-20 * time.Hour) // 12/08 12:00 JST
	err := d.app.Store.Tx(ctx, func(tx *store.Tx) error {
		n := 0
		add := func(kind, state string, created time.Time, closed bool) error {
			n++
			r := &store.Request{Reference: fmt.Sprintf("MDG-2026-%06d", n), Kind: kind, State: state, Applicant: "a@x.example", CreatedAt: created}
			if err := tx.CreateRequest(r); err != nil {
				return err
			}
			return tx.SetRequestState(r, state, yesterday, closed)
		}
		for _, e := range []struct {
			kind, state string
			created     time.Time
			closed      bool
		}{
			{"new_id", store.StateAwaitingDocuments, yesterday, false},
			{"new_id", store.StateAwaitingDocuments, yesterday.Add(-5 * 24 * time.Hour), false},
			{"new_id", store.StateDocumentsReceived, time.Date(2026, 12, 5, 10, 0, 0, 0, tokyo), false},
			{"new_id", store.StateApproved, yesterday.Add(-9 * 24 * time.Hour), true},
			{"new_id", store.StateRejected, yesterday, true},
			{"password_reset", store.StateCompleted, yesterday, true},
		} {
			if err := add(e.kind, e.state, e.created, e.closed); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d.run(scheduler.JobDigest)
	got := d.fresh()
	if len(got) != 1 || !strings.HasPrefix(got[0], "ops@madoguchi.test") {
		t.Fatalf("digest: %v", got)
	}
	var newIDRow string
	for _, line := range strings.Split(got[0], "\n") {
		if strings.HasPrefix(line, "新規申請") {
			newIDRow = strings.Join(strings.Fields(line), " ")
		}
	}
	// open 3, received yesterday 2, approved 1, rejected 1, waiting 2, oldest pending 12/05
	if newIDRow != "新規申請 3 2 1 1 2 2026/12/05" {
		t.Errorf("new ID row %q", newIDRow)
	}
	status, _ := os.ReadFile(filepath.Join(d.dir, "status.txt"))
	for _, want := range []string{"処理状況 12/09現在", "新規申請（12/04受付分まで処理済み）", "パスワード再設定（12/08受付分まで処理済み）"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("status file lacks %q:\n%s", want, status)
		}
	}
	if h, _ := os.ReadFile(filepath.Join(d.dir, "status.html")); !strings.Contains(string(h), "<li>新規申請（12/04受付分まで処理済み）</li>") {
		t.Errorf("status html:\n%s", h)
	}
	d.add(time.Hour)
	d.run(scheduler.JobDigest)
	if got := d.fresh(); len(got) != 0 {
		t.Fatalf("a second digest the same day: %v", got)
	}
}

// On a facility desk, operators hear once of an application still not
// verified by phone after facility.verify_reminder_days.
func TestFacilityVerifyReminder(t *testing.T) {
	d := newDesk(t)
	list := filepath.Join(d.dir, "facilities.csv")
	os.WriteFile(list, []byte("東京都,がん研有明病院,1\n"), 0o644)
	cfg, err := config.Parse(fmt.Appendf(nil, `desk: {address: canreg@madoguchi.test, domain: madoguchi.test}
imap: {address: "127.0.0.1:1", tls: none, username: canreg, password: pw}
smtp: {address: "%s", tls: none}
database: {path: %q}
operators: [ops@madoguchi.test]
operator_auth: {required: false}
service: facility
facility: {facility_list: %q}
`, d.sink.Addr, filepath.Join(d.dir, "facility.db"), list), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Now: d.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.Store.Tx(context.Background(), func(tx *store.Tx) error {
		for i, age := range []int{8, 3} {
			r := &store.Request{Reference: fmt.Sprintf("GAN-2026-%06d", i+1), Kind: "facility_application", State: store.StateAwaitingVerification,
				Applicant: "iji@hosp.example", Fields: map[string]string{"facility": "がん研有明病院", "applicant_name": "医療 一郎"},
				CreatedAt: d.now.Add(-time.Duration(age) * 24 * time.Hour)}
			if err := tx.CreateRequest(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for day := 0; day < 2; day++ {
		if _, err := a.Scheduler.RunByHand(context.Background(), scheduler.JobVerifyReminders); err != nil {
			t.Fatal(err)
		}
		a.DeliverOutbox(context.Background())
		got := d.fresh()
		if day == 0 && (len(got) != 1 || !strings.Contains(got[0], "GAN-2026-000001") || !strings.HasPrefix(got[0], "ops@madoguchi.test")) {
			t.Fatalf("first run: %v", got)
		}
		if day == 1 && len(got) != 0 {
			t.Fatalf("repeated: %v", got)
		}
		d.add(24 * time.Hour)
	}
}
