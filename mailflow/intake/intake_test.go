package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
)

// recorder is the test Processor: it remembers each (uidvalidity, uid) it
// decided on and answers a repeat with the same disposition, as the desk does.
type recorder struct {
	mu        sync.Mutex
	decide    func(d Delivery) (Disposition, error) // nil: file in Processed
	decided   map[[2]uint32]Disposition
	calls     []Delivery // every Process call, repeats included
	firstTime map[[2]uint32]int
	replaced  map[[2]uint32]bool
	seen      chan Delivery // optional: gets every first-time delivery
	// failFiled fails that many ReplacementsFiled calls, as a crash after
	// the masked copies were appended and before they were recorded.
	failFiled int
}

func newRecorder() *recorder {
	return &recorder{
		decided:   map[[2]uint32]Disposition{},
		firstTime: map[[2]uint32]int{},
		replaced:  map[[2]uint32]bool{},
		seen:      make(chan Delivery, 100),
	}
}

func (r *recorder) Process(ctx context.Context, d Delivery) (Disposition, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, d)
	key := [2]uint32{d.UIDValidity, d.UID}
	if disp, ok := r.decided[key]; ok {
		if r.replaced[key] {
			return Disposition{To: disp.To, Discard: true, Recorded: true}, nil
		}
		disp.Recorded = true
		return disp, nil
	}
	disp := Disposition{To: ToProcessed}
	if r.decide != nil {
		var err error
		if disp, err = r.decide(d); err != nil {
			return Disposition{}, err
		}
	}
	r.decided[key] = disp
	r.firstTime[key]++
	select {
	case r.seen <- d:
	default:
	}
	return disp, nil
}

func (r *recorder) ReplacementsFiled(ctx context.Context, ds []Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failFiled > 0 {
		r.failFiled--
		return errors.New("killed before the record")
	}
	for _, d := range ds {
		r.replaced[[2]uint32{d.UIDValidity, d.UID}] = true
	}
	return nil
}

func (r *recorder) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startServer(t *testing.T, opts loopback.IMAPOptions) *loopback.IMAPServer {
	t.Helper()
	opts.Users = map[string]string{"desk": "pw"}
	opts.Logger = testLogger(t)
	s, err := loopback.StartIMAP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func options(t *testing.T, s *loopback.IMAPServer) Options {
	return Options{
		Address: s.Addr, TLS: "none", Username: "desk", Password: "pw",
		Logger: testLogger(t), BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	}
}

func msg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nTo: desk@example.org\r\nMessage-ID: <%d@example.org>\r\nSubject: test %d\r\n\r\nbody %d\r\n", i, i, i)
}

func appendN(t *testing.T, s *loopback.IMAPServer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Append("desk", "INBOX", msg(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func list(t *testing.T, s *loopback.IMAPServer, mailbox string) [][]byte {
	t.Helper()
	msgs, err := s.List("desk", mailbox)
	if err != nil {
		t.Fatalf("list %s: %v", mailbox, err)
	}
	return msgs
}

func wantCount(t *testing.T, s *loopback.IMAPServer, mailbox string, n int) {
	t.Helper()
	if got := len(list(t, s, mailbox)); got != n {
		t.Errorf("%s has %d messages, want %d", mailbox, got, n)
	}
}

func drain(t *testing.T, in *Intake) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := in.Drain(ctx)
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return n
}

// filingVariants are the two ways intake files a message: MOVE, and COPY
// with STORE \Deleted and EXPUNGE where the server has no MOVE.
var filingVariants = []struct {
	name string
	opts loopback.IMAPOptions
}{
	{"move", loopback.IMAPOptions{}},
	{"copy and expunge", loopback.IMAPOptions{DisableMove: true}},
}

func TestDrainMovesToProcessed(t *testing.T) {
	for _, tc := range filingVariants {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.opts)
			// More than one size batch, to cross the batch boundary.
			appendN(t, s, 0, sizeBatch+3)
			r := newRecorder()
			if n := drain(t, New(options(t, s), r)); n != sizeBatch+3 {
				t.Errorf("Drain processed %d, want %d", n, sizeBatch+3)
			}
			wantCount(t, s, "INBOX", 0)
			processed := list(t, s, "Processed")
			if len(processed) != sizeBatch+3 {
				t.Fatalf("Processed has %d messages", len(processed))
			}
			for i, raw := range processed {
				if !bytes.Equal(raw, msg(i)) {
					t.Errorf("Processed[%d] = %q, want message %d (UID order)", i, raw, i)
				}
			}
			wantCount(t, s, "Quarantine", 0)
			for i, d := range r.calls {
				if d.UID != uint32(i+1) || d.Mailbox != "INBOX" || d.UIDValidity == 0 || d.Truncated ||
					d.Size != int64(len(msg(i))) || !bytes.Equal(d.Raw, msg(i)) {
					t.Errorf("delivery %d: %+v", i, d)
				}
			}
		})
	}
}

