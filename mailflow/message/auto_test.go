package message

import (
	"fmt"
	"strings"
	"testing"
)

func TestAutomatic(t *testing.T) {
	cases := []struct {
		name, headers, kind, detail string
	}{
		{"ordinary", "", "", ""},
		{"auto-submitted no", "Auto-Submitted: no\n", "", ""},
		{"auto-replied", "Auto-Submitted: auto-replied\n", "auto-submitted", "Auto-Submitted: auto-replied"},
		{"auto-generated with comment", "Auto-Submitted: auto-generated (daily)\n", "auto-submitted", "Auto-Submitted: auto-generated (daily)"},
		{"precedence bulk", "Precedence: bulk\n", "precedence", "Precedence: bulk"},
		{"precedence junk", "Precedence: JUNK\n", "precedence", "Precedence: junk"},
		{"precedence first-class", "Precedence: first-class\n", "", ""},
		{"list-id", "List-Id: <news.example.jp>\n", "list", "List-Id: <news.example.jp>"},
		{"list-unsubscribe", "List-Unsubscribe: <mailto:u@example.jp>\n", "list", "List-Unsubscribe: <mailto:u@example.jp>"},
		{"list-post", "List-Post: <mailto:l@example.jp>\n", "list", "List-Post: <mailto:l@example.jp>"},
		{"null sender", "Return-Path: <>\n", "null-sender", "Return-Path: <>"},
		{"real return path", "Return-Path: <taro@example.jp>\n", "", ""},
		{"x-autoreply", "X-Autoreply: yes\n", "auto-reply", "X-Autoreply: yes"},
		{"x-autorespond", "X-Autorespond: on\n", "auto-reply", "X-Autorespond: on"},
		{"exchange oof", "X-Auto-Response-Suppress: All\n", "auto-reply", "X-Auto-Response-Suppress: All"},
		{"exchange suppress oof", "X-Auto-Response-Suppress: DR, OOF\n", "auto-reply", "X-Auto-Response-Suppress: DR, OOF"},
		{"suppress other, ordinary subject", "X-Auto-Response-Suppress: DR\n", "", ""},
		{"suppress other, auto subject", "X-Auto-Response-Suppress: DR\nSubject: Automatic reply: holiday\n", "auto-reply", "Subject: Automatic reply: holiday"},
		{"japanese auto subject", "X-Auto-Response-Suppress: RN\nSubject: " + bword("UTF-8", "自動応答: 不在です") + "\n", "auto-reply", "Subject: 自動応答: 不在です"},
		{"auto subject alone is not enough", "Subject: Out of Office: back Monday\n", "", ""},
		{"auto: subject alone", "Subject: Auto: hello\n", "", ""},
		{"dsn content type", "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n", "dsn", "Content-Type: multipart/report"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.headers
			if !strings.Contains(h, "Subject:") {
				h += "Subject: hello\n"
			}
			m := mustParse(t, crlf("From: Taro <taro@example.jp>\n"+h+"\nbody\n"), DefaultLimits())
			if m.Automatic.Kind != c.kind || m.Automatic.Detail != c.detail {
				t.Errorf("Automatic = %+v, want %q %q", m.Automatic, c.kind, c.detail)
			}
			if m.Automatic.IsAutomatic() != (c.kind != "") {
				t.Errorf("IsAutomatic wrong")
			}
		})
	}
	for _, from := range []string{"MAILER-DAEMON@mx.example.jp", "Mail Delivery System <Mailer-Daemon@mx.example.jp>",
		"postmaster@example.jp", "MAILER-DAEMON (Mail Delivery System)", "MAILER-DAEMON"} {
		m := mustParse(t, crlf("From: "+from+"\nSubject: hi\n\nhello\n"), DefaultLimits())
		if m.Automatic.Kind != "mailer-daemon" {
			t.Errorf("From %q: Automatic = %+v", from, m.Automatic)
		}
	}
}

const dsnMessage = `Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example.jp>
To: desk@example.org
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: <bounce1@mx.example.jp>
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B0UND"

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.jp.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nobody@example.jp>: host mx said: 550 5.1.1 <nobody@example.jp>: Recipient address rejected

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.jp
Arrival-Date: Mon,  2 Nov 2026 10:00:00 +0900 (JST)

Final-Recipient: rfc822; nobody@example.jp
Original-Recipient: rfc822;nobody@example.jp
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.jp>: Recipient address rejected

Final-Recipient: rfc822; later@example.jp
Action: delayed
Status: 4.4.1

--B0UND
Content-Description: Undelivered Message
Content-Type: %s

From: desk@example.org
To: nobody@example.jp
Subject: [MDG-2026-000123] 受付
Message-ID: <notice-42@desk.example.org>
%s
--B0UND--
`

