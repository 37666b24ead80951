package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Account states beyond active.
const (
	AccountActive  = "active"
	AccountDeleted = "deleted"
	AccountMerged  = "merged"
)

// Request states of the operator-reviewed requests that need no signed
// form (merge, hand-over).
const StateUnderReview = "under_review"

// AccountLifecycle is what renames and deletions need of an account.
type AccountLifecycle struct {
	Status    string
	RenamedAt time.Time
	ClosedAt  time.Time
}

// Lifecycle reads an account's status and last rename.
func (t *Tx) Lifecycle(accountID int64) (AccountLifecycle, error) {
	var l AccountLifecycle
	var renamed, closed sql.NullInt64
	err := t.queryRow(`SELECT status, renamed_at, closed_at FROM accounts WHERE id = ?`, accountID).Scan(&l.Status, &renamed, &closed)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	l.RenamedAt, l.ClosedAt = fromUnix(renamed), fromUnix(closed)
	return l, err
}

// RenameAccount gives an account its new ID and points its active
// forwardings at it.
func (t *Tx) RenameAccount(accountID int64, newLogin string, at time.Time) error {
	if _, err := t.exec(`UPDATE accounts SET login = ?, renamed_at = ? WHERE id = ?`, newLogin, unix(at), accountID); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE forwardings SET new_login = ? WHERE account_id = ? AND ended_at IS NULL`, newLogin, accountID)
	return err
}

// Forwarding is one old address forwarded to a renamed ID.
type Forwarding struct {
	ID        int64
	AccountID int64
	RequestID int64
	OldLogin  string
	NewLogin  string
	StartsAt  time.Time
	EndsAt    time.Time
}

// AddForwarding starts forwarding an old ID to the new one.
func (t *Tx) AddForwarding(f *Forwarding) error {
	var rid any
	if f.RequestID != 0 {
		rid = f.RequestID
	}
	return t.queryRow(`INSERT INTO forwardings (account_id, request_id, old_login, new_login, starts_at, ends_at)
		VALUES (?,?,?,?,?,?) RETURNING id`,
		f.AccountID, rid, f.OldLogin, f.NewLogin, unix(f.StartsAt), unix(f.EndsAt)).Scan(&f.ID)
}

// EndForwardings ends the active forwardings of an account (deleted or
// merged) and reports how many.
func (t *Tx) EndForwardings(accountID int64, at time.Time) (int64, error) {
	res, err := t.exec(`UPDATE forwardings SET ended_at = ? WHERE account_id = ? AND ended_at IS NULL`, unix(at), accountID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// EndForwarding ends one forwarding.
func (t *Tx) EndForwarding(id int64, at time.Time) error {
	_, err := t.exec(`UPDATE forwardings SET ended_at = ? WHERE id = ? AND ended_at IS NULL`, unix(at), id)
	return err
}

// ForwardingFrom is the active forwarding of an old ID, if any.
func (t *Tx) ForwardingFrom(oldLogin string) (*Forwarding, error) {
	return scanForwarding(t.queryRow(`SELECT `+forwardingColumns+` FROM forwardings WHERE old_login = ? AND ended_at IS NULL`, oldLogin))
}

const forwardingColumns = `id, account_id, COALESCE(request_id, 0), old_login, new_login, starts_at, ends_at`

func scanForwarding(row rowScanner) (*Forwarding, error) {
	var f Forwarding
	var starts, ends int64
	err := row.Scan(&f.ID, &f.AccountID, &f.RequestID, &f.OldLogin, &f.NewLogin, &starts, &ends)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	f.StartsAt, f.EndsAt = time.Unix(starts, 0).UTC(), time.Unix(ends, 0).UTC()
	return &f, nil
}

// scanForwardingValue is scanForwarding for lists, which hold values.
func scanForwardingValue(row rowScanner) (Forwarding, error) {
	f, err := scanForwarding(row)
	if err != nil {
		return Forwarding{}, err
	}
	return *f, nil
}

// ActiveForwardings lists every forwarding in force at now, by old ID.
func (s *Store) ActiveForwardings(ctx context.Context, now time.Time) ([]Forwarding, error) {
	rows, err := s.query(ctx, `SELECT `+forwardingColumns+` FROM forwardings
		WHERE ended_at IS NULL AND ends_at > ? ORDER BY old_login`, unix(now))
	return scanAll(rows, err, scanForwardingValue)
}

// ForwardingsEndingBy lists active forwardings that end at or before t
// (for the notice before the end, and the end itself).
func (t *Tx) ForwardingsEndingBy(by time.Time) ([]Forwarding, error) {
	rows, err := t.query(`SELECT `+forwardingColumns+` FROM forwardings
		WHERE ended_at IS NULL AND ends_at <= ? ORDER BY ends_at`, unix(by))
	return scanAll(rows, err, scanForwardingValue)
}

// CloseAccount marks an account deleted or merged; the row stays so that
// its ID is never issued again.
func (t *Tx) CloseAccount(accountID int64, status string, mergedInto int64, at time.Time) error {
	var into any
	if mergedInto != 0 {
		into = mergedInto
	}
	_, err := t.exec(`UPDATE accounts SET status = ?, closed_at = ?, merged_into = ? WHERE id = ?`, status, unix(at), into, accountID)
	return err
}

// UpdateAffiliation records a new institution and department.
func (t *Tx) UpdateAffiliation(accountID int64, institution, department string) error {
	_, err := t.exec(`UPDATE accounts SET institution = ?, department = ? WHERE id = ?`, institution, department, accountID)
	return err
}

// ChangeEmail replaces the registered address, keeping the old one and
// when it changed.
func (t *Tx) ChangeEmail(accountID int64, email string, at time.Time) error {
	_, err := t.exec(`UPDATE accounts SET previous_email = email, email = ?, email_changed_at = ? WHERE id = ?`, email, unix(at), accountID)
	return err
}

// SetHolder records the new holder of a non-personal ID.
func (t *Tx) SetHolder(accountID int64, familyName, givenName, email string) error {
	_, err := t.exec(`UPDATE accounts SET family_name = ?, given_name = ?, email = ? WHERE id = ?`, familyName, givenName, email, accountID)
	return err
}

// OpenRequestsOf lists the open requests a sender made, oldest first.
func (t *Tx) OpenRequestsOf(applicant string) ([]*Request, error) {
	rows, err := t.query(`SELECT `+requestColumns+` FROM requests
		WHERE applicant = ? AND closed_at IS NULL ORDER BY created_at, id`, applicant)
	return scanAll(rows, err, scanRequest)
}

// LoginEverUsed reports whether an ID was ever issued: held now, or left
// behind by a rename. Such an ID is never issued to someone else, whose
// mail could otherwise reach a stranger.
func (t *Tx) LoginEverUsed(login string) (bool, error) {
	var one int
	err := t.queryRow(`SELECT 1 FROM accounts WHERE login = ? UNION ALL SELECT 1 FROM forwardings WHERE old_login = ? LIMIT 1`, login, login).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
