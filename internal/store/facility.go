package store

import (
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// States of facility applications.
const (
	StateTokenSent            = "token_sent"
	StateAwaitingVerification = "awaiting_verification"
	StateVerified             = "verified"
	StateCancelled            = "cancelled"
)

// IssueRequestToken stores a new number for a request (replacing any)
// and returns it.
func (t *Tx) IssueRequestToken(requestID int64, digits int, now time.Time, validFor time.Duration) (string, time.Time, error) {
	token, err := NewCodeDigits(digits)
	if err != nil {
		return "", time.Time{}, err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", time.Time{}, err
	}
	s := hex.EncodeToString(salt)
	expires := now.Add(validFor)
	// A new number replaces the old one whole: it is unused again.
	_, err = t.exec(`INSERT INTO request_tokens (request_id, salt, hash, expires_at) VALUES (?,?,?,?)
		ON CONFLICT(request_id) DO UPDATE SET salt = excluded.salt, hash = excluded.hash,
			expires_at = excluded.expires_at, used_at = NULL`,
		requestID, s, hashCode(s, token), unix(expires))
	return token, expires, err
}

// TokenCheck is the outcome of presenting a request's number.
type TokenCheck int

// Outcomes of CheckRequestToken.
const (
	TokenOK TokenCheck = iota
	TokenWrong
	TokenExpired
	TokenUsed
)

// CheckRequestToken compares a presented number in constant time.
func (t *Tx) CheckRequestToken(requestID int64, presented string, now time.Time) (TokenCheck, error) {
	var salt, hash string
	var expires int64
	var used sql.NullInt64
	// Locked to the end of the transaction (PostgreSQL): the caller uses
	// the number next, and a second presentation must wait to see it used.
	err := t.queryRow(`SELECT salt, hash, expires_at, used_at FROM request_tokens WHERE request_id = ?`+t.dialect.rowLock(),
		requestID).Scan(&salt, &hash, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return TokenWrong, nil
	}
	if err != nil {
		return 0, err
	}
	if used.Valid {
		return TokenUsed, nil
	}
	if !now.Before(time.Unix(expires, 0)) {
		return TokenExpired, nil
	}
	if subtle.ConstantTimeCompare([]byte(hashCode(salt, presented)), []byte(hash)) != 1 {
		return TokenWrong, nil
	}
	return TokenOK, nil
}

// UseRequestToken marks a request's number used and drops its hash.
func (t *Tx) UseRequestToken(requestID int64, now time.Time) error {
	_, err := t.exec(`UPDATE request_tokens SET used_at = ?, hash = '' WHERE request_id = ?`, unix(now), requestID)
	return err
}

// FacilityUser is a user of the facility connection service.
type FacilityUser struct {
	ID                   int64
	UserID, VPNID        string
	Prefecture, Facility string
	FacilityCode         string
	Email, Name, Role    string
	PasswordHash         string
	Initial              bool
	RequestID            int64
	CreatedAt            time.Time
}

// CreateFacilityUser inserts u; a taken user or VPN ID is an error the
// caller retries with new numbers.
func (t *Tx) CreateFacilityUser(u *FacilityUser) error {
	return t.queryRow(`INSERT INTO facility_users (user_id, vpn_id, prefecture, facility, facility_code, email, name, role,
		password_hash, initial, request_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,1,?,?) RETURNING id`,
		u.UserID, u.VPNID, u.Prefecture, u.Facility, u.FacilityCode, u.Email, u.Name, u.Role, u.PasswordHash, u.RequestID,
		unix(u.CreatedAt)).Scan(&u.ID)
}

// FacilityIDsTaken reports whether a user ID or VPN ID is in use.
func (t *Tx) FacilityIDsTaken(userID, vpnID string) (bool, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM facility_users WHERE user_id = ? OR vpn_id = ?`, userID, vpnID).Scan(&n)
	return n > 0, err
}

// FacilityUserByUserID finds a facility user by the 8-digit user ID.
func (t *Tx) FacilityUserByUserID(userID string) (*FacilityUser, error) {
	var u FacilityUser
	var created int64
	var rid sql.NullInt64
	err := t.queryRow(`SELECT id, user_id, vpn_id, prefecture, facility, facility_code, email, name, role, password_hash, initial,
		request_id, created_at FROM facility_users WHERE user_id = ?`, userID).Scan(&u.ID, &u.UserID, &u.VPNID, &u.Prefecture,
		&u.Facility, &u.FacilityCode, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Initial, &rid, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	u.RequestID, u.CreatedAt = rid.Int64, time.Unix(created, 0).UTC()
	return &u, err
}

// SetFacilityPassword replaces a facility user's password.
func (t *Tx) SetFacilityPassword(id int64, hash string) error {
	_, err := t.exec(`UPDATE facility_users SET password_hash = ?, initial = 0 WHERE id = ?`, hash, id)
	return err
}

// SetFacilityService records a service's state for a facility user.
func (t *Tx) SetFacilityService(userID int64, service, state string, requestID int64, at time.Time) error {
	// No unique key on (user_id, service) to upsert against: the user's row
	// lock keeps two transactions from both finding no row and both
	// inserting one (PostgreSQL; SQLite has one writer).
	if t.dialect.postgres {
		var id int64
		if err := t.queryRow(`SELECT id FROM facility_users WHERE id = ? FOR UPDATE`, userID).Scan(&id); err != nil {
			return fmt.Errorf("lock facility user %d: %w", userID, err)
		}
	}
	res, err := t.exec(`UPDATE facility_services SET state = ?, request_id = ?, updated_at = ? WHERE user_id = ? AND service = ?`,
		state, requestID, unix(at), userID, service)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = t.exec(`INSERT INTO facility_services (user_id, service, state, request_id, updated_at) VALUES (?,?,?,?,?)`,
		userID, service, state, requestID, unix(at))
	return err
}

// FacilityService is the state of a service for a user ("" when never
// applied for).
func (t *Tx) FacilityService(userID int64, service string) (string, error) {
	var state string
	err := t.queryRow(`SELECT state FROM facility_services WHERE user_id = ? AND service = ?`, userID, service).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return state, err
}