func TestDrainEmptyMailbox(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	if n := drain(t, New(options(t, s), newRecorder())); n != 0 {
		t.Errorf("Drain processed %d", n)
	}
	// The filing folders exist afterwards, and a second run tolerates them.
	drain(t, New(options(t, s), newRecorder()))
	wantCount(t, s, "Processed", 0)
	wantCount(t, s, "Quarantine", 0)
}

func TestDispositions(t *testing.T) {
	masked := []byte("From: a@example.org\r\nSubject: masked\r\n\r\npassword: ********\r\n")
	for _, tc := range []struct {
		name                     string
		disp                     Disposition
		noMove                   bool
		processed, quarantine    int
		wantInProcessed, wantInQ []byte
	}{
		{name: "quarantine", disp: Disposition{To: ToQuarantine, Reason: "bad form"}, quarantine: 1, wantInQ: msg(0)},
		{name: "quarantine without move", disp: Disposition{To: ToQuarantine}, noMove: true, quarantine: 1, wantInQ: msg(0)},
		{name: "replacement", disp: Disposition{To: ToProcessed, Replacement: masked}, processed: 1, wantInProcessed: masked},
		{name: "replacement to quarantine", disp: Disposition{To: ToQuarantine, Replacement: masked}, quarantine: 1, wantInQ: masked},
		{name: "discard", disp: Disposition{Discard: true}},
		{name: "discard without move", disp: Disposition{Discard: true}, noMove: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, loopback.IMAPOptions{DisableMove: tc.noMove})
			appendN(t, s, 0, 1)
			r := newRecorder()
			r.decide = func(Delivery) (Disposition, error) { return tc.disp, nil }
			if n := drain(t, New(options(t, s), r)); n != 1 {
				t.Errorf("Drain processed %d, want 1", n)
			}
			wantCount(t, s, "INBOX", 0)
			p, q := list(t, s, "Processed"), list(t, s, "Quarantine")
			if len(p) != tc.processed || len(q) != tc.quarantine {
				t.Fatalf("Processed %d, Quarantine %d; want %d, %d", len(p), len(q), tc.processed, tc.quarantine)
			}
			want := func(raw []byte) []byte {
				if len(tc.disp.Replacement) > 0 {
					return withCopyMarker(r.calls[0], raw) // the copy says whose it is
				}
				return raw
			}
			if tc.wantInProcessed != nil && !bytes.Equal(p[0], want(tc.wantInProcessed)) {
				t.Errorf("Processed holds %q", p[0])
			}
			if tc.wantInQ != nil && !bytes.Equal(q[0], want(tc.wantInQ)) {
				t.Errorf("Quarantine holds %q", q[0])
			}
			if len(tc.disp.Replacement) > 0 && len(r.replaced) != 1 {
				t.Error("ReplacementsFiled was not called")
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	header := "From: a@example.org\r\nSubject: big\r\n\r\n"
	big := []byte(header + strings.Repeat("x", 5000) + "\r\n")
	if err := s.Append("desk", "INBOX", big); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 1, 2)
	r := newRecorder()
	opts := options(t, s)
	opts.MaxMessageBytes = 1000
	drain(t, New(opts, r))
	if len(r.calls) != 2 {
		t.Fatalf("%d calls", len(r.calls))
	}
	d := r.calls[0]
	if !d.Truncated || string(d.Raw) != header || d.Size != int64(len(big)) {
		t.Errorf("big message: truncated %v size %d raw %q", d.Truncated, d.Size, d.Raw)
	}
	if d := r.calls[1]; d.Truncated || !bytes.Equal(d.Raw, msg(1)) {
		t.Errorf("small message: %+v", d)
	}
	// The original, not the header, is what gets filed.
	if p := list(t, s, "Processed"); len(p) != 2 || !bytes.Equal(p[0], big) {
		t.Errorf("Processed: %d messages", len(p))
	}
}

// A message the processor fails on stays in the mailbox; the messages
// behind it are handled in the same pass, and the next pass tries it again
// (a Processor without a FailureKeeper: no delay, no limit).
func TestProcessErrorLeavesOnlyThatMessage(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 3)
	r := newRecorder()
	fail := true
	r.decide = func(d Delivery) (Disposition, error) {
		if d.UID == 2 && fail {
			return Disposition{}, errors.New("template: missing key")
		}
		return Disposition{To: ToProcessed}, nil
	}
	in := New(options(t, s), r)
	if n := drain(t, in); n != 2 {
		t.Errorf("first Drain processed %d, want 2", n)
	}
	wantCount(t, s, "INBOX", 1)
	wantCount(t, s, "Processed", 2)

	fail = false
	if n := drain(t, in); n != 1 {
		t.Errorf("second Drain processed %d, want 1", n)
	}
	wantCount(t, s, "INBOX", 0)
	wantCount(t, s, "Processed", 3)
}

