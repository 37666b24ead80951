package authresults

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

const (
	mx = "mx.example.jp" // our authserv-id
	op = "ops@example.jp"
)

// Samples of what real verifiers write, recast to mx.example.jp and
// example.jp; folding kept as each writes it (Exim folds with a bare LF).
const (
	openDKIMPass     = "mx.example.jp; dkim=pass (2048-bit key; unprotected) header.d=example.jp header.i=@example.jp header.a=rsa-sha256 header.s=default header.b=AbCdEfGh"
	openDKIMPassAtps = "mx.example.jp;\r\n\tdkim=pass (1024-bit key; secure) header.d=example.jp header.i=@example.jp header.b=\"mj+deT/Q\";\r\n\tdkim-atps=neutral"
	openDKIMFail     = "mx.example.jp;\r\n\tdkim=fail reason=\"signature verification failed\" (2048-bit key; unprotected) header.d=example.jp header.i=@example.jp header.a=rsa-sha256 header.s=default header.b=AbCdEfGh;\r\n\tdkim-atps=neutral"
	openDMARCPass    = "mx.example.jp; dmarc=pass (p=none dis=none) header.from=example.jp"
	openDMARCFail    = "mx.example.jp; dmarc=fail (p=reject dis=none) header.from=example.jp"
	openDMARCNone    = "mx.example.jp; dmarc=none (p=none dis=none) header.from=example.jp"
	rspamdPass       = "mx.example.jp; dkim=pass header.d=example.jp header.s=dkim header.b=abc; spf=pass (mx.example.jp: domain of ops@example.jp designates 192.0.2.1 as permitted sender) smtp.mailfrom=ops@example.jp; dmarc=pass (policy=reject) header.from=example.jp"
	rspamdFoldedARC  = "mx.example.jp;\r\n\tdkim=pass header.d=Example.JP header.s=selector1 header.b=\"3/8fByMb\";\r\n\tspf=pass (mx.example.jp: domain of \"ops+bounces=x@lists.example.net\" designates 2001:db8::1 as permitted sender) smtp.mailfrom=\"ops+bounces=x@lists.example.net\";\r\n\tdmarc=pass (policy=reject) header.from=example.jp;\r\n\tarc=pass (\"example.net:s=arc-20240116:i=1\")"
	rspamdFail       = "mx.example.jp;\r\n\tdkim=fail header.d=example.jp header.s=dkim header.b=abc;\r\n\tspf=softfail (mx.example.jp: domain of ops@example.jp does not designate 192.0.2.9 as permitted sender) smtp.mailfrom=ops@example.jp;\r\n\tdmarc=fail reason=\"SPF not aligned (relaxed), DKIM not aligned (relaxed)\" header.from=example.jp (policy=reject)"
	policydSPFPass   = "mx.example.jp; spf=pass (sender SPF authorized) smtp.mailfrom=example.jp (client-ip=192.0.2.1; helo=mail.example.jp; envelope-from=ops@example.jp; receiver=mx.example.jp)"
	policydSPFFolded = "mx.example.jp; spf=pass (sender SPF authorized)\r\n smtp.mailfrom=example.jp (client-ip=192.0.2.1;\r\n helo=mail.example.jp; envelope-from=ops@example.jp;\r\n receiver=<UNKNOWN>)"
	policydSPFFail   = "mx.example.jp; spf=fail (sender SPF not authorized) smtp.mailfrom=example.jp (client-ip=192.0.2.9; helo=evil.example.net; envelope-from=ops@example.jp; receiver=mx.example.jp)"
	postfixOneHeader = "mx.example.jp; dkim=pass (1024-bit key; unprotected) header.d=example.jp header.i=@example.jp header.a=rsa-sha256 header.s=mail header.b=RMkcaJQt; dkim-atps=neutral; spf=pass (client-ip=192.0.2.1; helo=mail.example.jp; envelope-from=ops@example.jp; receiver=mx.example.jp) smtp.mailfrom=example.jp"
	eximPass         = "mx.example.jp;\n\tiprev=pass (mail.example.jp) smtp.remote-ip=192.0.2.1;\n\tspf=pass smtp.mailfrom=example.jp;\n\tdkim=pass header.d=example.jp header.i=@example.jp header.s=s1 header.a=rsa-sha256;\n\tdmarc=pass header.from=example.jp"
	eximFail         = "mx.example.jp;\n\tiprev=fail smtp.remote-ip=192.0.2.9;\n\tspf=fail smtp.mailfrom=example.jp;\n\tdkim=fail (body hash mismatch; body probably modified in transit)\n\t\t header.d=example.jp header.s=s1 header.a=rsa-sha256;\n\tdmarc=fail header.from=example.jp"
	eximTmpError     = "mx.example.jp;\n\tiprev=pass (mail.example.jp) smtp.remote-ip=192.0.2.1;\n\tdkim=tmperror (pubkey unavailable)\n\t\t header.d=example.jp header.s=s1 header.a=rsa-sha256"
	eximHELOOnly     = "mx.example.jp;\n\tspf=pass smtp.helo=mail.example.jp"
	eximNullSender   = "mx.example.jp;\n\tspf=pass smtp.mailfrom=<>"
	gmailPass        = "mx.example.jp;\r\n       dkim=pass header.i=@example.jp header.s=20230601 header.b=AiSyKQYg;\r\n       arc=pass (i=1 spf=pass spfdomain=example.jp dkim=pass dkdomain=example.jp dmarc=pass fromdomain=example.jp);\r\n       spf=pass (google.com: domain of ops@example.jp designates 192.0.2.1 as permitted sender) smtp.mailfrom=ops@example.jp;\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.jp"
	gmailFail        = "mx.example.jp; dkim=pass header.i=@example.jp header.s=s1 header.b=x; arc=pass (i=1 spf=pass spfdomain=example.jp dkim=pass dkdomain=example.jp dmarc=pass fromdomain=example.jp); spf=softfail (google.com: domain of transitioning ops@other.jp does not designate 192.0.2.9 as permitted sender) smtp.mailfrom=ops@other.jp; dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=example.jp"
	microsoftPass    = "mx.example.jp; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.jp; dkim=pass (signature was verified) header.d=example.jp;dmarc=pass action=none header.from=example.jp;compauth=pass reason=100"
	microsoftNoID    = "dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=example.jp;"
	versionOne       = "mx.example.jp 1; spf=pass smtp.mailfrom=example.jp"
	noneResult       = "mx.example.jp 1; none"
	attackMX         = "mx.example.jp; dkim=none; spf=fail smtp.mailfrom=evil.example.net"
	attackForged     = "mx.example.jp; dkim=pass header.d=example.jp"
)

