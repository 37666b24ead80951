package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Account kinds (seed 001 FAQ 1.2, 3.3).
const (
	AccountPersonal = "personal"
)

// Account is an issued ID.
type Account struct {
	ID                 int64
	Login              string
	Kind               string
	FamilyName         string
	GivenName          string
	FamilyReading      string
	GivenReading       string
	IdentityKey        string
	Sex                string
	BirthDate          string
	Institution        string
	Department         string
	Email              string
	Eligibility        int
	PasswordHash       string
	PasswordActiveAt   time.Time
	IndicePasswordHash string
	CreatedAt          time.Time
	RequestID          int64
	Status             string // active, deleted, merged
	// PreviousEmail was the registered address until EmailChangedAt.
	PreviousEmail  string
	EmailChangedAt time.Time
}

const accountColumns = `id, login, kind, family_name, given_name, family_reading, given_reading, identity_key,
	sex, birth_date, institution, department, email, eligibility, password_hash, password_active_at,
	indice_password_hash, created_at, COALESCE(request_id, 0), status, previous_email, email_changed_at`

func scanAccount(row rowScanner) (*Account, error) {
	var a Account
	var active, changed sql.NullInt64
	var created int64
	err := row.Scan(&a.ID, &a.Login, &a.Kind, &a.FamilyName, &a.GivenName, &a.FamilyReading, &a.GivenReading,
		&a.IdentityKey, &a.Sex, &a.BirthDate, &a.Institution, &a.Department, &a.Email, &a.Eligibility,
		&a.PasswordHash, &active, &a.IndicePasswordHash, &created, &a.RequestID, &a.Status,
		&a.PreviousEmail, &changed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	a.PasswordActiveAt = fromUnix(active)
	a.EmailChangedAt = fromUnix(changed)
	a.CreatedAt = time.Unix(created, 0).UTC()
	return &a, nil
}

// CreateAccount inserts a and sets its ID.
func (t *Tx) CreateAccount(a *Account) error {
	var active, rid any
	if !a.PasswordActiveAt.IsZero() {
		active = unix(a.PasswordActiveAt)
	}
	if a.RequestID != 0 {
		rid = a.RequestID
	}
	err := t.queryRow(`INSERT INTO accounts (login, kind, family_name, given_name, family_reading, given_reading,
		identity_key, sex, birth_date, institution, department, email, eligibility, password_hash,
		password_active_at, indice_password_hash, created_at, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		RETURNING id`,
		a.Login, a.Kind, a.FamilyName, a.GivenName, a.FamilyReading, a.GivenReading, a.IdentityKey, a.Sex,
		a.BirthDate, a.Institution, a.Department, a.Email, a.Eligibility, a.PasswordHash, active,
		a.IndicePasswordHash, unix(a.CreatedAt), rid).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("create account %s: %w", a.Login, err)
	}
	return nil
}

// lockAccount holds the account's row to the end of the transaction
// (PostgreSQL), for a read-modify-write of what belongs to it. SQLite needs
// no lock: its one writer holds the whole database from BEGIN on.
func (t *Tx) lockAccount(accountID int64) error {
	if !t.dialect.postgres {
		return nil
	}
	var id int64
	if err := t.queryRow(`SELECT id FROM accounts WHERE id = ? FOR UPDATE`, accountID).Scan(&id); err != nil {
		return fmt.Errorf("lock account %d: %w", accountID, err)
	}
	return nil
}

// AccountByLogin finds an account by its ID string.
func (t *Tx) AccountByLogin(login string) (*Account, error) {
	return scanAccount(t.queryRow(`SELECT `+accountColumns+` FROM accounts WHERE login = ?`, login))
}

// AccountsByIdentity lists the accounts of a person (normalised name and
// birth date), for the one-ID-per-person rule.
func (t *Tx) AccountsByIdentity(identityKey string) ([]*Account, error) {
	rows, err := t.query(`SELECT `+accountColumns+` FROM accounts WHERE identity_key = ? AND status = 'active'`, identityKey)
	return scanAll(rows, err, scanAccount)
}
