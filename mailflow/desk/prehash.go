package desk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"

	"github.com/madoguchi/madoguchi/internal/lowprio"
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
	// parsed are the messages the workers parsed, by content hash, for
	// Process to take instead of parsing them again.
	parsed map[string]*message.Message
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

// putParsed keeps a message a worker parsed for its Process.
func (p *prehashed) putParsed(content string, m *message.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parsed == nil || len(p.parsed) >= maxPrehashed {
		p.parsed = map[string]*message.Message{}
	}
	p.parsed[content] = m
}

// takeParsed returns and forgets the message a worker parsed, if any.
func (p *prehashed) takeParsed(content string) *message.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.parsed[content]
	delete(p.parsed, content)
	return m
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

// preparePool is the desk's hashing workers, one per core. Intake offers
// the forms it reads ahead (intake.Preparer); the workers hash their
// passwords before their turn, in the order offered. A worker ends when
// nothing is queued, and the next offer starts one again, so an idle desk
// holds no goroutines.
type preparePool struct {
	mu      sync.Mutex
	queue   []offered
	workers int
}

type offered struct {
	ctx     context.Context
	del     intake.Delivery
	content string // sha256 of the raw message
}

// maxOffered bounds the queue: intake reads ahead a window of 64 at most,
// and what does not fit is simply handled whole at its turn.
const maxOffered = 64

// Offer queues a message read ahead for a worker to prepare; it never
// blocks (intake.Preparer).
func (d *Desk) Offer(ctx context.Context, del intake.Delivery) {
	if del.Truncated {
		return
	}
	sum := sha256.Sum256(del.Raw)
	p := &d.prep
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) >= maxOffered {
		return
	}
	p.queue = append(p.queue, offered{ctx: ctx, del: del, content: hex.EncodeToString(sum[:])})
	if p.workers < runtime.NumCPU() {
		p.workers++
		go d.prepareWorker()
	}
}

// prepareWorker prepares queued messages until the queue is empty. A
// message is marked in flight in the same step that takes it off the
// queue, so Process (withdraw, then await) either takes it back or waits
// for it, and never hashes it a second time.
func (d *Desk) prepareWorker() {
	p := &d.prep
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.workers--
			p.mu.Unlock()
			return
		}
		o := p.queue[0]
		p.queue = p.queue[1:]
		done := d.pre.begin(o.content)
		p.mu.Unlock()
		if o.ctx.Err() == nil { // the pass that offered it is still on
			d.prepare(o.ctx, o.del, o.content)
		}
		done()
	}
}

// withdraw takes a message back from the queue when its turn comes before
// a worker did: Process then does its work itself.
func (p *preparePool) withdraw(content string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.queue {
		if o.content == content {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			return
		}
	}
}

// prepare hashes the password of a form ahead of its turn, on a worker.
// Only forms whose password would be hashed are prepared, and the work is
// reserved from the sender's hourly cap at once (hashBudget), so a flood
// cannot buy hashing this way either. Nothing else is done: Process
// decides everything, records the hash it uses, and hashes itself what
// was not prepared.
func (d *Desk) prepare(ctx context.Context, del intake.Delivery, content string) {
	m, err := message.Parse(bytes.NewReader(del.Raw), d.limits)
	if err != nil {
		return
	}
	d.pre.putParsed(content, m) // Process takes it instead of parsing again
	if m.From == nil || m.Automatic.IsAutomatic() || d.cfg.IsOperator(m.From.Addr) {
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
	// Below the daemon's priority: this hash is ahead of its turn, and
	// the message being handled now, whose transaction waits on round
	// trips to the database, must get a core the moment it wakes.
	var hash string
	lowprio.Do(func() { hash, err = d.hasher.Hash(pw) })
	if err != nil {
		return
	}
	d.pre.put(prehashKey(content, pw), hash)
}