func TestEachUIDProcessedOnce(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 4)
	r := newRecorder()
	in := New(options(t, s), r)
	drain(t, in)
	appendN(t, s, 4, 6)
	if n := drain(t, in); n != 2 {
		t.Errorf("second Drain processed %d, want 2", n)
	}
	if len(r.calls) != 6 {
		t.Errorf("Process called %d times, want 6", len(r.calls))
	}
	for key, n := range r.firstTime {
		if n != 1 {
			t.Errorf("uid %v decided %d times", key, n)
		}
	}
	seen := map[uint32]bool{}
	for _, d := range r.calls {
		if seen[d.UID] {
			t.Errorf("uid %d handed over twice", d.UID)
		}
		seen[d.UID] = true
	}
	wantCount(t, s, "Processed", 6)
}

// runIntake starts Run and returns a function that cancels it and checks
// that it returned nil promptly.
func runIntake(t *testing.T, in *Intake) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Log(string(buf[:runtime.Stack(buf, true)]))
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitDelivery(t *testing.T, r *recorder, uid uint32) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case d := <-r.seen:
			if d.UID == uid {
				return
			}
		case <-timeout:
			t.Fatalf("uid %d was not processed", uid)
		}
	}
}

// waitFiled waits until the server shows the message moved: Process is
// called before the move, so the folders lag the processor a little.
func waitFiled(t *testing.T, s *loopback.IMAPServer, processed int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		inbox, p := list(t, s, "INBOX"), list(t, s, "Processed")
		if len(inbox) == 0 && len(p) == processed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("INBOX %d, Processed %d; want 0, %d", len(inbox), len(p), processed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunIdle(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 1)
	r := newRecorder()
	opts := options(t, s)
	opts.PollInterval = time.Hour // only IDLE can pick up new mail in time
	runIntake(t, New(opts, r))
	waitDelivery(t, r, 1)
	appendN(t, s, 1, 2)
	waitDelivery(t, r, 2)
	waitFiled(t, s, 2)
}

func TestRunIdleRefresh(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	r := newRecorder()
	opts := options(t, s)
	opts.PollInterval = time.Hour
	opts.IdleRefresh = 30 * time.Millisecond
	runIntake(t, New(opts, r))
	// Several refreshes pass; mail must still be noticed afterwards.
	time.Sleep(200 * time.Millisecond)
	appendN(t, s, 0, 1)
	waitDelivery(t, r, 1)
	waitFiled(t, s, 1)
}

func TestRunPollsWithoutIdle(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{DisableIdle: true, DisableMove: true})
	r := newRecorder()
	opts := options(t, s)
	opts.PollInterval = 100 * time.Millisecond
	runIntake(t, New(opts, r))
	appendN(t, s, 0, 1)
	waitDelivery(t, r, 1)
	appendN(t, s, 1, 2)
	waitDelivery(t, r, 2)
	waitFiled(t, s, 2)
}

