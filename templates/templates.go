// Package templates holds the notice texts, one file per notice and
// language (ja/, en/), embedded in the binary. An installation overrides
// any of them by putting a file of the same name under templates.dir.
//
// A file starts with a "Subject: " line and a blank line; the rest is the
// body, a text/template. Files whose names start with "_" are shared
// pieces (the footer) that the others include with {{template}}.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

//go:embed ja/*.txt en/*.txt
var embedded embed.FS

// Languages the desk writes in; the first is the fallback.
var languages = []string{"ja", "en"}

// Set is the parsed notices of every language.
type Set struct {
	byLang map[string]*template.Template
}

// Load parses the embedded templates and, when dir is not empty, the
// overrides found there (dir/ja/NAME.txt, dir/en/NAME.txt).
func Load(dir string, loc *time.Location) (*Set, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := &Set{byLang: map[string]*template.Template{}}
	for _, lang := range languages {
		root := template.New(lang).Funcs(funcs(loc)).Option("missingkey=error")
		files, err := fs.Glob(embedded, lang+"/*.txt")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			text, err := embedded.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if dir != "" {
				override, err := os.ReadFile(filepath.Join(dir, lang, path.Base(f)))
				switch {
				case err == nil:
					text = override
				case !errors.Is(err, fs.ErrNotExist):
					return nil, fmt.Errorf("template override %s: %w", f, err)
				}
			}
			name := strings.TrimSuffix(path.Base(f), ".txt")
			if _, err := root.New(name).Parse(string(text)); err != nil {
				return nil, fmt.Errorf("template %s: %w", f, err)
			}
		}
		s.byLang[lang] = root
	}
	return s, nil
}

// Names lists the notice templates (shared pieces excluded).
func (s *Set) Names() []string {
	var out []string
	for _, t := range s.byLang[languages[0]].Templates() {
		if n := t.Name(); !strings.HasPrefix(n, "_") && n != languages[0] {
			out = append(out, n)
		}
	}
	return out
}

// Render executes a notice in lang (falling back to Japanese) and splits
// its subject from its body.
func (s *Set) Render(name, lang string, data any) (subject, body string, err error) {
	root, ok := s.byLang[lang]
	if !ok || root.Lookup(name) == nil {
		root = s.byLang[languages[0]]
	}
	if root.Lookup(name) == nil {
		return "", "", fmt.Errorf("no template %q", name)
	}
	var buf bytes.Buffer
	if err := root.ExecuteTemplate(&buf, name, data); err != nil {
		return "", "", fmt.Errorf("render %s/%s: %w", lang, name, err)
	}
	text := strings.ReplaceAll(buf.String(), "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	if !strings.HasPrefix(first, "Subject: ") {
		return "", "", fmt.Errorf("template %s/%s: the first line must be \"Subject: ...\"", lang, name)
	}
	body = strings.TrimLeft(rest, "\n")
	return strings.TrimSpace(strings.TrimPrefix(first, "Subject: ")), tidy(body), nil
}

// tidy collapses the runs of blank lines that template conditionals leave.
func tidy(body string) string {
	lines := strings.Split(body, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

func funcs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		// datetime shows a time in the desk's zone with the zone's name, as
		// applicants in Japan read it (e.g. 2026-11-24 21:05 JST).
		"datetime": func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04 MST") },
		"date":     func(t time.Time) string { return t.In(loc).Format("2006-01-02") },
		"indent": func(prefix, s string) string {
			lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
			for i := range lines {
				lines[i] = prefix + lines[i]
			}
			return strings.Join(lines, "\n")
		},
	}
}
