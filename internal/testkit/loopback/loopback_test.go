package loopback

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

func startIMAP(t *testing.T, opts IMAPOptions) *IMAPServer {
	t.Helper()
	if opts.Users == nil {
		opts.Users = map[string]string{"desk": "pw"}
	}
	opts.Logger = testLogger(t)
	s, err := StartIMAP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func login(t *testing.T, s *IMAPServer, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("desk", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func msg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nTo: desk@example.org\r\nSubject: test %d\r\n\r\nbody %d\r\n", i, i)
}

func TestAppendAndList(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	for i := range 3 {
		if err := s.Append("desk", "INBOX", msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append("desk", "Other", msg(9)); err != nil {
		t.Fatal(err)
	}
	got, err := s.List("desk", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d messages, want 3", len(got))
	}
	for i, raw := range got {
		if !bytes.Equal(raw, msg(i)) {
			t.Errorf("message %d = %q", i, raw)
		}
	}
	if other, err := s.List("desk", "Other"); err != nil || len(other) != 1 {
		t.Errorf("Other: %d messages, %v", len(other), err)
	}
	if _, err := s.List("desk", "Absent"); err == nil {
		t.Error("List of an absent mailbox succeeded")
	}
	if err := s.Append("nobody", "INBOX", msg(0)); err == nil {
		t.Error("Append for an unknown user succeeded")
	}
}

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name           string
		opts           IMAPOptions
		wantMove, idle bool
	}{
		{"default", IMAPOptions{}, true, true},
		{"no move", IMAPOptions{DisableMove: true}, false, true},
		{"no idle", IMAPOptions{DisableIdle: true}, true, false},
		{"neither", IMAPOptions{DisableMove: true, DisableIdle: true}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startIMAP(t, tc.opts)
			c := login(t, s, nil)
			// Ask explicitly as well: the cached set comes from the LOGIN response.
			asked, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			for _, caps := range []imap.CapSet{c.Caps(), asked} {
				if caps.Has(imap.CapMove) != tc.wantMove || caps.Has(imap.CapIdle) != tc.idle {
					t.Errorf("caps %v: MOVE %v IDLE %v, want %v %v", caps, caps.Has(imap.CapMove), caps.Has(imap.CapIdle), tc.wantMove, tc.idle)
				}
				if !caps.Has(imap.CapUIDPlus) {
					t.Errorf("caps %v lack UIDPLUS", caps)
				}
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if err := s.Append("desk", "INBOX", msg(1)); err != nil {
				t.Fatal(err)
			}
			if err := c.Create("Processed", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			// The filter must leave message bodies alone, even ones that
			// look like capability responses.
			body := []byte("Subject: x\r\n\r\n* CAPABILITY IMAP4rev1 IDLE\r\n")
			if err := s.Append("desk", "INBOX", body); err != nil {
				t.Fatal(err)
			}
			got, err := s.List("desk", "INBOX")
			if err != nil || len(got) != 2 || !bytes.Equal(got[1], body) {
				t.Fatalf("List = %q, %v", got, err)
			}
			// MOVE, or imapclient's COPY fallback without it, must work.
			if _, err := c.Move(imap.UIDSetNum(1), "Processed").Wait(); err != nil {
				t.Fatalf("move: %v", err)
			}
		})
	}
}

func TestMoveRefusedWithoutCapability(t *testing.T) {
	s := startIMAP(t, IMAPOptions{DisableMove: true})
	if err := s.Append("desk", "INBOX", msg(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("desk", "Processed", msg(2)); err != nil {
		t.Fatal(err)
	}
	// imapclient falls back to COPY when MOVE is not advertised, so talk
	// to the server directly to prove it refuses MOVE.
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(cmd string) string {
		t.Helper()
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		tag, _, _ := strings.Cut(cmd, " ")
		if tag == "" {
			tag = "*"
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if strings.HasPrefix(line, tag+" ") {
				return line
			}
		}
	}
	reply("")
	for _, cmd := range []string{"a LOGIN desk pw", "b SELECT INBOX"} {
		if line := reply(cmd); !strings.HasPrefix(line, strings.Fields(cmd)[0]+" OK") {
			t.Fatalf("%s: %s", cmd, line)
		}
	}
	if line := reply("c UID MOVE 1 Processed"); !strings.HasPrefix(line, "c BAD") {
		t.Errorf("MOVE answered %q, want BAD", line)
	}
	if in, _ := s.List("desk", "INBOX"); len(in) != 1 {
		t.Errorf("INBOX has %d messages, want 1", len(in))
	}
}

func TestAppendWakesIdle(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	exists := make(chan uint32, 8)
	c := login(t, s, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case exists <- *d.NumMessages:
				default:
				}
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Mail that arrives between the last command and IDLE must be
	// announced too (imapmemserver alone misses it).
	if err := s.Append("desk", "INBOX", msg(1)); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	for want := uint32(1); want <= 2; want++ {
		select {
		case n := <-exists:
			if n != want {
				t.Errorf("EXISTS %d, want %d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no EXISTS %d during IDLE", want)
		}
		if want == 1 {
			if err := s.Append("desk", "INBOX", msg(2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestDropConnections(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	c := login(t, s, nil)
	s.DropConnections()
	select {
	case <-c.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("client connection survived DropConnections")
	}
	// The server still listens.
	c2 := login(t, s, nil)
	if err := c2.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPSink(t *testing.T) {
	sink, err := StartSMTP(SinkOptions{RejectRecipients: map[string]int{"gone@example.org": 550}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() { done <- sink.Wait(ctx, 2) }()

	body := []byte("Subject: hi\r\n\r\nhello\r\n")
	if err := smtp.SendMail(sink.Addr, nil, "desk@example.org", []string{"a@example.org"}, body); err != nil {
		t.Fatal(err)
	}
	// net/smtp sends AUTH only over TLS or to localhost; the sink accepts any.
	auth := smtp.PlainAuth("", "user", "secret", "127.0.0.1")
	if err := smtp.SendMail(sink.Addr, auth, "desk@example.org", []string{"b@example.org", "c@example.org"}, body); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	err = smtp.SendMail(sink.Addr, nil, "desk@example.org", []string{"gone@example.org"}, body)
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("rejected recipient: err = %v", err)
	}

	sink.SetTempFail(true)
	err = smtp.SendMail(sink.Addr, nil, "desk@example.org", []string{"a@example.org"}, body)
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("temp fail: err = %v", err)
	}
	sink.SetTempFail(false)

	msgs := sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if msgs[0].From != "desk@example.org" || len(msgs[0].To) != 1 || msgs[1].To[1] != "c@example.org" {
		t.Errorf("envelopes: %+v", msgs)
	}
	if !bytes.Contains(msgs[0].Data, []byte("hello")) || msgs[0].At.IsZero() {
		t.Errorf("message 0: %+v", msgs[0])
	}
	msgs[0].Data[0] = 'X'
	if sink.Messages()[0].Data[0] == 'X' {
		t.Error("Messages does not copy")
	}

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := sink.Wait(short, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait beyond count: %v", err)
	}
}

func TestSMTPSinkKeepsOnlyWhatKeepSays(t *testing.T) {
	sink, err := StartSMTP(SinkOptions{Logger: testLogger(t), Keep: func(to []string) bool { return to[0] == "kept@example.org" }})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	before := time.Now()
	for _, to := range []string{"counted@example.org", "kept@example.org", "counted@example.org"} {
		body := []byte("Subject: hi\r\n\r\nhello " + to + "\r\n")
		if err := smtp.SendMail(sink.Addr, nil, "desk@example.org", []string{to}, body); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sink.Wait(ctx, 3); err != nil {
		t.Fatalf("Wait counts the messages not kept too: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "kept@example.org" || !strings.Contains(string(msgs[0].Data), "hello kept@") {
		t.Fatalf("recorded %+v, want only the message to kept@", msgs)
	}
	tally := sink.Tally()
	wantBytes := int64(2*len("Subject: hi\r\n\r\nhello counted@example.org\r\n") + len("Subject: hi\r\n\r\nhello kept@example.org\r\n"))
	if tally.Count != 3 || tally.Bytes != wantBytes || tally.Last.Before(before) || tally.Last.Before(msgs[0].At) {
		t.Errorf("tally = %+v, want 3 messages of %d bytes, the last at or after %v", tally, wantBytes, msgs[0].At)
	}
}

// Append keeps its own copy of every size of message (below, at and
// beyond the reads of 512 bytes the memserver makes), so the caller may
// reuse its buffer at once.
func TestAppendCopiesEverySize(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	sizes := []int{0, 1, 511, 512, 513, 1500, 70000}
	var want [][]byte
	buf := make([]byte, 0, 70000)
	for i, n := range sizes {
		header := fmt.Sprintf("Subject: %d\r\n\r\n", i)
		raw := append(buf[:0], header...)
		for len(raw) < n {
			raw = append(raw, byte('a'+len(raw)%26))
		}
		want = append(want, bytes.Clone(raw))
		if err := s.Append("desk", "INBOX", raw); err != nil {
			t.Fatal(err)
		}
		for j := range raw {
			raw[j] = 'X' // the next message reuses the buffer
		}
	}
	got, err := s.List("desk", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d (%d bytes): got %d bytes, starting %q", i, len(want[i]), len(got[i]), got[i][:min(len(got[i]), 20)])
		}
	}
}
