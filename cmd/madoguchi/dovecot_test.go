package main

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/madoguchi/madoguchi/internal/testkit/demo"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// dovecot connects to the Dovecot that scripts/dovecot.sh started, or
// skips the test when none runs.
func dovecot(t *testing.T) (addr, user, pass string, c *imapclient.Client) {
	t.Helper()
	addr, user, pass = os.Getenv("MADOGUCHI_DOVECOT_ADDR"), os.Getenv("MADOGUCHI_DOVECOT_USER"), os.Getenv("MADOGUCHI_DOVECOT_PASS")
	if addr == "" {
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
	return addr, user, pass, c
}

// emptyMailbox removes every message of a mailbox (absent is fine), so the
// test starts from a known state on a Dovecot other tests share.
func emptyMailbox(t *testing.T, c *imapclient.Client, name string) {
	t.Helper()
	data, err := c.Select(name, nil).Wait()
	if err != nil {
		return
	}
	if data.NumMessages > 0 {
		all := imap.SeqSet{}
		all.AddRange(1, 0)
		if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func messageIDs(t *testing.T, c *imapclient.Client, name string) map[string]string {
	t.Helper()
	data, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	out := map[string]string{}
	if data.NumMessages == 0 {
		return out
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for _, body := range m.BodySection {
			if parsed, err := mail.ReadMessage(bytes.NewReader(body.Bytes)); err == nil {
				out[strings.Trim(parsed.Header.Get("Message-ID"), "<>")] = string(body.Bytes)
			}
		}
	}
	return out
}

// TestDovecotOnce runs `madoguchi once` against a real Dovecot and the
// go-smtp sink: every message is answered and filed, the one that carried
// a password is filed only as a masked copy.
func TestDovecotOnce(t *testing.T) {
	addr, user, pass, c := dovecot(t)
	for _, box := range []string{"INBOX", "Processed", "Quarantine"} {
		emptyMailbox(t, c, box)
	}
	sink, err := loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	mails := []samples.Mail{
		{From: "taro@hosp.example", Subject: "新規ID申請", Charset: "iso-2022-jp", MessageID: "dovecot-1@hosp.example",
			Body: samples.NewIDJapanese("dove-tr", "山田", "太郎")},
		{From: "alice@univ.example", Subject: "New ID", MessageID: "dovecot-2@univ.example", Body: samples.NewIDEnglish("dove-al")},
		{From: "someone@clinic.example", Subject: "質問", MessageID: "dovecot-3@clinic.example", Charset: "shift_jis", Body: "IDの申請方法を教えてください。"},
	}
	for _, m := range mails {
		m.To = "desk@madoguchi.example"
		raw := m.Build()
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	cfg := demo.Config(addr, sink.Addr, filepath.Join(dir, "desk.db"))
	// The password comes from the environment, as an install would do it.
	cfg = strings.Replace(cfg, "  username: desk\n  password: deskpass\n", fmt.Sprintf("  username: %s\n  password_env: TEST_IMAP_PASSWORD\n", user), 1)
	cfgPath := filepath.Join(dir, "madoguchi.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildBinary(t), "once", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "TEST_IMAP_PASSWORD="+pass)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("madoguchi once: %v\n%s", err, out)
	}

	if left := messageIDs(t, c, "INBOX"); len(left) != 0 {
		t.Errorf("INBOX still holds %d messages", len(left))
	}
	filed := messageIDs(t, c, "Processed")
	for _, m := range mails {
		if _, ok := filed[m.MessageID]; !ok {
			t.Errorf("%s is not in Processed (filed: %d)", m.MessageID, len(filed))
		}
	}
	for id, raw := range filed {
		for _, secret := range []string{"Gk7vQz2x#Lp", "Rw9mTq4z!Hv"} {
			if strings.Contains(raw, secret) {
				t.Errorf("the filed copy of %s holds the password", id)
			}
		}
	}
	got := map[string]bool{}
	for _, r := range sink.Messages() {
		for _, rcpt := range r.To {
			got[strings.ToLower(rcpt)] = true
		}
	}
	for _, want := range []string{"taro@hosp.example", "alice@univ.example", "someone@clinic.example"} {
		if !got[want] {
			t.Errorf("no notice reached %s; output:\n%s", want, out)
		}
	}
}
