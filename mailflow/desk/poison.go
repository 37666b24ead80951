package desk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

// A message whose handling fails (Process returns an error, not a
// refusal: a template override that loads but fails at render, a bug) is
// tried again after each delay of retryDelays, and quarantined when the
// maxProcessAttempts-th attempt fails too, about 2.5 hours after the first:
// long enough to ride out a passing fault, short enough that the applicant
// is not left waiting for days. Not a config key: an operator who fixes the
// cause later moves the message back to the INBOX.
const maxProcessAttempts = 5

var retryDelays = [maxProcessAttempts - 1]time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// staleFailure is when the failures of a message that is no longer tried
// (removed from the mailbox by hand) are forgotten: one still in the
// mailbox fails again at least every retryDelays[last].
const staleFailure = 7 * 24 * time.Hour

// maxFailureText bounds the error kept as the reason.
const maxFailureText = 500

var _ intake.FailureKeeper = (*Desk)(nil)

// ProcessFailed records a failed attempt at handling del
// (intake.FailureKeeper). The attempt's transaction left nothing behind;
// the count is kept in the store, so a restart between attempts does not
// reset it. At the last attempt the message is recorded as quarantined,
// with the last error as the reason and an audit line, like any message
// the desk quarantines.
func (d *Desk) ProcessFailed(ctx context.Context, del intake.Delivery, cause error) (intake.Failure, error) {
	now := d.now().UTC()
	var out intake.Failure
	err := d.store.Tx(ctx, func(tx *store.Tx) error {
		// A commit whose success went unreported leaves the message
		// recorded: it is only filed.
		if seen, err := tx.SeenByUID(del.Mailbox, del.UIDValidity, del.UID); err == nil {
			out.Disposition = recordedDisposition(seen)
			out.Disposition.Recorded = true
			return tx.ClearProcessingFailure(del.Mailbox, del.UIDValidity, del.UID)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		f, err := tx.ProcessingFailure(del.Mailbox, del.UIDValidity, del.UID)
		if err != nil {
			return err
		}
		if f.Attempts == 0 {
			f.FirstFailedAt = now
		}
		f.Attempts++
		f.LastFailedAt, f.LastError = now, failureText(cause)
		out.Attempts = f.Attempts
		if f.Attempts < maxProcessAttempts {
			f.NextAttemptAt = now.Add(retryDelays[f.Attempts-1])
			out.RetryAt = f.NextAttemptAt
			if err := tx.PruneProcessingFailures(del.Mailbox, del.UIDValidity, now.Add(-staleFailure)); err != nil {
				return err
			}
			return tx.SaveProcessingFailure(f)
		}
		res, err := d.quarantineFailed(tx, del, f)
		out.Disposition = res.disposition
		return err
	})
	if err != nil {
		return intake.Failure{}, fmt.Errorf("record the failure of uid %d: %w", del.UID, err)
	}
	return out, nil
}

// RetriesNotDue lists the messages still waiting for their next attempt
// (intake.FailureKeeper).
func (d *Desk) RetriesNotDue(ctx context.Context, mailbox string, uidValidity uint32) ([]uint32, error) {
	return d.store.RetriesNotDue(ctx, mailbox, uidValidity, d.now().UTC())
}

// quarantineFailed records a message given up after its failed attempts.
// Nothing was done for it, so the record is kept from matching later
// copies: once the cause is fixed, the message moved back to the INBOX (a
// new UID) is handled afresh instead of being filed as a duplicate.
func (d *Desk) quarantineFailed(tx *store.Tx, del intake.Delivery, f store.ProcessingFailure) (result, error) {
	sum := sha256.Sum256(del.Raw)
	in := &inbound{delivery: del, sha256: hex.EncodeToString(sum[:]), now: f.LastFailedAt, tx: tx}
	// Read for the record (From, Subject) and so that a password the
	// message carried is masked in the quarantine folder.
	if in.msg = d.parseForRecord(del); in.msg != nil && in.msg.From != nil {
		in.from = strings.ToLower(in.msg.From.Addr)
	}
	reason := fmt.Sprintf("handling failed %d times (first %s, last %s); last error: %s",
		f.Attempts, f.FirstFailedAt.Format(time.RFC3339), f.LastFailedAt.Format(time.RFC3339), f.LastError)
	res, err := d.finish(in, outcomeQuarantined, reason)
	if err != nil {
		return result{}, err
	}
	if err := tx.UnlinkSeenContent(del.Mailbox, del.UIDValidity, del.UID); err != nil {
		return result{}, err
	}
	if err := tx.ClearProcessingFailure(del.Mailbox, del.UIDValidity, del.UID); err != nil {
		return result{}, err
	}
	return res, nil
}

// parseForRecord parses a message that failed, maybe in the parser itself:
// a panic there gives no message (finish then masks the raw text).
func (d *Desk) parseForRecord(del intake.Delivery) (m *message.Message) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("parsing a message given up on panicked", "uid", del.UID, "panic", p)
			m = nil
		}
	}()
	m, err := message.Parse(bytes.NewReader(del.Raw), d.limits)
	if err != nil {
		return nil
	}
	return m
}

// failureText is the error kept as the reason, cut to maxFailureText bytes
// of valid UTF-8.
func failureText(err error) string {
	text := err.Error()
	if len(text) > maxFailureText {
		text = strings.ToValidUTF8(text[:maxFailureText], "") + "…"
	}
	return text
}
