package desk

import (
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// JobNotice is a notice a scheduled job sends, rendered and queued the
// way the desk's own notices are (templates, reference, operators in CC).
type JobNotice struct {
	Kind        string
	Request     *store.Request // the request it is about; nil for the digest
	To          []string
	CcOperators bool
	Lang        string // default: the request's, else the desk's
	// Data is what the notice shows; the desk adds the rest.
	Data JobData
	// AttachForm attaches the request's printable form again.
	AttachForm bool
}

// QueueJobNotice queues n in the job's transaction. The notice threads
// under the request's first message.
func (d *Desk) QueueJobNotice(tx *store.Tx, now time.Time, n JobNotice) error {
	in := &inbound{tx: tx, now: now, lang: n.Lang}
	if in.lang == "" {
		in.lang = d.cfg.Desk.Language
	}
	out := notice{kind: n.Kind, to: n.To, ccOperators: n.CcOperators, data: n.Data}
	if r := n.Request; r != nil {
		in.request, in.requestID = r, r.ID
		if n.Lang == "" {
			in.lang = r.Lang
		}
		staff := d.institutionStaff(r.Fields["institution"])
		if staff != nil {
			out.extraCc = []string{staff.Staff}
		}
		if reminder, ok := n.Data.(*FormReminder); ok {
			reminder.Title, reminder.Staff = d.title(forms.Kind(r.Kind), in.lang), staff
		}
		if n.AttachForm {
			out.attachments = []store.NoticeAttachment{d.printableForm(r)}
		}
	}
	return d.queue(in, out)
}

// Config is the desk's configuration, for the jobs.
func (d *Desk) Config() *config.Config { return d.cfg }

// Rules is the policy table the desk and its jobs move requests by.
func (d *Desk) Rules() *policy.Rules { return d.rules }
