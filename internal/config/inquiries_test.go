package config

import (
	"strings"
	"testing"
	"time"
)

// Unset, inquiries are reminded of after one working day of 09:00-17:00,
// Monday to Friday, every quarter of an hour.
func TestInquiryDefaults(t *testing.T) {
	cfg, err := Parse([]byte(checkBase), env(allSecrets))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.AllDesks() {
		q := c.Inquiries
		if q.RemindAfter != 8*time.Hour || q.WorkingHours != "09:00-17:00" || strings.Join(q.WorkingDays, " ") != "mon tue wed thu fri" ||
			len(q.Holidays) != 0 || c.Jobs.InquiryReminders != "*/15 * * * *" {
			t.Errorf("desk %s: inquiries %+v, schedule %q", c.Name, q, c.Jobs.InquiryReminders)
		}
		cal, err := c.InquiryCalendar()
		if err != nil {
			t.Fatal(err)
		}
		tokyo := c.Desk.Location
		// Friday 16:00 in Tokyo plus 8 working hours is Monday 16:00.
		friday := time.Date(2026, 12, 4, 16, 0, 0, 0, tokyo)
		if got := cal.Add(friday, 8*time.Hour); !got.Equal(time.Date(2026, 12, 7, 16, 0, 0, 0, tokyo)) {
			t.Errorf("desk %s: Friday 16:00 + 8h = %s", c.Name, got.In(tokyo))
		}
	}
}

// The calendar is the configured one, in desk.timezone.
func TestInquiryCalendarAsConfigured(t *testing.T) {
	text := checkBase + `inquiries:
  remind_after: 2h
  working_hours: "10:00-12:30"
  working_days: [Sat, sun]
  holidays: ["2026-12-06"]
`
	text = strings.Replace(text, "desk: {address: touroku@example.jp,", "desk: {timezone: America/New_York, address: touroku@example.jp,", 1)
	cfg, err := Parse([]byte(text), env(allSecrets))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := cfg.InquiryCalendar()
	if err != nil {
		t.Fatal(err)
	}
	ny := cfg.Desk.Location
	// Saturday 12:00 is half an hour before closing; Sunday 2026-12-06 is a
	// holiday, so the rest falls on the next Saturday.
	got := cal.Add(time.Date(2026, 12, 5, 12, 0, 0, 0, ny), 2*time.Hour)
	if want := time.Date(2026, 12, 12, 11, 30, 0, 0, ny); !got.Equal(want) || cal.Location() != ny {
		t.Errorf("Add = %s, want %s", got.In(ny), want)
	}
	if cfg.Inquiries.RemindAfter != 2*time.Hour {
		t.Errorf("remind_after %s", cfg.Inquiries.RemindAfter)
	}
	// As every key's zero, 0s takes the default.
	zero, err := Parse([]byte(checkBase+"inquiries: {remind_after: 0s}\n"), env(allSecrets))
	if err != nil || zero.Inquiries.RemindAfter != 8*time.Hour {
		t.Errorf("remind_after 0s: %v, %v", zero, err)
	}
}

func TestInquiryProblems(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"negative wait", "inquiries: {remind_after: -1h}", []string{"inquiries.remind_after: -1h0m0s must be more than 0"}},
		{"hours not a range", `inquiries: {working_hours: "9-17"}`, []string{`inquiries.working_hours: "9-17" is not HH:MM-HH:MM like 09:00-17:00`}},
		{"hours out of range", `inquiries: {working_hours: "09:00-24:30"}`, []string{`inquiries.working_hours: "09:00-24:30" is not HH:MM-HH:MM`}},
		{"minutes out of range", `inquiries: {working_hours: "09:60-17:00"}`, []string{`inquiries.working_hours: "09:60-17:00" is not HH:MM-HH:MM`}},
		{"hours backwards", `inquiries: {working_hours: "17:00-09:00"}`, []string{`inquiries.working_hours: "17:00-09:00" must start before it ends`}},
		{"hours empty", `inquiries: {working_hours: "09:00-09:00"}`, []string{`inquiries.working_hours: "09:00-09:00" must start before it ends`}},
		{"unknown day", "inquiries: {working_days: [mon, tues, fri]}", []string{`inquiries.working_days[1]: "tues" is not one of mon, tue, wed, thu, fri, sat, sun`}},
		{"bad holiday", `inquiries: {holidays: ["2026-12-29", "12/30"]}`, []string{`inquiries.holidays[1]: "12/30" is not a date like 2026-12-29`}},
		{"no such holiday", `inquiries: {holidays: ["2026-02-30"]}`, []string{`inquiries.holidays[0]: "2026-02-30" is not a date`}},
		{"bad schedule", `jobs: {inquiry_reminders: "*/15 * * *"}`, []string{`jobs.inquiry_reminders: "*/15 * * *" is not a cron schedule`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(checkBase, "jobs: {status_text: /var/lib/madoguchi/status.txt}\n", "", 1) + c.yaml + "\n"
			_, err := Parse([]byte(text), env(allSecrets))
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in:\n%v", w, err)
				}
			}
		})
	}
	ok := strings.Replace(checkBase, "jobs: {status_text: /var/lib/madoguchi/status.txt}\n", "", 1) +
		"inquiries: {working_hours: \"00:00-24:00\", working_days: [mon, tue, wed, thu, fri, sat, sun]}\n"
	if _, err := Parse([]byte(ok), env(allSecrets)); err != nil {
		t.Errorf("a desk staffed round the clock refused:\n%v", err)
	}
}
