package intake

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dovecotClient logs in to the Dovecot that scripts/dovecot.sh started, or
// skips the test when none runs.
func dovecotClient(t *testing.T) (Options, *imapclient.Client) {
	t.Helper()
	addr, user, pass := os.Getenv("MADOGUCHI_DOVECOT_ADDR"), os.Getenv("MADOGUCHI_DOVECOT_USER"), os.Getenv("MADOGUCHI_DOVECOT_PASS")
	if addr == "" || user == "" || pass == "" {
		t.Skip("no Dovecot: run `eval \"$(scripts/dovecot.sh)\"` first (as .ci/run does)")
	}
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return Options{Address: addr, TLS: "none", Username: user, Password: pass, Logger: testLogger(t)}, c
}

// resetMailbox empties a mailbox, creating it when absent: the Dovecot
// account is shared with other packages' integration tests.
func resetMailbox(t *testing.T, c *imapclient.Client, name string) {
	t.Helper()
	_ = c.Create(name, nil).Wait() // ALREADYEXISTS is fine
	data, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	if data.NumMessages > 0 {
		all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
		flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.Store(all, flags, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, c *imapclient.Client, mailbox string, raw []byte) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", mailbox, err)
	}
}

// contents returns the messages of a mailbox in UID order, with their flags.
func contents(t *testing.T, c *imapclient.Client, mailbox string) ([][]byte, [][]imap.Flag) {
	t.Helper()
	data, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %s: %v", mailbox, err)
	}
	defer func() { _ = c.Unselect().Wait() }() // deferring the call itself would send UNSELECT now
	if data.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", mailbox, err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return cmp.Compare(a.UID, b.UID) })
	var raws [][]byte
	var flags [][]imap.Flag
	for _, m := range msgs {
		raws = append(raws, m.FindBodySection(section))
		flags = append(flags, m.Flags)
	}
	return raws, flags
}

func dovecotMsg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nTo: desk@example.org\r\nMessage-ID: <intake-%d-%d@example.org>\r\nSubject: dovecot %d\r\n\r\nbody %d\r\n",
		time.Now().UnixNano(), i, i, i)
}

