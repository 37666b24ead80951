package intake

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// handle gives a message to the desk and queues its filing as the desk
// decided. A masked copy is appended at once: the desk records it before
// the original may go. handled is false when the desk failed on the
// message and it stays in the mailbox for a later attempt.
func (in *Intake) handle(ctx context.Context, s *session, d Delivery, files *filing) (handled bool, err error) {
	// The desk's work is no wait on the server.
	s.conn.nothingDue()
	disp, err := in.proc.Process(ctx, d)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		var retry bool
		if disp, retry, err = in.processFailed(ctx, d, err); err != nil || retry {
			return false, err
		}
	}
	dest, err := in.folder(disp.To)
	if err != nil {
		return false, fmt.Errorf("file uid %d: %w", d.UID, err)
	}
	attrs := []any{"uid", d.UID, "size", d.Size}
	if disp.Reason != "" {
		attrs = append(attrs, "reason", disp.Reason)
	}
	if d.Truncated {
		attrs = append(attrs, "truncated", true)
	}
	switch {
	case disp.Discard:
		files.remove(imap.UID(d.UID), append(attrs, "action", "discarded"))
	case len(disp.Replacement) > 0:
		if disp.Recorded {
			found, err := in.findCopy(ctx, s, files, dest, d)
			if err != nil {
				return false, fmt.Errorf("look for the masked copy of uid %d in %s: %w", d.UID, dest, err)
			}
			if found {
				s.conn.nothingDue()
				if err := in.proc.ReplacementsFiled(ctx, []Delivery{d}); err != nil {
					return false, fmt.Errorf("record replacement of uid %d: %w", d.UID, err)
				}
				files.remove(imap.UID(d.UID), append(attrs, "action", "replaced", "folder", dest, "copy", "filed before a cut"))
				return true, nil
			}
		}
		files.replace(d, dest, disp.Replacement, append(attrs, "action", "replaced", "folder", dest))
	default:
		files.move(imap.UID(d.UID), dest, append(attrs, "action", "moved", "folder", dest))
	}
	return true, nil
}

// processFailed decides what becomes of a message the desk failed on
// (Process returned an error, not a refusal): one bad message must not
// stop the mailbox, so it is left in place for a later attempt (retry)
// while the pass goes on, or filed as the FailureKeeper says once it has
// failed too often. Only when the failure cannot even be recorded is the
// trouble not the message's: then the pass stops.
func (in *Intake) processFailed(ctx context.Context, d Delivery, cause error) (disp Disposition, retry bool, err error) {
	keeper, ok := in.proc.(FailureKeeper)
	if !ok {
		in.log.Error("processing failed; message left in the mailbox for the next pass", "uid", d.UID, "err", cause)
		return Disposition{}, true, nil
	}
	f, err := keeper.ProcessFailed(ctx, d, cause)
	if err != nil {
		in.log.Error("processing failed and the failure could not be recorded; message left in place", "uid", d.UID, "err", cause, "record_err", err)
		return Disposition{}, false, fmt.Errorf("record the failure of uid %d (%v): %w", d.UID, cause, err)
	}
	if !f.RetryAt.IsZero() {
		in.log.Error("processing failed; message left in the mailbox for a later attempt",
			"uid", d.UID, "attempt", f.Attempts, "retry_at", f.RetryAt, "err", cause)
		return Disposition{}, true, nil
	}
	in.log.Error("processing failed; the message is filed as the desk decided", "uid", d.UID, "attempts", f.Attempts,
		"reason", f.Disposition.Reason, "err", cause)
	return f.Disposition, false, nil
}
