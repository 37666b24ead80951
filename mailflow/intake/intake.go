// Package intake reads the desk mailbox over IMAP, hands each message to
// the desk (a Processor) and files it in the processed or quarantine
// folder once the desk has recorded its outcome.
//
// Exactly-once rests on the Processor: intake may hand it the same message
// again (after a crash, a dropped connection or a UIDVALIDITY change), and
// the Processor answers a repeat with the disposition it recorded the first
// time, so that intake only files it.
package intake

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Delivery is one message read from the mailbox.
type Delivery struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Size        int64  // RFC822.SIZE
	Raw         []byte // whole message, or only the header block when Truncated
	Truncated   bool   // message larger than Options.MaxMessageBytes: only the header was fetched
}

// Folder is where a processed message is filed.
type Folder int

const (
	ToProcessed Folder = iota
	ToQuarantine
)

// Disposition is the Processor's decision on how to file a message.
type Disposition struct {
	To          Folder
	Reason      string // recorded in logs (quarantine reason)
	Replacement []byte // when set: APPEND this (a masked copy) to the destination folder and DELETE the original instead of moving it (the original carried a password)
	Discard     bool   // delete the original without filing anything (its masked copy was already filed earlier)
	// Recorded is set when the Processor had handled this message before.
	// With a Replacement it means a cut may have come between the APPEND
	// of the masked copy and its record: intake looks for the copy before
	// appending another.
	Recorded bool
}

// Processor is the desk as intake sees it.
type Processor interface {
	// Process handles a message. It is idempotent: called again for an
	// already-handled UID it returns the same disposition without acting again.
	Process(ctx context.Context, d Delivery) (Disposition, error)
	// ReplacementsFiled is called once the Replacements of these messages
	// are in their folders, before the originals are deleted, so that a
	// retry returns Discard.
	ReplacementsFiled(ctx context.Context, ds []Delivery) error
}

// Flusher is optionally implemented by a Processor whose records of the
// messages it handled may not be on disk yet when Process returns (the
// desk on PostgreSQL commits without waiting for the disk). Intake calls
// Flush before it files any of them, so that a message leaves the mailbox
// only once its record would survive a crash of the database's machine.
type Flusher interface {
	Flush(ctx context.Context) error
}

// FailureKeeper is optionally implemented by a Processor: it keeps the
// failed attempts at handling each message where they survive a restart,
// so that a message whose handling fails (Process returns an error) waits
// its turn with a growing delay, and ends in Quarantine after a few
// attempts, while the rest of the mailbox is handled. Without one, such a
// message is left in the mailbox and tried again at the next pass.
type FailureKeeper interface {
	// ProcessFailed records that Process failed for d with cause. An error
	// means the failure could not be recorded, which stops the pass.
	ProcessFailed(ctx context.Context, d Delivery, cause error) (Failure, error)
	// RetriesNotDue lists the messages of mailbox (at uidValidity) whose
	// next attempt is still to come: a pass leaves them unread.
	RetriesNotDue(ctx context.Context, mailbox string, uidValidity uint32) ([]uint32, error)
}

// Failure is what a FailureKeeper made of a failed attempt.
type Failure struct {
	Attempts int       // failed attempts so far, this one included
	RetryAt  time.Time // next attempt; zero when the message is to be filed now as Disposition
	// Disposition files a message given up (quarantined, with the reason),
	// or one the Processor had recorded after all.
	Disposition Disposition
}

// Envelope is what intake knows of a message before reading its body.
type Envelope struct {
	UID       uint32
	Size      int64
	Subject   string
	From      string
	InReplyTo []string
}

// Prioritizer is optionally implemented by a Processor: messages of a
// lower lane are handled first. The desk puts replies on a thread (access
// codes, operator commands) before new requests, which cost a password
// hash each, so that a backlog never delays a 10-minute code.
type Prioritizer interface {
	Lane(ctx context.Context, e Envelope) int
}

// Preparer is optionally implemented by a Processor: intake offers it the
// messages it reads ahead, and the processor may do their expensive work
// that has no effect it must record (hashing the password of a form) on
// its own workers before their turn. Offer must not block. Process stays
// the only step that acts; a message not prepared is simply handled whole.
type Preparer interface {
	Offer(ctx context.Context, d Delivery)
}