// TestDovecotDrain runs Drain against a real Dovecot: MOVE to Processed,
// quarantine, a masked replacement, and a second Drain with nothing to do.
func TestDovecotDrain(t *testing.T) {
	opts, c := dovecotClient(t)
	for _, box := range []string{"INBOX", "Processed", "Quarantine"} {
		resetMailbox(t, c, box)
	}
	if !c.Caps().Has(imap.CapMove) {
		t.Error("Dovecot does not advertise MOVE; the MOVE path goes untested")
	}

	plain := [][]byte{dovecotMsg(0), dovecotMsg(1)}
	withPassword := []byte("From: a@example.org\r\nSubject: password\r\n\r\npassword: hunter2\r\n")
	masked := []byte("From: a@example.org\r\nSubject: password\r\n\r\npassword: ********\r\n")
	suspicious := dovecotMsg(3)
	for _, raw := range [][]byte{plain[0], withPassword, plain[1], suspicious} {
		appendTo(t, c, "INBOX", raw)
	}

	r := newRecorder()
	r.decide = func(d Delivery) (Disposition, error) {
		switch {
		case bytes.Contains(d.Raw, []byte("hunter2")):
			return Disposition{To: ToProcessed, Replacement: masked}, nil
		case bytes.Equal(d.Raw, suspicious):
			return Disposition{To: ToQuarantine, Reason: "test"}, nil
		}
		return Disposition{To: ToProcessed}, nil
	}
	// The first pass stops after the masked copy is appended and before it
	// is recorded, as a crash there would; the second finds the copy on
	// the server (SEARCH HEADER) and appends no other.
	r.failFiled = 1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := New(opts, r)
	if _, err := in.Drain(ctx); err == nil {
		t.Fatal("Drain reported no error when the record of the masked copy failed")
	}
	n, err := in.Drain(ctx)
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n != 1 {
		t.Errorf("second Drain processed %d, want 1: the original whose copy was not recorded (the others were filed after the failure)", n)
	}
	var original Delivery
	for _, d := range r.calls {
		if bytes.Contains(d.Raw, []byte("hunter2")) {
			original = d
		}
	}
	masked = withCopyMarker(original, masked)
	for _, d := range r.calls {
		if d.UIDValidity == 0 || d.Mailbox != "INBOX" || d.Truncated || d.Size != int64(len(d.Raw)) {
			t.Errorf("delivery %+v", d)
		}
	}

	if inbox, _ := contents(t, c, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX still has %d messages", len(inbox))
	}
	processed, flags := contents(t, c, "Processed")
	want := [][]byte{plain[0], plain[1], masked} // moves keep UID order; the replacement was appended
	if len(processed) != len(want) {
		t.Fatalf("Processed has %d messages, want %d", len(processed), len(want))
	}
	for _, w := range want {
		if !slices.ContainsFunc(processed, func(got []byte) bool { return bytes.Equal(got, w) }) {
			t.Errorf("Processed lacks %q", w)
		}
	}
	for i, raw := range processed {
		if bytes.Contains(raw, []byte("hunter2")) {
			t.Error("the original with the password was filed")
		}
		if bytes.Equal(raw, masked) && !slices.Contains(flags[i], imap.FlagSeen) {
			t.Errorf("replacement filed without \\Seen: %v", flags[i])
		}
	}
	if q, _ := contents(t, c, "Quarantine"); len(q) != 1 || !bytes.Equal(q[0], suspicious) {
		t.Errorf("Quarantine has %d messages", len(q))
	}
	if len(r.replaced) != 1 {
		t.Errorf("ReplacementsFiled recorded %d messages, want 1", len(r.replaced))
	}

	// Nothing left: a second Drain hands nothing over.
	if n, err := in.Drain(ctx); err != nil || n != 0 {
		t.Errorf("second Drain: %d, %v", n, err)
	}
}

// TestDovecotTruncated checks that an oversized message arrives as its
// header only and is still filed whole.
func TestDovecotTruncated(t *testing.T) {
	opts, c := dovecotClient(t)
	for _, box := range []string{"INBOX", "Processed", "Quarantine"} {
		resetMailbox(t, c, box)
	}
	header := "From: a@example.org\r\nSubject: big\r\n\r\n"
	big := []byte(header + string(bytes.Repeat([]byte("0123456789abcdef\r\n"), 2000)))
	appendTo(t, c, "INBOX", big)
	r := newRecorder()
	opts.MaxMessageBytes = 4096
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := New(opts, r).Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 1 || !r.calls[0].Truncated || string(r.calls[0].Raw) != header || r.calls[0].Size != int64(len(big)) {
		t.Fatalf("calls %+v", r.calls)
	}
	if p, _ := contents(t, c, "Processed"); len(p) != 1 || !bytes.Equal(p[0], big) {
		t.Errorf("Processed has %d messages", len(p))
	}
}

// TestDovecotRunIdle checks that Run notices mail through Dovecot's IDLE.
func TestDovecotRunIdle(t *testing.T) {
	opts, c := dovecotClient(t)
	for _, box := range []string{"INBOX", "Processed", "Quarantine"} {
		resetMailbox(t, c, box)
	}
	r := newRecorder()
	opts.PollInterval = time.Hour // only IDLE can deliver in time
	opts.BackoffMin, opts.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	runIntake(t, New(opts, r))
	time.Sleep(200 * time.Millisecond) // most likely idling by now; either way the mail must come
	raw := dovecotMsg(7)
	appendTo(t, c, "INBOX", raw)
	select {
	case d := <-r.seen:
		if !bytes.Equal(d.Raw, raw) {
			t.Errorf("got %q", d.Raw)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not pick up the new message")
	}
	// Leave the shared mailbox as found: wait for the move to finish.
	deadline := time.Now().Add(30 * time.Second)
	for {
		inbox, _ := contents(t, c, "INBOX")
		if len(inbox) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message was not moved out of INBOX")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
