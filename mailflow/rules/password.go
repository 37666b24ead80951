package rules

import (
	_ "embed"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

const (
	passwordMinLen = 8
	// classWindow is how many leading characters must hold every class:
	// older systems behind the account read only the first eight.
	classWindow  = 8
	minWordLen   = 5
	minRunLength = 4
)

// passwordMessages is the whole wording of password problems. Texts are
// fixed so that no part of a password can ever reach a notice.
var passwordMessages = map[string]message{
	"password.length":       {"パスワードは8文字以上にしてください。", "The password must be at least 8 characters long."},
	"password.invalid_char": {"パスワードに使える文字は半角の英字、数字、記号だけです（空白や全角文字は使えません）。", "The password may contain only ASCII letters, digits and symbols (no spaces or full-width characters)."},
	"password.no_lower":     {"パスワードの最初の8文字に英小文字を1文字以上含めてください。", "The first 8 characters of the password must include a lower-case letter."},
	"password.no_upper":     {"パスワードの最初の8文字に英大文字を1文字以上含めてください。", "The first 8 characters of the password must include an upper-case letter."},
	"password.no_digit":     {"パスワードの最初の8文字に数字を1文字以上含めてください。", "The first 8 characters of the password must include a digit."},
	"password.contains_id":  {"パスワードにIDを含めることはできません。", "The password must not contain the ID."},
	"password.dictionary":   {"パスワードに辞書に載っている5文字以上の英単語が含まれています。", "The password contains an English dictionary word of 5 or more letters."},
	"password.sequence":     {"パスワードに4文字以上続く連続した文字（1234、abcd、dcba など）が含まれています。", "The password contains a run of 4 or more sequential characters (such as 1234, abcd or dcba)."},
	"password.keyboard":     {"パスワードにキーボードで隣り合う4つ以上のキーの並び（asdf、qwer、7890 など）が含まれています。", "The password contains 4 or more adjacent keys of a keyboard row (such as asdf, qwer or 7890)."},

	"facility_password.length":       {"パスワードは8文字以上にしてください。", "The password must be at least 8 characters long."},
	"facility_password.invalid_char": {"パスワードに使える文字は半角の英字、数字、記号だけです（空白や全角文字は使えません）。", "The password may contain only ASCII letters, digits and symbols (no spaces or full-width characters)."},
	"facility_password.no_letter":    {"パスワードに英字を1文字以上含めてください。", "The password must include a letter."},
	"facility_password.no_digit":     {"パスワードに数字を1文字以上含めてください。", "The password must include a digit."},
	"facility_password.no_symbol":    {"パスワードに記号（!、#、% など）を1文字以上含めてください。", "The password must include a symbol (such as !, # or %)."},
}

// keyboardRows are the key rows of the JIS layout and the US rows that
// differ from it, unshifted, in lower case.
var keyboardRows = []string{
	"1234567890-^\\",
	"qwertyuiop@[",
	"asdfghjkl;:]",
	"zxcvbnm,./\\",
	"qwertyuiop[]",
	"asdfghjkl;'",
}

//go:embed words.txt
var wordsText string

// wordSet is the embedded dictionary, lower case, words of minWordLen or
// more letters: sorted, distinct, back to back in one string with their
// offsets beside it. A map of its 40,000 words would be 40,000 pointers
// for the collector to trace at every cycle, and the daemon collects about
// once per password hash; this holds two.
type wordSet struct {
	text   string
	starts []uint32 // where each word starts in text, and one past the last
	maxLen int
}

func (ws wordSet) len() int { return len(ws.starts) - 1 }

func (ws wordSet) word(i int) string { return ws.text[ws.starts[i]:ws.starts[i+1]] }

func (ws wordSet) has(w string) bool {
	i := sort.Search(ws.len(), func(i int) bool { return ws.word(i) >= w })
	return i < ws.len() && ws.word(i) == w
}

var dictionary = sync.OnceValue(func() wordSet {
	var words []string
	for _, w := range strings.Fields(wordsText) {
		if w = strings.ToLower(w); len(w) >= minWordLen {
			words = append(words, w)
		}
	}
	slices.Sort(words)
	words = slices.Compact(words)
	var text strings.Builder
	ws := wordSet{starts: make([]uint32, 0, len(words)+1)}
	for _, w := range words {
		ws.starts = append(ws.starts, uint32(text.Len()))
		text.WriteString(w)
		ws.maxLen = max(ws.maxLen, len(w))
	}
	ws.starts = append(ws.starts, uint32(text.Len()))
	ws.text = text.String()
	return ws
})

// containsWord reports whether any run of letters in lower holds a word.
func (ws wordSet) containsWord(lower string) bool {
	for i := 0; i < len(lower); {
		if !isLowerLetter(lower[i]) {
			i++
			continue
		}
		j := i
		for j < len(lower) && isLowerLetter(lower[j]) {
			j++
		}
		letters := lower[i:j]
		for start := 0; start+minWordLen <= len(letters); start++ {
			for end := start + minWordLen; end <= len(letters) && end-start <= ws.maxLen; end++ {
				if ws.has(letters[start:end]) {
					return true
				}
			}
		}
		i = j
	}
	return false
}

// CheckPassword checks a general password against every rule and returns
// one problem per broken rule. id may be empty when not yet known.
func CheckPassword(field, pw, id string) []Problem {
	var ps []Problem
	add := func(code string) { ps = append(ps, passwordMessages[code].problem(field, code)) }
	if utf8.RuneCountInString(pw) < passwordMinLen {
		add("password.length")
	}
	if !printableASCII(pw) {
		add("password.invalid_char")
	}
	head := pw
	if len(head) > classWindow {
		head = head[:classWindow] // bytes: non-ASCII is refused above anyway
	}
	if !strings.ContainsFunc(head, func(r rune) bool { return r >= 'a' && r <= 'z' }) {
		add("password.no_lower")
	}
	if !strings.ContainsFunc(head, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
		add("password.no_upper")
	}
	if !strings.ContainsFunc(head, func(r rune) bool { return r >= '0' && r <= '9' }) {
		add("password.no_digit")
	}
	lower := asciiLower(pw)
	if id != "" && strings.Contains(lower, asciiLower(id)) {
		add("password.contains_id")
	}
	if dictionary().containsWord(lower) {
		add("password.dictionary")
	}
	if hasSequence(lower) {
		add("password.sequence")
	}
	if hasKeyboardRun(lower) {
		add("password.keyboard")
	}
	return ps
}

// CheckFacilityPassword checks a facility-service password: at least 8
// characters with letters, digits and symbols.
func CheckFacilityPassword(field, pw string) []Problem {
	var ps []Problem
	add := func(code string) { ps = append(ps, passwordMessages[code].problem(field, code)) }
	if utf8.RuneCountInString(pw) < passwordMinLen {
		add("facility_password.length")
	}
	if !printableASCII(pw) {
		add("facility_password.invalid_char")
	}
	var letter, digit, symbol bool
	for i := 0; i < len(pw); i++ {
		switch c := pw[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9':
			digit = true
		case c > ' ' && c < 0x7f:
			symbol = true
		}
	}
	if !letter {
		add("facility_password.no_letter")
	}
	if !digit {
		add("facility_password.no_digit")
	}
	if !symbol {
		add("facility_password.no_symbol")
	}
	return ps
}

// printableASCII reports whether s is only visible ASCII. Spaces are
// refused too: mail clients trim and fold them, so the applicant would not
// get the password they meant.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// asciiLower lowers ASCII letters only, keeping byte offsets stable.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isLowerLetter(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool       { return c >= '0' && c <= '9' }

func all(s string, pred func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !pred(s[i]) {
			return false
		}
	}
	return true
}

// hasSequence finds minRunLength letters or digits in alphabetical or
// numerical order, ascending or descending, in a lower-cased string.
func hasSequence(lower string) bool {
	for i := 0; i+minRunLength <= len(lower); i++ {
		run := lower[i : i+minRunLength]
		if !all(run, isLowerLetter) && !all(run, isDigit) {
			continue
		}
		step := int(run[1]) - int(run[0])
		if step != 1 && step != -1 {
			continue
		}
		ordered := true
		for j := 2; j < len(run); j++ {
			if int(run[j])-int(run[j-1]) != step {
				ordered = false
				break
			}
		}
		if ordered {
			return true
		}
	}
	return false
}

// hasKeyboardRun finds minRunLength adjacent keys of one row, either way.
func hasKeyboardRun(lower string) bool {
	for _, row := range keyboardRows {
		rev := reverse(row)
		for i := 0; i+minRunLength <= len(row); i++ {
			if strings.Contains(lower, row[i:i+minRunLength]) || strings.Contains(lower, rev[i:i+minRunLength]) {
				return true
			}
		}
	}
	return false
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