func TestRunSurvivesDroppedConnections(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	r := newRecorder()
	opts := options(t, s)
	opts.PollInterval = time.Hour
	runIntake(t, New(opts, r))
	appendN(t, s, 0, 1)
	waitDelivery(t, r, 1)
	waitFiled(t, s, 1)
	s.DropConnections()
	appendN(t, s, 1, 2)
	waitDelivery(t, r, 2)
	waitFiled(t, s, 2)
	// Once more, while idle, with nothing pending.
	s.DropConnections()
	time.Sleep(50 * time.Millisecond)
	appendN(t, s, 2, 3)
	waitDelivery(t, r, 3)
	waitFiled(t, s, 3)
}

func TestRunRetriesAfterProcessError(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 1)
	r := newRecorder()
	var mu sync.Mutex
	failures := 2
	r.decide = func(Delivery) (Disposition, error) {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return Disposition{}, errors.New("temporary")
		}
		return Disposition{To: ToProcessed}, nil
	}
	opts := options(t, s)
	opts.PollInterval = 50 * time.Millisecond // the next pass tries the message again
	runIntake(t, New(opts, r))
	waitDelivery(t, r, 1)
	waitFiled(t, s, 1)
	if n := r.callCount(); n != 3 {
		t.Errorf("Process called %d times, want 3", n)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	r := newRecorder()
	stop := runIntake(t, New(options(t, s), r))
	appendN(t, s, 0, 1)
	waitDelivery(t, r, 1)
	stop() // checks for a nil return within 5 s
}

func TestRunStopsOnCancelWhileServerDown(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	addr := s.Addr
	s.Close()
	opts := options(t, s)
	opts.Address = addr
	opts.BackoffMin, opts.BackoffMax = time.Hour, time.Hour
	stop := runIntake(t, New(opts, newRecorder()))
	time.Sleep(50 * time.Millisecond)
	stop()
}

func TestDrainCancelled(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 3)
	ctx, cancel := context.WithCancel(context.Background())
	r := newRecorder()
	r.decide = func(Delivery) (Disposition, error) {
		cancel()
		return Disposition{To: ToProcessed}, nil
	}
	n, err := New(options(t, s), r).Drain(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Drain after cancel: %d, %v", n, err)
	}
	if len(r.calls) != 1 {
		t.Errorf("Process called %d times after cancel, want 1", len(r.calls))
	}
}

func TestBackoff(t *testing.T) {
	in := New(Options{BackoffMin: time.Second, BackoffMax: 8 * time.Second}, newRecorder())
	for failures, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		for range 20 {
			if d := in.backoff(failures); d < want/2 || d > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", failures, d, want/2, want)
			}
		}
	}
	if d := in.backoff(1000); d > 8*time.Second {
		t.Errorf("backoff(1000) = %v", d)
	}
}

func TestUnknownTLSMode(t *testing.T) {
	in := New(Options{Address: "127.0.0.1:1", TLS: "ssl"}, newRecorder())
	if _, err := in.Drain(context.Background()); err == nil || !strings.Contains(err.Error(), "unknown TLS mode") {
		t.Errorf("Drain = %v", err)
	}
}