// samples seeds the fuzz targets too.
var samples = []string{
	openDKIMPass, openDKIMPassAtps, openDKIMFail, openDMARCPass, openDMARCFail, openDMARCNone,
	rspamdPass, rspamdFoldedARC, rspamdFail, policydSPFPass, policydSPFFolded, policydSPFFail,
	postfixOneHeader, eximPass, eximFail, eximTmpError, eximHELOOnly, eximNullSender,
	gmailPass, gmailFail, microsoftPass, microsoftNoID, versionOne, noneResult, attackMX, attackForged,
}

func vals(v ...string) []string { return v }

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		from   string
		pass   bool
		method string
		forged int
		why    string // a substring of Verdict.Why
	}{
		// Real verifiers, each a positive control and a failing variant.
		{"OpenDKIM pass", vals(openDKIMPass), op, true, "dkim", 0, "dkim=pass header.d=example.jp aligned with example.jp"},
		{"OpenDKIM pass, quoted header.b, dkim-atps", vals(openDKIMPassAtps), op, true, "dkim", 0, "dkim=pass"},
		{"OpenDKIM fail with reason", vals(openDKIMFail), op, false, "", 0, "dkim=fail: no aligned pass for example.jp"},
		{"OpenDMARC pass", vals(openDMARCPass), op, true, "dmarc", 0, "dmarc=pass header.from=example.jp"},
		{"OpenDMARC fail", vals(openDMARCFail), op, false, "", 0, "dmarc=fail"},
		{"rspamd pass", vals(rspamdPass), op, true, "dkim", 0, "dkim=pass"},
		{"rspamd folded, quoted mailfrom, arc, mixed-case header.d", vals(rspamdFoldedARC), op, true, "dkim", 0, "header.d=Example.JP aligned"},
		{"rspamd fail", vals(rspamdFail), op, false, "", 0, "dkim=fail, spf=softfail, dmarc=fail: no aligned pass"},
		{"policyd-spf pass", vals(policydSPFPass), op, true, "spf", 0, "spf=pass smtp.mailfrom=example.jp aligned"},
		{"policyd-spf folded", vals(policydSPFFolded), op, true, "spf", 0, ""},
		{"policyd-spf fail", vals(policydSPFFail), op, false, "", 0, "spf=fail"},
		{"Postfix OpenDKIM+SPF in one header", vals(postfixOneHeader), op, true, "dkim", 0, ""},
		{"Postfix OpenDKIM+SPF, signed by another domain", vals(strings.NewReplacer("header.d=example.jp", "header.d=other.jp", "mailfrom=example.jp", "mailfrom=other.jp").Replace(postfixOneHeader)), op, false, "", 0, "dkim=pass header.d=other.jp not aligned, spf=pass smtp.mailfrom=other.jp not aligned"},
		// Postfix milters that each prepend a header with the same id: only
		// the topmost (here OpenDMARC's) is the MX's, the rest look forged.
		{"Postfix milter stack, topmost decides", vals(openDMARCPass, openDKIMPass, policydSPFPass), op, true, "dmarc", 2, ""},
		{"Postfix milter stack, topmost dmarc=none hides dkim=pass", vals(openDMARCNone, openDKIMPass, policydSPFPass), op, false, "", 2, "dmarc=none"},
		{"Exim pass", vals(eximPass), op, true, "spf", 0, "spf=pass"},
		{"Exim fail, comment with ';' and deep folding", vals(eximFail), op, false, "", 0, "spf=fail, dkim=fail, dmarc=fail"},
		{"Exim tmperror", vals(eximTmpError), op, false, "", 0, "dkim=tmperror"},
		{"Exim null sender: HELO pass only", vals(eximHELOOnly), op, false, "", 0, "spf=pass without smtp.mailfrom"},
		{"Exim null sender: mailfrom <>", vals(eximNullSender), op, false, "", 0, "not aligned"},
		{"Gmail: header.i only, arc comment, spf pass", vals(gmailPass), op, true, "spf", 0, "spf=pass smtp.mailfrom=ops@example.jp aligned"},
		{"Gmail fail: dkim header.i only, arc comment says pass", vals(gmailFail), op, false, "", 0, "dkim=pass without header.d, spf=softfail, dmarc=fail"},
		{"Microsoft style with our id", vals(microsoftPass), op, true, "spf", 0, ""},
		{"Microsoft without authserv-id", vals(microsoftNoID), op, false, "", 0, "no Authentication-Results header from mx.example.jp"},
		{"version 1", vals(versionOne), op, true, "spf", 0, ""},
		{"version 2 is unreadable", vals(strings.Replace(versionOne, " 1;", " 2;", 1)), op, false, "", 0, "unsupported Authentication-Results version 2"},
		{"none", vals(noneResult), op, false, "", 0, "no dkim, spf or dmarc result from mx.example.jp"},
		{"none with results is unreadable", vals("mx.example.jp; none; dkim=pass header.d=example.jp"), op, false, "", 0, "unreadable"},

		// Forgery: the sender's header below the MX's.
		{"forged lower header below a failing MX header", vals(attackMX, attackForged), op, false, "", 1, "dkim=none, spf=fail"},
		{"forged lower header with upper-case id", vals(attackMX, "MX.Example.JP; dkim=pass header.d=example.jp"), op, false, "", 1, ""},
		{"forged lower header with quoted id", vals(attackMX, `"mx.example.jp"; dkim=pass header.d=example.jp`), op, false, "", 1, ""},
		{"forged lower headers, unreadable ones too", vals(attackMX, attackForged, "mx.example.jp; dkim=pass (oops", "mx.example.jp\x00; dkim=pass"), op, false, "", 3, ""},
		{"lower header is reported even when the MX passes", vals(openDKIMPass, attackForged), op, true, "dkim", 1, ""},
		{"unreadable MX header does not fall through to the forged one", vals("mx.example.jp; spf=fail (unterminated", attackForged), op, false, "", 1, "Authentication-Results from mx.example.jp unreadable: at byte"},
		{"MX header with a control character is ours and unreadable", vals("mx.example.jp; spf=fail smtp.mailfrom=a\x00b", attackForged), op, false, "", 1, "control character"},
		{"MX header with a broken start is ours and unreadable", vals("mx.example.jp dkim=none", attackForged), op, false, "", 1, "expected ';' after authserv-id"},
		{"another id above ours is skipped", vals("relay.example.jp; dkim=fail header.d=example.jp", openDKIMPass), op, true, "dkim", 0, ""},
		{"another id above ours does not pass for it", vals("relay.example.jp; dkim=pass header.d=example.jp", attackMX), op, false, "", 0, "dkim=none"},
		{"only another authserv-id", vals("mx.evil.example.net; dkim=pass header.d=example.jp"), op, false, "", 0, "no Authentication-Results header from mx.example.jp"},
		{"an id that merely starts with ours", vals("mx.example.jp.evil.example.net; dkim=pass header.d=example.jp"), op, false, "", 0, "no Authentication-Results header"},
		{"no header at all", nil, op, false, "", 0, "no Authentication-Results header from mx.example.jp"},

		// Comments and quoted strings hide what looks like a result.
		{"comment containing ;dkim=pass", vals("mx.example.jp; spf=fail (x;dkim=pass header.d=example.jp) smtp.mailfrom=example.jp"), op, false, "", 0, "spf=fail: no aligned pass"},
		{"nested comment containing ;dkim=pass", vals("mx.example.jp; spf=fail (a (b) ;dkim=pass header.d=example.jp) smtp.mailfrom=example.jp"), op, false, "", 0, "spf=fail: no"},
		{"escaped parenthesis in a comment", vals(`mx.example.jp; spf=fail (a \) ;dkim=pass header.d=example.jp) smtp.mailfrom=example.jp`), op, false, "", 0, "spf=fail: no"},
		{"quoted local part containing ; dkim=pass", vals(`mx.example.jp; spf=fail smtp.mailfrom="x; dkim=pass header.d=example.jp"@evil.example.net`), op, false, "", 0, "spf=fail: no"},
		{"quoted reason containing ; dkim=pass", vals(`mx.example.jp; dkim=fail reason="bad; dkim=pass header.d=example.jp" header.d=example.jp`), op, false, "", 0, "dkim=fail: no"},
		{"quoted value pass for another domain", vals(`mx.example.jp; spf=pass smtp.mailfrom="ops@example.jp"@evil.example.net`), op, false, "", 0, "not aligned"},
		{"repeated property is unreadable", vals("mx.example.jp; spf=pass smtp.mailfrom=evil.example.net smtp.mailfrom=example.jp"), op, false, "", 0, "smtp.mailfrom repeated"},
		{"stray word is unreadable", vals("mx.example.jp; dkim=pass header.d=example.jp designates"), op, false, "", 0, "unreadable"},

		// Alignment through the public suffix list.
		{"parent public suffix header.d=test", vals("mx.example.jp; dkim=pass header.d=test"), "ops@madoguchi.test", false, "", 0, "header.d=test not aligned"},
		{"header.d=madoguchi.test", vals("mx.example.jp; dkim=pass header.d=madoguchi.test"), "ops@madoguchi.test", true, "dkim", 0, ""},
		{"header.d=jp", vals("mx.example.jp; dkim=pass header.d=jp"), op, false, "", 0, "not aligned"},
		{"parent organizational domain", vals(attackForged), "ops@sub.example.jp", true, "dkim", 0, "aligned with sub.example.jp"},
		{"subdomain signer", vals("mx.example.jp; dkim=pass header.d=mail.example.jp"), op, true, "dkim", 0, ""},
		{"other organization", vals("mx.example.jp; dkim=pass header.d=other.jp"), op, false, "", 0, "not aligned"},
		{"public suffix co.jp", vals("mx.example.jp; dkim=pass header.d=co.jp"), "a@hosp.co.jp", false, "", 0, "not aligned"},
		{"sibling under co.jp", vals("mx.example.jp; dkim=pass header.d=clinic.co.jp"), "a@hosp.co.jp", false, "", 0, "not aligned"},
		{"subdomain under ac.jp", vals("mx.example.jp; dkim=pass header.d=mx.hosp.ac.jp"), "a@hosp.ac.jp", true, "dkim", 0, ""},
		{"sibling under a private suffix", vals("mx.example.jp; dkim=pass header.d=evil.github.io"), "a@ops.github.io", false, "", 0, "not aligned"},
		{"trailing dot", vals("mx.example.jp; dkim=pass header.d=example.jp."), op, true, "dkim", 0, ""},
		{"IP literal", vals("mx.example.jp; spf=pass smtp.mailfrom=ops@[192.0.2.1]"), "ops@[192.0.2.1]", false, "", 0, "no usable domain"},
		{"spf pass for another domain", vals("mx.example.jp; spf=pass smtp.mailfrom=ops@other.jp"), op, false, "", 0, "spf=pass smtp.mailfrom=ops@other.jp not aligned"},
		{"spf pass with only smtp.helo", vals("mx.example.jp; spf=pass smtp.helo=mail.example.jp"), op, false, "", 0, "spf=pass without smtp.mailfrom"},
		{"spf pass, angle brackets", vals("mx.example.jp; spf=pass smtp.mailfrom=<ops@example.jp>"), op, true, "spf", 0, ""},
		{"dmarc pass for another domain", vals("mx.example.jp; dmarc=pass header.from=other.jp"), op, false, "", 0, "dmarc=pass header.from=other.jp is not example.jp"},
		{"dmarc pass for a subdomain is not the From domain", vals("mx.example.jp; dmarc=pass header.from=sub.example.jp"), op, false, "", 0, "is not example.jp"},
		{"dmarc pass without header.from", vals("mx.example.jp; dmarc=pass (p=none)"), op, false, "", 0, "dmarc=pass without header.from"},
		{"dmarc pass, case differs", vals("mx.example.jp; dmarc=pass header.from=EXAMPLE.jp"), "Ops@Example.JP", true, "dmarc", 0, ""},
		{"dkim=passed", vals("mx.example.jp; dkim=passed header.d=example.jp"), op, false, "", 0, "dkim=passed"},
		{"dkim=pass with header.i only", vals("mx.example.jp; dkim=pass header.i=@example.jp"), op, false, "", 0, "dkim=pass without header.d"},
		{"upper-case keywords", vals("MX.EXAMPLE.JP; DKIM=PASS HEADER.D=EXAMPLE.JP"), op, true, "dkim", 0, ""},
		{"dkim method version 1", vals("mx.example.jp; dkim/1=pass header.d=example.jp"), op, true, "dkim", 0, ""},
		{"dkim method version 2 is not ours to judge", vals("mx.example.jp; dkim/2=pass header.d=example.jp"), op, false, "", 0, "no dkim, spf or dmarc result"},
		{"neutral, policy, permerror", vals("mx.example.jp; dkim=neutral header.d=example.jp; dkim=policy header.d=example.jp; spf=permerror smtp.mailfrom=example.jp"), op, false, "", 0, "dkim=neutral, dkim=policy, spf=permerror"},
		{"a later aligned pass counts", vals("mx.example.jp; dkim=pass header.d=other.jp; dkim=pass header.d=example.jp"), op, true, "dkim", 0, ""},
		{"IDN From, A-label signer", vals("mx.example.jp; dkim=pass header.d=xn--6or331g.jp"), "ops@窓口.jp", true, "dkim", 0, ""},
		{"full-width From is not example.jp", vals(attackForged), "ops@ｅｘａｍｐｌｅ.jp", false, "", 0, "no usable domain"},
		{"From without a domain", vals(attackForged), "ops", false, "", 0, "From address ops has no usable domain"},
		{"From .test public suffix alone", vals("mx.example.jp; dkim=pass header.d=test"), "ops@test", false, "", 0, "no usable domain"},
		{"many results are summarized", vals("mx.example.jp" + strings.Repeat("; dkim=fail header.d=example.jp", 9)), op, false, "", 0, "dkim=fail, 3 more: no aligned pass"},
		{"sender text in Why is quoted", vals(`mx.example.jp; spf=pass smtp.mailfrom="a b"@other.jp`), op, false, "", 0, `smtp.mailfrom="\"a b\"@other.jp" not aligned`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.values, mx, tc.from)
			if got.Pass != tc.pass || got.Method != tc.method || len(got.Forged) != tc.forged || !strings.Contains(got.Why, tc.why) {
				t.Errorf("Check = %+v\nwant pass=%v method=%q forged=%d why containing %q", got, tc.pass, tc.method, tc.forged, tc.why)
			}
		})
	}
}

