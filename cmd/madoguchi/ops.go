package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/text/width"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/desk"
)

// The operators' commands read and change a desk's database beside the
// running daemon (SQLite in WAL mode; writes wait for each other), from
// the daemon's own configuration. Each change writes an audit line with
// the actor "cli:<os user>".

// opsFlags are the flags every operators' command takes.
type opsFlags struct {
	config string
	desk   string
	json   bool
}

func (f *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "configuration file (YAML)")
	fs.StringVar(&f.desk, "desk", "", "only this desk (default: every desk of the configuration)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`outbox retry 12 -config FILE`), which flag alone
// stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// deskDB is one desk's configuration and open database.
type deskDB struct {
	cfg *config.Config
	st  *store.Store
}

// operator runs the operators' commands for one invocation.
type operator struct {
	out   io.Writer
	json  bool
	now   func() time.Time
	actor string
	// grouped: several desks are shown, so each desk's table gets a heading.
	grouped bool
}

// runOps is `madoguchi requests|request|outbox|quarantine`. Exit 0 when
// done, 1 when something failed, 2 on bad usage.
func runOps(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	name := cmd
	if len(args) > 0 && (cmd == "outbox" && args[0] == "retry" || cmd == "quarantine" && args[0] == "requeue") {
		name, args = cmd+" "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f opsFlags
	f.register(fs)
	var state, kind string
	var failed bool
	switch name {
	case "requests":
		fs.StringVar(&state, "state", "", "requests in this state, open or closed (default: every open request)")
		fs.StringVar(&kind, "kind", "", "requests of this kind")
	case "outbox":
		fs.BoolVar(&failed, "failed", false, "only the failed notices")
	case "outbox retry":
		fs.BoolVar(&failed, "failed", false, "every failed notice")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "madoguchi %s: %s\n\n%s", name, msg, usage)
		return 2
	}
	var wantArgs int
	switch name {
	case "request", "quarantine requeue":
		wantArgs = 1
	case "outbox retry":
		if !failed {
			wantArgs = 1
		}
	}
	switch {
	case len(pos) != wantArgs && name == "outbox retry":
		return usageErr("name one notice ID, or --failed for every failed notice")
	case len(pos) != wantArgs && wantArgs == 1:
		return usageErr("takes one argument")
	case len(pos) != wantArgs:
		return usageErr(fmt.Sprintf("unexpected argument %q", pos[0]))
	case f.config == "":
		return usageErr("-config FILE is required")
	}
	var noticeID int64 // outbox retry ID; 0 with --failed
	var uid uint64     // quarantine requeue UID
	switch {
	case name == "outbox retry" && !failed:
		if noticeID, err = strconv.ParseInt(pos[0], 10, 64); err != nil || noticeID <= 0 {
			return usageErr(fmt.Sprintf("%q is not a notice ID (see madoguchi outbox)", pos[0]))
		}
	case name == "quarantine requeue":
		if uid, err = strconv.ParseUint(pos[0], 10, 32); err != nil || uid == 0 {
			return usageErr(fmt.Sprintf("%q is not a UID (see madoguchi quarantine)", pos[0]))
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "madoguchi %s: %v\n", name, err)
		return 1
	}

	// Only requeue talks to the mail server; the others need no mail
	// password in the environment.
	cfg, err := loadOpsConfig(f.config, name == "quarantine requeue")
	if err != nil {
		return fail(err)
	}
	selected, err := selectDesks(cfg, f.desk)
	if err != nil {
		return fail(err)
	}
	if len(selected) > 1 && (name == "quarantine requeue" || name == "outbox retry" && !failed) {
		return fail(fmt.Errorf("the configuration has %d desks (%s): name one with -desk", len(selected), deskNames(selected)))
	}
	var desks []deskDB
	defer func() {
		for _, d := range desks {
			d.st.Close()
		}
	}()
	for _, dc := range selected {
		st, err := app.OpenStore(ctx, dc, nil)
		if err != nil {
			return fail(fmt.Errorf("desk %s: %w", dc.Name, err))
		}
		desks = append(desks, deskDB{cfg: dc, st: st})
	}

	op := &operator{out: stdout, json: f.json, now: time.Now, actor: "cli:" + userName(), grouped: len(desks) > 1}
	switch name {
	case "requests":
		err = op.requests(ctx, desks, store.RequestFilter{State: state, Kind: kind})
	case "request":
		err = op.request(ctx, desks, pos[0])
	case "outbox":
		err = op.outbox(ctx, desks, failed)
	case "outbox retry":
		err = op.retry(ctx, desks, noticeID)
	case "quarantine":
		err = op.quarantine(ctx, desks)
	case "quarantine requeue":
		err = op.requeue(ctx, desks[0], uint32(uid))
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// loadOpsConfig loads the configuration. A command that does not talk to
// the mail servers accepts unset *_env passwords, so operators can look
// at the database without the daemon's secrets in their environment.
func loadOpsConfig(path string, needMail bool) (*config.Config, error) {
	if needMail {
		return config.Load(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return config.Parse(data, func(key string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return "(not needed by this command)"
	})
}

// selectDesks is the named desk, or every desk when name is empty.
func selectDesks(cfg *config.Config, name string) ([]*config.Config, error) {
	all := cfg.AllDesks()
	if name == "" {
		return all, nil
	}
	for _, dc := range all {
		if dc.Name == name {
			return []*config.Config{dc}, nil
		}
	}
	return nil, fmt.Errorf("no desk %q in the configuration (desks: %s)", name, deskNames(all))
}

func deskNames(desks []*config.Config) string {
	names := make([]string, len(desks))
	for i, dc := range desks {
		names[i] = dc.Name
	}
	return strings.Join(names, ", ")
}

// heading starts one desk's part of a table output.
func (op *operator) heading(d deskDB) {
	if op.grouped {
		fmt.Fprintf(op.out, "== desk %s ==\n", d.cfg.Name)
	}
}

func (op *operator) writeJSON(v any) error {
	enc := json.NewEncoder(op.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// requestJSON is one line of `madoguchi requests --json`.
type requestJSON struct {
	Desk       string     `json:"desk"`
	Reference  string     `json:"reference"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	StateText  string     `json:"state_text"`
	Applicant  string     `json:"applicant"`
	DesiredID  string     `json:"desired_id"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	AgeSeconds int64      `json:"age_seconds"`
	// DeskHolder is the instance holding the desk's lease (reading its
	// mail), "" when none does; DeskHeldUntil is when that lease expires
	// unless renewed.
	DeskHolder    string     `json:"desk_holder"`
	DeskHeldUntil *time.Time `json:"desk_held_until"`
}

// deskHolder reads which instance holds the desk's lease: "" with a zero
// time when none holds it (no madoguchi run serves the desk, or its
// holder stopped renewing).
func deskHolder(ctx context.Context, d deskDB) (string, time.Time, error) {
	leases, err := d.st.Leases(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("desk %s: leases: %w", d.cfg.Name, err)
	}
	for _, l := range leases {
		if l.Desk == d.cfg.Name && !l.Expired {
			return l.Holder, l.ExpiresAt, nil
		}
	}
	return "", time.Time{}, nil
}

// holderLine is the line `madoguchi requests` prints about a desk's lease.
func holderLine(d deskDB, holder string, until time.Time) string {
	if holder == "" {
		return fmt.Sprintf("desk %s: held by no instance (no madoguchi run reads its mail)", d.cfg.Name)
	}
	return fmt.Sprintf("desk %s: held by %s (lease until %s)", d.cfg.Name, holder, localTime(d, until))
}

func (op *operator) requests(ctx context.Context, desks []deskDB, filter store.RequestFilter) error {
	out := []requestJSON{}
	for _, d := range desks {
		list, err := d.st.ListRequests(ctx, filter)
		if err != nil {
			return fmt.Errorf("desk %s: %w", d.cfg.Name, err)
		}
		holder, until, err := deskHolder(ctx, d)
		if err != nil {
			return err
		}
		if op.json {
			for _, r := range list {
				out = append(out, requestJSON{Desk: d.cfg.Name, Reference: r.Reference, Kind: r.Kind, State: r.State,
					StateText: desk.StateText(d.cfg.Desk.Language, r.State), Applicant: r.Applicant, DesiredID: r.DesiredID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
					ClosedAt: optionalTime(r.ClosedAt), AgeSeconds: int64(op.now().Sub(r.CreatedAt).Seconds()),
					DeskHolder: holder, DeskHeldUntil: optionalTime(until)})
			}
			continue
		}
		op.heading(d)
		fmt.Fprintln(op.out, holderLine(d, holder, until))
		if len(list) == 0 {
			fmt.Fprintln(op.out, "no requests")
			continue
		}
		t := &table{}
		t.add("REFERENCE", "KIND", "STATE", "APPLICANT", "AGE", "LAST CHANGE")
		for _, r := range list {
			st := r.State
			if !r.ClosedAt.IsZero() {
				st += " (closed)"
			}
			t.add(r.Reference, r.Kind, st, r.Applicant, age(op.now().Sub(r.CreatedAt)), localTime(d, r.UpdatedAt))
		}
		t.write(op.out)
	}
	if op.json {
		return op.writeJSON(out)
	}
	return nil
}

// requestReportJSON is `madoguchi request REF --json`.
type requestReportJSON struct {
	Desk      string            `json:"desk"`
	Reference string            `json:"reference"`
	Kind      string            `json:"kind"`
	State     string            `json:"state"`
	Applicant string            `json:"applicant"`
	Lang      string            `json:"lang"`
	DesiredID string            `json:"desired_id"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	ClosedAt  *time.Time        `json:"closed_at"`
	Fields    map[string]string `json:"fields"`
	Messages  []messageJSON     `json:"messages"`
	Notices   []noticeJSON      `json:"notices"`
	Linked    []string          `json:"other_thread_message_ids"`
	Audit     []auditJSON       `json:"audit"`
}

type messageJSON struct {
	ReceivedAt  time.Time `json:"received_at"`
	MessageID   string    `json:"message_id"`
	From        string    `json:"from"`
	Subject     string    `json:"subject"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason"`
	UID         uint32    `json:"uid"`
	Destination string    `json:"destination"`
}

type noticeJSON struct {
	ID           int64      `json:"id"`
	CreatedAt    time.Time  `json:"created_at"`
	Kind         string     `json:"kind"`
	To           []string   `json:"to"`
	Cc           []string   `json:"cc"`
	Subject      string     `json:"subject"`
	State        string     `json:"state"`
	MessageID    string     `json:"message_id"`
	Attempts     int        `json:"attempts"`
	SentAt       *time.Time `json:"sent_at"`
	LastError    string     `json:"last_error"`
	BouncedAt    *time.Time `json:"bounced_at"`
	BounceDetail string     `json:"bounce_detail"`
}

type auditJSON struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail"`
}

func (op *operator) request(ctx context.Context, desks []deskDB, ref string) error {
	var found []deskDB
	var reports []*store.RequestReport
	for _, d := range desks {
		rep, err := d.st.RequestReportByReference(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("desk %s: %w", d.cfg.Name, err)
		}
		found, reports = append(found, d), append(reports, rep)
	}
	switch len(found) {
	case 0:
		return fmt.Errorf("no request %s", ref)
	case 1:
	default:
		names := make([]string, len(found))
		for i, d := range found {
			names[i] = d.cfg.Name
		}
		return fmt.Errorf("desks %s each have a request %s: name one with -desk", strings.Join(names, ", "), ref)
	}
	d, rep := found[0], reports[0]
	if op.json {
		return op.writeJSON(reportJSON(d, rep))
	}
	op.printReport(d, rep)
	return nil
}

func reportJSON(d deskDB, rep *store.RequestReport) requestReportJSON {
	r := rep.Request
	out := requestReportJSON{Desk: d.cfg.Name, Reference: r.Reference, Kind: r.Kind, State: r.State, Applicant: r.Applicant,
		Lang: r.Lang, DesiredID: r.DesiredID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, ClosedAt: optionalTime(r.ClosedAt),
		Fields: rep.Fields, Messages: []messageJSON{}, Notices: []noticeJSON{}, Linked: rep.Linked, Audit: []auditJSON{}}
	if out.Fields == nil {
		out.Fields = map[string]string{}
	}
	if out.Linked == nil {
		out.Linked = []string{}
	}
	for _, m := range rep.Messages {
		out.Messages = append(out.Messages, messageJSON{ReceivedAt: m.ReceivedAt, MessageID: m.MessageID, From: m.From,
			Subject: m.Subject, Outcome: m.Outcome, Reason: m.Reason, UID: m.UID, Destination: m.Destination})
	}
	for _, n := range rep.Notices {
		out.Notices = append(out.Notices, noticeJSON{ID: n.ID, CreatedAt: n.CreatedAt, Kind: n.Kind, To: nonNilStrings(n.To),
			Cc: nonNilStrings(n.Cc), Subject: n.Subject, State: n.State, MessageID: n.MessageID, Attempts: n.Attempts,
			SentAt: optionalTime(n.SentAt), LastError: n.LastError, BouncedAt: optionalTime(n.BouncedAt), BounceDetail: n.BounceDetail})
	}
	for _, a := range rep.Audit {
		out.Audit = append(out.Audit, auditJSON{At: a.At, Actor: a.Actor, Action: a.Action, Detail: a.Detail})
	}
	return out
}

// timelineEntry is one line of a request's history as printed.
type timelineEntry struct {
	at     time.Time
	rank   int // within one second: the mail, then what it caused, then the notices
	event  string
	who    string
	detail string
}

func (op *operator) printReport(d deskDB, rep *store.RequestReport) {
	r := rep.Request
	op.heading(d)
	state := desk.StateText(d.cfg.Desk.Language, r.State) + " [" + r.State + "]"
	if r.ClosedAt.IsZero() {
		state += " (open)"
	} else {
		state += " (closed " + localTime(d, r.ClosedAt) + ")"
	}
	head := &table{}
	head.add("request", r.Reference)
	head.add("kind", r.Kind)
	head.add("state", state)
	head.add("applicant", fmt.Sprintf("%s (%s)", r.Applicant, r.Lang))
	if r.DesiredID != "" {
		head.add("desired ID", r.DesiredID)
	}
	head.add("opened", fmt.Sprintf("%s (%s ago)", localTime(d, r.CreatedAt), age(op.now().Sub(r.CreatedAt))))
	head.add("last change", localTime(d, r.UpdatedAt))
	head.write(op.out)
	if len(rep.Fields) > 0 {
		keys := make([]string, 0, len(rep.Fields))
		for k := range rep.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		form := &table{}
		for _, k := range keys {
			form.add("  "+k, rep.Fields[k])
		}
		fmt.Fprintln(op.out, "form")
		form.write(op.out)
	}
	fmt.Fprintln(op.out)

	var lines []timelineEntry
	for _, m := range rep.Messages {
		detail := fmt.Sprintf("%s: %q uid %d", m.Outcome, m.Subject, m.UID)
		if m.Reason != "" && m.Reason != m.Outcome {
			detail += " (" + m.Reason + ")"
		}
		if m.Destination == "quarantine" {
			detail += " [quarantined]"
		}
		lines = append(lines, timelineEntry{m.ReceivedAt, 0, "mail in", m.From, detail + " <" + m.MessageID + ">"})
	}
	for _, a := range rep.Audit {
		lines = append(lines, timelineEntry{a.At, 1, a.Action, a.Actor, a.Detail})
	}
	for _, n := range rep.Notices {
		detail := fmt.Sprintf("%s, %s", n.Kind, n.State)
		if !n.SentAt.IsZero() {
			detail += " " + localTime(d, n.SentAt)
		}
		if n.LastError != "" {
			detail += " (" + n.LastError + ")"
		}
		if !n.BouncedAt.IsZero() {
			detail += ", bounced " + localTime(d, n.BouncedAt)
		}
		lines = append(lines, timelineEntry{n.CreatedAt, 2, "notice", strings.Join(n.To, ", "), detail + " <" + n.MessageID + ">"})
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if !lines[i].at.Equal(lines[j].at) {
			return lines[i].at.Before(lines[j].at)
		}
		return lines[i].rank < lines[j].rank
	})
	t := &table{}
	t.add("TIME", "EVENT", "BY / TO", "DETAIL")
	for _, l := range lines {
		t.add(localTime(d, l.at), l.event, l.who, l.detail)
	}
	t.write(op.out)
	if len(rep.Linked) > 0 {
		fmt.Fprintf(op.out, "\nalso on the thread: <%s>\n", strings.Join(rep.Linked, ">, <"))
	}
}

// outboxJSON is one line of `madoguchi outbox --json`.
type outboxJSON struct {
	Desk          string     `json:"desk"`
	ID            int64      `json:"id"`
	State         string     `json:"state"`
	Kind          string     `json:"kind"`
	To            string     `json:"to"`
	Subject       string     `json:"subject"`
	Request       string     `json:"request"`
	MessageID     string     `json:"message_id"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	AgeSeconds    int64      `json:"age_seconds"`
	// Retryable: failed, and its text is still there to send.
	Retryable bool `json:"retryable"`
}

func (op *operator) outbox(ctx context.Context, desks []deskDB, failedOnly bool) error {
	states := []string{store.OutboxPending, store.OutboxFailed, store.OutboxSuppressed}
	if failedOnly {
		states = []string{store.OutboxFailed}
	}
	out := []outboxJSON{}
	for _, d := range desks {
		list, err := d.st.OutboxByState(ctx, states...)
		if err != nil {
			return fmt.Errorf("desk %s: %w", d.cfg.Name, err)
		}
		if op.json {
			for _, o := range list {
				out = append(out, outboxJSON{Desk: d.cfg.Name, ID: o.ID, State: o.State, Kind: o.Kind, To: o.Recipient,
					Subject: o.Subject, Request: o.Reference, MessageID: o.MessageID, Attempts: o.Attempts, LastError: o.LastError,
					CreatedAt: o.CreatedAt, NextAttemptAt: optionalTime(o.NextAttemptAt), AgeSeconds: int64(op.now().Sub(o.CreatedAt).Seconds()),
					Retryable: o.State == store.OutboxFailed && !o.TextRemoved})
			}
			continue
		}
		op.heading(d)
		if len(list) == 0 {
			fmt.Fprintln(op.out, "no notices waiting, failed or held back")
			continue
		}
		t := &table{}
		t.add("ID", "STATE", "KIND", "TO", "REQUEST", "ATTEMPTS", "AGE", "LAST ERROR", "SUBJECT")
		for _, o := range list {
			state := o.State
			if o.TextRemoved {
				state += " (text removed)"
			}
			t.add(strconv.FormatInt(o.ID, 10), state, o.Kind, o.Recipient, o.Reference, strconv.Itoa(o.Attempts),
				age(op.now().Sub(o.CreatedAt)), shorten(o.LastError, 60), o.Subject)
		}
		t.write(op.out)
	}
	if op.json {
		return op.writeJSON(out)
	}
	return nil
}

// retryJSON is `madoguchi outbox retry --json`.
type retryJSON struct {
	Retried    []retriedJSON `json:"retried"`
	NotRetried []retriedJSON `json:"not_retried"`
}

type retriedJSON struct {
	Desk   string `json:"desk"`
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// retry puts failed notices back to pending, due now: the one with id, or
// every failed one when id is 0. A named notice that cannot be retried is
// an error; with --failed such notices are reported and skipped.
func (op *operator) retry(ctx context.Context, desks []deskDB, id int64) error {
	res := retryJSON{Retried: []retriedJSON{}, NotRetried: []retriedJSON{}}
	for _, d := range desks {
		ids := []int64{id}
		if id == 0 {
			failed, err := d.st.OutboxByState(ctx, store.OutboxFailed)
			if err != nil {
				return fmt.Errorf("desk %s: %w", d.cfg.Name, err)
			}
			ids = ids[:0]
			for _, o := range failed {
				ids = append(ids, o.ID)
			}
		}
		now := op.now().UTC()
		err := d.st.Tx(ctx, func(tx *store.Tx) error {
			for _, nid := range ids {
				o, err := tx.RetryFailedNotice(nid, now)
				if errors.Is(err, store.ErrTextRemoved) {
					res.NotRetried = append(res.NotRetried, retriedJSON{Desk: d.cfg.Name, ID: o.ID, Kind: o.Kind, To: o.Recipient, Reason: store.ErrTextRemoved.Error()})
					if id != 0 {
						return err
					}
					continue
				}
				if err != nil {
					return err
				}
				detail := fmt.Sprintf("notice %d (%s to %s) back to pending after %d attempts; last error: %s",
					o.ID, o.Kind, o.Recipient, o.Attempts, o.LastError)
				if err := tx.Audit(now, op.actor, o.RequestID, "outbox-retry", detail); err != nil {
					return fmt.Errorf("audit the retry of notice %d: %w", o.ID, err)
				}
				res.Retried = append(res.Retried, retriedJSON{Desk: d.cfg.Name, ID: o.ID, Kind: o.Kind, To: o.Recipient})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("desk %s: %w", d.cfg.Name, err)
		}
	}
	if op.json {
		return op.writeJSON(res)
	}
	for _, r := range res.Retried {
		fmt.Fprintf(op.out, "desk %s: notice %d (%s to %s) is pending again; the sender sends it now\n", r.Desk, r.ID, r.Kind, r.To)
	}
	for _, r := range res.NotRetried {
		fmt.Fprintf(op.out, "desk %s: notice %d (%s to %s) not retried: %s\n", r.Desk, r.ID, r.Kind, r.To, r.Reason)
	}
	if len(res.Retried) == 0 && len(res.NotRetried) == 0 {
		fmt.Fprintln(op.out, "no failed notices")
	}
	return nil
}

// quarantineJSON is one line of `madoguchi quarantine --json`.
type quarantineJSON struct {
	Desk       string    `json:"desk"`
	UID        uint32    `json:"uid"`
	Mailbox    string    `json:"mailbox"`
	From       string    `json:"from"`
	Subject    string    `json:"subject"`
	MessageID  string    `json:"message_id"`
	Outcome    string    `json:"outcome"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
	// Masked: the folder holds a copy with its secrets masked.
	Masked bool `json:"masked"`
}

func (op *operator) quarantine(ctx context.Context, desks []deskDB) error {
	out := []quarantineJSON{}
	for _, d := range desks {
		list, err := d.st.Quarantined(ctx, 0)
		if err != nil {
			return fmt.Errorf("desk %s: %w", d.cfg.Name, err)
		}
		if op.json {
			for _, q := range list {
				out = append(out, quarantineJSON{Desk: d.cfg.Name, UID: q.UID, Mailbox: q.Mailbox, From: q.From, Subject: q.Subject,
					MessageID: q.MessageID, Outcome: q.Outcome, Reason: q.Reason, ReceivedAt: q.ReceivedAt, Masked: q.Masked})
			}
			continue
		}
		op.heading(d)
		if len(list) == 0 {
			fmt.Fprintln(op.out, "no quarantined messages")
			continue
		}
		t := &table{}
		t.add("UID", "RECEIVED", "FROM", "REASON", "SUBJECT")
		for _, q := range list {
			reason := q.Reason
			if q.Masked {
				reason += " (masked copy)"
			}
			t.add(strconv.FormatUint(uint64(q.UID), 10), localTime(d, q.ReceivedAt), sender(q.From), reason, q.Subject)
		}
		t.write(op.out)
	}
	if op.json {
		return op.writeJSON(out)
	}
	return nil
}

// requeueJSON is `madoguchi quarantine requeue --json`.
type requeueJSON struct {
	Desk    string `json:"desk"`
	UID     uint32 `json:"uid"`
	From    string `json:"from"`
	Subject string `json:"subject"`
	Folder  string `json:"moved_from"`
	Mailbox string `json:"moved_to"`
	Masked  bool   `json:"masked"`
}

// requeue lets the desk handle a quarantined message again: it moves the
// message from the quarantine folder back to the desk's mailbox and
// deletes its record, which would otherwise make the desk file it as a
// duplicate of itself. Both happen in one database transaction around the
// IMAP MOVE: if the move fails the record stays; the daemon, which
// records every message it handles, waits for the commit and so never
// meets the message back in the mailbox with its old record.
func (op *operator) requeue(ctx context.Context, d deskDB, uid uint32) error {
	q, err := quarantinedOriginal(ctx, d.st, uid)
	if err != nil {
		return err
	}
	mc, err := dialIMAP(ctx, d.cfg.IMAP)
	if err != nil {
		return err
	}
	defer mc.close()
	folder, mailbox := d.cfg.IMAP.Quarantine, d.cfg.IMAP.Mailbox
	mc.deadline(imapTimeout)
	if _, err := mc.c.Select(folder, nil).Wait(); err != nil {
		return fmt.Errorf("select %s: %w", folder, err)
	}
	found, err := mc.find(q, d.cfg.IMAP.MaxMessageBytes)
	if err != nil {
		return err
	}
	now := op.now().UTC()
	err = d.st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.ForgetQuarantined(q.SeenID); err != nil {
			return err
		}
		detail := fmt.Sprintf("uid %d from %s (%q) moved from %s back to %s to be handled afresh; it was quarantined for: %s",
			q.UID, sender(q.From), q.Subject, folder, mailbox, q.Reason)
		if err := tx.Audit(now, op.actor, q.RequestID, "quarantine-requeue", detail); err != nil {
			return fmt.Errorf("audit the requeue: %w", err)
		}
		return mc.move(found, mailbox)
	})
	if err != nil {
		return fmt.Errorf("requeue uid %d: %w", uid, err)
	}
	if op.json {
		return op.writeJSON(requeueJSON{Desk: d.cfg.Name, UID: q.UID, From: q.From, Subject: q.Subject, Folder: folder, Mailbox: mailbox, Masked: q.Masked})
	}
	fmt.Fprintf(op.out, "desk %s: uid %d from %s (%q) moved from %s back to %s; the desk handles it afresh on its next pass\n",
		d.cfg.Name, q.UID, sender(q.From), q.Subject, folder, mailbox)
	if q.Masked {
		fmt.Fprintln(op.out, "note: the folder held the copy with its password masked (the original was never kept), so a form in it will not pass the password check; the applicant may have to send it again")
	}
	return nil
}

// quarantinedOriginal finds the record of the quarantined message with
// uid. A copy the desk judged a duplicate is refused: its original's
// record would make the desk file it again, so the original is the one to
// requeue.
func quarantinedOriginal(ctx context.Context, st *store.Store, uid uint32) (store.QuarantinedMessage, error) {
	list, err := st.Quarantined(ctx, uid)
	if err != nil {
		return store.QuarantinedMessage{}, err
	}
	var originals, copies []store.QuarantinedMessage
	for _, q := range list {
		if q.Outcome == "duplicate" {
			copies = append(copies, q)
		} else {
			originals = append(originals, q)
		}
	}
	switch {
	case len(originals) == 1:
		return originals[0], nil
	case len(originals) > 1:
		return store.QuarantinedMessage{}, fmt.Errorf("uid %d names %d quarantined messages (the mailbox was renumbered in between); requeue by moving the right one in a mail client", uid, len(originals))
	case len(copies) > 0:
		orig, err := st.OriginalOf(ctx, copies[0])
		if err == nil {
			return store.QuarantinedMessage{}, fmt.Errorf("uid %d is a copy of an earlier message (uid %d, %s); requeue that one", uid, orig.UID, orig.Outcome)
		}
		return store.QuarantinedMessage{}, fmt.Errorf("uid %d is a copy of an earlier message that is no longer recorded", uid)
	}
	return store.QuarantinedMessage{}, fmt.Errorf("no quarantined message has uid %d (see madoguchi quarantine)", uid)
}

// imapSession is a logged-in connection for requeue.
type imapSession struct {
	c    *imapclient.Client
	conn net.Conn
	stop func() bool
}

// imapTimeout bounds the connection and each step of requeue. The MOVE
// runs inside a database transaction that the daemon waits for (up to the
// store's 10 s busy timeout), so it gets less.
const (
	imapTimeout     = 30 * time.Second
	imapMoveTimeout = 8 * time.Second
)

// dialIMAP connects and logs in as intake does (mailflow/intake): TLS
// mode, certificate check and credentials from the configuration.
func dialIMAP(ctx context.Context, cfg config.IMAP) (*imapSession, error) {
	host, _, _ := net.SplitHostPort(cfg.Address)
	tlsConfig := &tls.Config{ServerName: host, InsecureSkipVerify: cfg.InsecureSkipTLS} //nolint:gosec // an explicit admin choice
	nd := &net.Dialer{Timeout: imapTimeout}
	var conn net.Conn
	var err error
	switch cfg.TLS {
	case "none", "starttls":
		conn, err = nd.DialContext(ctx, "tcp", cfg.Address)
	case "tls":
		tlsConfig.NextProtos = []string{"imap"}
		conn, err = (&tls.Dialer{NetDialer: nd, Config: tlsConfig}).DialContext(ctx, "tcp", cfg.Address)
	default:
		err = fmt.Errorf("unknown TLS mode %q", cfg.TLS)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Address, err)
	}
	// imapclient commands take no context: closing the connection is what
	// ends them.
	s := &imapSession{conn: conn, stop: context.AfterFunc(ctx, func() { conn.Close() })}
	s.deadline(imapTimeout)
	if cfg.TLS == "starttls" {
		if s.c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: tlsConfig}); err != nil {
			s.stop()
			conn.Close()
			return nil, fmt.Errorf("starttls with %s: %w", cfg.Address, err)
		}
	} else {
		s.c = imapclient.New(conn, nil)
	}
	if err := s.c.WaitGreeting(); err != nil {
		s.close()
		return nil, fmt.Errorf("greeting from %s: %w", cfg.Address, err)
	}
	if err := s.c.Login(cfg.Username, cfg.Password).Wait(); err != nil {
		s.close()
		return nil, fmt.Errorf("login to %s as %s: %w", cfg.Address, cfg.Username, err)
	}
	return s, nil
}

