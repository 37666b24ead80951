package message

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	const ja = "申請をお願いします①㈱"
	seeds := []string{
		textMessage("; charset=iso-2022-jp", "7bit", jis(f, "申請をお願いします")),
		textMessage("; charset=shift_jis", "8bit", sjis(f, ja)),
		textMessage("; charset=euc-jp", "8bit", eucjp(f, "申請")),
		textMessage("; charset=utf-8", "base64", b64([]byte(ja))),
		textMessage("; charset=x-unknown", "quoted-printable", "=E7=94=B3 =ZZ soft=\r\nbreak"),
		textMessage("; charset=us-ascii", "8bit", sjis(f, ja)),
		textMessage("; charset=utf-8", "base64", "5Lit5paH!!!garbage"),
		"From: " + bword("ISO-2022-JP", jis(f, "山田")) + " <t@example.jp>\r\nSubject: " + bword("ISO-2022-JP", jis(f, "件名")) + "\r\n\r\nx",
		"From: a@example.jp\r\nContent-Type: text/html\r\n\r\n<script>x</script><p>a&amp;b<br>c</p><!-- ",
		attachmentsMessage(2, 10),
		nested(12, true),
		fmt.Sprintf(dsnMessage, "message/rfc822", "\nbody\n"),
		"From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf; name*0*=utf-8''%E7%94; name*1*=%B3.pdf\r\n\r\n%PDF-",
		"From: MAILER-DAEMON\r\n\r\nMessage-ID: <x@y>\r\n5.1.1",
		"",
		"\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	lim := Limits{MaxAttachments: 3, MaxAttachmentBytes: 4096, MaxTotalBytes: 1 << 20, MaxDepth: 5, MaxHeaderBytes: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data), lim)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("non-ParseError from an in-memory reader: %v", err)
			}
			if pe.Reason == "internal parser failure" {
				t.Fatalf("parser panicked")
			}
			return
		}
		for name, s := range map[string]string{"Text": m.Text, "Subject": m.Subject} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8: %q", name, s)
			}
		}
		if m.From != nil && !utf8.ValidString(m.From.Name) {
			t.Fatalf("From name not valid UTF-8: %q", m.From.Name)
		}
		for _, a := range m.Attachments {
			if int64(len(a.Data)) > lim.MaxAttachmentBytes || a.Size != int64(len(a.Data)) {
				t.Fatalf("attachment over limit: %d", a.Size)
			}
		}
		if len(m.Attachments) > lim.MaxAttachments {
			t.Fatalf("%d attachments", len(m.Attachments))
		}
	})
}
