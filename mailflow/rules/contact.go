package rules

import (
	"net/mail"
	"strings"

	"golang.org/x/text/unicode/norm"
)

const (
	eligibilityMin = 1
	eligibilityMax = 5
)

// ParseEligibility reads the number of one of the five eligibility
// categories, written as "1", "１", "(1)", "1." or "①".
func ParseEligibility(field, s string) (int, []Problem) {
	v := strings.TrimSpace(norm.NFKC.String(s))
	if v == "" {
		return 0, []Problem{requiredProblem(field)}
	}
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(v, "("), ")"), "."))
	if len(v) == 1 && v[0] >= '0'+eligibilityMin && v[0] <= '0'+eligibilityMax {
		return int(v[0] - '0'), nil
	}
	return 0, []Problem{message{
		"1から5までの番号でご記入ください。",
		"Please give a number from 1 to 5.",
	}.problem(field, "eligibility.range")}
}

const (
	maxDomainLen = 253
	maxLabelLen  = 63
)

// CheckEmail checks one address and returns it with the domain in lower
// case. A display name around it ("Name <a@b.jp>") is tolerated and dropped.
func CheckEmail(field, s string) (string, []Problem) {
	v := strings.TrimSpace(norm.NFKC.String(s))
	if v == "" {
		return "", []Problem{requiredProblem(field)}
	}
	invalid := []Problem{message{
		"メールアドレスの形式が正しくありません。",
		"This is not a valid e-mail address.",
	}.problem(field, "email.invalid")}
	addr, err := mail.ParseAddress(v)
	if err != nil {
		return "", invalid
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at <= 0 {
		return "", invalid
	}
	local, domain := addr.Address[:at], strings.ToLower(addr.Address[at+1:])
	// Non-ASCII local parts need SMTPUTF8, which the receiving side may lack.
	if !printableASCII(local) {
		return "", invalid
	}
	if !validDomain(domain) {
		return "", []Problem{message{
			"メールアドレスのドメイン（@より後ろ）が正しくありません。",
			"The domain of the e-mail address (after @) is not valid.",
		}.problem(field, "email.domain")}
	}
	return local + "@" + domain, nil
}

// validDomain accepts a lower-case DNS name of two or more LDH labels.
func validDomain(d string) bool {
	if len(d) > maxDomainLen || !strings.Contains(d, ".") {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(isLowerLetter(c) || isDigit(c) || c == '-') {
				return false
			}
		}
	}
	// An all-digit top-level label means an IP address, not a mail domain.
	return !all(labels[len(labels)-1], isDigit)
}
