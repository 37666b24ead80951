// Package desk decides what each incoming message means and what the desk
// does about it: it classifies the message (automatic mail, an operator's
// command, a reply on a thread, a new request), runs the handler of the
// request kind, and writes the state change, the notices and the audit
// line in one transaction. It knows nothing of IMAP or SMTP: it receives a
// delivered message and returns where the message should be filed.
package desk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/facility"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
	"github.com/madoguchi/madoguchi/templates"
)

// Event is one step of the desk's work, for the log and the demo's
// transcript.
type Event struct {
	At   time.Time
	Kind string // "in", "state", "notice", "quarantine", "ignored", "duplicate"
	Ref  string
	Text string
}

// Options are what a Desk needs.
type Options struct {
	Config    *config.Config
	Store     *store.Store
	Templates *templates.Set
	Now       func() time.Time
	Logger    *slog.Logger
	// Events, when set, receives every step (called inside the
	// transaction's goroutine; must not block).
	Events func(Event)
	// Hash is the argon2id cost; tests lower it.
	Hash secret.Params
	// Hasher, when set, does the desk's hashing (at its own cost, not
	// Hash): the desks of one daemon share one, and so its memory.
	Hasher *secret.Hasher
	// Enqueued, when set, is called after a commit that queued notices,
	// so the sender can wake up at once instead of at its next poll.
	Enqueued func()
	// Facilities is the facility list of a facility desk.
	Facilities *facility.List
	// ForwardingChanged, when set, is called after a commit that started
	// or ended a forwarding, so the mail server's map is written again.
	ForwardingChanged func()
	// Counted, when set, is told what each newly handled message came to,
	// after its commit: for metrics, so it must only count.
	Counted func(Tally)
}

// Tally is what handling one message came to.
type Tally struct {
	Outcome string // answered, ignored, quarantined, duplicate
	Refused string // the limit that refused it: "requests" or "hashes" (the hourly hashing budget); "" for none
}

// Desk processes messages. It implements intake.Processor.
type Desk struct {
	cfg    *config.Config
	store  *store.Store
	tmpl   *templates.Set
	now    func() time.Time
	log    *slog.Logger
	events func(Event)
	hash   secret.Params
	hasher *secret.Hasher
	kick   func()
	limits message.Limits
	// onForwarding is Options.ForwardingChanged.
	onForwarding func()
	counted      func(Tally)
	facilities   *facility.List
	pre          prehashed
	prep         preparePool
	budget       hashBudget
	rules        *policy.Rules
	// refPattern finds the desk's reference tag in a subject.
	refPattern *regexp.Regexp
}

