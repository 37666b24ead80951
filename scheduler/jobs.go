package scheduler

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/atomicfile"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// Names of the desk's jobs.
const (
	JobExpireCodes = "expire-codes"
	JobReminders   = "reminders"
	JobForwarding  = "forwarding"
	JobDigest      = "digest"
	// JobInquiryReminders runs on every desk: every desk takes questions.
	JobInquiryReminders = "inquiry-reminders"
	// JobVerifyReminders runs on facility desks only.
	JobVerifyReminders = "verify-reminders"
)

// Deps are what the desk's jobs work with.
type Deps struct {
	Store  *store.Store
	Desk   *desk.Desk
	Config *config.Config
	// ExportForwarding writes the forwarding map again (after ends).
	ExportForwarding func(ctx context.Context) error
	Logger           *slog.Logger
}

// pageSize bounds one transaction of a job: the desk keeps answering
// mail between pages.
const pageSize = 200

// eachOpen calls fn for every open request in state received by a time,
// oldest first, a page per transaction; fn's changes commit with its page.
func (d Deps) eachOpen(ctx context.Context, state string, receivedBy time.Time, fn func(tx *store.Tx, r *store.Request) error) error {
	after := store.RequestCursor{CreatedAt: time.Unix(0, 0)}
	for {
		var page []*store.Request
		err := d.Store.Tx(ctx, func(tx *store.Tx) error {
			var err error
			if page, after, err = tx.OpenRequestsInState(state, receivedBy, after, pageSize); err != nil {
				return err
			}
			for _, r := range page {
				if err := fn(tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || len(page) < pageSize {
			return err
		}
	}
}

// DeskJobs are the scheduled jobs of a desk, with their schedules from
// the configuration.
func DeskJobs(d Deps) []Job {
	j := d.Config.Jobs
	jobs := []Job{
		{Name: JobExpireCodes, Schedule: j.ExpireCodes, Help: "clear access and confirmation codes older than access_codes.valid_for", Run: d.expireCodes},
		{Name: JobReminders, Schedule: j.Reminders, Help: "remind applicants whose signed form has not arrived; expire after the last reminder", Run: d.reminders},
		{Name: JobForwarding, Schedule: j.Forwarding, Help: "tell holders before a forwarding ends; end it on the day and rewrite the map", Run: d.forwarding},
		{Name: JobDigest, Schedule: j.Digest, Help: "processing status for operators (failed notices and open inquiries included) and the web site's status files", Run: d.digest},
		{Name: JobInquiryReminders, Schedule: j.InquiryReminders, Help: "remind operators of inquiries unanswered after inquiries.remind_after working hours", Run: d.inquiryReminders},
	}
	if d.Config.Service == "facility" {
		jobs = append(jobs, Job{Name: JobVerifyReminders, Schedule: d.Config.Facility.VerifyReminders,
			Help: "remind operators of facility applications not verified by phone after facility.verify_reminder_days", Run: d.verifyReminders})
	}
	return jobs
}

// verifyReminders tells operators, once per application, of facility
// applications still waiting for the phone call.
func (d Deps) verifyReminders(ctx context.Context, now time.Time) (Outcome, error) {
	now = now.UTC()
	days := d.Config.Facility.VerifyReminderDays
	sent := 0
	err := d.eachOpen(ctx, store.StateAwaitingVerification, now.Add(-time.Duration(days)*24*time.Hour), func(tx *store.Tx, r *store.Request) error {
		ok, err := tx.ClaimStep(JobVerifyReminders, "verify-reminder:"+r.Reference, r.ID, now)
		if err != nil || !ok {
			return err
		}
		sent++
		return d.Desk.QueueJobNotice(tx, now, desk.JobNotice{Kind: "facility_verify_reminder", Request: r,
			To: d.Config.Operators[:1], CcOperators: true, Lang: d.Config.Desk.Language,
			Data: &desk.VerifyReminder{Facility: r.Fields["facility"], Applicant: r.Fields["applicant_name"], Days: days}})
	})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Text: fmt.Sprintf("%d operators' reminders of unverified applications", sent), Changed: sent}, nil
}

// expireCodes closes the requests whose code has run out. No mail: the
// holder who replies late is told then, with how to start again.
func (d Deps) expireCodes(ctx context.Context, now time.Time) (Outcome, error) {
	var n int
	err := d.Store.Tx(ctx, func(tx *store.Tx) error {
		from := map[int64]string{}
		reqs, err := tx.ExpireCodeRequests(now.UTC(), func(r *store.Request) (string, bool) {
			t, err := d.Desk.Rules().Move(policy.KindOf(r), r.State, policy.CodeExpired, policy.JobEvidence{})
			from[r.ID] = r.State
			return t.To, err == nil
		})
		for _, r := range reqs {
			if err := tx.Audit(now, "scheduler", r.ID, "state", from[r.ID]+" -> "+r.State+": access code not used in time"); err != nil {
				return err
			}
		}
		n = len(reqs)
		return err
	})
	return Outcome{Text: fmt.Sprintf("%d requests expired with their code", n), Changed: n}, err
}

// reminders sends the day-N and day-M reminders for a missing signed
// form, and expires the application after the last one. Each step is
// claimed with its key in the transaction that queues its notice, so it
// happens once whatever runs the job, and how often.
func (d Deps) reminders(ctx context.Context, now time.Time) (Outcome, error) {
	j := d.Config.Jobs
	now = now.UTC()
	day := 24 * time.Hour
	steps := []struct {
		key    string
		after  time.Duration
		notice string
	}{
		// Highest first: after downtime only the step now due is sent.
		{"expire", time.Duration(j.ExpireAfterDays) * day, "application_expired"},
		{"reminder-2", time.Duration(j.SecondReminderDays) * day, "reminder"},
		{"reminder-1", time.Duration(j.FirstReminderDays) * day, "reminder"},
	}
	counts := map[string]int{}
	err := d.eachOpen(ctx, store.StateAwaitingDocuments, now.Add(-steps[2].after), func(tx *store.Tx, r *store.Request) error {
		age := now.Sub(r.CreatedAt)
		for i, s := range steps {
			if age < s.after {
				continue
			}
			done, err := tx.ClaimStep(JobReminders, s.key+":"+r.Reference, r.ID, now)
			if err != nil || !done {
				return err // not done: this step and the ones below happened already
			}
			// The lower steps are covered by this one.
			for _, lower := range steps[i+1:] {
				if _, err := tx.ClaimStep(JobReminders, lower.key+":"+r.Reference, r.ID, now); err != nil {
					return err
				}
			}
			counts[s.key]++
			return d.remind(tx, now, r, s.key, s.notice)
		}
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Text: fmt.Sprintf("%d first reminders, %d second reminders, %d applications expired",
		counts["reminder-1"], counts["reminder-2"], counts["expire"]),
		Changed: counts["reminder-1"] + counts["reminder-2"] + counts["expire"]}, nil
}

func (d Deps) remind(tx *store.Tx, now time.Time, r *store.Request, step, kind string) error {
	if step == "expire" {
		t, err := d.Desk.Rules().Move(policy.KindOf(r), r.State, policy.Expire, policy.JobEvidence{})
		if err != nil {
			return err
		}
		if err := tx.SetRequestState(r, t.To, now, t.Closes); err != nil {
			return err
		}
		if err := tx.ClearRequestSecret(r); err != nil {
			return err
		}
		if err := tx.Audit(now, "scheduler", r.ID, "state", "awaiting_documents -> expired: the signed form never came"); err != nil {
			return err
		}
	} else if err := tx.Audit(now, "scheduler", r.ID, step, "signed form still missing"); err != nil {
		return err
	}
	return d.Desk.QueueJobNotice(tx, now, desk.JobNotice{Kind: kind, Request: r, To: []string{r.Applicant},
		Data:       &desk.FormReminder{Deadline: r.CreatedAt.Add(time.Duration(d.Config.Jobs.ExpireAfterDays) * 24 * time.Hour)},
		AttachForm: step != "expire"})
}

// forwarding tells holders before their old address stops forwarding,
// and ends forwardings on their day, then rewrites the map.
func (d Deps) forwarding(ctx context.Context, now time.Time) (Outcome, error) {
	now = now.UTC()
	var told, ended int
	err := d.Store.Tx(ctx, func(tx *store.Tx) error {
		soon, err := tx.ForwardingsEndingBy(now.Add(time.Duration(d.Config.Jobs.ForwardingNoticeDays) * 24 * time.Hour))
		if err != nil {
			return err
		}
		for _, f := range soon {
			acct, err := tx.AccountByID(f.AccountID)
			if err != nil {
				return err
			}
			to := registered(acct, d.Config.Desk.Domain)
			if f.EndsAt.After(now) {
				ok, err := tx.ClaimStep(JobForwarding, fmt.Sprintf("forwarding-notice:%d", f.ID), f.RequestID, now)
				if err != nil {
					return err
				}
				if ok {
					if err := d.Desk.QueueJobNotice(tx, now, desk.JobNotice{Kind: "forwarding_ending", To: to,
						Data: &desk.ForwardingEnd{OldID: f.OldLogin, NewID: f.NewLogin, EndsAt: f.EndsAt}}); err != nil {
						return err
					}
					told++
				}
				continue
			}
			if err := tx.EndForwarding(f.ID, now); err != nil {
				return err
			}
			if ok, err := tx.ClaimStep(JobForwarding, fmt.Sprintf("forwarding-end:%d", f.ID), f.RequestID, now); err != nil {
				return err
			} else if ok {
				if err := d.Desk.QueueJobNotice(tx, now, desk.JobNotice{Kind: "forwarding_ended", To: to,
					Data: &desk.ForwardingEnd{OldID: f.OldLogin, NewID: f.NewLogin, EndsAt: f.EndsAt}}); err != nil {
					return err
				}
			}
			if err := tx.Audit(now, "scheduler", f.RequestID, "forwarding_ended", f.OldLogin+" -> "+f.NewLogin); err != nil {
				return err
			}
			ended++
		}
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	if d.ExportForwarding != nil {
		// Always: a map left stale by a failed export after a rename is
		// put right here too.
		if err := d.ExportForwarding(ctx); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Text: fmt.Sprintf("%d holders told, %d forwardings ended", told, ended), Changed: told + ended}, nil
}

func registered(a *store.Account, domain string) []string {
	out := []string{}
	if a.Email != "" {
		out = append(out, a.Email)
	}
	return append(out, a.Login+"@"+domain)
}

// digest sends operators the day's processing status and writes the
// status files for the web site.
func (d Deps) digest(ctx context.Context, now time.Time) (Outcome, error) {
	loc := d.Config.Desk.Location
	local := now.In(loc)
	dayStart := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	figures, err := d.Store.DigestFigures(ctx, dayStart.Add(-24*time.Hour), dayStart)
	if err != nil {
		return Outcome{}, err
	}
	failed, err := d.Store.FailedNoticesSince(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		return Outcome{}, err
	}
	inquiries, err := d.openInquiries(ctx, now)
	if err != nil {
		return Outcome{}, err
	}
	report := BuildStatus(figures, failed, inquiries, local, loc)
	files, err := d.writeStatusFiles(report)
	if err != nil {
		return Outcome{}, err
	}
	sent := false
	err = d.Store.Tx(ctx, func(tx *store.Tx) error {
		ok, err := tx.ClaimStep(JobDigest, "digest:"+local.Format("2006-01-02"), 0, now.UTC())
		if err != nil || !ok {
			return err
		}
		sent = true
		return d.Desk.QueueJobNotice(tx, now.UTC(), desk.JobNotice{Kind: "digest", To: d.Config.Operators[:1],
			CcOperators: true, Data: &desk.Digest{Day: local, Report: report.OperatorText}})
	})
	if err != nil {
		return Outcome{}, err
	}
	changed := files
	if sent {
		changed++
	}
	return Outcome{Text: fmt.Sprintf("digest %s (sent: %v), %d failed notices listed", local.Format("2006-01-02"), sent, len(failed)),
		Changed: changed}, nil
}

// writeStatusFiles writes the configured status files and says how many.
func (d Deps) writeStatusFiles(r StatusReport) (int, error) {
	written := 0
	if p := d.Config.Jobs.StatusText; p != "" {
		if err := atomicfile.Write(p, []byte(r.PublicText)); err != nil {
			return written, err
		}
		written++
	}
	if p := d.Config.Jobs.StatusHTML; p != "" {
		if err := atomicfile.Write(p, []byte(r.PublicHTML)); err != nil {
			return written, err
		}
		written++
	}
	return written, nil
}

// StatusReport is the digest for operators and the status for the web.
type StatusReport struct {
	OperatorText string
	PublicText   string
	PublicHTML   string
}

// BuildStatus renders the figures. The public status says, per kind, up
// to which receipt date everything has been processed, in the seed's
// words: "新規申請（12/04受付分まで処理済み）", and how many inquiries are
// open; the operators' digest lists those inquiries too. The public files
// are published on the web: they name no reference and no address.
func BuildStatus(figures []store.KindFigures, failed []store.FailedNotice, inquiries []OpenInquiry, now time.Time, loc *time.Location) StatusReport {
	sort.Slice(figures, func(i, j int) bool { return kindOrder(figures[i].Kind) < kindOrder(figures[j].Kind) })
	var op, pub strings.Builder
	fmt.Fprintf(&op, "処理状況 %s 現在（前日分）\n\n", now.Format("2006/01/02 15:04"))
	fmt.Fprintf(&op, "%-24s %6s %6s %6s %6s %8s  %s\n", "種別", "未完了", "受付", "承認", "却下", "書類待ち", "最古の未処理受付日")
	fmt.Fprintf(&pub, "処理状況 %s現在\n", now.Format("01/02"))
	var rows []string
	openInquiries := len(inquiries)
	for _, f := range figures {
		title := kindTitle(f.Kind)
		oldest := "-"
		done := now.Add(-24 * time.Hour)
		if !f.OldestPending.IsZero() {
			oldest = f.OldestPending.In(loc).Format("2006/01/02")
			done = f.OldestPending.In(loc).Add(-24 * time.Hour)
		}
		fmt.Fprintf(&op, "%-24s %6d %6d %6d %6d %8d  %s\n", title, f.Open, f.ReceivedToday, f.ApprovedToday, f.RejectedToday, f.Waiting, oldest)
		if f.Kind == policy.KindInquiry {
			// Counted below: answered inquiries stay open for the
			// asker's reply, so no date says they are all processed.
			openInquiries = max(openInquiries, f.Open)
			continue
		}
		rows = append(rows, fmt.Sprintf("%s（%s受付分まで処理済み）", title, done.Format("01/02")))
	}
	rows = append(rows, fmt.Sprintf("%s（対応中 %d件）", kindTitle(policy.KindInquiry), openInquiries))
	for _, row := range rows {
		fmt.Fprintf(&pub, "・%s\n", row)
	}
	writeInquiries(&op, inquiries, openInquiries, now)
	if len(failed) > 0 {
		fmt.Fprintf(&op, "\n送信できなかった通知（過去7日、%d件）:\n", len(failed))
		for _, f := range failed {
			fmt.Fprintf(&op, "  #%d %s %s 「%s」: %s\n", f.ID, f.CreatedAt.In(loc).Format("01/02 15:04"), f.Recipient, f.Subject, f.LastError)
		}
	}
	var h strings.Builder
	fmt.Fprintf(&h, "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>処理状況</title></head><body>\n<h2>処理状況 %s現在</h2>\n<ul>\n", html.EscapeString(now.Format("01/02")))
	for _, r := range rows {
		fmt.Fprintf(&h, "<li>%s</li>\n", html.EscapeString(r))
	}
	h.WriteString("</ul>\n</body></html>\n")
	return StatusReport{OperatorText: op.String(), PublicText: pub.String(), PublicHTML: h.String()}
}

func kindTitle(kind string) string {
	if kind == string(forms.KindNewID) {
		return "新規申請"
	}
	if spec, ok := forms.SpecFor(forms.Kind(kind)); ok {
		return spec.TitleJA
	}
	return kind
}

func kindOrder(kind string) int {
	for i, s := range forms.Specs() {
		if string(s.Kind) == kind {
			return i
		}
	}
	return 1000
}
