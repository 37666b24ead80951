package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/demo"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// buildBinary compiles the madoguchi command once for the test.
// binaryFixture builds the binary and starts the loopback IMAP server and
// SMTP sink with the demo's configuration written beside a desk.db in a
// temporary directory (extra adds lines to it).
func binaryFixture(t *testing.T, extra string) (bin string, imapSrv *loopback.IMAPServer, sink *loopback.SMTPSink, cfgPath string) {
	t.Helper()
	bin = buildBinary(t)
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{"desk": "deskpass"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	sink, err = loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "madoguchi.yaml")
	cfg := demo.Config(imapSrv.Addr, sink.Addr, filepath.Join(dir, "desk.db")) + extra
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return bin, imapSrv, sink, cfgPath
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "madoguchi")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKilledAndRestarted kills the real daemon with SIGKILL at random
// moments while it works through the mailbox, restarts it each time, and
// then checks that every message was processed exactly once, that nothing
// stayed behind, and that the only repeated notices are the ones SMTP
// cannot avoid (same Message-ID, counted and reported).
func TestKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin, imapSrv, sink, cfgPath := binaryFixture(t, "")
	dbPath := filepath.Join(filepath.Dir(cfgPath), "desk.db")

	const messages = 60
	ids := map[string]bool{}
	for i := 0; i < messages; i++ {
		m := samples.Mail{From: fmt.Sprintf("applicant%02d@hosp.example", i), To: "desk@madoguchi.example",
			MessageID: fmt.Sprintf("crash-%02d@hosp.example", i)}
		if i%3 == 0 {
			m.Subject = "質問"
		} else {
			m.Subject, m.Charset = "新規ID申請", "iso-2022-jp"
			m.Body = strings.Replace(samples.NewIDJapanese(fmt.Sprintf("crash-u%c%c", 'a'+i/26, 'a'+i%26), "試験", fmt.Sprintf("太郎%c", 'ア'+rune(i))), "taro.yamada@", fmt.Sprintf("u%d@", i), 1)
		}
		if err := imapSrv.Append("desk", "INBOX", m.Build()); err != nil {
			t.Fatal(err)
		}
		ids[m.MessageID] = true
	}

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for round := 0; round < 8; round++ {
		cmd := exec.Command(bin, "run", "-config", cfgPath)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("the daemon panicked:\n%s", logs.String())
		}
	}
	out, err := exec.Command(bin, "once", "-config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("final once: %v\n%s", err, out)
	}

	inbox, _ := imapSrv.List("desk", "INBOX")
	if len(inbox) != 0 {
		t.Errorf("%d messages left in INBOX", len(inbox))
	}
	processed, _ := imapSrv.List("desk", "Processed")
	filed := map[string]int{}
	for _, raw := range processed {
		if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
			filed[strings.Trim(m.Header.Get("Message-ID"), "<>")]++
		}
	}
	for id := range ids {
		if filed[id] == 0 {
			t.Errorf("message %s is not in the processed folder", id)
		}
	}

	st, err := store.Open(context.Background(), dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Outbox(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	sentIDs := map[string]bool{}
	for _, r := range rows {
		if r.State != store.OutboxSent {
			t.Errorf("outbox row %d is %s", r.ID, r.State)
		}
		sentIDs[r.MessageID] = true
	}
	if len(rows) != messages {
		t.Errorf("%d notices queued for %d messages: some message was acted on twice or not at all", len(rows), messages)
	}
	atSink := map[string]int{}
	for _, m := range sink.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		atSink[strings.Trim(msg.Header.Get("Message-ID"), "<>")]++
	}
	repeats := 0
	for id, n := range atSink {
		if !sentIDs[id] {
			t.Errorf("the sink got %s, which the outbox does not hold as sent", id)
		}
		repeats += n - 1
	}
	for id := range sentIDs {
		if atSink[id] == 0 {
			t.Errorf("notice %s is marked sent but never reached the sink", id)
		}
	}
	if repeats > kills {
		t.Errorf("%d repeated notices after %d kills: more than one per kill", repeats, kills)
	}
	// A kill between a masked copy's APPEND and its record leaves the
	// original in the INBOX; the restarted desk finds the copy by its
	// X-Madoguchi-Copy-Of header and appends no second one.
	duplicatesFiled := len(processed) - len(filed)
	if duplicatesFiled != 0 {
		t.Errorf("%d messages filed more than once", duplicatesFiled)
	}
	t.Logf("%d messages, %d kills: %d notices, %d repeated after a kill inside an SMTP transaction (same Message-ID), %d extra masked copies filed",
		messages, kills, len(sentIDs), repeats, duplicatesFiled)
}
