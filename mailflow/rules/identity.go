package rules

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NormalizeName returns the comparison form of a name: NFKC, with every
// space removed (U+3000 included), since applicants space names freely.
func NormalizeName(s string) string {
	return removeSpace(norm.NFKC.String(s))
}

func removeSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

const (
	hiraganaFirst   = 'ぁ' // U+3041
	hiraganaLast    = 'ゖ' // U+3096
	hiraganaIterA   = 'ゝ' // U+309D, its katakana twin is at the same offset
	hiraganaIterB   = 'ゞ' // U+309E
	kanaOffset      = 'ァ' - 'ぁ'
	katakanaFirst   = 'ァ' // U+30A1
	katakanaLast    = 'ヺ' // U+30FA
	katakanaDot     = '・' // U+30FB
	prolongedSound  = 'ー' // U+30FC
	katakanaIterA   = 'ヽ' // U+30FD
	katakanaIterB   = 'ヾ' // U+30FE
	readingKanaCode = "reading.kana"
)

// NormalizeReading turns a reading written in hiragana or katakana (full
// or half width) into full-width katakana without spaces. Anything else,
// such as Latin letters or kanji, is a problem, and the result is then "".
func NormalizeReading(field, s string) (string, []Problem) {
	s = removeSpace(norm.NFKC.String(s)) // NFKC makes half-width kana full width
	if s == "" {
		return "", []Problem{requiredProblem(field)}
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= hiraganaFirst && r <= hiraganaLast, r == hiraganaIterA, r == hiraganaIterB:
			b.WriteRune(r + kanaOffset)
		case r >= katakanaFirst && r <= katakanaLast, r == katakanaDot, r == prolongedSound,
			r == katakanaIterA, r == katakanaIterB:
			b.WriteRune(r)
		default:
			return "", []Problem{message{
				"ひらがなまたはカタカナでご記入ください。",
				"Please write this in hiragana or katakana.",
			}.problem(field, readingKanaCode)}
		}
	}
	return b.String(), nil
}

// Sex is the sex given on a form.
type Sex int

const (
	SexUnknown Sex = iota
	Male
	Female
)

func (s Sex) String() string {
	switch s {
	case Male:
		return "male"
	case Female:
		return "female"
	}
	return ""
}

// sexWords maps every accepted spelling, after NFKC and lower-casing.
var sexWords = map[string]Sex{
	"男": Male, "男性": Male, "m": Male, "male": Male, "1": Male,
	"女": Female, "女性": Female, "f": Female, "female": Female, "2": Female,
}

// ParseSex reads 男/男性/M/male/1 or 女/女性/F/female/2, in any case or width.
func ParseSex(field, s string) (Sex, []Problem) {
	v := strings.ToLower(strings.TrimSpace(norm.NFKC.String(s)))
	if v == "" {
		return SexUnknown, []Problem{requiredProblem(field)}
	}
	if sex, ok := sexWords[v]; ok {
		return sex, nil
	}
	return SexUnknown, []Problem{message{
		"性別は「男」または「女」でご記入ください。",
		"Please give the sex as male or female.",
	}.problem(field, "sex.invalid")}
}
