package templates

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Every notice exists in both languages and starts with its subject.
func TestEveryNoticeInBothLanguages(t *testing.T) {
	s, err := Load("", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{}
	for _, lang := range languages {
		for _, tmpl := range s.byLang[lang].Templates() {
			if n := tmpl.Name(); !strings.HasPrefix(n, "_") && n != lang {
				names[lang] = append(names[lang], n)
			}
		}
		sort.Strings(names[lang])
	}
	if strings.Join(names["ja"], ",") != strings.Join(names["en"], ",") {
		t.Fatalf("ja and en differ:\nja %v\nen %v", names["ja"], names["en"])
	}
	if len(names["ja"]) < 20 {
		t.Fatalf("only %d notices", len(names["ja"]))
	}
	for _, lang := range languages {
		for _, n := range names[lang] {
			raw, err := embedded.ReadFile(lang + "/" + n + ".txt")
			if err != nil || !strings.HasPrefix(string(raw), "Subject: ") {
				t.Errorf("%s/%s does not start with a Subject line", lang, n)
			}
		}
	}
}

// An installation overrides one notice from templates.dir; a broken
// override is named in the error, not silently replaced.
func TestOverrideFromDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ja"), 0o755); err != nil {
		t.Fatal(err)
	}
	override := "Subject: 独自の件名 {{.Ref}}\n\n本文 {{.Ref}}\n"
	if err := os.WriteFile(filepath.Join(dir, "ja", "too_many_requests.txt"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	subject, body, err := s.Render("too_many_requests", "ja", map[string]string{"Ref": "MDG-2026-000001"})
	if err != nil || subject != "独自の件名 MDG-2026-000001" || body != "本文 MDG-2026-000001\n" {
		t.Fatalf("override: %q %q %v", subject, body, err)
	}
	os.WriteFile(filepath.Join(dir, "ja", "reset_done.txt"), []byte("Subject: {{.Broken"), 0o644)
	if _, err := Load(dir, time.UTC); err == nil || !strings.Contains(err.Error(), "reset_done") {
		t.Fatalf("broken override: %v", err)
	}
}

// Times in notices are in the desk's zone with its name (JST).
func TestDatetimeInDeskZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	got := funcs(tokyo)["datetime"].(func(time.Time) string)(time.Date(2026, 11, 24, 10, 10, 0, 0, time.UTC))
	if got != "2026-11-24 19:10 JST" {
		t.Fatalf("datetime = %q", got)
	}
}
