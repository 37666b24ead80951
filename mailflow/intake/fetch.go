package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// lookahead reads the bodies of the next small messages in one UID FETCH,
// so that most messages cost no round trip of their own, and offers the
// slow-lane ones to the processor (Preparer), whose workers hash their
// passwords ahead of their turn while the handling in between waits for
// the disk and the servers.
type lookahead struct {
	in   *Intake
	prep Preparer
	ctx  context.Context

	fetched   map[uint32]Delivery
	heldBytes int64
}

// lookaheadWindow is how many queued messages are considered for reading
// ahead, lookaheadMaxBytes the largest message read ahead and
// lookaheadHeldBytes what the messages held ahead may add up to: forms are
// small, so a large message is left to its turn and the read-ahead stays a
// few megabytes at most.
const (
	lookaheadWindow    = 64
	lookaheadMaxBytes  = 256 << 10
	lookaheadHeldBytes = 4 << 20
)

func (in *Intake) newLookahead(ctx context.Context) *lookahead {
	prep, _ := in.proc.(Preparer)
	return &lookahead{in: in, prep: prep, ctx: ctx, fetched: map[uint32]Delivery{}}
}

// take returns a message read ahead, if it was.
func (l *lookahead) take(e Envelope) (Delivery, bool) {
	d, ok := l.fetched[e.UID]
	if ok {
		delete(l.fetched, e.UID)
		l.heldBytes -= e.Size
	}
	return d, ok
}

// fill reads ahead the small messages of the window once fewer than half
// of them are held, and offers the slow-lane ones for preparation.
func (l *lookahead) fill(s *session, q *workQueue) error {
	window := q.items[:min(len(q.items), lookaheadWindow)]
	var missing []imap.UID
	held, small, budget := 0, 0, lookaheadHeldBytes-l.heldBytes
	for _, it := range window {
		if it.Size > lookaheadMaxBytes {
			continue
		}
		small++
		if _, ok := l.fetched[it.UID]; ok {
			held++
		} else if it.Size <= budget {
			missing = append(missing, imap.UID(it.UID))
			budget -= it.Size
		}
	}
	if len(missing) == 0 || 2*held >= small {
		return nil
	}
	bodies, err := fetchBodies(s.c, missing, l.in.opts.MaxMessageBytes)
	if err != nil {
		return fmt.Errorf("read ahead: %w", err)
	}
	for _, it := range window {
		raw, ok := bodies[imap.UID(it.UID)]
		if !ok {
			continue // vanished, or left to its turn
		}
		d := Delivery{Mailbox: l.in.opts.Mailbox, UIDValidity: s.uidValidity, UID: it.UID, Size: it.Size, Raw: raw}
		l.fetched[it.UID] = d
		l.heldBytes += it.Size
		if it.lane > 0 && l.prep != nil {
			l.prep.Offer(l.ctx, d)
		}
	}
	return nil
}

// fetchBodies reads whole messages with one UID FETCH BODY.PEEK[]. A
// message that vanished, or whose body outgrew limit, is left out: its
// turn reads it alone, which reports either.
func fetchBodies(c *imapclient.Client, uids []imap.UID, limit int64) (map[imap.UID][]byte, error) {
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	bodies := make(map[imap.UID][]byte, len(uids))
	var readErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var (
			uid     imap.UID
			raw     []byte
			hasBody bool
			tooBig  bool
		)
		// The server may send UID after the body: read both, then keep.
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = item.UID
			case imapclient.FetchItemDataBodySection:
				if hasBody {
					continue
				}
				hasBody = true
				if item.Literal == nil {
					continue // NIL body: an empty message
				}
				var err error
				raw, err = readLiteral(item.Literal, limit)
				if errors.Is(err, errTooLarge) {
					tooBig = true
				} else if err != nil && readErr == nil {
					readErr = err
				}
			}
		}
		if uid != 0 && hasBody && !tooBig && readErr == nil {
			bodies[uid] = raw
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return bodies, readErr
}

// readLiteral reads a literal whose size is known into one buffer of that
// size instead of letting ReadAll double its way up (a 40 MB message would
// otherwise cost about 100 MB of allocations). It reads at most limit
// bytes and returns errTooLarge, with the first limit bytes, beyond that.
func readLiteral(lit imap.LiteralReader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(lit.Size(), limit+1)) + bytes.MinRead) // room for the final EOF read
	_, err := io.Copy(&buf, io.LimitReader(lit, limit+1))
	raw := buf.Bytes()
	if err == nil && int64(len(raw)) > limit {
		return raw[:limit], errTooLarge
	}
	return raw, err
}

var errTooLarge = errors.New("message larger than the limit")

// fetch reads one message with BODY.PEEK (never setting \Seen before the
// desk has recorded it), or only its header when it is over the limit.
// ok is false when the message vanished in the meantime.
func (in *Intake) fetch(s *session, uid imap.UID, size int64) (d Delivery, ok bool, err error) {
	d = Delivery{Mailbox: in.opts.Mailbox, UIDValidity: s.uidValidity, UID: uint32(uid), Size: size}
	limit := in.opts.MaxMessageBytes
	if size <= limit {
		d.Raw, ok, err = fetchSection(s.c, uid, &imap.FetchItemBodySection{Peek: true}, limit)
		if !errors.Is(err, errTooLarge) {
			if err != nil {
				return d, false, fmt.Errorf("fetch uid %d: %w", uid, err)
			}
			return d, ok, nil
		}
		// The body outgrew its RFC822.SIZE (some servers count line ends
		// differently): treat it like any oversized message.
	}
	d.Truncated = true
	d.Raw, ok, err = fetchSection(s.c, uid, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}, limit)
	if errors.Is(err, errTooLarge) {
		err = nil // a header over the limit is cut: the desk only needs its start
	}
	if err != nil {
		return d, false, fmt.Errorf("fetch header of uid %d: %w", uid, err)
	}
	return d, ok, nil
}

// fetchSection streams one body section of one message, reading at most
// limit bytes of it (the rest is drained by the client). The command is
// always drained and closed, or the connection would stall.
func fetchSection(c *imapclient.Client, uid imap.UID, section *imap.FetchItemBodySection, limit int64) (raw []byte, ok bool, err error) {
	cmd := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	if msg := cmd.Next(); msg != nil {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, isBody := item.(imapclient.FetchItemDataBodySection)
			if !isBody || ok {
				continue
			}
			ok = true
			if body.Literal == nil {
				continue // NIL body: an empty message
			}
			raw, err = readLiteral(body.Literal, limit)
		}
	}
	if closeErr := cmd.Close(); closeErr != nil {
		return nil, false, closeErr
	}
	return raw, ok, err
}
