package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Access code states.
const (
	CodeActive   = "active"
	CodeUsed     = "used"
	CodeLocked   = "locked"
	CodeExpired  = "expired"
	CodeReplaced = "replaced"
)

// AccessCode is a stored code; the code itself is never kept.
type AccessCode struct {
	ID         int64
	AccountID  int64
	RequestID  int64
	Purpose    string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	WrongTries int
	State      string
	salt, hash string
}

// NewCodeDigits returns n decimal digits from crypto/rand.
func NewCodeDigits(n int) (string, error) {
	out := make([]byte, n)
	ten := big.NewInt(10)
	for i := range out {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", err
		}
		out[i] = byte('0' + d.Int64())
	}
	return string(out), nil
}

// hashCode is a salted SHA-256. A code lives minutes and allows three
// tries, so a slow hash would only slow the cheap lane of the desk; the
// salt keeps one table of precomputed codes from serving every row.
func hashCode(salt, code string) string {
	sum := sha256.Sum256([]byte(salt + ":" + code))
	return hex.EncodeToString(sum[:])
}

// IssueAccessCode stores a new code for an account and purpose, replacing
// (and clearing) any code still active for them, and returns the code.
func (t *Tx) IssueAccessCode(accountID, requestID int64, purpose string, digits int, now time.Time, validFor time.Duration) (string, *AccessCode, error) {
	// Two transactions issuing at once would each replace only the codes
	// they can see and leave two active; the account's row lock makes the
	// second wait for the first's code.
	if err := t.lockAccount(accountID); err != nil {
		return "", nil, err
	}
	if _, err := t.exec(`UPDATE access_codes SET state = ?, code_hash = '', closed_at = ?
		WHERE account_id = ? AND purpose = ? AND state = ?`, CodeReplaced, unix(now), accountID, purpose, CodeActive); err != nil {
		return "", nil, err
	}
	code, err := NewCodeDigits(digits)
	if err != nil {
		return "", nil, err
	}
	saltBytes := make([]byte, 16)
	if _, err := rand.Read(saltBytes); err != nil {
		return "", nil, err
	}
	c := &AccessCode{AccountID: accountID, RequestID: requestID, Purpose: purpose, CreatedAt: now,
		ExpiresAt: now.Add(validFor), State: CodeActive, salt: hex.EncodeToString(saltBytes)}
	c.hash = hashCode(c.salt, code)
	err = t.queryRow(`INSERT INTO access_codes (account_id, request_id, purpose, salt, code_hash, created_at, expires_at, state)
		VALUES (?,?,?,?,?,?,?,?) RETURNING id`, accountID, requestID, purpose, c.salt, c.hash, unix(now), unix(c.ExpiresAt), CodeActive).Scan(&c.ID)
	if err != nil {
		return "", nil, fmt.Errorf("issue access code: %w", err)
	}
	return code, c, nil
}

const codeColumns = `id, account_id, request_id, purpose, salt, code_hash, created_at, expires_at, wrong_tries, state`

func scanCode(row rowScanner) (*AccessCode, error) {
	var c AccessCode
	var created, expires int64
	err := row.Scan(&c.ID, &c.AccountID, &c.RequestID, &c.Purpose, &c.salt, &c.hash, &created, &expires, &c.WrongTries, &c.State)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	return &c, nil
}

// LatestAccessCode is the newest code of a request, whatever its state.
// The row stays locked to the end of the transaction (PostgreSQL), as the
// caller goes on to check the code and count a wrong try or use it: a
// concurrent check waits, then sees the outcome.
func (t *Tx) LatestAccessCode(requestID int64) (*AccessCode, error) {
	return scanCode(t.queryRow(`SELECT `+codeColumns+` FROM access_codes WHERE request_id = ? ORDER BY id DESC LIMIT 1`+
		t.dialect.rowLock(), requestID))
}

