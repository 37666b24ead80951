package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/demo"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// opsDesk is a desk with real IMAP and SMTP servers on loopback, filled by
// the real desk code, for the operators' commands to look at.
type opsDesk struct {
	dir, cfgPath, dbPath string
	imap                 *loopback.IMAPServer
	sink                 *loopback.SMTPSink
}

func startOpsDesk(t *testing.T, extraConfig string) *opsDesk {
	t.Helper()
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{"desk": "deskpass"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	sink, err := loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	d := &opsDesk{dir: t.TempDir(), imap: imapSrv, sink: sink}
	d.dbPath = filepath.Join(d.dir, "desk.db")
	d.cfgPath = filepath.Join(d.dir, "madoguchi.yaml")
	if err := os.WriteFile(d.cfgPath, []byte(demo.Config(imapSrv.Addr, sink.Addr, d.dbPath)+extraConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *opsDesk) deliver(t *testing.T, m samples.Mail) {
	t.Helper()
	if m.To == "" {
		m.To = "desk@madoguchi.example"
	}
	if err := d.imap.Append("desk", "INBOX", m.Build()); err != nil {
		t.Fatal(err)
	}
}

// pass runs the desk once over the mailbox and the outbox, as `once` does
// (without its process-wide runtime settings).
func (d *opsDesk) pass(t *testing.T) {
	t.Helper()
	cfg, err := config.Load(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.NewGroup(context.Background(), cfg, app.Options{Hash: secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// run runs one madoguchi command line and returns its exit status and
// output.
func (d *opsDesk) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runCommand(context.Background(), append(args, "-config", d.cfgPath), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (d *opsDesk) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := d.run(t, args...)
	if code != 0 {
		t.Fatalf("madoguchi %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (d *opsDesk) store(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), d.dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func decodeJSON[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

// applied is a desk that received one English new-ID application.
func applied(t *testing.T) (*opsDesk, string) {
	t.Helper()
	d := startOpsDesk(t, "")
	d.deliver(t, samples.Mail{From: "Alice Smith <alice@univ.example>", Subject: "New ID application",
		Body: samples.NewIDEnglish("smith-al"), MessageID: "apply-1@univ.example"})
	d.pass(t)
	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "requests", "--json"))
	if len(rows) != 1 {
		t.Fatalf("requests --json: %v", rows)
	}
	return d, rows[0]["reference"].(string)
}

func TestRequestsCommand(t *testing.T) {
	d, ref := applied(t)

	// The pass released the desk's lease: nobody holds it.
	out := d.mustRun(t, "requests")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "desk id: held by no instance (no madoguchi run reads its mail)" {
		t.Errorf("holder line: %q", lines[0])
	}
	lines = lines[1:]
	if len(lines) != 2 || !regexp.MustCompile(`^REFERENCE +KIND +STATE +APPLICANT +AGE +LAST CHANGE$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^`+ref+` +new_id +awaiting_documents +alice@univ\.example +\d+s +\d{4}-\d\d-\d\d \d\d:\d\d$`).MatchString(lines[1]) {
		t.Errorf("table:\n%s", out)
	}
	// Columns line up under their headings.
	if strings.Index(lines[0], "STATE") != strings.Index(lines[1], "awaiting_documents") {
		t.Errorf("columns not aligned:\n%s", out)
	}

	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "requests", "--json", "--kind", "new_id"))
	want := []string{"desk", "reference", "kind", "state", "state_text", "applicant", "desired_id", "created_at", "updated_at", "closed_at", "age_seconds"}
	for _, k := range want {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("JSON lacks %q: %v", k, rows[0])
		}
	}
	if rows[0]["desk"] != "id" || rows[0]["state"] != "awaiting_documents" || rows[0]["closed_at"] != nil || rows[0]["desired_id"] != "smith-al" {
		t.Errorf("JSON row: %v", rows[0])
	}

	// An instance holds the desk: the line and the JSON name it.
	if _, ok, err := d.store(t).AcquireLease(context.Background(), "id", "host-a:4242", time.Minute); err != nil || !ok {
		t.Fatalf("take the lease: %v %v", ok, err)
	}
	if out := d.mustRun(t, "requests"); !regexp.MustCompile(`^desk id: held by host-a:4242 \(lease until \d{4}-\d\d-\d\d \d\d:\d\d\)\n`).MatchString(out) {
		t.Errorf("holder line with a holder:\n%s", out)
	}
	rows = decodeJSON[[]map[string]any](t, d.mustRun(t, "requests", "--json"))
	if rows[0]["desk_holder"] != "host-a:4242" || rows[0]["desk_held_until"] == nil {
		t.Errorf("JSON holder: %v", rows[0])
	}

	if out := d.mustRun(t, "requests", "--state", "approved"); !strings.HasSuffix(out, "\nno requests\n") {
		t.Errorf("approved requests: %q", out)
	}
	if out := d.mustRun(t, "requests", "--kind", "password_reset", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("password resets as JSON: %q", out)
	}
	if code, _, errOut := d.run(t, "requests", "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("bad usage: exit %d, %q", code, errOut)
	}
}

func TestRequestCommandShowsThreadWithoutSecrets(t *testing.T) {
	d, ref := applied(t)

	out := d.mustRun(t, "request", ref)
	for _, want := range []string{
		`(?m)^request +` + ref + `$`, `(?m)^state +\S.* \[awaiting_documents\] \(open\)$`, `(?m)^applicant +alice@univ\.example \(en\)$`,
		`(?m)^form\n  birth_date +1990-07-15\n`, `(?m)^  family_name +Smith$`,
		`(?m)^TIME +EVENT +BY / TO +DETAIL$`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d  mail in +alice@univ\.example +answered: "New ID application" uid 1 .*<apply-1@univ\.example>$`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d  created +alice@univ\.example +new_id -> awaiting_documents`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d  notice +alice@univ\.example +new_id_received, sent .*<` + ref + `\..*@madoguchi\.example>$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("request %s lacks %s:\n%s", ref, want, out)
		}
	}
	// Time order: the mail, then the state change it caused, then its notice.
	mail, state, notice := strings.Index(out, "mail in"), strings.Index(out, "  created  "), strings.Index(out, "  notice  ")
	if mail < 0 || state < 0 || notice < 0 || !(mail < state && state < notice) {
		t.Errorf("not in time order (mail %d, state %d, notice %d):\n%s", mail, state, notice, out)
	}

	rep := decodeJSON[map[string]any](t, d.mustRun(t, "request", ref, "--json"))
	for _, k := range []string{"desk", "reference", "kind", "state", "applicant", "lang", "desired_id", "created_at",
		"updated_at", "closed_at", "fields", "messages", "notices", "other_thread_message_ids", "audit"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	msgs, notices, audit := rep["messages"].([]any), rep["notices"].([]any), rep["audit"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["message_id"] != "apply-1@univ.example" {
		t.Errorf("messages: %v", msgs)
	}
	if len(notices) == 0 || notices[0].(map[string]any)["state"] != "sent" || notices[0].(map[string]any)["message_id"] == "" {
		t.Errorf("notices: %v", notices)
	}
	if len(audit) == 0 || audit[0].(map[string]any)["action"] != "created" {
		t.Errorf("audit: %v", audit)
	}

	// The form's password and its hash are in no output.
	var hash string
	st := d.store(t)
	st.Tx(context.Background(), func(tx *store.Tx) error {
		r, err := tx.RequestByReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		hash = r.PasswordHash
		return nil
	})
	password := regexp.MustCompile(`(?m)^Password: *(\S+)`).FindStringSubmatch(samples.NewIDEnglish("smith-al"))
	if hash == "" || password == nil {
		t.Fatalf("test setup: hash %q, password %v", hash, password)
	}
	for _, secretText := range []string{hash, "$argon2id", password[1]} {
		if strings.Contains(out, secretText) || strings.Contains(fmtJSON(rep), secretText) {
			t.Errorf("output shows a secret (%q)", secretText)
		}
	}

	if code, _, errOut := d.run(t, "request", "MDG-1999-000001"); code != 1 || !strings.Contains(errOut, "no request MDG-1999-000001") {
		t.Errorf("unknown reference: exit %d, %q", code, errOut)
	}
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// failNotices adds two notices to the request and fails them as the
// sender does: a plain one after its retries, and a sensitive one (an
// access code) at once, which loses its text.
func failNotices(t *testing.T, st *store.Store, ref string) (plain, sensitive int64) {
	t.Helper()
	ctx := context.Background()
	notice := func(messageID, subject, body string) store.Notice {
		return store.Notice{MessageID: messageID, Date: time.Now(), From: "desk@madoguchi.example",
			To: []string{"alice@univ.example"}, Subject: subject, Body: body}
	}
	if err := st.Tx(ctx, func(tx *store.Tx) error {
		r, err := tx.RequestByReference(ref)
		if err != nil {
			return err
		}
		if sensitive, err = tx.Enqueue(store.Queued{Kind: "reset_code", RequestID: r.ID, Sensitive: true,
			Notice: notice("code-1@madoguchi.example", "Access code", "code 123456")}); err != nil {
			return err
		}
		plain, err = tx.Enqueue(store.Queued{Kind: "new_id_received", RequestID: r.ID,
			Notice: notice("plain-1@madoguchi.example", "We received your application", "hello")})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(ctx, sensitive, "550 5.1.1 no such user"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := st.MarkRetry(ctx, plain, time.Now(), "421 try later"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkFailed(ctx, plain, "gave up after 4 attempts: 421 try later"); err != nil {
		t.Fatal(err)
	}
	return plain, sensitive
}

func TestOutboxAndRetry(t *testing.T) {
	d, ref := applied(t)
	st := d.store(t)
	plain, sensitive := failNotices(t, st, ref)
	ctx := context.Background()

	out := d.mustRun(t, "outbox")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID +STATE +KIND +TO +REQUEST +ATTEMPTS +AGE +LAST ERROR +SUBJECT$`).MatchString(lines[0]) {
		t.Fatalf("outbox:\n%s", out)
	}
	if !regexp.MustCompile(`^`+strconv.FormatInt(sensitive, 10)+` +failed \(text removed\) +reset_code +alice@univ\.example +`+ref+` +1 +\d+s +550 5\.1\.1 no such user +Access code$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^`+strconv.FormatInt(plain, 10)+` +failed +new_id_received .* 4 +\d+s +gave up after 4 attempts: 421 try later +We received your application$`).MatchString(lines[2]) {
		t.Errorf("outbox rows:\n%s", out)
	}
	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "outbox", "--failed", "--json"))
	if len(rows) != 2 || rows[0]["retryable"] != false || rows[1]["retryable"] != true || rows[1]["attempts"] != 4.0 ||
		rows[1]["to"] != "alice@univ.example" || rows[1]["request"] != ref || rows[1]["next_attempt_at"] != nil {
		t.Errorf("outbox --failed --json: %v", rows)
	}

	for _, args := range [][]string{{"outbox", "retry"}, {"outbox", "retry", "abc"}, {"outbox", "retry", "1", "--failed"}, {"quarantine", "requeue", "-1"}} {
		if code, _, _ := d.run(t, args...); code != 2 {
			t.Errorf("madoguchi %s: exit %d, want 2 (usage)", strings.Join(args, " "), code)
		}
	}
	// The scrubbed notice cannot go again: said, and nothing changes.
	code, _, errOut := d.run(t, "outbox", "retry", strconv.FormatInt(sensitive, 10))
	if code != 1 || !strings.Contains(errOut, "text was removed") {
		t.Errorf("retry of a scrubbed notice: exit %d, %q", code, errOut)
	}
	// Flags after the argument work as well as before.
	out = d.mustRun(t, "outbox", "retry", strconv.FormatInt(plain, 10))
	if !strings.Contains(out, "notice "+strconv.FormatInt(plain, 10)+" (new_id_received to alice@univ.example) is pending again") {
		t.Errorf("retry: %q", out)
	}
	pending, _ := st.OutboxByState(ctx, store.OutboxPending)
	if len(pending) != 1 || pending[0].ID != plain || pending[0].Attempts != 0 || pending[0].NextAttemptAt.After(time.Now()) {
		t.Errorf("after retry, pending: %+v", pending)
	}
	code, _, errOut = d.run(t, "outbox", "retry", strconv.FormatInt(plain, 10))
	if code != 1 || !strings.Contains(errOut, "is pending, not failed") {
		t.Errorf("second retry: exit %d, %q", code, errOut)
	}
	// --failed reports what it cannot retry and carries on.
	res := decodeJSON[map[string][]map[string]any](t, d.mustRun(t, "outbox", "retry", "--failed", "--json"))
	if len(res["retried"]) != 0 || len(res["not_retried"]) != 1 || res["not_retried"][0]["id"] != float64(sensitive) {
		t.Errorf("retry --failed: %v", res)
	}

	var audit []store.AuditEntry
	st.Tx(ctx, func(tx *store.Tx) error { audit, _ = tx.AuditLog(0); return nil })
	retries := 0
	for _, a := range audit {
		if a.Action == "outbox-retry" {
			retries++
			if a.Actor != "cli:"+userName() || !strings.Contains(a.Detail, "after 4 attempts") {
				t.Errorf("audit line: %+v", a)
			}
		}
	}
	if retries != 1 {
		t.Errorf("%d retry audit lines, want 1", retries)
	}
	// The sender takes it again.
	d.pass(t)
	if sent, _ := st.Outbox(ctx, store.OutboxSent); len(sent) == 0 || sent[len(sent)-1].ID != plain {
		t.Errorf("the retried notice was not sent: %+v", sent)
	}
}

func TestQuarantineAndRequeue(t *testing.T) {
	d := startOpsDesk(t, "")
	noFrom := samples.Mail{Subject: "誰から？", Body: "差出人のないメール", MessageID: "nofrom-1@x.example"}
	d.deliver(t, noFrom)
	d.pass(t)

	out := d.mustRun(t, "quarantine")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^UID +RECEIVED +FROM +REASON +SUBJECT$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^1 +\d{4}-\d\d-\d\d \d\d:\d\d +\(no From\) +no usable From address: nobody to answer +誰から？$`).MatchString(lines[1]) {
		t.Errorf("quarantine:\n%s", out)
	}
	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "quarantine", "--json"))
	if len(rows) != 1 || rows[0]["uid"] != 1.0 || rows[0]["message_id"] != "nofrom-1@x.example" || rows[0]["outcome"] != "quarantined" || rows[0]["masked"] != false {
		t.Errorf("quarantine --json: %v", rows)
	}

	if code, _, errOut := d.run(t, "quarantine", "requeue", "7"); code != 1 || !strings.Contains(errOut, "no quarantined message has uid 7") {
		t.Errorf("requeue of an unknown uid: exit %d, %q", code, errOut)
	}
	out = d.mustRun(t, "quarantine", "requeue", "1")
	if !strings.Contains(out, "uid 1 from (no From) (\"誰から？\") moved from Quarantine back to INBOX") {
		t.Errorf("requeue: %q", out)
	}
	if n, _ := d.imap.Count("desk", "INBOX"); n != 1 {
		t.Errorf("INBOX holds %d messages, want 1", n)
	}
	if n, _ := d.imap.Count("desk", "Quarantine"); n != 0 {
		t.Errorf("Quarantine holds %d messages, want 0", n)
	}
	st := d.store(t)
	ctx := context.Background()
	if q, _ := st.Quarantined(ctx, 0); len(q) != 0 {
		t.Errorf("record still there: %+v", q)
	}
	var audit []store.AuditEntry
	st.Tx(ctx, func(tx *store.Tx) error { audit, _ = tx.AuditLog(0); return nil })
	last := audit[len(audit)-1]
	if last.Action != "quarantine-requeue" || last.Actor != "cli:"+userName() || !strings.Contains(last.Detail, "no usable From address") {
		t.Errorf("audit: %+v", last)
	}

	// The desk handles it afresh: quarantined again for its own reason,
	// not filed as a duplicate of itself.
	d.pass(t)
	q, _ := st.Quarantined(ctx, 0)
	if len(q) != 1 || q[0].Outcome != "quarantined" || q[0].UID == 1 {
		t.Errorf("after the next pass: %+v", q)
	}
	if n, _ := d.imap.Count("desk", "Quarantine"); n != 1 {
		t.Errorf("Quarantine holds %d messages, want 1", n)
	}
}

// A quarantined message that carried a password is in the folder only as
// its masked copy: that copy is what goes back, with a warning.
func TestRequeueMaskedCopy(t *testing.T) {
	d := startOpsDesk(t, "")
	form := samples.NewIDEnglish("nofrom-x")
	d.deliver(t, samples.Mail{Subject: "New ID application", Body: form, MessageID: "masked-1@x.example"})
	d.pass(t)
	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "quarantine", "--json"))
	if len(rows) != 1 || rows[0]["masked"] != true {
		t.Fatalf("quarantine: %v", rows)
	}
	if out := d.mustRun(t, "quarantine"); !strings.Contains(out, "(masked copy)") {
		t.Errorf("table does not say masked copy:\n%s", out)
	}
	res := decodeJSON[map[string]any](t, d.mustRun(t, "quarantine", "requeue", "1", "--json"))
	if res["masked"] != true || res["moved_from"] != "Quarantine" || res["moved_to"] != "INBOX" || res["uid"] != 1.0 {
		t.Errorf("requeue --json: %v", res)
	}
	inbox, _ := d.imap.List("desk", "INBOX")
	if len(inbox) != 1 || !bytes.Contains(inbox[0], []byte("X-Madoguchi-Copy-Of: <")) {
		t.Fatalf("INBOX: %d messages", len(inbox))
	}
	password := regexp.MustCompile(`(?m)^Password: *(\S+)`).FindStringSubmatch(form)
	if password == nil || bytes.Contains(inbox[0], []byte(password[1])) {
		t.Error("the password came back to the mailbox")
	}
}

// A copy the desk filed as a duplicate of a quarantined message is not
// requeued: its original is.
func TestRequeueOfDuplicateNamesOriginal(t *testing.T) {
	d := startOpsDesk(t, "")
	noFrom := samples.Mail{Subject: "twice", Body: "x", MessageID: "twice@x.example"}
	d.deliver(t, noFrom)
	d.pass(t)
	d.deliver(t, noFrom)
	d.pass(t)
	rows := decodeJSON[[]map[string]any](t, d.mustRun(t, "quarantine", "--json"))
	if len(rows) != 2 || rows[1]["outcome"] != "duplicate" {
		t.Fatalf("quarantine: %v", rows)
	}
	code, _, errOut := d.run(t, "quarantine", "requeue", "2")
	if code != 1 || !strings.Contains(errOut, "uid 2 is a copy of an earlier message (uid 1, quarantined); requeue that one") {
		t.Errorf("requeue of a duplicate: exit %d, %q", code, errOut)
	}
}

func TestOpsCommandsGroupByDesk(t *testing.T) {
	d := startOpsDesk(t, `desks:
  - name: second
    desk:
      address: second@madoguchi.example
    imap:
      username: second
`)
	out := d.mustRun(t, "requests")
	if out != "== desk id ==\ndesk id: held by no instance (no madoguchi run reads its mail)\nno requests\n"+
		"== desk second ==\ndesk second: held by no instance (no madoguchi run reads its mail)\nno requests\n" {
		t.Errorf("requests over two desks:\n%s", out)
	}
	if out := d.mustRun(t, "quarantine", "-desk", "second"); out != "no quarantined messages\n" {
		t.Errorf("one desk: %q", out)
	}
	code, _, errOut := d.run(t, "outbox", "retry", "3")
	if code != 1 || !strings.Contains(errOut, "the configuration has 2 desks (id, second): name one with -desk") {
		t.Errorf("retry without -desk: exit %d, %q", code, errOut)
	}
	if code, _, errOut := d.run(t, "requests", "-desk", "third"); code != 1 || !strings.Contains(errOut, `no desk "third"`) {
		t.Errorf("unknown desk: exit %d, %q", code, errOut)
	}
}

func TestTableCountsWideCharacters(t *testing.T) {
	var b bytes.Buffer
	tb := &table{}
	tb.add("A", "B")
	tb.add("申請", "x")
	tb.add("ab\x1b[31m", "y")
	tb.write(&b)
	want := "A        B\n申請     x\nab?[31m  y\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 12 * time.Minute: "12m", 3*time.Hour + 5*time.Minute: "3h05m", 52 * time.Hour: "2d04h", -time.Second: "0s",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%s) = %s, want %s", d, got, want)
		}
	}
}