// deadline bounds the commands that follow: imapclient itself would wait
// for a silent server forever.
func (s *imapSession) deadline(d time.Duration) { s.conn.SetDeadline(time.Now().Add(d)) }

func (s *imapSession) close() {
	s.stop()
	s.deadline(5 * time.Second)
	_ = s.c.Logout().Wait()
	_ = s.c.Close()
}

// move moves one message of the selected folder to mailbox (the client
// falls back to COPY, STORE \Deleted and EXPUNGE without MOVE).
func (s *imapSession) move(uid imap.UID, mailbox string) error {
	s.deadline(imapMoveTimeout)
	if _, err := s.c.Move(imap.UIDSetNum(uid), mailbox).Wait(); err != nil {
		return fmt.Errorf("move uid %d to %s: %w", uid, mailbox, err)
	}
	return nil
}

// copyOfHeader is the header intake puts on a masked copy, naming the
// original's place as <UIDVALIDITY.UID> (mailflow/intake copyHeader).
const copyOfHeader = "X-Madoguchi-Copy-Of"

// find finds q in the selected quarantine folder. A masked copy
// is known by its X-Madoguchi-Copy-Of header; an original by its bytes,
// whose SHA-256 the desk recorded (of the header alone when the message
// was over the size limit), among the messages with its Message-ID (or
// From).
func (s *imapSession) find(q store.QuarantinedMessage, maxBytes int64) (imap.UID, error) {
	c := s.c
	criteria := &imap.SearchCriteria{}
	switch {
	case q.Masked:
		criteria.Header = []imap.SearchCriteriaHeaderField{{Key: copyOfHeader, Value: fmt.Sprintf("<%d.%d>", q.UIDValidity, q.UID)}}
	case q.MessageID != "":
		criteria.Header = []imap.SearchCriteriaHeaderField{{Key: "Message-Id", Value: q.MessageID}}
	case q.From != "":
		criteria.Header = []imap.SearchCriteriaHeaderField{{Key: "From", Value: q.From}}
	}
	s.deadline(imapTimeout)
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("search the quarantine folder: %w", err)
	}
	uids := data.AllUIDs()
	if q.Masked && len(uids) > 0 {
		return uids[0], nil
	}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	whole := &imap.FetchItemBodySection{Peek: true}
	for _, uid := range uids {
		// One message at a time: a quarantine folder may hold big ones.
		s.deadline(imapTimeout)
		sizes, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		if err != nil {
			return 0, fmt.Errorf("fetch the size of uid %d: %w", uid, err)
		}
		if len(sizes) == 0 {
			continue
		}
		sections := []*imap.FetchItemBodySection{header}
		if sizes[0].RFC822Size <= maxBytes {
			sections = append(sections, whole)
		}
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: sections}).Collect()
		if err != nil {
			return 0, fmt.Errorf("fetch uid %d: %w", uid, err)
		}
		for _, m := range msgs {
			for _, s := range m.BodySection {
				sum := sha256.Sum256(s.Bytes)
				if hex.EncodeToString(sum[:]) == q.ContentSHA256 {
					return uid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("uid %d (from %s, %q) is not in the quarantine folder any more (moved or deleted by hand?)", q.UID, sender(q.From), q.Subject)
}

// sender names a message's From for people; quarantine holds mail without one.
func sender(from string) string {
	if from == "" {
		return "(no From)"
	}
	return from
}

// table prints rows in aligned columns. Widths count East Asian wide
// characters as two cells, as terminals draw them (text/tabwriter counts
// one, and Japanese subjects would push the columns apart); control
// characters in mail-supplied text are shown as '?' so a subject cannot
// drive the terminal.
type table struct {
	rows [][]string
}

func (t *table) add(cells ...string) {
	for i, c := range cells {
		cells[i] = printable(c)
	}
	t.rows = append(t.rows, cells)
}

func (t *table) write(w io.Writer) {
	var widths []int
	for _, row := range t.rows {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], cellWidth(c))
		}
	}
	var b strings.Builder
	for _, row := range t.rows {
		b.Reset()
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-cellWidth(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func cellWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// shorten cuts s to n runes for a table cell; JSON keeps it whole.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// age is a duration as operators read it at a glance: 45s, 12m, 3h05m, 2d04h.
func age(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// localTime is t in the desk's time zone, to the minute.
func localTime(d deskDB, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	loc := d.cfg.Desk.Location
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

// optionalTime is nil for the zero time, so JSON says null.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