// New returns a Desk.
func New(opts Options) *Desk {
	d := &Desk{
		cfg: opts.Config, store: opts.Store, tmpl: opts.Templates, now: opts.Now, log: opts.Logger,
		events: opts.Events, hash: opts.Hash, kick: opts.Enqueued, onForwarding: opts.ForwardingChanged,
		facilities: opts.Facilities, rules: policy.New(), counted: opts.Counted,
		refPattern: regexp.MustCompile(`\[\s*(` + regexp.QuoteMeta(opts.Config.Desk.ReferencePrefix) + `-\d{4}-\d{6})\s*\]`),
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.hash == (secret.Params{}) {
		d.hash = secret.DefaultParams()
	}
	d.hasher = opts.Hasher
	if d.hasher == nil {
		d.hasher = secret.NewHasher(d.hash)
	}
	d.limits = message.DefaultLimits()
	d.limits.MaxAttachments = opts.Config.Limits.MaxAttachments
	d.limits.MaxAttachmentBytes = opts.Config.Limits.MaxAttachmentBytes
	d.limits.MaxDepth = opts.Config.Limits.MaxNestingDepth
	if d.limits.MaxTotalBytes < opts.Config.IMAP.MaxMessageBytes {
		d.limits.MaxTotalBytes = opts.Config.IMAP.MaxMessageBytes
	}
	return d
}

func (d *Desk) emit(kind, ref, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	d.log.Info(text, "event", kind, "ref", ref)
	if d.events != nil {
		d.events(Event{At: d.now(), Kind: kind, Ref: ref, Text: text})
	}
}

// Process handles one delivered message exactly once. Called again for a
// message already handled (a crash before it was filed, or a copy after a
// UIDVALIDITY change) it only returns where the message belongs.
func (d *Desk) Process(ctx context.Context, del intake.Delivery) (disp intake.Disposition, err error) {
	sum := sha256.Sum256(del.Raw)
	hash := hex.EncodeToString(sum[:])
	// A preparation of this message still queued is taken back; one in
	// flight finishes first (outside the transaction: it needs the
	// database too), so its hash is used, not computed twice, and so is
	// the message it parsed.
	d.prep.withdraw(hash)
	d.pre.await(ctx, hash)
	parsed := &parsedOnce{raw: del.Raw, limits: d.limits}
	if m := d.pre.takeParsed(hash); m != nil {
		parsed.m, parsed.done = m, true
	}
	job := d.prepareBulk(ctx, del, parsed)
	// Parsed before the transaction (a truncated message never is) so
	// that one query finds every earlier record of the message.
	var messageID string
	if !del.Truncated {
		if m, err := parsed.get(); err == nil {
			messageID = m.MessageID
		}
	}
	var queued int
	var forwarding bool
	var tally Tally
	// Without waiting for the disk: intake flushes before it files the
	// message, and the sender's claim before it sends a notice (TxNoWait).
	err = d.store.TxNoWait(ctx, func(tx *store.Tx) error {
		earlier, err := tx.EarlierRecords(del.Mailbox, del.UIDValidity, del.UID, hash, messageID)
		if err != nil {
			return err
		}
		if earlier.ByUID != nil {
			disp = recordedDisposition(earlier.ByUID)
			disp.Recorded = true
			return nil
		}
		in := &inbound{delivery: del, sha256: hash, now: d.now().UTC(), tx: tx, bulk: job, parsed: parsed, earlier: earlier}
		res, err := d.handleSafely(in)
		if err != nil {
			return err
		}
		disp, queued, forwarding = res.disposition, res.queued, res.forwarding
		tally = Tally{Outcome: res.outcome, Refused: res.refused}
		return nil
	})
	if err != nil {
		return intake.Disposition{}, fmt.Errorf("process uid %d: %w", del.UID, err)
	}
	if queued > 0 && d.kick != nil {
		d.kick()
	}
	if forwarding && d.onForwarding != nil {
		// The forwarding map is written from the database: from a
		// record that is on disk. Without one the map waits for the
		// next rename or the nightly job.
		if err := d.store.Flush(ctx); err != nil {
			d.log.Warn("forwarding map not rewritten: the database did not confirm the rename is on disk", "uid", del.UID, "err", err)
		} else {
			d.onForwarding()
		}
	}
	if tally.Outcome != "" && d.counted != nil {
		d.counted(tally)
	}
	return disp, nil
}

// Flush returns once the records of the messages handled so far are on
// disk (intake.Flusher).
func (d *Desk) Flush(ctx context.Context) error { return d.store.Flush(ctx) }

// ReplacementsFiled records that the masked copies of messages were filed,
// so that a repeated Process returns no second copy.
func (d *Desk) ReplacementsFiled(ctx context.Context, dels []intake.Delivery) error {
	return d.store.Tx(ctx, func(tx *store.Tx) error {
		for _, del := range dels {
			sum := sha256.Sum256(del.Raw)
			if err := tx.MarkReplacementFiled(del.Mailbox, del.UIDValidity, del.UID, hex.EncodeToString(sum[:])); err != nil {
				return err
			}
		}
		return nil
	})
}

func recordedDisposition(s *store.Seen) intake.Disposition {
	disp := intake.Disposition{To: intake.ToProcessed, Reason: s.Outcome}
	if s.Destination == "quarantine" {
		disp.To = intake.ToQuarantine
		disp.Reason = s.Reason
	}
	if s.Replacement != nil {
		if s.ReplacementFiled {
			disp.Discard = true
		} else {
			disp.Replacement = s.Replacement
		}
	}
	return disp
}

// result is what handling one message produced.
type result struct {
	disposition intake.Disposition
	queued      int
	forwarding  bool
	outcome     string
	refused     string // see Tally
}

// handleSafely turns a panic in a handler into a quarantined message: one
// bad message must not stop the desk nor be lost.
func (d *Desk) handleSafely(in *inbound) (res result, err error) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("handler panic", "uid", in.delivery.UID, "panic", p, "stack", string(debug.Stack()))
			res, err = d.finish(in, outcomeQuarantined, fmt.Sprintf("internal error while handling the message: %v", p))
		}
	}()
	return d.handle(in)
}

