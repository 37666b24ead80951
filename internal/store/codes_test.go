package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func accountWithRequest(t *testing.T, tx *Tx, now time.Time) (*Account, *Request) {
	t.Helper()
	a := &Account{Login: "yamada-tk", Kind: AccountPersonal, Email: "taro@hosp.example", CreatedAt: now}
	if err := tx.CreateAccount(a); err != nil {
		t.Fatal(err)
	}
	r := &Request{Reference: "MDG-2026-000001", Kind: "password_reset", State: "code_sent", Applicant: "taro@hosp.example",
		CreatedAt: now}
	if err := tx.CreateRequest(r); err != nil {
		t.Fatal(err)
	}
	return a, r
}

// The code is 10 digits, only its salted hash is stored, 9:59 after
// issue it is still valid, at 10:00 it is expired and cleared.
func TestAccessCodeExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		now := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
		err := s.Tx(context.Background(), func(tx *Tx) error {
			a, r := accountWithRequest(t, tx, now)
			code, c, err := tx.IssueAccessCode(a.ID, r.ID, "password_reset", 10, now, 10*time.Minute)
			if err != nil {
				return err
			}
			if len(code) != 10 || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("code %q is not 10 digits", code)
			}
			var stored string
			tx.queryRow(`SELECT code_hash FROM access_codes WHERE id = ?`, c.ID).Scan(&stored)
			if stored == "" || strings.Contains(stored, code) {
				t.Fatalf("stored %q: want a hash, not the code", stored)
			}
			if got, _, _ := tx.CheckAccessCode(c, code, now.Add(9*time.Minute+59*time.Second), 3, true); got != CodeOK {
				t.Fatalf("at 9:59 the right code gave %v", got)
			}
			if got, _, _ := tx.CheckAccessCode(c, code, now.Add(10*time.Minute), 3, true); got != CodeTimedOut {
				t.Fatalf("at 10:00 the right code gave %v, want timed out", got)
			}
			if got, _, _ := tx.CheckAccessCode(c, code, now.Add(10*time.Minute), 3, true); got != CodeGone {
				t.Fatalf("after expiry the code gave %v, want gone", got)
			}
			tx.queryRow(`SELECT code_hash FROM access_codes WHERE id = ?`, c.ID).Scan(&stored)
			if stored != "" {
				t.Fatal("an expired code keeps its hash")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// Two wrong tries say how many remain, the third locks and clears.
func TestAccessCodeLocksOnThirdWrongTry(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		now := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
		err := s.Tx(context.Background(), func(tx *Tx) error {
			a, r := accountWithRequest(t, tx, now)
			code, c, err := tx.IssueAccessCode(a.ID, r.ID, "password_reset", 10, now, 10*time.Minute)
			if err != nil {
				return err
			}
			wrong := "0000000000"
			if code == wrong {
				wrong = "1111111111"
			}
			for i, want := range []struct {
				check CodeCheck
				left  int
			}{{CodeWrong, 2}, {CodeWrong, 1}, {CodeNowLocked, 0}} {
				c, _ = tx.LatestAccessCode(r.ID) // as a later message would load it
				got, left, err := tx.CheckAccessCode(c, wrong, now.Add(time.Minute), 3, true)
				if err != nil || got != want.check || left != want.left {
					t.Fatalf("try %d: %v, %d left, %v; want %v, %d", i+1, got, left, err, want.check, want.left)
				}
			}
			c, _ = tx.LatestAccessCode(r.ID)
			if got, _, _ := tx.CheckAccessCode(c, code, now.Add(time.Minute), 3, true); got != CodeGone || c.State != CodeLocked {
				t.Fatalf("the right code after the lock gave %v (state %s)", got, c.State)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A new request replaces the old code: the old one no longer works.
func TestNewCodeReplacesOld(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		now := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
		err := s.Tx(context.Background(), func(tx *Tx) error {
			a, r := accountWithRequest(t, tx, now)
			oldCode, old, _ := tx.IssueAccessCode(a.ID, r.ID, "password_reset", 10, now, 10*time.Minute)
			_, fresh, _ := tx.IssueAccessCode(a.ID, r.ID, "password_reset", 10, now.Add(time.Minute), 10*time.Minute)
			old, _ = scanCode(tx.queryRow(`SELECT `+codeColumns+` FROM access_codes WHERE id = ?`, old.ID))
			if got, _, _ := tx.CheckAccessCode(old, oldCode, now.Add(2*time.Minute), 3, true); got != CodeGone || old.State != CodeReplaced {
				t.Fatalf("the replaced code gave %v (%s)", got, old.State)
			}
			active, err := tx.ActiveAccessCodesFor("password_reset", []string{"yamada-tk"}, []string{"taro@hosp.example"})
			if err != nil || len(active) != 1 || active[0].ID != fresh.ID {
				t.Fatalf("active codes %+v, %v; want only the new one", active, err)
			}
			n, _ := tx.CodesIssuedSince(a.ID, now)
			if n != 2 {
				t.Fatalf("codes issued = %d, want 2", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A notice that carried an access code keeps no body once sent.
func TestSensitiveNoticeBodyScrubbedAfterSending(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
		var id int64
		err := s.Tx(ctx, func(tx *Tx) error {
			var err error
			id, err = tx.Enqueue(Queued{Kind: "reset_code", Sensitive: true, Notice: Notice{MessageID: "a@b", Date: now,
				From: "desk@x.example", To: []string{"taro@hosp.example"}, Subject: "code", Body: "code 1234567890"}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		due, err := s.Due(ctx, now, 10)
		if err != nil || len(due) != 1 || !strings.Contains(due[0].Body, "1234567890") {
			t.Fatalf("before sending the body must be there to send: %+v %v", due, err)
		}
		if err := s.MarkSent(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		var body string
		s.queryRowOnce(context.Background(), `SELECT body FROM outbox WHERE id = ?`, id).Scan(&body)
		if strings.Contains(body, "1234567890") {
			t.Fatalf("the sent notice still holds the code: %q", body)
		}
	})
}
