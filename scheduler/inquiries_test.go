package scheduler_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/policy"
	"github.com/madoguchi/madoguchi/scheduler"
)

// inquiry stores an inquiry received at created, in state since then.
func (d *desk) inquiry(ref, state string, created time.Time, fields map[string]string) *store.Request {
	d.t.Helper()
	r := &store.Request{Reference: ref, Kind: policy.KindInquiry, State: state, Applicant: "asker@univ.example",
		Lang: "ja", Fields: fields, CreatedAt: created.UTC()}
	if err := d.app.Store.Tx(context.Background(), func(tx *store.Tx) error { return tx.CreateRequest(r) }); err != nil {
		d.t.Fatal(err)
	}
	return r
}

// move changes an inquiry's state at a time, as the desk does on an
// operator's answer or the asker's follow-up.
func (d *desk) move(r *store.Request, state string, at time.Time, closes bool) {
	d.t.Helper()
	if err := d.app.Store.Tx(context.Background(), func(tx *store.Tx) error { return tx.SetRequestState(r, state, at.UTC(), closes) }); err != nil {
		d.t.Fatal(err)
	}
}

// An inquiry waits 8 working hours (09:00-17:00 Tokyo, Monday to Friday)
// before operators are reminded, once; a new wait after an answer and the
// asker's follow-up is reminded of again.
func TestInquiryReminderAfterWorkingHours(t *testing.T) {
	d := newDesk(t)
	tokyo := d.cfg.Desk.Location
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 12, day, hour, minute, 0, 0, tokyo) }
	// Friday 2026-12-04 14:00: 3 working hours on Friday, 5 on Monday.
	r := d.inquiry("MDG-2026-000101", policy.StateAwaitingAnswer, at(4, 14, 0),
		map[string]string{"question": "\n  IDとパスワードはログインテストを通りますが、ジャーナルのサイトで拒否されます。\n詳しくは…", "subject": "ログインできない"})
	// Answered inquiries are never reminded of, however old.
	d.inquiry("MDG-2026-000102", policy.StateAnswered, at(1, 9, 0), map[string]string{"question": "Q"})
	step := func(now time.Time, want int) []string {
		t.Helper()
		d.now = now.UTC()
		out := d.run(scheduler.JobInquiryReminders)
		got := d.fresh()
		if len(got) != want {
			t.Fatalf("%s: want %d reminders, got %d (%s): %v", now, want, len(got), out, got)
		}
		return got
	}
	step(at(4, 16, 59), 0) // the same afternoon
	step(at(5, 14, 0), 0)  // a day later, but Saturday: 3 working hours
	step(at(6, 23, 0), 0)  // Sunday night
	step(at(7, 13, 59), 0) // Monday, one minute short
	got := step(at(7, 14, 0), 1)
	for _, want := range []string{"ops@madoguchi.test: ", "未回答のお問い合わせ", "MDG-2026-000101", "asker@univ.example",
		"IDとパスワードはログインテストを通りますが、ジャーナルのサイトで拒否されます。", "業務時間で8時間"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("reminder lacks %q:\n%s", want, got[0])
		}
	}
	if strings.Contains(got[0], "詳しくは") {
		t.Errorf("the topic is more than the question's first line:\n%s", got[0])
	}
	step(at(7, 14, 15), 0) // the next run
	step(at(8, 16, 0), 0)  // and the next day: once per wait

	// Answered on Tuesday; the asker writes again on Wednesday at 16:00:
	// a new wait, due Thursday at 16:00.
	d.move(r, policy.StateAnswered, at(8, 16, 30), false)
	step(at(9, 10, 0), 0)
	d.move(r, policy.StateAwaitingAnswer, at(9, 16, 0), false)
	step(at(10, 15, 59), 0)
	got = step(at(10, 16, 0), 1)
	if !strings.Contains(got[0], "MDG-2026-000101") {
		t.Errorf("second reminder: %s", got[0])
	}
	step(at(10, 16, 15), 0)
	// Closed: nothing more.
	d.move(r, policy.StateCompleted, at(10, 17, 0), true)
	step(at(21, 10, 0), 0)
}

