package desk

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

// An operator command is a line at the top of a reply: a verb and, for
// some verbs, a text after a colon or a space.
type command struct {
	verb string // approve, reject, need-documents, documents-received, note
	text string
	line string
}

// Verbs in English and Japanese; NFKC and lower case are applied first.
var commandVerbs = map[string]string{
	"approve": "approve", "approved": "approve", "承認": "approve",
	"reject": "reject", "却下": "reject",
	"need-documents": "need-documents", "need documents": "need-documents", "need more documents": "need-documents",
	"書類不足": "need-documents", "追加書類": "need-documents",
	"documents-received": "documents-received", "documents received": "documents-received",
	"fax received": "documents-received", "fax-received": "documents-received", "書類受領": "documents-received", "fax受領": "documents-received",
	"note": "note", "メモ": "note",
	"phone-verified": "phone-verified", "phone verified": "phone-verified", "電話確認済み": "phone-verified", "電話確認済": "phone-verified",
	"cancel": "cancel", "取消": "cancel", "取り消し": "cancel",
}

// Verbs that need a text, and the verbs that need none.
var commandNeedsText = map[string]bool{"reject": true, "need-documents": true, "note": true}

// parseCommands reads the command lines at the top of an operator's
// reply, stopping at the first blank line after a command or at quoted
// text. ok is false when the first line is not a command.
func parseCommands(body string) (cmds []command, firstLine string) {
	for _, raw := range strings.Split(body, "\n") {
		line := strings.TrimSpace(norm.NFKC.String(raw))
		if line == "" {
			if len(cmds) > 0 {
				break
			}
			continue
		}
		if strings.HasPrefix(line, ">") {
			break
		}
		if firstLine == "" {
			firstLine = line
		}
		cmd, ok := parseCommand(line)
		if !ok {
			break
		}
		cmds = append(cmds, cmd)
	}
	return cmds, firstLine
}

func parseCommand(line string) (command, bool) {
	lower := strings.ToLower(line)
	for word, verb := range commandVerbs {
		if !strings.HasPrefix(lower, word) {
			continue
		}
		rest := line[len(word):]
		if rest != "" && !strings.HasPrefix(rest, ":") && !strings.HasPrefix(rest, " ") {
			continue // "approved-ish" or "notes" are not commands
		}
		text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		return command{verb: verb, text: text, line: line}, true
	}
	return command{}, false
}

// operatorCommand carries out an authenticated operator's commands on the
// thread's request. Each outcome, accepted or refused, is audited; a
// refused command is explained to the operator.
func (d *Desk) operatorCommand(in *inbound) (result, error) {
	in.lang = d.cfg.Desk.Language
	cmds, first := parseCommands(in.msg.Text)
	if len(cmds) == 0 {
		reason := map[string]string{
			"ja": fmt.Sprintf("コマンドが見つからないため、何も行いませんでした（1行目: %q）。", first),
			"en": fmt.Sprintf("No command found, nothing was done (first line: %q).", first),
		}[in.lang]
		if err := d.operatorResult(in, "-", reason); err != nil {
			return result{}, err
		}
		return d.finish(in, outcomeAnswered, "operator mail without a command")
	}
	for _, c := range cmds {
		if err := d.runCommand(in, c); err != nil {
			return result{}, err
		}
	}
	return d.finish(in, outcomeAnswered, fmt.Sprintf("%d operator commands on %s", len(cmds), in.request.Reference))
}

// errRefused carries the text that tells an operator why a command did
// nothing.
type errRefused struct{ ja, en string }

func (e errRefused) Error() string { return e.en }

