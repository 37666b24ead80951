package desk_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// brokenStatusTemplates writes overrides of the status report that load,
// pass the check at start (the sample data renders) and fail at render for
// one addressee (a key the notice's data lacks), and returns their
// directory. fix rewrites them to render.
func brokenStatusTemplates(t *testing.T) (dir string, fix func()) {
	t.Helper()
	dir = t.TempDir()
	write := func(body string) {
		for _, lang := range []string{"ja", "en"} {
			if err := os.MkdirAll(filepath.Join(dir, lang), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, lang, "status_report.txt"), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("Subject: status\n\n{{.Greeting}}\n{{if eq .Greeting \"Poison Pill 様\" \"Dear Poison Pill,\"}}{{.NoSuchKey}}{{end}}\n")
	return dir, func() { write("Subject: status\n\n{{.Greeting}} fixed\n") }
}

// reopen closes the desk and opens it again on the same database, as a
// restart of the daemon does.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.app.Close(); err != nil {
		h.t.Fatal(err)
	}
	var err error
	h.app, err = app.New(context.Background(), h.cfg, app.Options{
		Now:    func() time.Time { return h.now },
		Hash:   secret.Params{MemoryKiB: 64, Time: 1, Threads: 1},
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) failures() []store.ProcessingFailure {
	h.t.Helper()
	fs, err := h.app.Store.ProcessingFailures(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return fs
}

// A message whose handling fails (a template override that loads and
// fails at render) in front of 100 good ones: the 100 are answered in the
// first pass; the bad one is tried again only when its delay has passed,
// keeps its count across a restart, and at the fifth failure is in
// Quarantine, masked, recorded as quarantined with the error as the
// reason and an audit line. The desk's clock is moved, no test time passes.
func TestFailingMessageIsRetriedThenQuarantinedWhileTheRestIsAnswered(t *testing.T) {
	dir, fix := brokenStatusTemplates(t)
	h := newHarness(t, withConfig("templates: {dir: "+dir+"}\n"))
	const stuck, password = "stuck@clinic.example", "Vx7pLq2m!Rz"
	// A password typed into the mail must not reach the quarantine folder.
	h.deliver(samples.Mail{From: "Poison Pill <" + stuck + ">", Subject: "status", Body: "申請種別: 状況確認\nパスワード: " + password + "\n"})
	for i := range 100 {
		// No text: the blank forms, one notice each.
		h.deliver(samples.Mail{From: fmt.Sprintf("user%03d@clinic.example", i)})
	}

	s := h.once()
	if s.Processed != 100 || s.Sent != 100 {
		t.Fatalf("first pass: processed %d, sent %d; want 100 and 100\nlog:\n%s", s.Processed, s.Sent, h.logs)
	}
	for _, n := range h.fresh() {
		if n.To[0] == stuck {
			t.Fatalf("the failing message was answered: %s", n.Subject)
		}
	}
	if n := len(h.folder("INBOX")); n != 1 {
		t.Fatalf("%d messages left in INBOX, want the failing one", n)
	}
	fs := h.failures()
	if len(fs) != 1 || fs[0].Attempts != 1 || !fs[0].NextAttemptAt.Equal(h.now.Add(time.Minute)) ||
		!strings.Contains(fs[0].LastError, "NoSuchKey") {
		t.Fatalf("failures after the first pass: %+v", fs)
	}
	failed := fs[0]

	// Not due yet: not tried.
	h.now = h.now.Add(30 * time.Second)
	if s := h.once(); s.Processed != 0 || h.failures()[0].Attempts != 1 {
		t.Fatalf("a pass before the delay tried the message again (processed %d, %+v)", s.Processed, h.failures())
	}

	delays := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}
	for attempt := 2; attempt <= 5; attempt++ {
		h.now = failed.NextAttemptAt
		if attempt == 3 {
			h.reopen() // a restart between attempts keeps the count
		}
		h.once()
		if attempt == 5 {
			break
		}
		fs := h.failures()
		if len(fs) != 1 || fs[0].Attempts != attempt || !fs[0].NextAttemptAt.Equal(h.now.Add(delays[attempt-1])) {
			t.Fatalf("after attempt %d: %+v", attempt, fs)
		}
		failed = fs[0]
	}

	h.inboxEmpty()
	if fs := h.failures(); len(fs) != 0 {
		t.Errorf("failures kept after the quarantine: %+v", fs)
	}
	q := h.folder("Quarantine")
	if len(q) != 1 || !bytes.Contains(q[0], []byte("X-Madoguchi-Masked")) {
		t.Fatalf("Quarantine holds %d messages (want the masked copy of the failing one)", len(q))
	}
	if n := len(h.folder("Processed")); n != 100 {
		t.Errorf("Processed holds %d, want 100", n)
	}
	var seen *store.Seen
	var audit []store.AuditEntry
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		if seen, err = tx.SeenByUID(failed.Mailbox, failed.UIDValidity, failed.UID); err != nil {
			return err
		}
		audit, err = tx.AuditLog(0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Outcome != "quarantined" || seen.Destination != "quarantine" || seen.From != stuck {
		t.Errorf("seen record: outcome %q, destination %q, from %q", seen.Outcome, seen.Destination, seen.From)
	}
	contains(t, "quarantine reason", seen.Reason, "handling failed 5 times", "NoSuchKey")
	audited := false
	for _, e := range audit {
		if e.Action == "quarantined" && strings.Contains(e.Detail, "handling failed 5 times") && strings.Contains(e.Detail, stuck) {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit line for the quarantine: %+v", audit)
	}
	if got := h.fresh(); len(got) != 0 {
		t.Errorf("%d notices after the quarantine, want none (nothing was done for the message)", len(got))
	}
	assertSecretNowhere(t, h, password)

	// Once the cause is fixed, an operator moves the message back to the
	// INBOX: it is handled, not filed as a duplicate of the quarantined one.
	fix()
	h.reopen()
	h.deliverRaw(q[0])
	h.once()
	n := h.only(stuck)
	contains(t, "status report after the fix", n.Body, "fixed")
	h.inboxEmpty()
}

// A message that fails once and is handled at its next attempt (the cause
// fixed meanwhile) is answered once, and no longer listed as failing.
func TestFailedMessageHandledAtALaterAttempt(t *testing.T) {
	dir, fix := brokenStatusTemplates(t)
	h := newHarness(t, withConfig("templates: {dir: "+dir+"}\n"))
	const stuck = "stuck@clinic.example"
	h.deliver(samples.Mail{From: "Poison Pill <" + stuck + ">", Subject: "status", Body: "申請種別: 状況確認\n"})
	if s := h.once(); s.Processed != 0 || len(h.failures()) != 1 {
		t.Fatalf("first pass: processed %d, failures %+v", s.Processed, h.failures())
	}
	fix()
	h.reopen()
	h.now = h.now.Add(time.Minute)
	if s := h.once(); s.Processed != 1 {
		t.Fatalf("second attempt: processed %d\nlog:\n%s", s.Processed, h.logs)
	}
	contains(t, "status report", h.only(stuck).Body, "fixed")
	h.inboxEmpty()
	if fs := h.failures(); len(fs) != 0 {
		t.Errorf("still listed as failing: %+v", fs)
	}
}