func TestDSN(t *testing.T) {
	for _, part := range []struct{ ct, body string }{
		{"message/rfc822", "\nbody of our notice\n"},
		{"text/rfc822-headers", ""},
	} {
		t.Run(part.ct, func(t *testing.T) {
			m := mustParse(t, crlf(fmt.Sprintf(dsnMessage, part.ct, part.body)), DefaultLimits())
			b := m.Bounce
			if b == nil {
				t.Fatal("no Bounce")
			}
			if fmt.Sprint(b.OriginalMessageIDs) != "[notice-42@desk.example.org]" {
				t.Errorf("OriginalMessageIDs = %v", b.OriginalMessageIDs)
			}
			if fmt.Sprint(b.Recipients) != "[nobody@example.jp later@example.jp]" || b.Status != "5.1.1" || !b.Permanent {
				t.Errorf("Bounce = %+v", b)
			}
			if m.Automatic.Kind != "dsn" {
				t.Errorf("Automatic = %+v", m.Automatic)
			}
			if !strings.Contains(m.Text, "could not\nbe delivered") || strings.Contains(m.Text, "notice") {
				t.Errorf("Text = %q", m.Text)
			}
			if len(m.Attachments) != 0 {
				t.Errorf("attachments %v", names(m.Attachments))
			}
		})
	}
}

func TestDSNDelayedOnly(t *testing.T) {
	raw := crlf(`From: MAILER-DAEMON@mx.example.jp
Content-Type: multipart/report; report-type=delivery-status; boundary=b
In-Reply-To: <notice-7@desk.example.org>

--b
Content-Type: text/plain

delayed
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.jp

Final-Recipient: rfc822; slow@example.jp
Action: delayed
Status: 4.4.7
--b--
`)
	m := mustParse(t, raw, DefaultLimits())
	b := m.Bounce
	if b == nil || b.Permanent || b.Status != "4.4.7" || fmt.Sprint(b.OriginalMessageIDs) != "[notice-7@desk.example.org]" {
		t.Errorf("Bounce = %+v", b)
	}
}

func TestNonStandardBounce(t *testing.T) {
	raw := crlf(`From: MAILER-DAEMON@old.example.jp
To: desk@example.org
Subject: failure notice

Hi. This is the qmail-send program at old.example.jp.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<gone@old.example.jp>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <desk@example.org>
From: desk@example.org
Message-ID:
 <notice-99@desk.example.org>
Subject: notice

text
`)
	m := mustParse(t, raw, DefaultLimits())
	b := m.Bounce
	if b == nil {
		t.Fatal("no Bounce")
	}
	if fmt.Sprint(b.OriginalMessageIDs) != "[notice-99@desk.example.org]" || fmt.Sprint(b.Recipients) != "[gone@old.example.jp]" ||
		b.Status != "5.1.1" || !b.Permanent {
		t.Errorf("Bounce = %+v", b)
	}
	if m.Automatic.Kind != "mailer-daemon" {
		t.Errorf("Automatic = %+v", m.Automatic)
	}
	// Mail from postmaster that quotes nothing is automatic but no bounce.
	m = mustParse(t, crlf("From: postmaster@example.jp\nSubject: hello\n\nPlease fix your SPF record (IP 192.5.1.10).\n"), DefaultLimits())
	if m.Bounce != nil || m.Automatic.Kind != "mailer-daemon" {
		t.Errorf("Bounce = %+v, Automatic = %+v", m.Bounce, m.Automatic)
	}
	// A forwarded report is ordinary mail.
	fwd := "From: op@example.org\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\nContent-Type: text/plain\r\n\r\nFYI\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n" +
		crlf(fmt.Sprintf(dsnMessage, "text/rfc822-headers", "")) + "\r\n--f--\r\n"
	m = mustParse(t, fwd, DefaultLimits())
	if m.Bounce != nil || m.Automatic.IsAutomatic() || m.Text != "FYI" {
		t.Errorf("forwarded report: Bounce %+v Automatic %+v Text %q", m.Bounce, m.Automatic, m.Text)
	}
}
