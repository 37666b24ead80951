package desk

import (
	"time"
)

// Named counters of the limits. A limit counts events, never recorded
// reason texts: a code reply or a marker line is not a request.
const (
	// counterCodeRequests: requests that mail an access code (reset,
	// rename, deletion, affiliation), per sender.
	counterCodeRequests = "code_requests"
	// counterReviewRequests: operator-reviewed resets, per sender.
	counterReviewRequests = "review_requests"
	// counterFacilityRequests: provisional facility applications, per sender.
	counterFacilityRequests = "facility_requests"
	// counterUnprovedChecks: codes tried on a request from mail whose
	// sender our MX did not prove, per request.
	counterUnprovedChecks = "unproved_code_checks"
	// counterDocumentBytes: bytes of documents stored, per sender.
	counterDocumentBytes = "document_bytes"
	// counterNotObeyed: notices telling a configured operator address
	// that mail in its name was not obeyed, per address.
	counterNotObeyed = "not_obeyed_notices"
)

// limitWindow is the span of the per-sender request limits.
const limitWindow = time.Hour

// spend counts one event of counter for the sender, unless the sender
// already reached limit within the hour; then it reports the count.
func (d *Desk) spend(in *inbound, counter string, limit int) (over bool, count int64, err error) {
	return d.spendOn(in, counter, in.from, limit, limitWindow)
}

// spendOn is spend for any subject and window.
func (d *Desk) spendOn(in *inbound, counter, subject string, limit int, window time.Duration) (over bool, count int64, err error) {
	count, err = in.tx.CountedSince(counter, subject, in.now.Add(-window))
	if err != nil || count >= int64(limit) {
		return err == nil, count, err
	}
	return false, count, in.tx.CountEvent(counter, subject, 1, in.now)
}
