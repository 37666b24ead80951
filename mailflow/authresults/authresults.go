// Package authresults decides whether a message's From address is
// authenticated, from the Authentication-Results headers (RFC 8601) that our
// own MX prepended.
//
// Trust rests on header order. Each hop prepends its headers, so the MX's
// header is the topmost one that carries our authserv-id; any lower header
// with our id was already in the message when it arrived, written by the
// sender, and is reported as a forgery. Headers with other authserv-ids
// (an internal relay above ours, the sender's own MTA below) are ignored.
// This holds only if the MX adds its header to every message it accepts, or
// strips incoming ones that carry its id: otherwise a message it let through
// without a header would be judged by the sender's.
package authresults

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Verdict is what the headers prove about a message's From address.
type Verdict struct {
	Pass   bool
	Method string   // "dkim", "spf" or "dmarc" when Pass
	Why    string   // why it passed or not, in English, for the audit log and the operator's notice
	Forged []string // raw values of lower headers that carry our authserv-id: the sender wrote them
}

// Check reads the Authentication-Results header values in message order (topmost first) and decides for fromAddress.
func Check(values []string, authservID, fromAddress string) Verdict {
	var v Verdict
	authservID = strings.TrimSpace(authservID)
	if authservID == "" {
		v.Why = "no authserv-id configured: our MX's Authentication-Results cannot be told from the sender's"
		return v
	}
	var (
		results []Result
		err     error
		found   bool
	)
	for _, raw := range values {
		id, p, headErr := parseHead(raw)
		if !equalFoldASCII(id, authservID) {
			continue
		}
		if found {
			v.Forged = append(v.Forged, raw)
			continue
		}
		found = true
		if err = headErr; err == nil {
			results, err = p.resinfos()
		}
	}
	if !found {
		v.Why = "no Authentication-Results header from " + authservID
		return v
	}
	// The MX's header decides alone: when it is unreadable, falling through
	// to a lower one would hand the decision to the sender.
	if err != nil {
		v.Why = fmt.Sprintf("Authentication-Results from %s unreadable: %v", authservID, err)
		return v
	}
	fromDomain, fromOrg, ok := addressDomain(fromAddress)
	if !ok {
		v.Why = "From address " + printable(fromAddress) + " has no usable domain"
		return v
	}
	v.Pass, v.Method, v.Why = decide(results, authservID, fromDomain, fromOrg)
	return v
}

// decide looks for the first result that authenticates fromDomain.
func decide(results []Result, authservID, fromDomain, fromOrg string) (pass bool, method, why string) {
	var seen []string
	for _, r := range results {
		switch r.Method {
		case "dkim":
			d, ok := r.Props["header.d"]
			switch {
			case r.Value != "pass":
				seen = append(seen, "dkim="+r.Value)
			case !ok:
				// header.i alone (Gmail writes that) is not the signing
				// domain, and DMARC aligns with d= only.
				seen = append(seen, "dkim=pass without header.d")
			case alignedWithOrg(d, fromOrg):
				return true, "dkim", "dkim=pass header.d=" + printable(d) + " aligned with " + fromDomain
			default:
				seen = append(seen, "dkim=pass header.d="+printable(d)+" not aligned")
			}
		case "spf":
			mailFrom, ok := r.Props["smtp.mailfrom"]
			switch {
			case r.Value != "pass":
				seen = append(seen, "spf="+r.Value)
			case !ok:
				// A HELO pass says nothing about the sender's address.
				seen = append(seen, "spf=pass without smtp.mailfrom")
			case alignedWithOrg(mailFromDomain(mailFrom), fromOrg):
				return true, "spf", "spf=pass smtp.mailfrom=" + printable(mailFrom) + " aligned with " + fromDomain
			default:
				seen = append(seen, "spf=pass smtp.mailfrom="+printable(mailFrom)+" not aligned")
			}
		case "dmarc":
			headerFrom, ok := r.Props["header.from"]
			switch {
			case r.Value != "pass":
				seen = append(seen, "dmarc="+r.Value)
			case !ok:
				seen = append(seen, "dmarc=pass without header.from")
			case sameDomain(mailFromDomain(headerFrom), fromDomain):
				return true, "dmarc", "dmarc=pass header.from=" + printable(headerFrom)
			default:
				seen = append(seen, "dmarc=pass header.from="+printable(headerFrom)+" is not "+fromDomain)
			}
		}
	}
	if len(seen) == 0 {
		return false, "", "no dkim, spf or dmarc result from " + authservID
	}
	// The MX's header can list a result per signature the sender added.
	const maxListed = 6
	if len(seen) > maxListed {
		seen = append(seen[:maxListed], fmt.Sprintf("%d more", len(seen)-maxListed))
	}
	return false, "", strings.Join(seen, ", ") + ": no aligned pass for " + fromDomain
}

// Aligned reports whether two domains share an organizational domain.
func Aligned(a, b string) bool {
	_, orgB, ok := normalizeDomain(b)
	return ok && alignedWithOrg(a, orgB)
}

func alignedWithOrg(domain, org string) bool {
	_, orgDomain, ok := normalizeDomain(domain)
	return ok && orgDomain == org
}

func sameDomain(a, b string) bool {
	na, _, okA := normalizeDomain(a)
	nb, _, okB := normalizeDomain(b)
	return okA && okB && na == nb
}

// addressDomain takes the domain of an address, normalized, with its
// organizational domain.
func addressDomain(address string) (domain, org string, ok bool) {
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return "", "", false
	}
	return normalizeDomain(address[at+1:])
}

// mailFromDomain takes the domain of smtp.mailfrom, which verifiers write as
// a whole address or as the domain alone.
func mailFromDomain(value string) string {
	value = strings.TrimSuffix(strings.TrimPrefix(value, "<"), ">")
	return value[strings.LastIndexByte(value, '@')+1:]
}

// normalizeDomain returns the domain in lower-case A-labels and its
// organizational domain (public suffix plus one label). It refuses what is
// not a host name: IP literals, empty labels, a numeric top-level label, a
// bare public suffix. IDNA mapping is not applied, so a full-width or
// upper-case Unicode spelling does not pass for the ASCII domain.
func normalizeDomain(domain string) (normalized, org string, ok bool) {
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" || len(domain) > 253 {
		return "", "", false
	}
	// publicsuffix is case-sensitive: "EXAMPLE.JP" would miss the jp rule.
	ascii, err := idna.Registration.ToASCII(lowerASCII(domain))
	if err != nil {
		return "", "", false
	}
	lastLabel := ascii[strings.LastIndexByte(ascii, '.')+1:]
	if strings.Trim(lastLabel, "0123456789") == "" {
		return "", "", false
	}
	for _, c := range []byte(ascii) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return "", "", false
		}
	}
	org, err = publicsuffix.EffectiveTLDPlusOne(ascii)
	if err != nil {
		return "", "", false
	}
	return ascii, org, true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// equalFoldASCII compares authserv-ids case-insensitively in ASCII only:
// Unicode folding would let "K" (Kelvin sign) stand for "k".
func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && lowerASCII(a) == lowerASCII(b)
}

// printable keeps sender-chosen text in Why short and on one line.
func printable(s string) string {
	const maxBytes = 80
	plain := true
	for _, c := range []byte(s) {
		if !isKeywordByte(c) && !strings.ContainsRune(".@+=/<>", rune(c)) {
			plain = false
			break
		}
	}
	if len(s) > maxBytes {
		cut := maxBytes
		for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
		plain = false
	}
	if plain && s != "" {
		return s
	}
	return strconv.Quote(s)
}