// The digest lists every open inquiry, oldest first, with its age and the
// working time it has waited unanswered; the public files only count them.
func TestDigestListsOpenInquiries(t *testing.T) {
	d := newDesk(t)
	tokyo := d.cfg.Desk.Location
	today := time.Date(2026, 12, 9, 8, 0, 0, 0, tokyo) // Wednesday
	d.now = today.UTC()
	// Sunday 04:00: 3 days 4 hours old, 16 working hours unanswered.
	d.inquiry("MDG-2026-000201", policy.StateAwaitingAnswer, today.Add(-76*time.Hour),
		map[string]string{"question": "ジャーナルにログインできません\n二行目", "subject": "件名"})
	answered := d.inquiry("MDG-2026-000202", policy.StateAwaitingAnswer, today.Add(-5*24*time.Hour), map[string]string{"question": "領収書の宛名は？"})
	d.move(answered, policy.StateAnswered, today.Add(-4*24*time.Hour), false)
	closed := d.inquiry("MDG-2026-000203", policy.StateAwaitingAnswer, today.Add(-6*24*time.Hour), map[string]string{"question": "済んだ質問"})
	d.move(closed, policy.StateCompleted, today.Add(-20*time.Hour), true)
	d.inquiry("MDG-2026-000204", policy.StateAwaitingAnswer, today.Add(-30*time.Minute),
		map[string]string{"question": "", "subject": strings.Repeat("長", 80)})

	d.run(scheduler.JobDigest)
	got := d.fresh()
	if len(got) != 1 || !strings.HasPrefix(got[0], "ops@madoguchi.test") {
		t.Fatalf("digest: %v", got)
	}
	var listed []string
	var row string
	for _, line := range strings.Split(got[0], "\n") {
		if strings.HasPrefix(line, "  MDG-") {
			listed = append(listed, strings.Join(strings.Fields(line), " "))
		}
		if strings.HasPrefix(line, "お問い合わせ ") {
			row = strings.Join(strings.Fields(line), " ")
		}
	}
	want := []string{
		"MDG-2026-000202 回答済み・返信待ち（受付から5日） asker@univ.example 領収書の宛名は？",
		"MDG-2026-000201 未回答（受付から3日4時間、業務時間で16時間回答待ち） asker@univ.example ジャーナルにログインできません",
		"MDG-2026-000204 未回答（受付から30分、業務時間で1時間未満回答待ち） asker@univ.example " + strings.Repeat("長", 59) + "…",
	}
	if strings.Join(listed, "\n") != strings.Join(want, "\n") {
		t.Errorf("listed:\n%s\nwant:\n%s\nin:\n%s", strings.Join(listed, "\n"), strings.Join(want, "\n"), got[0])
	}
	if !strings.Contains(got[0], "お問い合わせ（未完了 3件、古い順）") {
		t.Errorf("no heading with the count:\n%s", got[0])
	}
	// open 3, none received yesterday, 1 completed yesterday, the oldest
	// unanswered received 12/06.
	if row != "お問い合わせ 3 0 1 0 0 2026/12/06" {
		t.Errorf("inquiry row %q", row)
	}
	for _, name := range []string{"status.txt", "status.html"} {
		data, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if !strings.Contains(text, "お問い合わせ（対応中 3件）") {
			t.Errorf("%s does not count the inquiries:\n%s", name, text)
		}
		for _, leak := range []string{"@", "MDG-", "asker", "ジャーナル", "長長"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s, published on the web, shows %q:\n%s", name, leak, text)
			}
		}
	}
}

func TestDigestWithoutInquiries(t *testing.T) {
	r := scheduler.BuildStatus(nil, nil, nil, time.Date(2026, 12, 9, 8, 0, 0, 0, time.UTC), time.UTC)
	if !strings.Contains(r.OperatorText, "\nお問い合わせ: なし\n") {
		t.Errorf("operators' digest:\n%s", r.OperatorText)
	}
	if !strings.Contains(r.PublicText, "・お問い合わせ（対応中 0件）") || !strings.Contains(r.PublicHTML, "<li>お問い合わせ（対応中 0件）</li>") {
		t.Errorf("public:\n%s\n%s", r.PublicText, r.PublicHTML)
	}
}
