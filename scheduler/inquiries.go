package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// inquiryReminders tells operators of inquiries that have waited
// inquiries.remind_after of working time for an answer, once per wait.
func (d Deps) inquiryReminders(ctx context.Context, now time.Time) (Outcome, error) {
	now = now.UTC()
	cal, err := d.Config.InquiryCalendar()
	if err != nil {
		return Outcome{}, err
	}
	remindAfter := d.Config.Inquiries.RemindAfter
	sent := 0
	// Working time never exceeds the time that passed, so an inquiry
	// received less than remind_after ago cannot be due.
	err = d.eachOpen(ctx, policy.StateAwaitingAnswer, now.Add(-remindAfter), func(tx *store.Tx, r *store.Request) error {
		if r.Kind != policy.KindInquiry {
			return nil
		}
		// updated_at is when the state last changed: the start of this wait.
		waited := cal.Between(r.UpdatedAt, now)
		if waited < remindAfter {
			return nil
		}
		// The wait's start is part of the key: after an answer and the
		// asker's follow-up, the new wait is reminded of again.
		key := fmt.Sprintf("inquiry-reminder:%s:%d", r.Reference, r.UpdatedAt.Unix())
		ok, err := tx.ClaimStep(JobInquiryReminders, key, r.ID, now)
		if err != nil || !ok {
			return err
		}
		sent++
		return d.Desk.QueueJobNotice(tx, now, desk.JobNotice{Kind: "inquiry_reminder", Request: r,
			To: d.Config.Operators[:1], CcOperators: true, Lang: d.Config.Desk.Language,
			Data: &desk.InquiryReminder{Asker: r.Applicant, Topic: inquiryTopic(r), Since: r.UpdatedAt, WorkingHours: int(waited / time.Hour)}})
	})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Text: fmt.Sprintf("%d operators' reminders of unanswered inquiries", sent), Changed: sent}, nil
}

// topicRunes bounds an inquiry's topic to what fits on a line.
const topicRunes = 60

// inquiryTopic is what an inquiry is about, on one line: the first line
// of the question, else of the mail's subject.
func inquiryTopic(r *store.Request) string {
	for _, text := range []string{r.Fields["question"], r.Fields["subject"]} {
		for _, line := range strings.Split(text, "\n") {
			// Control characters (an escape, a stray CR) would garble the
			// operators' mail.
			line = strings.TrimSpace(strings.Map(func(c rune) rune {
				if unicode.IsControl(c) {
					return -1
				}
				return c
			}, line))
			if line == "" {
				continue
			}
			if runes := []rune(line); len(runes) > topicRunes {
				return string(runes[:topicRunes-1]) + "…"
			}
			return line
		}
	}
	return ""
}

// OpenInquiry is an open inquiry as the operators' digest lists it.
type OpenInquiry struct {
	Reference string
	Asker     string
	State     string // policy.StateAwaitingAnswer or policy.StateAnswered
	Topic     string
	CreatedAt time.Time
	// Unanswered is the working time it has waited for an answer so far;
	// zero once answered.
	Unanswered time.Duration
}

// openInquiries are the open inquiries, oldest first, for the digest.
func (d Deps) openInquiries(ctx context.Context, now time.Time) ([]OpenInquiry, error) {
	cal, err := d.Config.InquiryCalendar()
	if err != nil {
		return nil, err
	}
	rs, err := d.Store.OpenRequestsOfKind(ctx, policy.KindInquiry, pageSize)
	if err != nil {
		return nil, err
	}
	out := make([]OpenInquiry, 0, len(rs))
	for _, r := range rs {
		q := OpenInquiry{Reference: r.Reference, Asker: r.Applicant, State: r.State, Topic: inquiryTopic(r), CreatedAt: r.CreatedAt}
		if r.State == policy.StateAwaitingAnswer {
			q.Unanswered = cal.Between(r.UpdatedAt, now)
		}
		out = append(out, q)
	}
	return out, nil
}

// writeInquiries is the digest's section on open inquiries; open is how
// many there are, which may be more than those listed.
func writeInquiries(op *strings.Builder, inquiries []OpenInquiry, open int, now time.Time) {
	if open == 0 {
		op.WriteString("\nお問い合わせ: なし\n")
		return
	}
	fmt.Fprintf(op, "\nお問い合わせ（未完了 %d件、古い順）:\n", open)
	for _, q := range inquiries {
		state := "回答済み・返信待ち"
		age := "受付から" + japaneseAge(now.Sub(q.CreatedAt))
		if q.State == policy.StateAwaitingAnswer {
			state = "未回答"
			age += "、業務時間で" + japaneseWorkingHours(q.Unanswered) + "回答待ち"
		}
		topic := q.Topic
		if topic == "" {
			topic = "（件名・本文なし）"
		}
		fmt.Fprintf(op, "  %s  %s（%s）  %s  %s\n", q.Reference, state, age, q.Asker, topic)
	}
	if more := open - len(inquiries); more > 0 {
		fmt.Fprintf(op, "  ほか%d件\n", more)
	}
}

// japaneseAge is a duration as days and hours: 3日4時間, 5時間, 20分.
func japaneseAge(d time.Duration) string {
	d = max(d, 0)
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%d日%d時間", days, hours)
	case days > 0:
		return fmt.Sprintf("%d日", days)
	case hours > 0:
		return fmt.Sprintf("%d時間", hours)
	}
	return fmt.Sprintf("%d分", int(d/time.Minute))
}

// japaneseWorkingHours is working time in whole hours: a working day is
// not 24 of them, so days would mislead.
func japaneseWorkingHours(d time.Duration) string {
	if d < time.Hour {
		return "1時間未満"
	}
	return fmt.Sprintf("%d時間", int(d/time.Hour))
}