// Options configures an Intake. Zero values take the documented defaults.
type Options struct {
	Address            string // host:port
	TLS                string // "none" | "starttls" | "tls" (default)
	Username, Password string
	Mailbox            string        // default INBOX
	Processed          string        // default Processed
	Quarantine         string        // default Quarantine
	MaxMessageBytes    int64         // default 25 MiB; larger messages are handed over as their header only
	PollInterval       time.Duration // default 1m; used when the server has no IDLE, and as a safety poll
	IdleRefresh        time.Duration // default 4m: end IDLE and send NOOP this often (under RFC 2177's 29 minutes), so a silent server is noticed
	CommandTimeout     time.Duration // default 30s: a server that leaves a command unanswered this long is given up and the connection replaced
	BackoffMin         time.Duration // default 1s: first delay before reconnecting
	BackoffMax         time.Duration // default 1m: longest delay before reconnecting
	Logger             *slog.Logger  // default slog.Default()
	TLSConfig          *tls.Config   // for "starttls" and "tls"; ServerName defaults to the host of Address

	// Observe, when set, hears how the connection fares (see observe).
	Observe func(connected bool)
}

// Intake reads one mailbox. Run one Drain or Run at a time: a second reader
// of the same mailbox would hand messages over twice and lean on the
// Processor's idempotency.
type Intake struct {
	opts Options
	proc Processor
	log  *slog.Logger
}

const (
	defaultMaxMessageBytes = 25 << 20
	sizeBatch              = 50 // messages whose sizes are fetched per UID FETCH
)

// New returns an Intake that hands messages to p.
func New(opts Options, p Processor) *Intake {
	setDefault(&opts.TLS, "tls")
	setDefault(&opts.Mailbox, "INBOX")
	setDefault(&opts.Processed, "Processed")
	setDefault(&opts.Quarantine, "Quarantine")
	setDefault(&opts.MaxMessageBytes, defaultMaxMessageBytes)
	setDefault(&opts.PollInterval, time.Minute)
	setDefault(&opts.IdleRefresh, 4*time.Minute)
	setDefault(&opts.CommandTimeout, 30*time.Second)
	setDefault(&opts.BackoffMin, time.Second)
	setDefault(&opts.BackoffMax, time.Minute)
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffMin)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Intake{opts: opts, proc: p, log: log}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Drain connects, processes and files every message present now, logs out
// and returns how many messages were processed.
func (in *Intake) Drain(ctx context.Context) (int, error) {
	s, err := in.connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, err
	}
	defer s.close(ctx)
	n, err := in.pass(ctx, s)
	if err != nil && ctx.Err() != nil {
		return n, ctx.Err()
	}
	return n, err
}

// Run reads the mailbox until ctx is done: it processes what is there, then
// waits for new mail with IDLE (or polls when the server has no IDLE) and
// processes it as it arrives. Any error is logged and followed by a
// reconnect after an exponential backoff with jitter. Run returns nil when
// ctx is cancelled.
func (in *Intake) Run(ctx context.Context) error {
	failures := 0
	for {
		healthy, err := in.serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			failures = 0
		}
		delay := in.backoff(failures)
		failures++
		in.observe(false)
		in.log.Warn("mailbox connection interrupted; reconnecting", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// serve runs one connection: process, wait for mail, repeat. healthy
// reports whether at least one pass completed, which resets the backoff.
func (in *Intake) serve(ctx context.Context) (healthy bool, err error) {
	s, err := in.connect(ctx)
	if err != nil {
		return false, err
	}
	defer s.close(ctx)
	if s.canIdle() {
		in.log.Debug("waiting for mail with IDLE", "mailbox", in.opts.Mailbox)
	} else {
		in.log.Info("server has no IDLE; polling", "mailbox", in.opts.Mailbox, "interval", in.opts.PollInterval)
	}
	for {
		if _, err := in.pass(ctx, s); err != nil {
			return healthy, err
		}
		healthy = true
		in.observe(true)
		if err := in.waitForMail(ctx, s); err != nil {
			return healthy, err
		}
	}
}

// backoff is exponential from BackoffMin to BackoffMax, with the upper half
// jittered so that many desks restarted together do not reconnect in step.
func (in *Intake) backoff(failures int) time.Duration {
	d := in.opts.BackoffMin
	for range min(failures, 30) {
		d *= 2
		if d >= in.opts.BackoffMax {
			d = in.opts.BackoffMax
			break
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func (in *Intake) folder(f Folder) (string, error) {
	switch f {
	case ToProcessed:
		return in.opts.Processed, nil
	case ToQuarantine:
		return in.opts.Quarantine, nil
	default:
		return "", fmt.Errorf("unknown folder %d", f)
	}
}
