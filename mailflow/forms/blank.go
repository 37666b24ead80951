package forms

import "strings"

// Blank returns the printable blank form of a kind in "ja" or "en" (any
// other lang is Japanese): the marker line, one "label: " line per field,
// then the notes. Notes start with "※" (ja) or "*" (en) and carry no
// colon, so a reply quoting the whole form with values typed after the
// labels parses back to exactly the fields. Unknown kinds give "".
func Blank(k Kind, lang string) string {
	spec, ok := SpecFor(k)
	if !ok {
		return ""
	}
	en := lang == "en"
	var b strings.Builder
	title, bullet, optional, indent := spec.TitleJA, "※", "(任意) ", "※　　"
	if en {
		title, bullet, optional, indent = spec.TitleEN, "* ", "(optional) ", "*     "
		b.WriteString(markerLabel["en"])
	} else {
		b.WriteString(markerLabel["ja"])
	}
	b.WriteString(": " + title + "\n")
	for _, f := range spec.Fields {
		b.WriteString(label(f, en) + ": \n")
	}
	var notes []string
	for _, f := range spec.Fields {
		help := f.HelpJA
		if en {
			help = f.HelpEN
		}
		if help == "" && f.Required {
			continue
		}
		opt := ""
		if !f.Required {
			opt = optional
		}
		sep := "　"
		if en {
			sep = " - "
		}
		for i, line := range strings.Split(help, "\n") {
			if i == 0 {
				notes = append(notes, bullet+label(f, en)+sep+opt+line)
			} else {
				notes = append(notes, indent+line)
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString(strings.TrimRight(n, " 　") + "\n")
		}
	}
	return b.String()
}

func label(f Field, en bool) string {
	if en {
		return f.EN
	}
	return f.JA
}
