package intake

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fileBatch is how many handled messages are filed with one command per
// folder: a MOVE or STORE and EXPUNGE each is a round trip, and on a busy
// server an O(mailbox) expunge.
const fileBatch = 32

// fileHeldBytes bounds what the masked copies waiting to be filed hold,
// with their originals (a form is small; an original with attachments
// may not be).
const fileHeldBytes = 4 << 20

// filing is the handled messages of a pass waiting to be filed.
type filing struct {
	moves     map[string][]filed // by destination folder
	replaces  []replacement      // masked copies to append before their originals are removed
	removes   []filed            // originals to delete: discarded, or replaced by a masked copy
	count     int
	heldBytes int // of replaces
}

// full tells when the queued messages are to be filed.
func (f *filing) full() bool { return f.count >= fileBatch || f.heldBytes >= fileHeldBytes }

type filed struct {
	uid   imap.UID
	attrs []any
}

type replacement struct {
	filed
	delivery Delivery
	dest     string
	raw      []byte
}

func (f *filing) move(uid imap.UID, dest string, attrs []any) {
	if f.moves == nil {
		f.moves = map[string][]filed{}
	}
	f.moves[dest] = append(f.moves[dest], filed{uid, attrs})
	f.count++
}

func (f *filing) remove(uid imap.UID, attrs []any) {
	f.removes = append(f.removes, filed{uid, attrs})
	f.count++
}

func (f *filing) replace(d Delivery, dest string, raw []byte, attrs []any) {
	r := replacement{filed{imap.UID(d.UID), attrs}, d, dest, withCopyMarker(d, raw)}
	f.replaces = append(f.replaces, r)
	f.count++
	f.heldBytes += len(r.raw) + len(d.Raw)
}

// file files the queued messages: the masked copies are appended in one
// pipelined burst and recorded in one transaction, then one MOVE per
// folder, then the originals are deleted with one STORE and EXPUNGE.
func (in *Intake) file(ctx context.Context, s *session, f *filing) error {
	if fl, ok := in.proc.(Flusher); ok && f.count > 0 {
		s.conn.nothingDue() // a wait on the desk's store, not on the server
		if err := fl.Flush(ctx); err != nil {
			return fmt.Errorf("make the records of %d messages durable before filing them: %w", f.count, err)
		}
	}
	uids := func(fs []filed) []imap.UID {
		out := make([]imap.UID, len(fs))
		for i, x := range fs {
			out[i] = x.uid
		}
		return out
	}
	if rs := f.replaces; len(rs) > 0 {
		// Tried once only: after a failure some copies may be in their
		// folders unrecorded, so the originals stay in the mailbox and the
		// next pass looks for their copies (findCopy) before appending.
		f.replaces, f.heldBytes = nil, 0
		f.count -= len(rs)
		if err := s.appendAll(rs); err != nil {
			return fmt.Errorf("append %d masked copies: %w", len(rs), err)
		}
		ds := make([]Delivery, len(rs))
		for i, r := range rs {
			ds[i] = r.delivery
		}
		s.conn.nothingDue() // a wait on the desk's store, not on the server
		if err := in.proc.ReplacementsFiled(ctx, ds); err != nil {
			return fmt.Errorf("record %d masked copies: %w", len(ds), err)
		}
		for _, r := range rs {
			f.removes = append(f.removes, r.filed)
		}
		f.count += len(rs)
	}
	for _, dest := range slices.Sorted(maps.Keys(f.moves)) {
		batch := f.moves[dest]
		if err := s.move(uids(batch), dest); err != nil {
			return fmt.Errorf("move %d messages to %s: %w", len(batch), dest, err)
		}
		in.logFiled(batch)
		delete(f.moves, dest)
		f.count -= len(batch)
	}
	if len(f.removes) > 0 {
		if err := s.deleteUIDs(uids(f.removes)); err != nil {
			return fmt.Errorf("delete %d messages: %w", len(f.removes), err)
		}
		in.logFiled(f.removes)
		f.count -= len(f.removes)
		f.removes = nil
	}
	return nil
}

func (in *Intake) logFiled(batch []filed) {
	for _, x := range batch {
		in.log.Info("message filed", x.attrs...)
	}
}

func (s *session) move(uids []imap.UID, dest string) error {
	set := imap.UIDSetNum(uids...)
	if s.caps.Has(imap.CapMove) {
		_, err := s.c.Move(set, dest).Wait()
		return err
	}
	if _, err := s.c.Copy(set, dest).Wait(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return s.deleteUIDs(uids)
}

// deleteUIDs flags the messages \Deleted and expunges them. Without
// UIDPLUS the plain EXPUNGE also removes any other message flagged \Deleted
// in the mailbox: nothing else should be flagging mail in the desk's
// mailbox.
func (s *session) deleteUIDs(uids []imap.UID) error {
	set := imap.UIDSetNum(uids...)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := s.c.Store(set, store, nil).Close(); err != nil {
		return fmt.Errorf("flag deleted: %w", err)
	}
	var expunge *imapclient.ExpungeCommand
	if s.caps.Has(imap.CapUIDPlus) {
		expunge = s.c.UIDExpunge(set)
	} else {
		expunge = s.c.Expunge()
	}
	if err := expunge.Close(); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

// appendAll appends the masked copies without waiting for each answer in
// turn (one round trip for the lot, not one each), all \Seen.
func (s *session) appendAll(rs []replacement) error {
	cmds := make([]*imapclient.AppendCommand, 0, len(rs))
	var sendErr error
	for _, r := range rs {
		cmd := s.c.Append(r.dest, int64(len(r.raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		cmds = append(cmds, cmd)
		if _, err := cmd.Write(r.raw); err != nil {
			cmd.Close()
			sendErr = fmt.Errorf("write: %w", err)
			break
		}
		if err := cmd.Close(); err != nil {
			sendErr = fmt.Errorf("close: %w", err)
			break
		}
	}
	// Every command sent is waited for, so none is left in flight.
	var waitErr error
	for _, cmd := range cmds {
		if _, err := cmd.Wait(); err != nil && waitErr == nil {
			waitErr = err
		}
	}
	return cmp.Or(sendErr, waitErr)
}
