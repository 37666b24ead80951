package desk

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/authresults"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/policy"
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
	"reply": "reply", "answer": "reply", "回答": "reply", "返信": "reply",
	"close": "close", "closed": "close", "完了": "close", "対応完了": "close", "クローズ": "close",
}

// Verbs that need a text, and the verbs that need none.
var commandNeedsText = map[string]bool{"reject": true, "need-documents": true, "note": true}

// parseCommands reads the command lines at the top of an operator's
// reply, stopping at the first blank line after a command or at quoted
// text. "reply:" takes the lines below it as its text (see replyText).
func parseCommands(body string) (cmds []command, firstLine string) {
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(norm.NFKC.String(lines[i]))
		if line == "" {
			if len(cmds) > 0 && cmds[len(cmds)-1].verb != "reply" {
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
		if cmd.verb == "reply" {
			// The answer is what follows "reply:" on its line and below it,
			// as written (not normalised), up to the quote, the signature or
			// the next command.
			first := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(afterVerb(lines[i])), ":："))
			text, next := replyText(lines[i+1:])
			if first != "" {
				text = strings.TrimSpace(first + "\n" + text)
			}
			cmd.text = text
			cmds = append(cmds, cmd)
			i += next
			continue
		}
		cmds = append(cmds, cmd)
	}
	return cmds, firstLine
}

