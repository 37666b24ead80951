package desk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/mailflow/message"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// prehashed holds password hashes computed ahead of a message's turn, by
// the message's content hash and the password.
type prehashed struct {
	mu sync.Mutex
	m  map[string]string
	// inFlight are the messages (by content hash) being prepared: their
	// Process waits for the hash instead of computing it a second time.
	inFlight map[string]chan struct{}
}

func (p *prehashed) begin(content string) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight == nil {
		p.inFlight = map[string]chan struct{}{}
	}
	done := make(chan struct{})
	p.inFlight[content] = done
	return func() {
		p.mu.Lock()
		delete(p.inFlight, content)
		p.mu.Unlock()
		close(done)
	}
}

// await waits for a preparation of the message in flight, if any.
func (p *prehashed) await(ctx context.Context, content string) {
	p.mu.Lock()
	done := p.inFlight[content]
	p.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// maxPrehashed bounds the entries of messages that never came up (a
// crash, a cancelled pass).
const maxPrehashed = 64

func (p *prehashed) put(key, hash string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxPrehashed {
		p.m = map[string]string{}
	}
	p.m[key] = hash
}

func (p *prehashed) take(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.m[key]
	delete(p.m, key)
	return h
}

func prehashKey(contentSHA256, password string) string {
	sum := sha256.Sum256([]byte(contentSHA256 + "\x00" + password))
	return hex.EncodeToString(sum[:])
}

// passwordFields are the fields whose value a handler hashes, by kind.
var passwordFields = map[forms.Kind][2]string{
	forms.KindNewID:            {"password", "password_confirm"},
	forms.KindOperatorReset:    {"new_password", "new_password_confirm"},
	forms.KindIndiceReset:      {"new_password", "new_password_confirm"},
	forms.KindAccessCode:       {"new_password", "new_password_confirm"},
	forms.KindFacilityPassword: {"new_password", "new_password_confirm"},
}

// Prepare hashes the password of a form ahead of its turn, on a spare
// core (intake.Preparer). Only forms whose password would be hashed are
// prepared, and the work is reserved from the sender's hourly cap at once
// (hashBudget), so a flood cannot buy hashing this way either. Nothing
// else is done: Process decides everything, records the hash it uses, and
// hashes itself what was not prepared.
func (d *Desk) Prepare(ctx context.Context, del intake.Delivery) {
	if del.Truncated {
		return
	}
	sum := sha256.Sum256(del.Raw)
	content := hex.EncodeToString(sum[:])
	defer d.pre.begin(content)()
	m, err := message.Parse(bytes.NewReader(del.Raw), d.limits)
	if err != nil || m.From == nil || m.Automatic.IsAutomatic() || d.cfg.IsOperator(m.From.Addr) {
		return
	}
	form := forms.Parse(m.Text)
	keys, ok := passwordFields[form.Kind]
	if !ok {
		return
	}
	pw := form.Fields[keys[0]]
	if pw == "" || form.Fields[keys[1]] != pw {
		return
	}
	if form.Kind == forms.KindFacilityPassword {
		if len(rules.CheckFacilityPassword(keys[0], pw)) > 0 {
			return
		}
	} else if len(rules.CheckPassword(keys[0], pw, "")) > 0 {
		return
	}
	from := strings.ToLower(m.From.Addr)
	proved := d.senderVerdict(m).Pass
	now := d.now().UTC()
	reserved := false
	err = d.store.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.SeenByUID(del.Mailbox, del.UIDValidity, del.UID); err == nil {
			return nil // handled before: nothing to prepare
		}
		var err error
		reserved, err = d.reserveHash(tx, from, proved, now)
		return err
	})
	if err != nil || !reserved {
		return
	}
	hash, err := d.hasher.Hash(pw)
	if err != nil {
		return
	}
	d.pre.put(prehashKey(content, pw), hash)
}
