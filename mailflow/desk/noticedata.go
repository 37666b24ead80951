package desk

import (
	"time"

	"github.com/madoguchi/madoguchi/internal/config"
)

// What each notice template receives: one type per notice kind (or per
// family of kinds with one shape), each field holding what its name
// says. The templates in templates/ja and templates/en use these names.

// common is what every notice shows; queue fills it.
type common struct {
	Desk config.Desk
	// Greeting names the addressee when the desk knows the name.
	Greeting string
	// Ref is the reference of the request the notice belongs to, if any.
	Ref string
}

func (c *common) shared() *common { return c }

// noticeData is a notice's template data: a pointer to one of the types
// below.
type noticeData interface{ shared() *common }

// accessCode is a code the addressee sends back, with its terms.
type accessCode struct {
	Code         string
	ExpiresAt    time.Time
	ValidMinutes int
	MaxTries     int
}

func (d *Desk) accessCode(code string, expires time.Time) accessCode {
	return accessCode{Code: code, ExpiresAt: expires,
		ValidMinutes: int(d.cfg.AccessCodes.ValidFor / time.Minute), MaxTries: d.cfg.AccessCodes.MaxTries}
}

// plain is the data of notices that say nothing beyond their text:
// facility_mobile_refused, facility_token_expired, new_id_already_pending,
// reset_code_sent, too_many_requests.
type plain struct{ common }

// aboutID names an ID: deletion_done, deletion_received, affiliation_form_received,
// indice_not_issued, new_id_existing_account.
type aboutID struct {
	common
	ID string
}

// Requests in general.

type alreadyPending struct {
	common
	Title string // the kind of request pending
}

type blankForms struct {
	common
	Note  string   // why the forms are sent, when it is not obvious
	Title string   // the request whose form was asked for by its marker line
	Forms []string // blank forms
	Kinds []string // the marker lines of the other requests
}

// formProblems: new_id_invalid, request_invalid.
type formProblems struct {
	common
	Title              string
	Problems, Warnings []problemLine
	Form               string // the blank form to fill in again
}

type messageRefused struct {
	common
	OriginalSubject string
	Reason          string
}

type lifecycleRefused struct {
	common
	Title string
}

type replyReceived struct {
	common
	State  string // the request's state, "-" for someone not on it
	Note   string
	Quoted string // the reply's new text
}

// Inquiries.

// inquiryReceived tells the asker the question reached the operators.
type inquiryReceived struct {
	common
	FollowUp      bool // more mail on an open inquiry
	Question      string
	Refused       []refusedLine
	MaxAttachment string
	Kinds         []string // marker lines of the self-service requests, as a hint
}

// inquiryForOperators is the operators' copy of the asker's mail.
type inquiryForOperators struct {
	common
	Asker    string
	Sender   string // what our MX proved of the From address
	Subject  string
	Question string
	FollowUp bool
	State    string
	Previous string // the closed inquiry this mail followed
	Fields   []problemLine
	// The asker's own open requests and accounts, found by address.
	Requests  []askerRequest
	Accounts  []askerAccount
	Documents []documentLine
	Refused   []refusedLine
	Commands  []string
}

type askerRequest struct {
	Ref, Title, State string
	Created, Updated  time.Time
}

type askerAccount struct {
	ID, Status, Institution, Department string
	Created, PasswordActiveAt           time.Time
	ByIDMailbox                         bool // found as ID@domain, not as the registered address
}

// inquiryAnswer is an operator's answer, mailed to the asker.
type inquiryAnswer struct {
	common
	Answer string
}

type statusReport struct {
	common
	Requests []statusLine
}

type documentsReceived struct {
	common
	Documents []documentLine
	ViaFax    bool // an operator recorded a FAX
}

type documentRefused struct {
	common
	Refused       []refusedLine
	MaxAttachment string
}

// New ID applications.

type newIDReceived struct {
	common
	Name      string
	DesiredID string
	Warnings  []problemLine
	Staff     *config.Institution // the institution's own registration staff
}

type approved struct {
	common
	ID string
	// The password becomes active between these two days.
	PasswordActiveFrom, PasswordActiveBy time.Time
}

// rejection: rejected, facility_rejected.
type rejection struct {
	common
	Reason string
}

type needDocuments struct {
	common
	Needed string // what the operator asks for
}

// Operators.

type operatorIdentityMatch struct {
	common
	DesiredID string
	// One of the two: the personal ID the applicant holds, or the
	// reference of the application pending for the same person.
	HolderID, PendingRef string
}

type operatorResult struct {
	common
	Command  string
	Result   string
	State    string   // the request's state after the command
	Commands []string // the commands valid in that state
}