// afterVerb is a command line as written, after its verb.
func afterVerb(raw string) string {
	raw = strings.TrimSpace(raw)
	for _, sep := range []string{":", "：", " ", "　"} {
		if i := strings.Index(raw, sep); i >= 0 {
			if _, ok := parseCommand(strings.TrimSpace(norm.NFKC.String(raw[:i]))); ok {
				return raw[i:]
			}
		}
	}
	return ""
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
	// An operator may attach what came by FAX or post: it is evidence of
	// the request, kept like the applicant's scans.
	for _, a := range in.msg.Attachments {
		if acceptedDocumentTypes[a.SniffedType] && a.Size > 0 {
			in.documents = append(in.documents, &store.Document{RequestID: in.request.ID, Filename: a.Filename,
				ContentType: a.SniffedType, Size: a.Size, SHA256: a.SHA256, Data: a.Data, Accepted: true, ReceivedAt: in.now})
		}
	}
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
	case c.verb == "reply":
		err = d.answer(in, c)
	case c.verb == "close" && req.Kind == KindInquiry && req.Open():
		err = d.closeInquiry(in, c)
	case !req.Open():
		err = refuse("この申請はすでに完了しています（"+stateText("ja", req.State)+"）。", "This request is already closed ("+stateText("en", req.State)+").")
	case c.verb == "phone-verified":
		if req.Kind != KindFacilityApplication || req.State != store.StateAwaitingVerification {
			err = refuse("電話確認を記録できるのは、受付済みで確認待ちの利用申請だけです。", "Phone verification applies to a received facility application waiting for it.")
			break
		}
		if err = d.move(in, policy.PhoneVerified, actor, "verified by phone"); err == nil {
			err = d.operatorResult(in, c.line, map[string]string{"ja": "電話確認を記録しました。承認できます。", "en": "Phone verification recorded; the application can be approved."}[in.lang])
		}
	case c.verb == "close":
		err = refuse("完了（close）はお問い合わせにのみ使えます。", "close applies to inquiries only.")
	case c.verb == "cancel":
		if req.Kind != KindFacilityService {
			err = refuse("取消はサービス利用申請にのみ使えます。", "cancel applies to service applications only.")
			break
		}
		err = d.facilityServiceDecision(in, actor, policy.Cancel)
	case c.verb == "approve" && req.Kind == KindFacilityApplication:
		err = d.approveFacility(in, actor)
	case c.verb == "approve" && req.Kind == KindFacilityService:
		err = d.facilityServiceDecision(in, actor, policy.Approve)
	case c.verb == "approve":
		err = d.approve(in, actor, c.text)
	case c.verb == "reject":
		if err = d.move(in, policy.Reject, actor, "rejected: "+c.text); err == nil {
			err = d.clearSecret(in)
		}
		if err == nil {
			kind := "rejected"
			if req.Kind == KindFacilityApplication {
				kind = "facility_rejected"
			}
			err = d.queue(in, notice{kind: kind, to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
				data: &rejection{Reason: c.text}})
		}
	case c.verb == "need-documents":
		if req.State != store.StateAwaitingDocuments {
			err = d.move(in, policy.NeedDocuments, actor, "more documents needed: "+c.text)
		} else {
			err = in.tx.Audit(in.now, actor, req.ID, "need_documents", c.text)
		}
		if err == nil {
			err = d.queue(in, notice{kind: "need_documents", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
				data: &needDocuments{Needed: c.text}})
		}
	case c.verb == "documents-received":
		if req.State != store.StateAwaitingDocuments {
			err = refuse("書類はすでに受領済みです。", "The documents are already marked as received.")
			break
		}
		if err = d.move(in, policy.DocumentsReceived, actor, "signed form received by FAX"); err == nil {
			err = d.queue(in, notice{kind: "documents_received", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true,
				data: &documentsReceived{ViaFax: true}})
		}
	}
	var notAllowed *policy.ErrNotAllowed
	if errors.As(err, &notAllowed) {
		err = errRefused{
			fmt.Sprintf("この申請（%s）には「%s」を使えません。使えるコマンドは下記のとおりです。", stateText("ja", req.State), c.verb),
			fmt.Sprintf("%q does not apply to this request (%s); the commands that do are listed below.", c.verb, stateText("en", req.State)),
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
	if policyKind(req) == policy.KindAffiliationByForm {
		return d.approveAffiliationByForm(in, actor)
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
	if err := d.move(in, policy.Approve, actor, "account "+acct.Login+" created"); err != nil {
		return err
	}
	if err := d.clearSecret(in); err != nil {
		return err
	}
	return d.queue(in, notice{kind: "approved", to: []string{req.Applicant}, lang: req.Lang, ccOperators: true, data: &approved{
		ID: acct.Login, PasswordActiveFrom: in.now.Add(7 * 24 * time.Hour), PasswordActiveBy: in.now.Add(10 * 24 * time.Hour),
	}})
}

// clearSecret drops the password hash from a closed request: the account
// holds it now, or nobody needs it.
func (d *Desk) clearSecret(in *inbound) error { return in.tx.ClearRequestSecret(in.request) }

func (d *Desk) operatorResult(in *inbound, cmd, result string) error {
	return d.queue(in, notice{kind: "operator_result", to: []string{in.from}, ccOperators: true, data: &operatorResult{
		Command: cmd, Result: result, State: stateText(in.lang, in.request.State),
		Commands: d.commandLines(in.lang, in.request),
	}})
}

// commandLines are the operator commands the policy table allows on the
// request in its state, as an operator types them.
func (d *Desk) commandLines(lang string, r *store.Request) []string {
	var out []string
	for _, ev := range d.rules.Commands(policyKind(r), r.State) {
		// reply: is valid on every thread; the templates always show it.
		if ev != policy.Answer {
			out = append(out, commandUsage[lang][ev])
		}
	}
	return out
}

// commandUsage shows each command as typed, in the operator's language.
var commandUsage = map[string]map[policy.Event]string{
	"ja": {
		policy.Approve: "approve / 承認", policy.Reject: "reject: 理由 / 却下: 理由",
		policy.NeedDocuments:     "need-documents: 必要な書類 / 書類不足: 必要な書類",
		policy.DocumentsReceived: "documents-received / 書類受領   （FAXが届いたとき）",
		policy.PhoneVerified:     "phone-verified / 電話確認済み", policy.Cancel: "cancel / 取消",
		policy.Close: "close / 完了   （お問い合わせの対応が済んだとき）",
	},
	"en": {
		policy.Approve: "approve", policy.Reject: "reject: reason",
		policy.NeedDocuments:     "need-documents: what is missing",
		policy.DocumentsReceived: "documents-received     (when the FAX arrived)",
		policy.PhoneVerified:     "phone-verified", policy.Cancel: "cancel",
		policy.Close: "close                  (when the inquiry needs nothing more)",
	},
}

// senderVerdict is what our MX proved about the From address: an aligned
// pass in the topmost Authentication-Results header with our authserv-id.
// Lower headers with our id were written by the sender; the verdict lists
// them as forgeries.
func (d *Desk) senderVerdict(m *message.Message) authresults.Verdict {
	if !d.cfg.OperatorAuthRequired() {
		return authresults.Verdict{Pass: true, Why: "authentication not required by configuration"}
	}
	return authresults.Check(m.Header.Values("Authentication-Results"), d.cfg.OperatorAuth.AuthservID, m.From.Addr)
}

// operatorNotObeyed tells a configured operator (or program administrator)
// address that a mail sent in its name was not obeyed, and why: a real
// operator learns to fix the sending side, and a forgery reaches the
// person it imitated.
func (d *Desk) operatorNotObeyed(in *inbound, why string) (result, error) {
	d.log.Warn("operator address without trusted authentication", "from", in.from, "why", why)
	if err := in.tx.Audit(in.now, "desk", in.requestID, "operator_unauthenticated", in.from+": "+why); err != nil {
		return result{}, err
	}
	// Forged mail costs its sender nothing: the operator is told of it at
	// most as often as the reply cap lets anyone be answered.
	over, _, err := d.spend(in, counterNotObeyed, d.cfg.Limits.RepliesPerSenderPerHour)
	if err != nil {
		return result{}, err
	}
	if over {
		return d.finish(in, outcomeIgnored, "operator mail not obeyed ("+why+"); the operator was told often enough this hour")
	}
	_, first := parseCommands(in.msg.Text)
	if err := d.queue(in, notice{kind: "operator_not_obeyed", to: []string{in.from}, lang: d.cfg.Desk.Language, data: &operatorNotObeyed{
		FirstLine: first, Reason: why, OriginalSubject: in.msg.Subject, AuthservID: d.cfg.OperatorAuth.AuthservID,
	}}); err != nil {
		return result{}, err
	}
	return d.finish(in, outcomeAnswered, "operator mail not obeyed: "+why)
}

// replyText is the answer below "reply:": the lines up to the quoted
// mail, the attribution line above it ("On ... wrote:"), an original-
// message separator, the operator's signature ("-- ") or the next
// note or close command. next is how many lines it used.
func replyText(lines []string) (text string, next int) {
	var kept []string
	for next = 0; next < len(lines); next++ {
		raw := strings.TrimRight(lines[next], " \t\r")
		line := strings.TrimSpace(norm.NFKC.String(raw))
		if strings.HasPrefix(line, ">") || originalSeparator.MatchString(line) || line == "--" ||
			forwardedHeaderAt(lines, next) {
			break
		}
		if cmd, ok := parseCommand(line); ok && (cmd.verb == "note" || cmd.verb == "close") {
			break
		}
		kept = append(kept, raw)
	}
	// What sits right above a quote is the client's attribution line,
	// which some clients wrap before "wrote:".
	wrapped := false
	for len(kept) > 0 {
		last := strings.TrimSpace(norm.NFKC.String(kept[len(kept)-1]))
		attribution := next < len(lines) && (isAttribution(last) || wrapped && strings.Contains(last, "@"))
		if last == "" || sentFrom.MatchString(last) || attribution {
			wrapped = attribution && strings.EqualFold(last, "wrote:")
			kept = kept[:len(kept)-1]
			continue
		}
		break
	}
	return strings.TrimSpace(strings.Join(kept, "\n")), next
}

// originalSeparator is the line mail clients put above a quoted or
// forwarded original.
var originalSeparator = regexp.MustCompile(`(?i)^(-{2,}\s*(original message|元のメッセージ|転送メッセージ|forwarded message|message d'origine)\s*-{2,}|_{10,})$`)

// sentFrom is a phone's signature line.
var sentFrom = regexp.MustCompile(`(?i)^(sent from my \w+|\w+から送信|get outlook for \w+)$`)

// isAttribution reports a client's "On <date>, <name> wrote:" line, in
// the forms Japanese and English clients write it.
func isAttribution(line string) bool {
	if !strings.HasSuffix(line, ":") {
		return false
	}
	l := strings.ToLower(line)
	return strings.Contains(l, "wrote") || strings.Contains(l, "書きました") || strings.Contains(l, "@") ||
		strings.Contains(l, "<") || strings.IndexFunc(l, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0
}

// forwardedHeaderAt reports an Outlook-style header block of the original
// ("From: ..." followed by "Sent:"/"Date:" within a few lines).
func forwardedHeaderAt(lines []string, i int) bool {
	first := strings.ToLower(strings.TrimSpace(norm.NFKC.String(lines[i])))
	if !(strings.HasPrefix(first, "from:") || strings.HasPrefix(first, "差出人:") || strings.HasPrefix(first, "送信者:")) {
		return false
	}
	for j := i + 1; j < len(lines) && j <= i+4; j++ {
		l := strings.ToLower(strings.TrimSpace(norm.NFKC.String(lines[j])))
		for _, p := range []string{"sent:", "date:", "to:", "送信日時:", "日時:", "宛先:", "件名:", "subject:"} {
			if strings.HasPrefix(l, p) {
				return true
			}
		}
	}
	return false
}
