package forms

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// labelEntry is what a normalised label names.
type labelEntry struct {
	key    string // field key; "" for the marker line
	marker bool
	lang   string // "ja", "en", or "" when the label is the same in both ("ID")
}

// labels maps normalised labels to fields; built once, read-only after.
var labels, labelConflicts = buildIndex()

// buildIndex indexes every label; conflicts lists labels that would name
// two keys (the tests require none).
func buildIndex() (map[string]labelEntry, []string) {
	idx := map[string]labelEntry{}
	var conflicts []string
	jaLabels := map[string]bool{}
	for _, f := range fieldTable {
		jaLabels[normLabel(f.JA)] = true
	}
	add := func(label string, e labelEntry) {
		n := normLabel(label)
		if n == "" {
			conflicts = append(conflicts, label+" (empty)")
			return
		}
		if isASCII(n) {
			// An ASCII label is English unless the Japanese form prints it
			// too ("ID"): then it says nothing about the language.
			e.lang = "en"
			if jaLabels[n] {
				e.lang = ""
			}
		} else {
			e.lang = "ja"
		}
		if old, ok := idx[n]; ok {
			if old.key != e.key || old.marker != e.marker {
				conflicts = append(conflicts, label)
			}
			if old.lang != e.lang {
				old.lang = ""
				idx[n] = old
			}
			return
		}
		idx[n] = e
	}
	for _, f := range fieldTable {
		e := labelEntry{key: f.Key}
		add(f.JA, e)
		add(f.EN, e)
		for _, a := range f.Aliases {
			add(a, e)
		}
	}
	for _, m := range markerLabels {
		add(m, labelEntry{marker: true})
	}
	return idx, conflicts
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normLabel is the comparison form of a label or a marker value: NFKC,
// lower case, katakana as hiragana, without spaces, brackets and the
// punctuation people sprinkle in ("E-mail", "family_name", "氏名・姓").
func normLabel(s string) string {
	s = strings.ToLower(norm.NFKC.String(s))
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r), r == '\u200b', r == '\ufeff':
			continue
		case strings.ContainsRune("()[]{}【】「」『』〔〕〈〉《》<>・_-‐‑–—―'\"’.,、", r):
			continue
		case r >= 'ァ' && r <= 'ヶ':
			r -= 'ァ' - 'ぁ'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hints are parenthesised notes after a label that don't change it:
// "生年月日(西暦)", "Institution (required)".
var hints = map[string]bool{
	"必須": true, "任意": true, "required": true, "optional": true, "西暦": true, "和暦可": true,
	"半角": true, "全角": true, "英数字": true, "半角英数字": true, "半角英数": true, "数字": true, "半角数字": true,
	"かたかな": true, "ひらがな": true, "全角かたかな": true, "ひらがなまたはかたかな": true, "番号": true, "1から5": true, "15": true,
	"漢字": true, "kanji": true, "number": true,
}

// lookupLabel finds the entry of a label as written, also after dropping
// bullets, numbering, trailing "*"/"※" and hint parentheses.
func lookupLabel(raw string) (labelEntry, bool) {
	s := strings.TrimSpace(norm.NFKC.String(raw))
	s = strings.TrimLeft(s, "・■□●○◆◇★☆▼▽▶►")
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "- ") || strings.HasPrefix(s, "* ") {
		s = s[2:]
	}
	s = stripNumbering(s)
	for i := 0; i < 4; i++ {
		s = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), "*※"))
		if e, ok := labels[normLabel(s)]; ok {
			return e, true
		}
		open := strings.LastIndexByte(s, '(')
		if open <= 0 || !strings.HasSuffix(s, ")") {
			return labelEntry{}, false
		}
		h := normLabel(s[open+1 : len(s)-1])
		if !hints[h] && !strings.Contains(h, "yyyy") && !strings.Contains(h, "/") && !strings.Contains(h, "※") {
			return labelEntry{}, false
		}
		s = s[:open]
	}
	return labelEntry{}, false
}

// stripNumbering drops "1. ", "2) ", "(3) " before a label.
func stripNumbering(s string) string {
	t := strings.TrimPrefix(s, "(")
	i := 0
	for i < len(t) && i < 2 && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(t) {
		return s
	}
	switch t[i] {
	case '.', ')':
		return strings.TrimSpace(t[i+1:])
	}
	return s
}

// rawLine is one `label: value` line as found, with byte offsets so that
// Mask can replace the value in place.
type rawLine struct {
	label    string // as written, between quote marks and separator
	valStart int    // offset of the value in the line
	depth    int    // quote depth ("> > " is 2)
}

// quoteMarks prefix quoted lines in replies.
const quoteMarks = ">＞﹥"

// separators end a label; NFKC maps all of them to ':'.
const separators = ":：﹕︓"

// isBlank is the set of spaces trimmed around labels and values.
func isBlank(r rune) bool {
	return r == ' ' || r == '\t' || r == '\u3000' || r == '\u00a0' || r == '\r' || r == '\u200b' || r == '\ufeff'
}

