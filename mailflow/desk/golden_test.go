package desk

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files of the notices (testdata/golden)")

// goldenDesks are a desk with a FAX number and one without, as the sample
// configuration sets them.
func goldenDesks(t *testing.T) (withFax, noFax *Desk) {
	t.Helper()
	desk := func(fax string) *Desk {
		cfg, err := config.Parse([]byte(`desk: {address: touroku@madoguchi.test, name: ID登録窓口, domain: id.madoguchi.test, timezone: Asia/Tokyo, reference_prefix: MDG, fax: "`+fax+`"}
imap: {address: "127.0.0.1:1", tls: none, username: desk, password: pw}
smtp: {address: "127.0.0.1:1", tls: none}
database: {path: unused.db}
operators: [ops@madoguchi.test]
operator_auth: {authserv_id: mx.madoguchi.test}
`), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := templates.Load("", cfg.Desk.Location)
		if err != nil {
			t.Fatal(err)
		}
		return New(Options{Config: cfg, Templates: tmpl})
	}
	return desk("03-0000-0000"), desk("")
}

// Every notice in both languages, rendered with fixed sample data, is
// compared with its golden file, so that a change of wording or of the
// data a template receives shows as a diff. go test -run Golden -update
// rewrites them.
func TestNoticesGolden(t *testing.T) {
	withFax, noFax := goldenDesks(t)
	// The samples are those check-config and the start render every
	// template with (noticesamples.go).
	cases := noticeSamples()
	byKind := map[string]bool{}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Errorf("golden case %s is listed twice", c.name)
		}
		names[c.name] = true
		byKind[c.kind()] = true
	}
	templateNames := withFax.tmpl.Names()
	isTemplate := map[string]bool{}
	for _, n := range templateNames {
		isTemplate[n] = true
		if !byKind[n] {
			t.Errorf("template %s has no golden case: add one to noticeSamples", n)
		}
	}
	for _, c := range cases {
		if !isTemplate[c.kind()] {
			t.Errorf("golden case %s names no template %s", c.name, c.kind())
		}
	}
	for _, lang := range []string{"ja", "en"} {
		dir := filepath.Join("testdata", "golden", lang)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cases {
			if !isTemplate[c.kind()] {
				continue
			}
			d := withFax
			if c.noFax {
				d = noFax
			}
			got, err := renderSample(d, c, lang)
			if err != nil {
				t.Errorf("%s/%s: %v", lang, c.name, err)
				continue
			}
			if strings.Contains(got, "<no value>") {
				t.Errorf("%s/%s shows <no value>:\n%s", lang, c.name, got)
			}
			path := filepath.Join(dir, c.name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: no golden file (go test ./mailflow/desk -run Golden -update writes it): %v", path, err)
				continue
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendered notice (- golden, + rendered; -update rewrites it):\n%s", path, goldenDiff(string(want), got))
			}
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".txt")
			if names[name] && isTemplate[strings.SplitN(name, ".", 2)[0]] {
				continue
			}
			if *update {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("golden file %s has no template or case (-update removes it)", f)
		}
	}
}

// goldenDiff shows the lines that differ between want and got, with a line
// of context, from their longest common subsequence.
func goldenDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var out []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, line{' ', a[i]})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, line{'+', b[j]})
			j++
		default:
			out = append(out, line{'-', a[i]})
			i++
		}
	}
	var sb strings.Builder
	shown := -1
	for k, l := range out {
		near := false
		for m := max(0, k-1); m <= min(len(out)-1, k+1); m++ {
			near = near || out[m].op != ' '
		}
		if !near {
			continue
		}
		if shown >= 0 && k > shown+1 {
			sb.WriteString("  ...\n")
		}
		fmt.Fprintf(&sb, "%c %s\n", l.op, l.text)
		shown = k
	}
	return sb.String()
}

// Every override is rendered with the samples of every notice and variant
// in both languages: a broken one is named with its file, at start and by
// check-config, not found later by one applicant's notice.
func TestCheckTemplatesRendersEveryOverride(t *testing.T) {
	withFax, _ := goldenDesks(t)
	for _, c := range []struct {
		name, file, text string
		want             []string // none: accepted
	}{
		{"a working override", "ja/too_many_requests.txt", "Subject: 独自 {{.Ref}}\n\n本文\n", nil},
		{"a missing key", "ja/reset_done.txt", "Subject: x\n\n{{.NoSuchField}}\n", []string{"ja/reset_done.txt (sample reset_done)", "NoSuchField"}},
		{"a missing key in one variant", "en/need_documents.txt", "Subject: x\n\n{{if not .Desk.Fax}}{{.NoFaxField}}{{end}}\n", []string{"en/need_documents.txt (sample need_documents.no_fax)", "NoFaxField"}},
		{"a missing key in a shared piece", "en/_footer.txt", "{{.NoFooterField}}\n", []string{"en/_footer.txt (sample ", "NoFooterField", "more samples fail there"}},
		{"no subject line", "en/reset_done.txt", "Dear applicant\n", []string{"en/reset_done.txt", "Subject:"}},
		{"a misspelt name", "ja/reset_don.txt", "Subject: x\n\nbody\n", []string{"ja/reset_don.txt overrides no notice"}},
		{"no such directory", "", "", []string{"is not a directory of overrides"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.file != "" {
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(c.file)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.text), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				dir = filepath.Join(dir, "missing")
			}
			cfg := *withFax.cfg
			cfg.Templates.Dir = dir
			set, err := templates.Load(dir, cfg.Desk.Location)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckTemplates(set, &cfg)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in:\n%v", w, err)
				}
			}
		})
	}
}