func TestCheckReportsForgedValuesRaw(t *testing.T) {
	got := Check(vals("relay.example.jp; none", attackMX, attackForged), mx, op)
	if len(got.Forged) != 1 || got.Forged[0] != attackForged {
		t.Errorf("Forged = %q, want [%q]", got.Forged, attackForged)
	}
}

func TestCheckWithoutAuthservID(t *testing.T) {
	got := Check(vals(attackForged), " ", op)
	if got.Pass || !strings.Contains(got.Why, "no authserv-id configured") {
		t.Errorf("Check with no authserv-id = %+v", got)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, value, id, want, err string // want is summarize(results)
	}{
		{"OpenDKIM", openDKIMPass, mx, "dkim=pass header.a=rsa-sha256 header.b=AbCdEfGh header.d=example.jp header.i=@example.jp header.s=default", ""},
		{"OpenDKIM fail, reason before comment", openDKIMFail, mx, `dkim=fail reason="signature verification failed" header.a=rsa-sha256 header.b=AbCdEfGh header.d=example.jp header.i=@example.jp header.s=default; dkim-atps=neutral`, ""},
		{"quoted header.b unquoted", openDKIMPassAtps, mx, "dkim=pass header.b=mj+deT/Q header.d=example.jp header.i=@example.jp; dkim-atps=neutral", ""},
		{"rspamd", rspamdFoldedARC, mx, "dkim=pass header.b=3/8fByMb header.d=Example.JP header.s=selector1; spf=pass smtp.mailfrom=ops+bounces=x@lists.example.net; dmarc=pass header.from=example.jp; arc=pass", ""},
		{"rspamd reason with comment after", rspamdFail, mx, `dkim=fail header.b=abc header.d=example.jp header.s=dkim; spf=softfail smtp.mailfrom=ops@example.jp; dmarc=fail reason="SPF not aligned (relaxed), DKIM not aligned (relaxed)" header.from=example.jp`, ""},
		{"policyd-spf folded", policydSPFFolded, mx, "spf=pass smtp.mailfrom=example.jp", ""},
		{"Exim", eximPass, mx, "iprev=pass smtp.remote-ip=192.0.2.1; spf=pass smtp.mailfrom=example.jp; dkim=pass header.a=rsa-sha256 header.d=example.jp header.i=@example.jp header.s=s1; dmarc=pass header.from=example.jp", ""},
		{"Exim fail", eximFail, mx, "iprev=fail smtp.remote-ip=192.0.2.9; spf=fail smtp.mailfrom=example.jp; dkim=fail header.a=rsa-sha256 header.d=example.jp header.s=s1; dmarc=fail header.from=example.jp", ""},
		{"Gmail arc comment", gmailPass, mx, "dkim=pass header.b=AiSyKQYg header.i=@example.jp header.s=20230601; arc=pass; spf=pass smtp.mailfrom=ops@example.jp; dmarc=pass header.from=example.jp", ""},
		{"Microsoft bare keys", microsoftPass, mx, `spf=pass smtp.mailfrom=example.jp; dkim=pass header.d=example.jp; dmarc=pass action=none header.from=example.jp; compauth=pass reason="100"`, ""},
		{"version and none", noneResult, mx, "", ""},
		{"none with a comment", "mx.example.jp; none (no signatures)", mx, "", ""},
		{"id only", "mx.example.jp", mx, "", ""},
		{"trailing and doubled semicolons", "mx.example.jp;; dkim=pass header.d=a.jp;", mx, "dkim=pass header.d=a.jp", ""},
		{"no space after semicolon", "mx.example.jp;dkim=pass header.d=a.jp;spf=none", mx, "dkim=pass header.d=a.jp; spf=none", ""},
		{"quoted authserv-id", `"mx.example.jp" (ours) 1; spf=none`, mx, "spf=none", ""},
		{"comments everywhere", "(c) mx.example.jp (c) ; (c) dkim (c) = (c) pass (c) header (c) . (c) d (c) =(c) a.jp (c)", mx, "dkim=pass header.d=a.jp", ""},
		{"method version", "mx.example.jp; dkim/1=pass; dkim/2=pass", mx, "dkim=pass; dkim/2=pass", ""},
		{"upper case keywords lowered, values kept", "MX.Example.JP; DKIM=PASS Header.D=Example.JP", "MX.Example.JP", "dkim=pass header.d=Example.JP", ""},
		{"quoted local part kept whole", `mx.example.jp; spf=fail smtp.mailfrom="a; b"@c.jp`, mx, `spf=fail smtp.mailfrom="\"a; b\"@c.jp"`, ""},
		{"escaped quote", `mx.example.jp; dkim=fail reason="a \"b\" c"`, mx, `dkim=fail reason="a \"b\" c"`, ""},
		{"empty value", "mx.example.jp; spf=none smtp.mailfrom= smtp.helo=a.jp", mx, `spf=none smtp.helo=a.jp smtp.mailfrom=""`, ""},
		{"empty value at the end", "mx.example.jp; spf=none smtp.mailfrom=", mx, `spf=none smtp.mailfrom=""`, ""},
		{"whitespace then a comment after '='", "mx.example.jp; spf=none smtp.mailfrom= (c) a.jp", mx, "", "expected '=' after a.jp in spf result"},
		{"UTF-8 value", "mx.example.jp; dmarc=pass header.from=窓口.jp", mx, "dmarc=pass header.from=窓口.jp", ""},

		{"empty", "", "", "", "missing authserv-id"},
		{"no authserv-id", microsoftNoID, "dkim", "", "expected ';' after authserv-id"},
		{"unterminated comment", "mx.example.jp; spf=pass (a (b) smtp.mailfrom=a.jp", mx, "", "unterminated comment"},
		{"unterminated quoted string", `mx.example.jp; spf=pass smtp.mailfrom="a.jp`, mx, "", "unterminated quoted string"},
		{"backslash at the end of a comment", `mx.example.jp; spf=pass (a\`, mx, "", "unterminated comment"},
		{"backslash at the end of a quoted string", `mx.example.jp; spf=pass smtp.mailfrom="a\`, mx, "", "unterminated quoted string"},
		{"missing result", "mx.example.jp; dkim=", mx, "", "expected a result for dkim"},
		{"missing equals", "mx.example.jp; dkim pass", mx, "", "expected '=' after method dkim"},
		{"missing version", "mx.example.jp; dkim/=pass", mx, "", "expected a version after dkim/"},
		{"missing property name", "mx.example.jp; dkim=pass header.=a.jp", mx, "", "expected a property name after header."},
		{"stray word", "mx.example.jp; dkim=pass header.d=a.jp extra", mx, "", "expected '=' after extra in dkim result"},
		{"stray symbol", "mx.example.jp; dkim=pass @", mx, "", "expected a property in dkim result"},
		{"repeated reason", `mx.example.jp; dkim=fail reason=a reason=b`, mx, "", "reason repeated"},
		{"repeated property", "mx.example.jp; dkim=pass header.d=a.jp header.d=b.jp", mx, "", "header.d repeated in dkim result"},
		{"none with results", "mx.example.jp; none; spf=pass", mx, "", `"none" together with results`},
		{"control character", "mx.example.jp; dkim=pass\x00", mx, "", "control character"},
		{"CR without fold", "mx.example.jp; dkim=pass\r\nheader.d=a.jp", mx, "", "control character"},
		{"unsupported version", "mx.example.jp 2; spf=pass", mx, "", "unsupported Authentication-Results version 2"},
		{"result keyword then stray", "mx.example.jp; dkim=pass;; =", mx, "", "expected a method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, results, err := Parse(tc.value)
			if id != tc.id {
				t.Errorf("authserv-id = %q, want %q", id, tc.id)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := summarize(results); got != tc.want {
				t.Errorf("results = %s\nwant      %s", got, tc.want)
			}
		})
	}
}

// summarize writes results in one canonical line, properties sorted.
func summarize(results []Result) string {
	var parts []string
	for _, r := range results {
		s := r.Method + "=" + r.Value
		if r.Reason != "" {
			s += fmt.Sprintf(" reason=%q", r.Reason)
		}
		keys := make([]string, 0, len(r.Props))
		for k := range r.Props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := r.Props[k]
			if v == "" || strings.ContainsAny(v, " \"") {
				v = fmt.Sprintf("%q", v)
			}
			s += " " + k + "=" + v
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func TestAligned(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"example.jp", "example.jp", true},
		{"mail.example.jp", "example.jp", true},
		{"a.example.jp", "b.example.jp", true},
		{"EXAMPLE.JP", "example.jp", true},
		{"example.jp.", "example.jp", true},
		{"jp", "example.jp", false},
		{"example.jp", "jp", false},
		{"other.jp", "example.jp", false},
		{"co.jp", "hosp.co.jp", false},
		{"clinic.co.jp", "hosp.co.jp", false},
		{"mx.hosp.ac.jp", "hosp.ac.jp", true},
		{"city.tokyo.jp", "tokyo.jp", false},           // tokyo.jp is itself a public suffix
		{"madoguchi.test", "ops.madoguchi.test", true}, // test is not listed: the "*" rule makes it a one-label suffix
		{"test", "madoguchi.test", false},
		{"a.local", "b.a.local", true},
		{"local", "a.local", false},
		{"localhost", "localhost", false},
		{"a.github.io", "b.github.io", false}, // private suffixes count
		{"xn--6or331g.jp", "窓口.jp", true},
		{"ｅｘａｍｐｌｅ.jp", "example.jp", false}, // no IDNA mapping
		{"192.0.2.1", "192.0.2.1", false},
		{"0.1", "0.1", false},
		{"[192.0.2.1]", "[192.0.2.1]", false},
		{"a_b.example.jp", "example.jp", false},
		{"a..example.jp", "example.jp", false},
		{"", "", false},
		{".", ".", false},
		{"example.jp>", "example.jp", false},
	}
	for _, tc := range tests {
		if got := Aligned(tc.a, tc.b); got != tc.want {
			t.Errorf("Aligned(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	values := vals("relay.example.jp; none", rspamdFoldedARC, attackForged)
	b.ReportAllocs()
	for b.Loop() {
		if v := Check(values, mx, op); !v.Pass {
			b.Fatal(v.Why)
		}
	}
}
