package desk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/bulk"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// maxBulkRows bounds one bulk registration file.
const maxBulkRows = 100000

// bulkJob is a bulk registration read and hashed before the message's
// transaction: hashing 10,000 passwords takes minutes, and the database's
// one writer must not wait for it.
type bulkJob struct {
	prepared []bulk.Prepared
	fileErr  *bulk.FileError
	filename string
}

// prepareBulk reads the CSV of a program administrator's message, if it
// is one, outside any transaction. Anything it cannot decide (not an
// administrator, no CSV) leaves the message to the ordinary path.
func (d *Desk) prepareBulk(ctx context.Context, del intake.Delivery, parsed *parsedOnce) *bulkJob {
	if len(d.cfg.ProgramAdministrators) == 0 || del.Truncated {
		return nil
	}
	seen := false
	if err := d.store.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.SeenByUID(del.Mailbox, del.UIDValidity, del.UID)
		seen = err == nil
		return nil
	}); err != nil || seen {
		return nil // a repeat after a crash: nothing to hash again
	}
	m, err := parsed.get()
	if err != nil || m.From == nil || !d.cfg.IsProgramAdministrator(m.From.Addr) {
		return nil
	}
	if !d.senderVerdict(m).Pass {
		return nil // answered on the ordinary path, where the refusal is recorded
	}
	a := csvAttachment(m)
	if a == nil {
		return nil
	}
	job := &bulkJob{filename: a.Filename}
	rows, err := bulk.ReadCSV(bytes.NewReader(a.Data), maxBulkRows)
	var fe *bulk.FileError
	if errors.As(err, &fe) {
		job.fileErr = fe
		return job
	}
	if err != nil {
		job.fileErr = &bulk.FileError{Reason: err.Error(), ReasonJA: err.Error()}
		return job
	}
	job.prepared, err = bulk.Prepare(ctx, rows, bulk.Options{Now: d.now().In(d.cfg.Desk.Location), Hasher: d.hasher})
	if err != nil {
		return nil // cancelled: the message is handled again on the next pass
	}
	return job
}

func csvAttachment(m *message.Message) *message.Attachment {
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if strings.HasSuffix(strings.ToLower(a.Filename), ".csv") || a.DeclaredType == "text/csv" {
			return a
		}
	}
	return nil
}

// bulkRegistration commits the prepared rows in the message's
// transaction and answers with the result CSV: every row is either a
// complete account or reported with its problems.
func (d *Desk) bulkRegistration(in *inbound, job *bulkJob) (result, error) {
	// The CSV holds passwords: the filed copy keeps neither it nor them.
	in.secrets = []string{}
	if job.fileErr != nil {
		reason := job.fileErr.ReasonJA
		if in.lang == "en" {
			reason = job.fileErr.Reason
		}
		if err := d.queue(in, notice{kind: "bulk_refused", to: []string{in.from}, ccOperators: true, data: &bulkRefused{
			Filename: job.filename, Reason: reason}}); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, "bulk registration refused: "+job.fileErr.Reason)
	}
	register, err := d.rules.Move(policy.KindNewID, policy.StateNew, policy.Register, in)
	if err != nil {
		return result{}, err
	}
	results, err := bulk.Commit(in.tx, job.prepared, bulk.CommitOptions{Now: in.now, Actor: in.from, Register: register,
		ReferencePrefix: d.cfg.Desk.ReferencePrefix, Location: d.cfg.Desk.Location, Lang: in.lang})
	if err != nil {
		return result{}, err
	}
	created := 0
	for _, r := range results {
		if r.Created {
			created++
		}
	}
	d.emit("state", "", "bulk registration from %s: %d rows, %d accounts created", in.from, len(results), created)
	if err := in.tx.Audit(in.now, in.from, 0, "bulk_registration", fmt.Sprintf("%s: %d rows, %d created", job.filename, len(results), created)); err != nil {
		return result{}, err
	}
	name := strings.TrimSuffix(job.filename, ".csv") + ".result.csv"
	if err := d.queue(in, notice{kind: "bulk_result", to: []string{in.from}, ccOperators: true,
		attachments: []store.NoticeAttachment{{Filename: name, ContentType: "text/csv; charset=utf-8", Data: bulk.ResultCSV(results, in.lang)}},
		data:        &bulkResult{Filename: job.filename, RowsTotal: len(results), RowsCreated: created, RowsRefused: len(results) - created},
	}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, fmt.Sprintf("bulk registration: %d rows, %d created", len(results), created))
}