// splitLine finds the label and the value of a line, if it has both parts.
func splitLine(line string) (rawLine, bool) {
	i, depth := 0, 0
	for {
		rest := line[i:]
		trimmed := strings.TrimLeftFunc(rest, isBlank)
		i += len(rest) - len(trimmed)
		r, size := utf8.DecodeRuneInString(trimmed)
		if size == 0 || !strings.ContainsRune(quoteMarks, r) {
			break
		}
		i += size
		depth++
	}
	body := line[i:]
	if strings.HasPrefix(body, "【") {
		if end := strings.Index(body, "】"); end > 0 {
			label := body[len("【"):end]
			v := i + end + len("】")
			// "【氏名(姓)】：山田" has a colon too.
			rest := strings.TrimLeftFunc(line[v:], isBlank)
			if r, size := utf8.DecodeRuneInString(rest); size > 0 && strings.ContainsRune(separators, r) {
				v = len(line) - len(rest) + size
			}
			return rawLine{label: label, valStart: v, depth: depth}, strings.TrimFunc(label, isBlank) != ""
		}
	}
	sep := strings.IndexAny(body, separators)
	if sep <= 0 {
		return rawLine{}, false
	}
	_, size := utf8.DecodeRuneInString(body[sep:])
	label := body[:sep]
	if strings.TrimFunc(label, isBlank) == "" {
		return rawLine{}, false
	}
	return rawLine{label: label, valStart: i + sep + size, depth: depth}, true
}

// lineSpans splits text into lines at \r\n, \n or \r, as [start, end)
// offsets without the line ending.
func lineSpans(text string) [][2]int {
	var out [][2]int
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n':
			out = append(out, [2]int{start, i})
			start = i + 1
		case '\r':
			out = append(out, [2]int{start, i})
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(text) {
		out = append(out, [2]int{start, len(text)})
	}
	return out
}

// cleanValue is the stored form of a value: secrets keep their bytes.
func cleanValue(key, v string) string {
	if isSecretKey(key) || isAsWrittenKey(key) {
		return strings.TrimFunc(v, isBlank)
	}
	return strings.TrimFunc(norm.NFKC.String(v), func(r rune) bool { return unicode.IsSpace(r) || isBlank(r) })
}

// scan reads every `label: value` line of text (already valid UTF-8);
// Parse and Mask share it so that they agree on which lines are secret.
func scan(text string, visit func(line string, span [2]int, rl rawLine, e labelEntry, known bool)) {
	for _, sp := range lineSpans(text) {
		line := text[sp[0]:sp[1]]
		rl, ok := splitLine(line)
		if !ok {
			continue
		}
		e, known := lookupLabel(rl.label)
		visit(line, sp, rl, e, known)
	}
}

// Parse reads a mail body. Invalid UTF-8 is replaced by U+FFFD first.
func Parse(text string) Form {
	text = strings.ToValidUTF8(text, "\uFFFD")
	form := Form{Fields: map[string]string{}}
	type chosen struct {
		value string
		depth int
	}
	values := map[string]chosen{}
	var order []string
	repeated := map[string]bool{}
	unknown := map[string]bool{}
	var marker chosen
	markerSet := false
	langFilled := map[string]int{}
	langAll := map[string]int{}

	scan(text, func(line string, _ [2]int, rl rawLine, e labelEntry, known bool) {
		raw := line[rl.valStart:]
		if !known {
			label := strings.TrimFunc(norm.NFKC.String(rl.label), func(r rune) bool { return unicode.IsSpace(r) || isBlank(r) })
			if worthReporting(label, norm.NFKC.String(raw)) && !unknown[label] {
				unknown[label] = true
				form.Unknown = append(form.Unknown, label)
			}
			return
		}
		langAll[e.lang]++
		if e.marker {
			v := cleanValue("", raw)
			if v == "" {
				return
			}
			langFilled[e.lang]++
			if _, ok := kindOf(v); ok && (!markerSet || rl.depth < marker.depth) {
				marker, markerSet = chosen{v, rl.depth}, true
			}
			return
		}
		v := cleanValue(e.key, raw)
		if v == "" {
			// The quoted blank line "氏名(姓): " says nothing.
			return
		}
		langFilled[e.lang]++
		old, ok := values[e.key]
		switch {
		case !ok:
			values[e.key] = chosen{v, rl.depth}
			order = append(order, e.key)
		case old.value != v:
			if !repeated[e.key] {
				repeated[e.key] = true
				form.Repeated = append(form.Repeated, e.key)
			}
			// What the applicant wrote now beats what a reply quotes.
			if rl.depth < old.depth {
				values[e.key] = chosen{v, rl.depth}
			}
		}
	})
	for _, k := range order {
		form.Fields[k] = values[k].value
	}

	form.Lang = pickLang(langFilled, langAll, text)
	if markerSet {
		form.Kind, _ = kindOf(marker.value)
	} else {
		form.Kind = inferKind(form.Fields)
	}
	if form.Kind != "" {
		applyFallback(form.Kind, form.Fields)
	}
	return form
}