// Handled messages are filed in batches, each where the desk decided:
// moved, quarantined, replaced by a masked copy or discarded.
func TestBatchedFilingKeepsEachDisposition(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	const total = 3*fileBatch + 5
	appendN(t, s, 0, total)
	masked := []byte("From: a@example.org\r\nSubject: masked\r\n\r\n********\r\n")
	r := newRecorder()
	r.decide = func(d Delivery) (Disposition, error) {
		switch d.UID % 4 {
		case 1:
			return Disposition{To: ToQuarantine, Reason: "test"}, nil
		case 2:
			return Disposition{To: ToProcessed, Replacement: masked}, nil
		case 3:
			return Disposition{To: ToProcessed, Discard: true}, nil
		}
		return Disposition{To: ToProcessed}, nil
	}
	if n := drain(t, New(options(t, s), r)); n != total {
		t.Fatalf("drained %d, want %d", n, total)
	}
	var quarantined, replaced, moved int
	for uid := uint32(1); uid <= total; uid++ {
		switch uid % 4 {
		case 1:
			quarantined++
		case 2:
			replaced++
		case 0:
			moved++
		}
	}
	wantCount(t, s, "INBOX", 0)
	wantCount(t, s, "Quarantine", quarantined)
	wantCount(t, s, "Processed", replaced+moved)
	masks := 0
	for _, m := range list(t, s, "Processed") {
		if bytes.HasSuffix(m, masked) && bytes.HasPrefix(m, []byte(copyHeader+": <")) {
			masks++
		}
	}
	if masks != replaced || len(r.replaced) != replaced {
		t.Errorf("%d masked copies filed, %d recorded; want %d", masks, len(r.replaced), replaced)
	}
}

// A cut after messages were handled but before their batch was filed
// leaves them in the mailbox; the next pass hands them over again, the
// desk answers with what it recorded, and each is filed once.
func TestCutBeforeBatchIsFiledRehandsMessages(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	proxy, err := loopback.StartFaultProxy(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	const total = fileBatch + 10
	appendN(t, s, 0, total)
	r := newRecorder()
	cut := true
	r.decide = func(d Delivery) (Disposition, error) {
		if d.UID == fileBatch+5 && cut {
			cut = false
			proxy.DropAll() // the batch after the first is handled, not filed
		}
		return Disposition{To: ToProcessed}, nil
	}
	opts := options(t, s)
	opts.Address = proxy.Addr
	in := New(opts, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := in.Drain(ctx); err == nil {
		t.Fatal("Drain through a cut connection reported no error")
	}
	left := len(list(t, s, "INBOX"))
	if left == 0 || left == total {
		t.Fatalf("%d of %d messages left after the cut; want the unfiled batch only", left, total)
	}
	if n := drain(t, in); n != left {
		t.Errorf("second Drain handed over %d, want the %d left", n, left)
	}
	wantCount(t, s, "INBOX", 0)
	wantCount(t, s, "Processed", total)
	for key, n := range r.firstTime {
		if n != 1 {
			t.Errorf("uid %v decided %d times", key, n)
		}
	}
}

// A cut after the masked copies were appended and before they were
// recorded leaves the originals in the INBOX. The next pass hands them
// over again, finds each copy by its X-Madoguchi-Copy-Of header and files
// no second one.
func TestCutBetweenAppendAndRecordFilesNoSecondCopy(t *testing.T) {
	for _, tc := range filingVariants {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.opts)
			const total = 7
			appendN(t, s, 0, total)
			masked := []byte("From: a@example.org\r\nSubject: masked\r\n\r\n********\r\n")
			r := newRecorder()
			r.failFiled = 1
			r.decide = func(d Delivery) (Disposition, error) {
				if d.UID%2 == 0 {
					return Disposition{To: ToProcessed}, nil
				}
				return Disposition{To: ToProcessed, Replacement: masked}, nil
			}
			in := New(options(t, s), r)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := in.Drain(ctx); err == nil {
				t.Fatal("Drain reported no error when the record of the copies failed")
			}
			if n := len(list(t, s, "Processed")); n != total {
				t.Fatalf("%d messages in Processed after the failed record, want the 4 masked copies appended before it and the 3 others", n)
			}
			wantCount(t, s, "INBOX", 4) // the originals, their copies unrecorded
			drain(t, in)
			wantCount(t, s, "INBOX", 0)
			copies := map[string]int{}
			plain := 0
			for _, m := range list(t, s, "Processed") {
				if !bytes.HasSuffix(m, masked) {
					plain++
					continue
				}
				copies[string(m[:bytes.IndexByte(m, '\n')])]++
			}
			if len(copies) != 4 || plain != 3 {
				t.Errorf("Processed holds %d distinct masked copies and %d moved messages, want 4 and 3", len(copies), plain)
			}
			for marker, n := range copies {
				if n != 1 {
					t.Errorf("%d copies with %q, want 1", n, marker)
				}
			}
			for uid := uint32(1); uid <= total; uid += 2 {
				if !r.replaced[[2]uint32{r.calls[0].UIDValidity, uid}] {
					t.Errorf("the copy of uid %d was never recorded as filed", uid)
				}
			}
		})
	}
}

