package intake

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// pass processes and files every message not flagged \Deleted: in UID
// order, or by lane first when the processor has lanes. While slow-lane
// messages remain it looks for new mail when the server reports some, or
// every recheckEvery, so a reply that arrives behind a backlog overtakes
// it. Handled messages are filed in batches of fileBatch. A message the
// desk fails on is left in the mailbox and the pass goes on (see
// processFailed); messages waiting for a later attempt are not read. Any
// other error stops the pass, leaving the rest for the next one.
func (in *Intake) pass(ctx context.Context, s *session) (n int, err error) {
	// Mail that arrives from here on is found by the search below or wakes
	// the next wait; an older signal is already covered.
	select {
	case <-s.wake:
	default:
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("search %s: %w", in.opts.Mailbox, err)
	}
	uids := data.AllUIDs()
	notDue, err := in.retriesNotDue(ctx, s)
	if err != nil {
		return 0, err
	}
	q, err := in.queue(ctx, s, uids, notDue)
	if err != nil {
		return 0, err
	}
	lastCheck := time.Now()
	ahead := in.newLookahead(ctx)
	files := &filing{}
	defer func() {
		// A desk error leaves the session usable: file what was handled
		// before it. After a cut this fails at once and the next pass
		// hands those messages over again.
		if err != nil && ctx.Err() == nil && files.count > 0 {
			if fileErr := in.file(ctx, s, files); fileErr != nil {
				in.log.Warn("filing the handled messages after an error failed; the next pass files them", "err", fileErr)
			}
		}
	}()
	for len(q.items) > 0 {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if q.hasSlow() && (time.Since(lastCheck) >= recheckEvery || s.woken()) {
			lastCheck = time.Now()
			if err := in.addNewMail(ctx, s, q); err != nil {
				return n, err
			}
		}
		if err := ahead.fill(s, q); err != nil {
			return n, err
		}
		e := q.pop()
		d, ok := ahead.take(e)
		if !ok {
			var err error
			if d, ok, err = in.fetch(s, imap.UID(e.UID), e.Size); err != nil {
				return n, err
			}
		}
		if !ok {
			in.log.Warn("message vanished before its body was read", "uid", e.UID)
			continue
		}
		handled, err := in.handle(ctx, s, d, files)
		if err != nil {
			return n, err
		}
		if !handled {
			continue
		}
		n++
		if files.full() {
			if err := in.file(ctx, s, files); err != nil {
				return n, err
			}
		}
	}
	// Messages recorded but not yet filed when a pass stops early stay in
	// the mailbox: the next pass hands them over again, and the desk
	// answers a repeat with the disposition it recorded.
	return n, in.file(ctx, s, files)
}

// woken reports (and clears) an EXISTS the server sent with the answer to
// one of the pass's commands: new mail to look for at once.
func (s *session) woken() bool {
	select {
	case <-s.wake:
		return true
	default:
		return false
	}
}

// recheckEvery is how often a pass with slow work left looks for new mail
// when the server has not said there is some.
const recheckEvery = 250 * time.Millisecond

// workQueue is the messages of a pass in the order they are handled.
type workQueue struct {
	items  []laned
	maxUID imap.UID          // the highest UID searched, read or not
	notDue map[imap.UID]bool // failed before, next attempt still to come: not read
}

// laned is a queued message: where it is and its lane, nothing of its
// header (the lane is decided when it is queued), so a queue of tens of
// thousands holds no pointers for the collector to trace.
type laned struct {
	UID  uint32
	Size int64
	lane int
}

func (q *workQueue) pop() Envelope {
	e := q.items[0]
	q.items = q.items[1:]
	return Envelope{UID: e.UID, Size: e.Size}
}

func (q *workQueue) hasSlow() bool {
	for _, it := range q.items {
		if it.lane > 0 {
			return true
		}
	}
	return false
}

