package forms

// KeyForLabel returns the key of the field of kind that label names, after
// the normalisation Parse applies to form lines (NFKC, case, katakana,
// spaces, brackets, "*" and hint parentheses), so that a CSV heading and a
// mail form line mean the same field. A label of another kind's field is
// not a match, except where the kind moves it (an "ID" column of a new ID
// application is the desired ID, as in a mail).
func KeyForLabel(kind Kind, label string) (string, bool) {
	e, ok := lookupLabel(label)
	if !ok || e.marker {
		return "", false
	}
	for _, s := range specTable {
		if s.kind != kind {
			continue
		}
		key := e.key
		if to, ok := s.fallback[key]; ok {
			key = to
		}
		for _, f := range s.fields {
			if f.key == key {
				return key, true
			}
		}
		return "", false
	}
	return "", false
}

// CleanValue is the value of a field as Parse stores it: trimmed and NFKC
// for ordinary fields, only trimmed for secrets. Values that come from
// elsewhere (CSV cells) go through it so the rules see the same text.
func CleanValue(key, raw string) string { return cleanValue(key, raw) }
