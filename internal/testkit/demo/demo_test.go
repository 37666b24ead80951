package demo

import (
	"bufio"
	"context"
	"io"
	"net/smtp"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The scripted demo runs both desks to the end, prints every notice in
// full with -v, and counts both desks in its summary.
func TestDemoScriptBothDesks(t *testing.T) {
	var out strings.Builder
	if err := Run(context.Background(), Options{Verbose: true}, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"desk id ", "desk facility ", "INBOX 0 left", "      | ", "passwords appear nowhere",
		// The question is answered by an operator's reply, without the quote.
		"notice inquiry_answer to suzuki@med.example", "      | 所属機関の図書館にお問い合わせください。"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// Served, the demo takes mail from a mail client over SMTP and puts the
// desks' answers into the account the client reads over IMAP.
func TestDemoServesAMailClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Serve: true, IMAPAddr: "127.0.0.1:0", SinkAddr: "127.0.0.1:0", SubmitAddr: "127.0.0.1:0"}, w)
		w.Close()
	}()
	addr := map[string]string{}
	line := regexp.MustCompile(`^\s+(IMAP|SMTP)\s+(\S+)`)
	sc := bufio.NewScanner(r)
	serving := false
	for sc.Scan() && len(addr) < 2 {
		serving = serving || strings.HasPrefix(sc.Text(), "Serving until")
		if m := line.FindStringSubmatch(sc.Text()); serving && m != nil {
			addr[m[1]] = m[2]
		}
	}
	go io.Copy(io.Discard, r)
	if len(addr) < 2 {
		t.Fatalf("the served demo printed no addresses (%v): %v", addr, <-done)
	}
	c, err := imapclient.DialInsecure(addr["IMAP"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(personUser, personPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	count := func() uint32 {
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return *st.NumMessages
	}
	before := count()
	if before == 0 {
		t.Fatal("the scripted notices did not reach the person's INBOX")
	}
	msg := "From: " + personAddress + "\r\nTo: " + deskAddress + "\r\nSubject: help\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n申請種別: パスワード再設定\r\n"
	if err := smtp.SendMail(addr["SMTP"], nil, personAddress, []string{deskAddress}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count() == before {
		if time.Now().After(deadline) {
			t.Fatal("no answer reached the person's INBOX within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("served demo ended with %v", err)
	}
}
