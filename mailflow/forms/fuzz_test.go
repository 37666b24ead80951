package forms

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

func FuzzParse(f *testing.F) {
	f.Add(samples.NewIDJapanese("yamada-tk", "山田", "太郎"))
	f.Add(samples.NewIDEnglish("smith-al"))
	f.Add(samples.NewIDWithErrors())
	for _, spec := range Specs() {
		f.Add(Blank(spec.Kind, "ja"))
		f.Add(Blank(spec.Kind, "en"))
	}
	f.Add("> パスワード： abc: def\r\n【アクセスコード】0123\rfoo 0123 bar\n")
	f.Add("パスワード: a\xffb\nx a\uFFFDb\n")
	f.Fuzz(func(t *testing.T, text string) {
		form := Parse(text)
		if form.Lang != "ja" && form.Lang != "en" {
			t.Fatalf("lang %q", form.Lang)
		}
		for k, v := range form.Fields {
			if !utf8.ValidString(v) || !utf8.ValidString(k) {
				t.Fatalf("invalid UTF-8 in %q: %q", k, v)
			}
			if v == "" {
				t.Fatalf("empty value for %s", k)
			}
		}
		masked := Mask(text)
		if !utf8.ValidString(masked) {
			t.Fatalf("Mask gave invalid UTF-8")
		}
		// A value made of '*' can meet the mask text itself; skip those.
		for k, v := range form.Fields {
			if isSecretKey(k) && len(v) >= minMaskLen && !strings.Contains(v, "*") && strings.Contains(masked, v) {
				t.Fatalf("secret %s %q survives Mask:\n%q", k, v, masked)
			}
		}
	})
}