// A batch is filed at fileBatch messages, or sooner when the masked copies
// waiting in it, with their originals, hold fileHeldBytes.
func TestFilingIsFullByCountOrBytes(t *testing.T) {
	var f filing
	small := Delivery{UIDValidity: 1, UID: 1, Raw: []byte("password: x")}
	f.replace(small, "Processed", []byte("masked"), nil)
	if f.full() {
		t.Fatal("one small masked copy filled the batch")
	}
	for uid := imap.UID(2); f.count < fileBatch; uid++ {
		f.move(uid, "Processed", nil)
	}
	if !f.full() {
		t.Errorf("%d messages did not fill the batch", f.count)
	}

	var big filing
	large := Delivery{UIDValidity: 1, UID: 1, Raw: make([]byte, fileHeldBytes)}
	big.replace(large, "Processed", []byte("masked"), nil)
	if !big.full() {
		t.Error("a masked copy whose original holds 4 MiB did not fill the batch")
	}
}

// flushingRecorder is a recorder whose records become durable only at
// Flush (as the desk's on PostgreSQL): it checks, at every Flush, that no
// message left the mailbox before a Flush covered its record.
type flushingRecorder struct {
	*recorder
	t       *testing.T
	s       *loopback.IMAPServer
	mu      sync.Mutex
	covered int // Process calls made before the last Flush
	flushes int
}

func (f *flushingRecorder) Flush(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if filed := len(list(f.t, f.s, "Processed")); filed > f.covered {
		f.t.Errorf("%d messages filed before a Flush covered them (%d covered)", filed-f.covered, f.covered)
	}
	f.covered = f.callCount()
	f.flushes++
	return nil
}

func TestFlushBeforeFiling(t *testing.T) {
	for _, tc := range filingVariants {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.opts)
			const n = 2*fileBatch + 5
			appendN(t, s, 0, n)
			r := &flushingRecorder{recorder: newRecorder(), t: t, s: s}
			if got := drain(t, New(options(t, s), r)); got != n {
				t.Errorf("Drain processed %d, want %d", got, n)
			}
			wantCount(t, s, "Processed", n)
			if r.flushes < 3 || r.covered != n {
				t.Errorf("%d flushes covering %d messages, want one per batch of %d covering all %d", r.flushes, r.covered, fileBatch, n)
			}
		})
	}
}

// A failed Flush files nothing: the messages stay in the mailbox for the
// next pass, and their repeat is answered from the records.
func TestFailedFlushFilesNothing(t *testing.T) {
	s := startServer(t, loopback.IMAPOptions{})
	appendN(t, s, 0, 3)
	r := &failingFlusher{recorder: newRecorder()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := New(options(t, s), r).Drain(ctx); err == nil || !strings.Contains(err.Error(), "durable") {
		t.Fatalf("Drain with a failing Flush: %v, want the flush's error", err)
	}
	wantCount(t, s, "INBOX", 3)
	wantCount(t, s, "Processed", 0)
}

type failingFlusher struct{ *recorder }

func (failingFlusher) Flush(context.Context) error { return errors.New("database gone") }