func (q *workQueue) add(items []laned) {
	q.items = append(q.items, items...)
	slices.SortStableFunc(q.items, func(a, b laned) int {
		if a.lane != b.lane {
			return a.lane - b.lane
		}
		return int(a.UID) - int(b.UID)
	})
	for _, it := range items {
		q.maxUID = max(q.maxUID, imap.UID(it.UID))
	}
}

// due notes uids as searched and returns those to read: all but the ones
// waiting for a later attempt.
func (q *workQueue) due(uids []imap.UID) []imap.UID {
	for _, uid := range uids {
		q.maxUID = max(q.maxUID, uid)
	}
	return slices.DeleteFunc(uids, func(uid imap.UID) bool { return q.notDue[uid] })
}

// retriesNotDue asks the FailureKeeper, if there is one, which messages
// wait for a later attempt.
func (in *Intake) retriesNotDue(ctx context.Context, s *session) (map[imap.UID]bool, error) {
	keeper, ok := in.proc.(FailureKeeper)
	if !ok {
		return nil, nil
	}
	s.conn.nothingDue() // a wait on the desk's store, not on the server
	uids, err := keeper.RetriesNotDue(ctx, in.opts.Mailbox, s.uidValidity)
	if err != nil {
		return nil, fmt.Errorf("begin a pass over %s: %w", in.opts.Mailbox, err)
	}
	notDue := make(map[imap.UID]bool, len(uids))
	for _, uid := range uids {
		notDue[imap.UID(uid)] = true
	}
	return notDue, nil
}

// queue reads the envelopes of uids, but for those in notDue, and orders
// them.
func (in *Intake) queue(ctx context.Context, s *session, uids []imap.UID, notDue map[imap.UID]bool) (*workQueue, error) {
	slices.Sort(uids)
	q := &workQueue{notDue: notDue}
	for batch := range slices.Chunk(q.due(uids), sizeBatch) {
		items, err := in.envelopes(ctx, s, batch)
		if err != nil {
			return nil, err
		}
		q.add(items)
	}
	return q, nil
}

// addNewMail queues the messages that arrived since the pass began.
func (in *Intake) addNewMail(ctx context.Context, s *session, q *workQueue) error {
	var set imap.UIDSet
	set.AddRange(q.maxUID+1, 0)
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}, NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search new mail: %w", err)
	}
	var fresh []imap.UID
	for _, uid := range data.AllUIDs() {
		// "n:*" always matches the last message, even when it is older.
		if uid > q.maxUID {
			fresh = append(fresh, uid)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	slices.Sort(fresh)
	for batch := range slices.Chunk(q.due(fresh), sizeBatch) {
		items, err := in.envelopes(ctx, s, batch)
		if err != nil {
			return err
		}
		q.add(items)
	}
	return nil
}

// envelopes reads size and envelope of a batch of UIDs (small, so
// collecting them is fine, unlike bodies) and gives each its lane.
func (in *Intake) envelopes(ctx context.Context, s *session, uids []imap.UID) ([]laned, error) {
	msgs, err := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true, Envelope: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch envelopes: %w", err)
	}
	lanes, _ := in.proc.(Prioritizer)
	if lanes != nil {
		s.conn.nothingDue() // lanes are looked up in the desk's store
	}
	out := make([]laned, 0, len(msgs))
	for _, m := range msgs {
		if m.UID == 0 {
			continue // expunged by someone else since the search
		}
		e := Envelope{UID: uint32(m.UID), Size: m.RFC822Size}
		if env := m.Envelope; env != nil {
			e.Subject, e.InReplyTo = env.Subject, env.InReplyTo
			if len(env.From) > 0 {
				e.From = env.From[0].Addr()
			}
		}
		it := laned{UID: e.UID, Size: e.Size}
		if lanes != nil {
			it.lane = lanes.Lane(ctx, e)
		}
		out = append(out, it)
	}
	return out, nil
}