type operatorNotObeyed struct {
	common
	OriginalSubject string
	FirstLine       string
	Reason          string
	AuthservID      string // our MX, whose Authentication-Results count
}

// Bulk registration.

type bulkRefused struct {
	common
	Filename string
	Reason   string
}

type bulkResult struct {
	common
	Filename                            string
	RowsTotal, RowsCreated, RowsRefused int
}

// Password resets.

type resetCode struct {
	common
	ID string
	accessCode
	Form string
}

type resetDone struct {
	common
	ID               string
	PasswordActiveAt time.Time
}

type resetFailed struct {
	common
	Form string
}

type resetPasswordInvalid struct {
	common
	Problems  []problemLine
	ExpiresAt time.Time // of the code, still usable
	Form      string
}

type codeRefused struct {
	common
	Status    string // codeWrong, codeLocked, ...
	TriesLeft int
	ExpiresAt time.Time // of the code, when it is still usable
	Title     string
	Form      string // the form to start again with
}

// reviewedResetReceived: indice_reset_received, operator_reset_received.
type reviewedResetReceived struct {
	common
	Name  string
	ID    string // empty when the applicant did not know it
	Scope string // scopeIndice or scopeBoth (INDICE resets)
}

type resetApproved struct {
	common
	ID               string
	PasswordActiveAt time.Time
	Scope            string // scopeIndice or scopeBoth (INDICE resets)
	OperatorReset    bool   // the general password, reset by staff
}

// Lifecycle requests.

// confirmCode asks to confirm a rename, a deletion or an affiliation
// change; the fields of the other two kinds stay empty.
type confirmCode struct {
	common
	ID    string
	Title string
	accessCode
	// Rename.
	NewID      string
	Forwarding bool
	Warnings   []problemLine
	// Deletion: the reason given mentions spam.
	Spam bool
	// Affiliation change: the new affiliation, and the new address.
	Changes []string
}

type renameTooSoon struct {
	common
	ID                    string
	RenamedAt, NextRename time.Time
}

type renameDone struct {
	common
	OldID, NewID    string
	Forwarding      bool
	ForwardingUntil time.Time
}

type addressConfirmCode struct {
	common
	ID    string
	Title string
	accessCode
}

type affiliationDone struct {
	common
	ID          string
	Affiliation string // institution and department
	// NewAddress is set when the registered address changed; codes go to
	// the previous one too until PreviousAddressUntil.
	NewAddress           string
	PreviousAddressUntil time.Time
	Staff                *config.Institution
}

// review: review_received, review_approved (merge and hand-over).
type review struct {
	common
	ID        string
	Title     string
	MergedIDs []string // merge
	NewHolder string   // hand-over
}

// The facility connection service.

type facilityURL struct {
	common
	Form      string // with the provisional number filled in
	ExpiresAt time.Time
}

type facilityReceived struct {
	common
	Summary []string // the application's fields, as lines
}

type facilityApproved struct {
	common
	UserID, VPNID     string
	Facility          string
	PasswordChangeURL string
}

type facilityInitialPassword struct {
	common
	UserID, InitialPassword string
	Facility, Applicant     string
	Phone, Extension        string
}

// facilityService: facility_service_received, _approved, _cancelled.
type facilityService struct {
	common
	UserID, Facility string
}

type facilityPasswordChanged struct {
	common
	UserID string
}

// The scheduled jobs' notices, built by the scheduler.

// JobData is the data of a job's notice: a *FormReminder,
// *VerifyReminder, *InquiryReminder, *ForwardingEnd or *Digest.
type JobData interface{ noticeData }

// FormReminder is the data of reminder and application_expired. The
// desk fills Title and Staff from the request.
type FormReminder struct {
	common
	Deadline time.Time // the day the application expires
	Title    string
	Staff    *config.Institution
}

// VerifyReminder is the data of facility_verify_reminder.
type VerifyReminder struct {
	common
	Facility, Applicant string
	Days                int // the application has waited this long
}

// InquiryReminder is the data of inquiry_reminder: an inquiry nobody has
// answered within inquiries.remind_after working hours.
type InquiryReminder struct {
	common
	Asker        string
	Topic        string    // the first line of the question
	Since        time.Time // waiting for an answer since
	WorkingHours int       // working hours waited so far
}

// ForwardingEnd is the data of forwarding_ending and forwarding_ended.
type ForwardingEnd struct {
	common
	OldID, NewID string
	EndsAt       time.Time
}

// Digest is the data of digest, the operators' daily status.
type Digest struct {
	common
	Day    time.Time
	Report string
}
