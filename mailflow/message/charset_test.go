package message

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/japanese"
)

func TestRegisteredCharsets(t *testing.T) {
	sj, _ := japanese.ShiftJIS.NewEncoder().String("申請①")
	ej, _ := japanese.EUCJP.NewEncoder().String("申請")
	jj, _ := japanese.ISO2022JP.NewEncoder().String("申請①")
	cases := map[string]struct{ in, want string }{
		"cp932": {sj, "申請①"}, "windows-31j": {sj, "申請①"}, "ms932": {sj, "申請①"},
		"x-sjis": {sj, "申請①"}, "shift-jis": {sj, "申請①"}, "sjis": {sj, "申請①"},
		"iso-2022-jp-ms": {jj, "申請①"}, "iso-2022-jp-2": {jj, "申請①"}, "iso-2022-jp-3": {jj, "申請①"},
		"cp50220": {jj, "申請①"}, "cp50221": {jj, "申請①"}, "cp50222": {jj, "申請①"},
		"csiso2022jp": {jj, "申請①"}, "euc-jp": {ej, "申請"}, "x-euc-jp": {ej, "申請"},
		"CP932": {sj, "申請①"},
	}
	for label, c := range cases {
		r, err := charset.Reader(strings.ToLower(label), strings.NewReader(c.in))
		if err != nil {
			t.Errorf("%s: %v", label, err)
			continue
		}
		got, _ := io.ReadAll(r)
		if string(got) != c.want {
			t.Errorf("%s: got %q, want %q", label, got, c.want)
		}
	}
}

func TestBodyCharsets(t *testing.T) {
	const ja = "山田太郎です。申請をお願いします。"
	cases := []struct {
		name, params, cte, body, want, charset string
	}{
		{"iso-2022-jp", `; charset="ISO-2022-JP"`, "7bit", jis(t, ja), ja, "ISO-2022-JP"},
		{"shift_jis", "; charset=Shift_JIS", "8bit", sjis(t, ja), ja, "Shift_JIS"},
		{"cp932 with NEC row 13", "; charset=cp932", "8bit", sjis(t, "①㈱ "+ja), "①㈱ " + ja, "cp932"},
		{"euc-jp", "; charset=euc-jp", "8bit", eucjp(t, ja), ja, "euc-jp"},
		{"utf-8 base64", "; charset=utf-8", "base64", b64([]byte(ja)), ja, "utf-8"},
		{"utf-8 quoted-printable", "; charset=UTF-8", "quoted-printable",
			"=E5=B1=B1=E7=94=B0 soft=\r\nbreak a=ZZb", "山田 softbreak a=ZZb", "UTF-8"},
		{"no charset, utf-8", "", "8bit", ja, ja, ""},
		{"no charset, iso-2022-jp", "", "7bit", jis(t, ja), ja, ""},
		{"unknown charset, shift_jis bytes", "; charset=x-unknown", "8bit", sjis(t, ja), ja, "x-unknown"},
		{"unknown charset, utf-8 bytes", "; charset=x-unknown", "8bit", ja, ja, "x-unknown"},
		{"us-ascii lying, utf-8", "; charset=us-ascii", "8bit", ja, ja, "us-ascii"},
		{"us-ascii lying, shift_jis", "; charset=us-ascii", "8bit", sjis(t, ja), ja, "us-ascii"},
		{"us-ascii lying, euc-jp", "; charset=us-ascii", "8bit", eucjp(t, ja), ja, "us-ascii"},
		{"iso-2022-jp lying, shift_jis", "; charset=iso-2022-jp", "8bit", sjis(t, ja), ja, "iso-2022-jp"},
		{"shift_jis lying, utf-8", "; charset=shift_jis", "8bit", ja, ja, "shift_jis"},
		{"latin1 fallback", "", "8bit", "caf\xe9 cr\xe8me \xff\xfe\xfd", "café crème ÿþý", ""},
		{"crlf normalised", "; charset=utf-8", "", "a\r\nb\rc\n", "a\nb\nc\n", "utf-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, textMessage(c.params, c.cte, c.body), DefaultLimits())
			if got := strings.TrimRight(m.Text, "\n"); got != strings.TrimRight(c.want, "\n") {
				t.Errorf("Text = %q, want %q", m.Text, c.want)
			}
			if m.Charset != c.charset {
				t.Errorf("Charset = %q, want %q", m.Charset, c.charset)
			}
		})
	}
}

// Outlook and Becky write NEC and IBM extension characters into
// ISO-2022-JP as CP50221 does: ① is JIS 0x2D21 (NEC row 13), ㈱ 0x2D6A, and
// 髙 (IBM extension, Shift_JIS 0xFBFC) in the NEC-selected row 0x7C62.
func TestISO2022JPExtensionCharacters(t *testing.T) {
	raw := "\x1b$B-!|b-j\x1b(B \x1b$B;3ED\x1b(B"
	for _, label := range []string{"iso-2022-jp", "ISO-2022-JP-MS", "cp50221"} {
		m := mustParse(t, textMessage("; charset="+label, "7bit", raw+"\r\n"), DefaultLimits())
		if got := strings.TrimSpace(m.Text); got != "①髙㈱ 山田" {
			t.Errorf("%s: Text = %q", label, got)
		}
	}
	// And what x/text's encoder writes reads back the same.
	m := mustParse(t, textMessage("; charset=iso-2022-jp", "7bit", jis(t, "①㈱髙")), DefaultLimits())
	if m.Text != "①㈱髙" {
		t.Errorf("round trip: %q", m.Text)
	}
}

func TestSubjectDecoding(t *testing.T) {
	const ja = "パスワード再設定の申請"
	utf8Bytes := []byte("申請")
	cases := []struct{ name, raw, want string }{
		{"iso-2022-jp B", bword("ISO-2022-JP", jis(t, ja)), ja},
		{"shift_jis B", bword("Shift_JIS", sjis(t, ja)), ja},
		{"cp932 B", bword("CP932", sjis(t, "①"+ja)), "①" + ja},
		{"utf-8 Q", "=?UTF-8?Q?=E7=94=B3=E8=AB=8B_test?=", "申請 test"},
		{"two words, whitespace dropped", bword("UTF-8", "申") + "\r\n " + bword("UTF-8", "請"), "申請"},
		{"character split across words", bword("UTF-8", string(utf8Bytes[:4])) + " " + bword("UTF-8", string(utf8Bytes[4:])), "申請"},
		{"mixed text and word", "Re: " + bword("ISO-2022-JP", jis(t, ja)) + " [MDG-2026-000123]", "Re: " + ja + " [MDG-2026-000123]"},
		{"raw shift_jis", sjis(t, ja), ja},
		{"raw euc-jp", eucjp(t, ja), ja},
		{"raw utf-8", ja, ja},
		{"raw iso-2022-jp", jis(t, ja), ja},
		{"unknown charset in word", bword("x-foo", sjis(t, ja)), ja},
		{"lying us-ascii word", bword("us-ascii", ja), ja},
		{"not an encoded word", "=?broken", "=?broken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := "From: a@example.jp\r\nSubject: " + c.raw + "\r\n\r\nbody\r\n"
			m := mustParse(t, raw, DefaultLimits())
			if m.Subject != c.want {
				t.Errorf("Subject = %q, want %q", m.Subject, c.want)
			}
		})
	}
}