// ActiveAccessCodesFor lists active codes of the given purpose ("" for
// any) whose
// account has one of the addresses (registered e-mail or login@domain).
// The codes' rows stay locked to the end of the transaction (PostgreSQL),
// like LatestAccessCode's.
func (t *Tx) ActiveAccessCodesFor(purpose string, logins, emails []string) ([]*AccessCode, error) {
	var out []*AccessCode
	seen := map[int64]bool{}
	add := func(query string, arg string) error {
		rows, err := t.query(`SELECT c.id, c.account_id, c.request_id, c.purpose, c.salt, c.code_hash,
			c.created_at, c.expires_at, c.wrong_tries, c.state FROM access_codes c JOIN accounts a ON a.id = c.account_id
			WHERE c.state = 'active' AND (c.purpose = ? OR ? = '') AND `+query+t.dialect.rowLockOf("c"), purpose, purpose, arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCode(rows)
			if err != nil {
				return err
			}
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
		return rows.Err()
	}
	for _, l := range logins {
		if err := add("a.login = ?", l); err != nil {
			return nil, err
		}
	}
	for _, e := range emails {
		if err := add("a.email = ?", e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CodeCheck is the outcome of presenting a code.
type CodeCheck int

// Outcomes of CheckAccessCode.
const (
	CodeOK        CodeCheck = iota
	CodeWrong               // wrong, tries remain
	CodeNowLocked           // this wrong try was the last: the code is cleared
	CodeGone                // expired, locked, used or replaced before
	CodeTimedOut            // expired just now: cleared
)

// CheckAccessCode compares a presented code in constant time and updates
// the code's state: a wrong try counts (when countWrong: the sender was
// proved to be the holder), the maxTries-th locks and clears
// it, an expired code is cleared. A right code stays active until
// UseAccessCode, so that a password the policy refuses can be retried.
func (t *Tx) CheckAccessCode(c *AccessCode, presented string, now time.Time, maxTries int, countWrong bool) (CodeCheck, int, error) {
	if c.State != CodeActive {
		return CodeGone, 0, nil
	}
	if !now.Before(c.ExpiresAt) {
		if err := t.closeCode(c, CodeExpired, now); err != nil {
			return 0, 0, err
		}
		return CodeTimedOut, 0, nil
	}
	if subtle.ConstantTimeCompare([]byte(hashCode(c.salt, presented)), []byte(c.hash)) == 1 {
		return CodeOK, maxTries - c.WrongTries, nil
	}
	if !countWrong {
		return CodeWrong, maxTries - c.WrongTries, nil
	}
	// Counted in the database, not from the value read earlier, so that no
	// wrong try is lost to another connection's count.
	if err := t.queryRow(`UPDATE access_codes SET wrong_tries = wrong_tries + 1 WHERE id = ? RETURNING wrong_tries`,
		c.ID).Scan(&c.WrongTries); err != nil {
		return 0, 0, err
	}
	if c.WrongTries >= maxTries {
		if err := t.closeCode(c, CodeLocked, now); err != nil {
			return 0, 0, err
		}
		return CodeNowLocked, 0, nil
	}
	return CodeWrong, maxTries - c.WrongTries, nil
}

// UseAccessCode closes a code that did its work.
func (t *Tx) UseAccessCode(c *AccessCode, now time.Time) error { return t.closeCode(c, CodeUsed, now) }

func (t *Tx) closeCode(c *AccessCode, state string, now time.Time) error {
	c.State, c.hash = state, ""
	_, err := t.exec(`UPDATE access_codes SET state = ?, code_hash = '', closed_at = ? WHERE id = ?`, state, unix(now), c.ID)
	return err
}

// ExpireAccessCodes clears every active code past its time and returns
// the request IDs they belonged to. One statement both changes and lists
// them, so a code another connection changes meanwhile is either in both
// or in neither.
func (t *Tx) ExpireAccessCodes(now time.Time) ([]int64, error) {
	rows, err := t.query(`UPDATE access_codes SET state = ?, code_hash = '', closed_at = ?
		WHERE state = 'active' AND expires_at <= ? RETURNING request_id`, CodeExpired, unix(now), unix(now))
	return scanAll(rows, err, func(row rowScanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	})
}

// CodesIssuedSince counts the codes issued to an account since a time, for
// the per-account rate limit.
func (t *Tx) CodesIssuedSince(accountID int64, since time.Time) (int, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM access_codes WHERE account_id = ? AND created_at >= ?`, accountID, unix(since)).Scan(&n)
	return n, err
}

// RequestsFromSince counts requests of some kinds a sender opened since a
// time, for the per-sender rate limit.
func (t *Tx) RequestsFromSince(applicant string, since time.Time, kinds ...string) (int, error) {
	total := 0
	for _, k := range kinds {
		var n int
		if err := t.queryRow(`SELECT COUNT(*) FROM requests WHERE kind = ? AND applicant = ? AND created_at >= ?`,
			k, applicant, unix(since)).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// SetPassword stores a new general password hash and when it takes effect.
func (t *Tx) SetPassword(accountID int64, hash string, activeAt time.Time) error {
	_, err := t.exec(`UPDATE accounts SET password_hash = ?, password_active_at = ? WHERE id = ?`, hash, unix(activeAt), accountID)
	return err
}

// SetIndicePassword stores a new INDICE password hash, kept apart from the
// general one.
func (t *Tx) SetIndicePassword(accountID int64, hash string, activeAt time.Time) error {
	_, err := t.exec(`UPDATE accounts SET indice_password_hash = ?, indice_password_active_at = ? WHERE id = ?`, hash, unix(activeAt), accountID)
	return err
}

// AccountByID finds an account by its row ID.
func (t *Tx) AccountByID(id int64) (*Account, error) {
	return scanAccount(t.queryRow(`SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
}

// CountContaining counts rows whose text columns hold s anywhere: the
// outbox, requests, audit log and seen messages. Tests use it to prove a
// secret was not kept.
func (t *Tx) CountContaining(s string) (int, error) {
	total := 0
	for _, q := range []string{
		`SELECT COUNT(*) FROM outbox WHERE instr(body, ?) > 0 OR instr(subject, ?) > 0`,
		`SELECT COUNT(*) FROM requests WHERE instr(fields, ?) > 0 OR instr(password_hash, ?) > 0`,
		`SELECT COUNT(*) FROM audit_log WHERE instr(detail, ?) > 0 OR instr(action, ?) > 0`,
		// The masked copy is searched as bytes (PostgreSQL's CAST of a
		// bytea to text would give its hex); see instr in the
		// PostgreSQL migrations.
		`SELECT COUNT(*) FROM seen_messages WHERE instr(reason, ?) > 0 OR instr(replacement, ?) > 0`,
		`SELECT COUNT(*) FROM access_codes WHERE instr(code_hash, ?) > 0 OR instr(salt, ?) > 0`,
	} {
		var n int
		if err := t.queryRow(q, s, s).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// RecordHashWork notes that a password was hashed for a sender.
func (t *Tx) RecordHashWork(sender string, at time.Time) error {
	return t.insertLater("hash_work", `INSERT INTO hash_work (sender, at) VALUES`, `(?, ?)`, "", sender, unix(at))
}

// HashWorkSince returns when the hashes for a sender since a time were
// computed, oldest first.
func (t *Tx) HashWorkSince(sender string, since time.Time) ([]time.Time, error) {
	rows, err := t.query(`SELECT at FROM hash_work WHERE sender = ? AND at >= ? ORDER BY at`, sender, unix(since))
	return scanAll(rows, err, func(r rowScanner) (time.Time, error) {
		var at sql.NullInt64
		err := r.Scan(&at)
		return fromUnix(at), err
	})
}
