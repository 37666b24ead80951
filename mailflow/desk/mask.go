package desk

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"sort"
	"strings"

	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

const maskText = "********"

// maskedCopy is what the processed folder keeps of a message that carried
// a password: the original's header fields that identify it, and its text
// with every secret replaced. Attachments stay in the database; the HTML
// part, which could repeat the secret, is not kept.
func maskedCopy(m *message.Message, secrets []string) []byte {
	var b bytes.Buffer
	hdr := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", name, value)
		}
	}
	hdr("From", m.Header.Get("From"))
	hdr("To", m.Header.Get("To"))
	hdr("Cc", m.Header.Get("Cc"))
	hdr("Date", m.Header.Get("Date"))
	hdr("Subject", mime.BEncoding.Encode("utf-8", m.Subject))
	if m.MessageID != "" {
		hdr("Message-ID", "<"+m.MessageID+">")
	}
	hdr("In-Reply-To", m.Header.Get("In-Reply-To"))
	hdr("References", m.Header.Get("References"))
	hdr("X-Madoguchi-Masked", "secrets removed; attachments kept in the desk database")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")

	text := maskSecrets(forms.Mask(m.Text), secrets)
	if len(m.Attachments) > 0 {
		text += "\n\n[attachments kept in the desk database:"
		for _, a := range m.Attachments {
			text += fmt.Sprintf("\n  %s (%s, %d bytes, sha256 %s)", a.Filename, a.SniffedType, a.Size, a.SHA256)
		}
		text += "]\n"
	}
	enc := base64.StdEncoding.EncodeToString([]byte(text))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// maskSecrets removes any remaining occurrence of a secret value, wherever
// the applicant wrote it (a second copy in free text, a quoted line).
func maskSecrets(text string, secrets []string) string {
	sorted := append([]string{}, secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, s := range sorted {
		if len(s) >= 3 {
			text = strings.ReplaceAll(text, s, maskText)
		}
	}
	return text
}
