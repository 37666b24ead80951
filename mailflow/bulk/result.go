package bulk

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"

	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// ResultCSV is the reply's attachment: one line per input row, in UTF-8
// with a BOM and CRLF, which Excel opens right in either language. It
// never holds a password: problems are the rules' fixed sentences.
func ResultCSV(results []Result, lang string) []byte {
	en := lang == "en"
	labels := map[string]string{}
	if spec, ok := forms.SpecFor(forms.KindNewID); ok {
		for _, f := range spec.Fields {
			labels[f.Key] = f.JA
			if en {
				labels[f.Key] = f.EN
			}
		}
	}
	text := func(p rules.Problem) string {
		if l := labels[p.Field]; l != "" {
			return l + ": " + p.Text(lang)
		}
		return p.Text(lang)
	}
	header := []string{"行", "結果", "ID", "内容"}
	created, refused, note := "登録", "エラー", "注意 "
	if en {
		header = []string{"line", "result", "id", "problems"}
		created, refused, note = "created", "error", "warning "
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	w.Write(header)
	for _, r := range results {
		var parts []string
		for _, p := range r.Problems {
			parts = append(parts, text(p))
		}
		for _, p := range r.Warnings {
			parts = append(parts, note+text(p))
		}
		status := refused
		if r.Created {
			status = created
		}
		w.Write([]string{strconv.Itoa(r.Line), status, cell(r.Login), cell(strings.Join(parts, "; "))})
	}
	w.Flush() // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}

// cell keeps Excel from running what a row typed as a formula: a refused
// desired ID is the administrator's text as written.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