func (d *Desk) runCommand(in *inbound, c command) error {
	req := in.request
	actor := in.from
	refuse := func(ja, en string) error { return errRefused{ja, en} }
	var err error
	switch {
	case commandNeedsText[c.verb] && c.text == "":
		err = refuse("「"+c.verb+": 理由」のように、内容を書いてください。", "Write the text after the verb, as in \""+c.verb+": reason\".")
	case c.verb == "note":
		err = in.tx.Audit(in.now, actor, req.ID, "note", c.text)
		if err == nil {
			err = d.operatorResult(in, c.line, map[string]string{"ja": "メモを記録しました。", "en": "Note recorded."}[in.lang])
		}
	case !req.Open():
		err = refuse("この申請はすでに完了しています（"+stateText("ja", req.State)+"）。", "This request is already closed ("+req.State+").")
	case c.verb == "phone-verified":
		if req.Kind != KindFacilityApplication || req.State != store.StateAwaitingVerification {
			err = refuse("電話確認を記録できるのは、受付済みで確認待ちの利用申請だけです。", "Phone verification applies to a received facility application waiting for it.")
			break
		}
		if err = d.setState(in, store.StateVerified, false, actor, "verified by phone"); err == nil {
			err = d.operatorResult(in, c.line, map[string]string{"ja": "電話確認を記録しました。承認できます。", "en": "Phone verification recorded; the application can be approved."}[in.lang])
		}
	case c.verb == "cancel":
		if req.Kind != KindFacilityService {
			err = refuse("取消はサービス利用申請にのみ使えます。", "cancel applies to service applications only.")
			break
		}
		err = d.facilityServiceDecision(in, actor, store.StateCancelled)
	case c.verb == "approve" && req.Kind == KindFacilityApplication:
		err = d.approveFacility(in, actor)
	case c.verb == "approve" && req.Kind == KindFacilityService:
		err = d.facilityServiceDecision(in, actor, store.StateApproved)
	case c.verb == "approve":
		err = d.approve(in, actor, c.text)
	case c.verb == "reject":
		if err = d.setState(in, store.StateRejected, true, actor, "rejected: "+c.text); err == nil {
			err = d.clearSecret(in)
		}
		if err == nil {
			kind := "rejected"
			if req.Kind == KindFacilityApplication {
				kind = "facility_rejected"
			}
			err = d.queue(in, notice{kind: kind, to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
				data: noticeData{Reason: c.text}})
		}
	case c.verb == "need-documents":
		if req.State != store.StateAwaitingDocuments {
			err = d.setState(in, store.StateAwaitingDocuments, false, actor, "more documents needed: "+c.text)
		} else {
			err = in.tx.Audit(in.now, actor, req.ID, "need_documents", c.text)
		}
		if err == nil {
			err = d.queue(in, notice{kind: "need_documents", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
				data: noticeData{Reason: c.text}})
		}
	case c.verb == "documents-received":
		if req.State != store.StateAwaitingDocuments {
			err = refuse("書類はすでに受領済みです。", "The documents are already marked as received.")
			break
		}
		if err = d.setState(in, store.StateDocumentsReceived, false, actor, "signed form received by FAX"); err == nil {
			err = d.queue(in, notice{kind: "documents_received", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
				data: noticeData{ViaFax: true}})
		}
	}
	var refused errRefused
	if errors.As(err, &refused) {
		if err := in.tx.Audit(in.now, actor, req.ID, "command_refused", c.line+": "+refused.en); err != nil {
			return err
		}
		text := refused.ja
		if in.lang == "en" {
			text = refused.en
		}
		return d.operatorResult(in, c.line, text)
	}
	return err
}