// Outcomes recorded for a message.
const (
	outcomeAnswered    = "answered"
	outcomeIgnored     = "ignored"
	outcomeQuarantined = "quarantined"
	outcomeDuplicate   = "duplicate"
)

func (d *Desk) handle(in *inbound) (result, error) {
	if orig := in.earlier.ByContent; orig != nil {
		return d.duplicate(in, orig)
	}
	if in.delivery.Truncated {
		return d.refuseTruncated(in)
	}
	m, err := in.parsed.get()
	if err != nil {
		var pe *message.ParseError
		if errors.As(err, &pe) {
			return d.refuseUnparseable(in, pe.Reason)
		}
		return result{}, err
	}
	in.msg = m
	if orig := in.earlier.ByMessageID; orig != nil {
		return d.duplicate(in, orig)
	}
	if m.From == nil {
		return d.finish(in, outcomeQuarantined, "no usable From address: nobody to answer")
	}
	in.from = strings.ToLower(m.From.Addr)
	d.emit("in", "", "mail from %s: %q", in.from, m.Subject)
	if strings.EqualFold(in.from, d.cfg.Desk.Address) {
		return d.finish(in, outcomeIgnored, "mail from the desk's own address (loop)")
	}
	if m.Automatic.IsAutomatic() {
		return d.automatic(in)
	}
	return d.classify(in)
}

// finish records the message's outcome and decides its folder.
func (d *Desk) finish(in *inbound, outcome, reason string) (result, error) {
	seen := &store.Seen{
		Mailbox: in.delivery.Mailbox, UIDValidity: in.delivery.UIDValidity, UID: in.delivery.UID,
		ContentSHA256: in.sha256, ReceivedAt: in.now, Outcome: outcome, Reason: reason,
		RequestID: in.requestID, Destination: "processed",
	}
	if in.msg != nil {
		seen.MessageID, seen.Subject = in.msg.MessageID, in.msg.Subject
	}
	seen.From = in.from
	disp := intake.Disposition{To: intake.ToProcessed, Reason: outcome}
	if outcome == outcomeQuarantined {
		seen.Destination = "quarantine"
		disp = intake.Disposition{To: intake.ToQuarantine, Reason: reason}
		d.emit("quarantine", in.ref(), "quarantined uid %d: %s", in.delivery.UID, reason)
	} else if outcome == outcomeIgnored {
		d.emit("ignored", in.ref(), "not answered: %s", reason)
	}
	// Whatever the desk made of the mail (ignored as automatic, refused,
	// quarantined), a password it carried never reaches a folder.
	if in.secrets == nil && in.msg != nil {
		if s := secretValues(in.form()); len(s) > 0 {
			in.secrets = s
		}
	}
	switch {
	case in.secrets != nil && in.msg != nil:
		seen.Replacement = maskedCopy(in.msg, in.secrets)
	case in.msg == nil:
		// Unparseable: mask what can be read of the raw text.
		if s := secretValues(forms.Parse(string(in.delivery.Raw))); len(s) > 0 {
			seen.Replacement = []byte(maskSecrets(string(in.delivery.Raw), s))
		}
	}
	disp.Replacement = seen.Replacement
	id, err := in.tx.RecordSeen(seen)
	if err != nil {
		return result{}, err
	}
	for _, doc := range in.documents {
		doc.SeenID = id
		if err := in.tx.AddDocument(doc); err != nil {
			return result{}, err
		}
	}
	if outcome == outcomeQuarantined || outcome == outcomeIgnored {
		if err := in.tx.Audit(in.now, "desk", in.requestID, outcome, fmt.Sprintf("uid %d from %s: %s", in.delivery.UID, in.from, reason)); err != nil {
			return result{}, err
		}
	}
	return result{disposition: disp, queued: in.queued, forwarding: in.forwardingChanged, outcome: outcome, refused: in.refused}, nil
}

