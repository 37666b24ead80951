package forms

import (
	"sort"
	"strings"
)

// maskText replaces secret values.
const maskText = "********"

// minMaskLen: shorter secret values are masked on their own line only;
// replacing them everywhere would garble ordinary text.
const minMaskLen = 4

// Mask returns text (made valid UTF-8) with the value of every line whose
// label is a Secret field of any kind, quoted or not, replaced by
// "********"; then every other occurrence of those values (of at least
// minMaskLen bytes) too, as applicants repeat a password in free text.
func Mask(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	var b strings.Builder
	var secrets []string
	last := 0
	scan(text, func(line string, sp [2]int, rl rawLine, e labelEntry, known bool) {
		if !known || e.marker || !isSecretKey(e.key) {
			return
		}
		v := cleanValue(e.key, line[rl.valStart:])
		if v == "" {
			return
		}
		secrets = append(secrets, v)
		start := sp[0] + rl.valStart
		// Keep the space after the colon, as written.
		start += len(line[rl.valStart:]) - len(strings.TrimLeftFunc(line[rl.valStart:], isBlank))
		b.WriteString(text[last:start])
		b.WriteString(maskText)
		last = sp[1]
	})
	b.WriteString(text[last:])
	out := b.String()
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		if len(s) >= minMaskLen {
			out = strings.ReplaceAll(out, s, maskText)
		}
	}
	return out
}