// worthReporting filters "label: value" look-alikes that aren't form lines:
// long sentences, URLs, times, quoted mail headers.
func worthReporting(label, value string) bool {
	if label == "" || utf8.RuneCountInString(label) > 20 {
		return false
	}
	if strings.HasPrefix(strings.TrimSpace(value), "//") {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(label)
	first, _ := utf8.DecodeRuneInString(strings.TrimSpace(value))
	if unicode.IsDigit(last) && unicode.IsDigit(first) {
		return false // 12:30
	}
	if strings.ContainsAny(label, "。、?!？！") {
		return false
	}
	hasLetter := false
	for _, r := range label {
		if unicode.IsLetter(r) {
			hasLetter = true
			break
		}
	}
	if !hasLetter {
		return false
	}
	return !mailHeaders[normLabel(label)]
}

// mailHeaders appear in quoted replies ("From: ..."), never in forms.
var mailHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true, "sent": true, "re": true, "fwd": true, "fw": true,
	"replyto": true, "差出人": true, "送信者": true, "宛先": true, "件名": true, "日時": true, "送信日時": true, "送信日": true,
}

// pickLang: English when English labels are the majority among the lines
// filled in (among all labels if none was filled). With no label at all,
// the script of the text decides, so that a plain English mail gets an
// English answer; Japanese otherwise.
func pickLang(filled, all map[string]int, text string) string {
	counts := filled
	if filled["ja"]+filled["en"] == 0 {
		counts = all
	}
	if counts["ja"]+counts["en"] > 0 {
		if counts["en"] > counts["ja"] {
			return "en"
		}
		return "ja"
	}
	latin := false
	for _, r := range text {
		switch {
		case unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han):
			return "ja"
		case r < utf8.RuneSelf && unicode.IsLetter(r):
			latin = true
		}
	}
	if latin {
		return "en"
	}
	return "ja"
}

// kindOf reads a marker value: exactly a title or alias, else the longest
// one it contains ("新規ID申請(個人用)").
func kindOf(value string) (Kind, bool) {
	v := normLabel(value)
	if v == "" {
		return "", false
	}
	best, bestLen := Kind(""), 0
	for _, s := range specTable {
		names := append([]string{string(s.kind), s.titleJA, s.titleEN}, s.aliases...)
		for _, n := range names {
			nn := normLabel(n)
			if nn == v {
				return s.kind, true
			}
			if l := len([]rune(nn)); l >= 2 && l > bestLen && strings.Contains(v, nn) {
				best, bestLen = s.kind, l
			}
		}
	}
	return best, best != ""
}

// applyFallback moves a general field to the key this kind uses.
func applyFallback(k Kind, fields map[string]string) {
	for _, s := range specTable {
		if s.kind != k {
			continue
		}
		for from, to := range s.fallback {
			if v, ok := fields[from]; ok && fields[to] == "" {
				fields[to] = v
				delete(fields, from)
			}
		}
	}
}

// inferKind names the kind of a form without a marker line, only when the
// fields leave no doubt: every required field of exactly one best kind and
// nothing foreign to it; else two or more fields only that kind has; else
// a bare access code or reference.
func inferKind(fields map[string]string) Kind {
	if len(fields) == 0 {
		return ""
	}
	owners := map[string]int{} // key -> number of kinds using it
	for _, s := range specTable {
		for _, f := range s.fields {
			owners[f.key]++
		}
	}
	best, bestScore, tie := Kind(""), 0, false
	for _, s := range specTable {
		fs := map[string]string{}
		for k, v := range fields {
			fs[k] = v
		}
		applyFallback(s.kind, fs)
		in := map[string]bool{}
		required := 0
		for _, f := range s.fields {
			in[f.key] = true
			if f.required {
				required++
			}
		}
		ok := required > 0
		for _, f := range s.fields {
			if f.required && fs[f.key] == "" {
				ok = false
			}
		}
		for k := range fs {
			if !in[k] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		score := len(fs)*100 + required
		switch {
		case score > bestScore:
			best, bestScore, tie = s.kind, score, false
		case score == bestScore:
			tie = true
		}
	}
	if best != "" && !tie {
		return best
	}

	best, bestScore, tie = "", 0, false
	for _, s := range specTable {
		n := 0
		for _, f := range s.fields {
			if owners[f.key] == 1 && fields[f.key] != "" {
				n++
			}
		}
		switch {
		case n < 2:
		case n > bestScore:
			best, bestScore, tie = s.kind, n, false
		case n == bestScore:
			tie = true
		}
	}
	if best != "" && !tie {
		return best
	}
	if len(fields) == 1 {
		switch {
		case fields["access_code"] != "":
			return KindAccessCode
		case fields["reference"] != "":
			return KindStatus
		}
	}
	if fields["access_code"] != "" {
		// A code with the new passwords but a stray line is still a reply.
		only := true
		for k := range fields {
			switch k {
			case "access_code", "new_password", "new_password_confirm", "password", "password_confirm":
			default:
				only = false
			}
		}
		if only {
			return KindAccessCode
		}
	}
	return ""
}