func (d *Desk) duplicate(in *inbound, orig *store.Seen) (result, error) {
	d.emit("duplicate", "", "uid %d repeats an already processed message (uid %d): filed without acting again", in.delivery.UID, orig.UID)
	seen := &store.Seen{
		Mailbox: in.delivery.Mailbox, UIDValidity: in.delivery.UIDValidity, UID: in.delivery.UID,
		MessageID: orig.MessageID, ContentSHA256: in.sha256, From: orig.From, Subject: orig.Subject,
		ReceivedAt: in.now, Outcome: outcomeDuplicate, Reason: fmt.Sprintf("same as message %d", orig.ID),
		RequestID: orig.RequestID, Destination: orig.Destination,
	}
	disp := recordedDisposition(orig)
	if orig.Replacement != nil && orig.ContentSHA256 != in.sha256 && !orig.ReplacementFiled {
		// A re-sent copy with other bytes: its secrets are its own, so
		// keep no copy of it at all; the original's masked copy suffices.
		disp.Replacement, disp.Discard = nil, true
	}
	seen.Replacement = disp.Replacement
	if _, err := in.tx.RecordSeen(seen); err != nil {
		return result{}, err
	}
	return result{disposition: disp, outcome: outcomeDuplicate}, nil
}

// Lane puts replies on a thread (access codes, operator commands, signed
// forms) before new requests: a new request may cost a password hash,
// and a 10-minute access code must not wait behind a backlog of them. A
// subject can name any reference, so the fast lane is only for a request
// that exists and whose thread the sender is on.
func (d *Desk) Lane(ctx context.Context, e intake.Envelope) int {
	ref := d.referenceIn(e.Subject)
	if ref == "" && len(e.InReplyTo) == 0 {
		return 1
	}
	on, err := d.store.OnThread(ctx, ref, e.InReplyTo, strings.ToLower(e.From), d.cfg.IsOperator(e.From))
	if err != nil || !on {
		return 1
	}
	return 0
}

// hashFor hashes a password for the sender of in, unless the sender has
// used up this hour's hashing: argon2id is the one expensive stage, and
// one sender's flood must not starve the others. A hash prepared ahead
// (Prepare) was reserved when it was made, and is recorded now.
func (d *Desk) hashFor(in *inbound, password string) (hash string, capped bool, err error) {
	if h := d.pre.take(prehashKey(in.sha256, password)); h != "" {
		return h, false, d.recordHash(in)
	}
	if capped, err = d.spendHash(in); err != nil || capped {
		return "", capped, err
	}
	hash, err = d.hasher.Hash(password)
	return hash, false, err
}

// spendHash counts one hash against the sender's hourly cap and records
// it, or reports that the cap is reached.
func (d *Desk) spendHash(in *inbound) (capped bool, err error) {
	ok, err := d.reserveHash(in.tx, in.from, in.proved.sender, in.now)
	if err != nil {
		return false, err
	}
	if !ok {
		in.refused = "hashes"
		return true, nil
	}
	return false, d.recordHash(in)
}

// recordHash records a hash used for the sender, and against the share
// of unproved senders when our MX did not prove this one.
func (d *Desk) recordHash(in *inbound) error {
	if err := in.tx.RecordHashWork(in.from, in.now); err != nil || in.proved.sender {
		return err
	}
	return in.tx.RecordHashWork(unprovedSenders, in.now)
}

// unprovedSenders is the budget that every sender without an aligned pass
// from our MX shares: From addresses cost nothing to rotate, so each one's
// own cap alone would not bound the hashing they can buy.
const unprovedSenders = "*unproved"

// reserveHash takes one hash from the sender's hourly budget (and, for a
// sender our MX did not prove, from the shared one), reading the hashes
// recorded through tx when the budget first meets it.
func (d *Desk) reserveHash(tx *store.Tx, from string, proved bool, now time.Time) (bool, error) {
	load := func(sender string) func(time.Time) ([]time.Time, error) {
		return func(since time.Time) ([]time.Time, error) { return tx.HashWorkSince(sender, since) }
	}
	ok, err := d.budget.reserve(from, now, d.cfg.Limits.HashesPerSenderPerHour, load(from))
	if err != nil || !ok || proved {
		return ok, err
	}
	return d.budget.reserve(unprovedSenders, now, d.cfg.Limits.UnauthenticatedHashesPerHour, load(unprovedSenders))
}
