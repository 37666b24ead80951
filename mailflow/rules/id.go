package rules

import (
	"strings"
	"unicode/utf8"
)

// IDKind is the kind of account an ID belongs to.
type IDKind int

const (
	Personal IDKind = iota
	Outsourcing
	Position
	Business
	Management
	Group
)

var idKindNames = [...]string{"personal", "outsourcing", "position", "business", "management", "group"}

func (k IDKind) String() string {
	if k >= 0 && int(k) < len(idKindNames) {
		return idKindNames[k]
	}
	return "unknown"
}

// SelfService reports whether the holder may reset the password by access
// code; every other kind has shared or institutional holders, so an operator
// must confirm who is asking.
func (k IDKind) SelfService() bool { return k == Personal }

const (
	idMinLen = 3
	idMaxLen = 20
	// outsourcingSuffix marks, and only marks, outsourcing-company IDs.
	outsourcingSuffix = "-com"
)

var idMessages = map[string]message{
	"id.length":           {"IDは3文字以上20文字以下で指定してください。", "The ID must be 3 to 20 characters long."},
	"id.upper":            {"IDに英大文字は使えません。英小文字で指定してください。", "The ID must not contain upper-case letters; use lower case."},
	"id.underscore":       {"IDにアンダースコア（_）は使えません。", "The ID must not contain an underscore (_)."},
	"id.invalid_char":     {"IDに使える文字は半角の英小文字、数字、ハイフン（-）だけです。", "The ID may contain only lower-case ASCII letters, digits and a hyphen (-)."},
	"id.no_hyphen":        {"IDにはハイフン（-）を1つ含めてください。", "The ID must contain one hyphen (-)."},
	"id.many_hyphens":     {"IDに含めるハイフン（-）は1つだけにしてください。", "The ID must contain only one hyphen (-)."},
	"id.hyphen_last":      {"IDの最後の文字をハイフン（-）にすることはできません。", "The ID must not end with a hyphen (-)."},
	"id.first_letter":     {"IDの最初の文字は英字にしてください。", "The ID must begin with a letter."},
	"id.digits":           {"IDに数字を使うことはできますが、おすすめしません。", "Digits are allowed in an ID but discouraged."},
	"id.com_reserved":     {"「-com」で終わるIDは外部委託会社用です。別のIDを指定してください。", "IDs ending in \"-com\" are reserved for outsourcing companies; choose another ID."},
	"id.outsourcing_form": {"外部委託会社のIDは「xxxxx-com」の形で指定してください。", "An outsourcing company's ID must have the form xxxxx-com."},
}

// CheckID checks a desired ID against every ID rule and returns all broken
// ones; digits give a Warning problem only. Uniqueness is the caller's job.
func CheckID(field, id string, kind IDKind) []Problem {
	if strings.TrimSpace(id) == "" {
		return []Problem{requiredProblem(field)}
	}
	var ps []Problem
	add := func(code string, warning bool) {
		p := idMessages[code].problem(field, code)
		p.Warning = warning
		ps = append(ps, p)
	}
	if n := utf8.RuneCountInString(id); n < idMinLen || n > idMaxLen {
		add("id.length", false)
	}
	var upper, underscore, invalid, digits bool
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r == '-':
		case r >= '0' && r <= '9':
			digits = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r == '_':
			underscore = true
		default:
			invalid = true
		}
	}
	if upper {
		add("id.upper", false)
	}
	if underscore {
		add("id.underscore", false)
	}
	if invalid {
		add("id.invalid_char", false)
	}
	switch strings.Count(id, "-") {
	case 0:
		add("id.no_hyphen", false)
	case 1:
	default:
		add("id.many_hyphens", false)
	}
	// An upper-case first letter is already reported as upper case.
	if c := id[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		add("id.first_letter", false)
	}
	if len(id) > 1 && strings.HasSuffix(id, "-") {
		add("id.hyphen_last", false)
	}
	com := strings.HasSuffix(strings.ToLower(id), outsourcingSuffix)
	if kind == Outsourcing && !com {
		add("id.outsourcing_form", false)
	}
	if kind != Outsourcing && com {
		add("id.com_reserved", false)
	}
	if digits {
		add("id.digits", true)
	}
	return ps
}