// approve creates the account of a new ID application (001: the password
// becomes active 7-10 days after completion).
func (d *Desk) approve(in *inbound, actor, text string) error {
	req := in.request
	if req.State == store.StateUnderReview && (req.Kind == KindMerge || req.Kind == KindHandover) {
		if req.Kind == KindMerge {
			return d.approveMerge(in, actor)
		}
		return d.approveHandover(in, actor)
	}
	if req.State != store.StateDocumentsReceived {
		return errRefused{
			"署名した申請書がまだ届いていません。FAXが届いた場合は先に documents-received を送ってください。",
			"The signed form has not arrived yet. If it came by FAX, send documents-received first.",
		}
	}
	if req.Kind == KindOperatorReset || req.Kind == KindIndiceReset {
		return d.approveReset(in, actor, text)
	}
	if req.Kind == KindDeletion {
		return d.approveDeletion(in, actor, text)
	}
	if req.Kind != KindNewID {
		return errRefused{"この種類の申請は承認できません: " + req.Kind, "Approval is not defined for kind " + req.Kind}
	}
	if _, err := in.tx.AccountByLogin(req.DesiredID); err == nil {
		return errRefused{
			"ID「" + req.DesiredID + "」はすでに登録されています。reject で理由を伝えてください。",
			"The ID " + req.DesiredID + " has been registered meanwhile; reject with a reason.",
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	f := req.Fields
	acct := &store.Account{
		Login: req.DesiredID, Kind: store.AccountPersonal, FamilyName: f["family_name"], GivenName: f["given_name"],
		FamilyReading: f["family_reading"], GivenReading: f["given_reading"], IdentityKey: req.IdentityKey,
		Sex: f["sex"], BirthDate: f["birth_date"], Institution: f["institution"], Department: f["department"],
		Email: f["email"], PasswordHash: req.PasswordHash, PasswordActiveAt: in.now.Add(7 * 24 * time.Hour),
		CreatedAt: in.now, RequestID: req.ID,
	}
	fmt.Sscan(f["eligibility"], &acct.Eligibility)
	if err := in.tx.CreateAccount(acct); err != nil {
		return err
	}
	if err := in.tx.SetRequestAccount(req, acct.ID); err != nil {
		return err
	}
	if err := d.setState(in, store.StateApproved, true, actor, "account "+acct.Login+" created"); err != nil {
		return err
	}
	if err := d.clearSecret(in); err != nil {
		return err
	}
	return d.queue(in, notice{kind: "approved", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true, data: noticeData{
		ID: acct.Login, ActiveFrom: in.now.Add(7 * 24 * time.Hour), ActiveTo: in.now.Add(10 * 24 * time.Hour),
	}})
}

// clearSecret drops the password hash from a closed request: the account
// holds it now, or nobody needs it.
func (d *Desk) clearSecret(in *inbound) error { return in.tx.ClearRequestSecret(in.request) }

func (d *Desk) operatorResult(in *inbound, cmd, reason string) error {
	return d.queue(in, notice{kind: "operator_result", to: []string{in.from}, ccOperators: true, data: noticeData{
		Command: cmd, Operator: in.from, Reason: reason, StateText: stateText(in.lang, in.request.State),
	}})
}

// operatorAuthenticated accepts an operator's mail only with a passing
// DKIM or SPF result, aligned with the From domain, in an
// Authentication-Results header written by our own MX (authserv-id).
func (d *Desk) operatorAuthenticated(m *message.Message) (bool, string) {
	if !d.cfg.OperatorAuthRequired() {
		return true, "authentication not required by configuration"
	}
	fromDomain := strings.ToLower(m.From.Addr[strings.LastIndex(m.From.Addr, "@")+1:])
	fields := m.Header.Values("Authentication-Results")
	if len(fields) == 0 {
		return false, "no Authentication-Results header"
	}
	why := "no trusted pass result"
	for _, v := range fields {
		id, results, err := authres.Parse(v)
		if err != nil {
			why = "unreadable Authentication-Results"
			continue
		}
		if !strings.EqualFold(id, d.cfg.OperatorAuth.AuthservID) {
			why = "Authentication-Results from untrusted authserv-id " + id
			continue
		}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.DKIMResult:
				if r.Value == authres.ResultPass && aligned(r.Domain, fromDomain) {
					return true, "dkim=pass"
				}
			case *authres.SPFResult:
				dom := r.From
				if at := strings.LastIndex(dom, "@"); at >= 0 {
					dom = dom[at+1:]
				}
				if r.Value == authres.ResultPass && aligned(dom, fromDomain) {
					return true, "spf=pass"
				}
			}
		}
	}
	return false, why
}

// aligned is relaxed DMARC alignment: the same domain or a subdomain.
func aligned(authDomain, fromDomain string) bool {
	a := strings.ToLower(strings.TrimSuffix(authDomain, "."))
	return a != "" && (a == fromDomain || strings.HasSuffix(a, "."+fromDomain) || strings.HasSuffix(fromDomain, "."+a))
}
