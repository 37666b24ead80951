package desk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/mailflow/intake"
	"github.com/madoguchi/madoguchi/templates"
)

// A form offered ahead of its turn is parsed and hashed once, by the
// desk's own worker, and Process uses both; the workers end when the
// queue is empty.
func TestOfferedFormIsHashedOnceByTheDesksWorkers(t *testing.T) {
	ctx := context.Background()
	st, cfg := testStoreAndConfig(t, "")
	tmpl, err := templates.Load("", cfg.Desk.Location)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	d := New(Options{Config: cfg, Store: st, Templates: tmpl, Now: func() time.Time { return now },
		Hash: secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	raw := samples.Mail{From: "taro@hosp.example", To: "desk@madoguchi.test", Subject: "申請",
		Body: samples.NewIDJapanese("yamada-tk", "山田", "太郎")}.Build()
	del := intake.Delivery{Mailbox: "INBOX", UIDValidity: 1, UID: 1, Size: int64(len(raw)), Raw: raw}

	d.Offer(ctx, del)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.prep.mu.Lock()
		idle := d.prep.workers == 0
		d.prep.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the desk's workers did not end with the queue empty")
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(d.pre.m); n != 1 {
		t.Fatalf("%d hashes prepared, want the offered form's one", n)
	}
	if n := len(d.pre.parsed); n != 1 {
		t.Fatalf("%d messages kept parsed, want the offered one", n)
	}
	if _, err := d.Process(ctx, del); err != nil {
		t.Fatal(err)
	}
	if n := len(d.pre.m); n != 0 {
		t.Errorf("Process left %d prepared hashes: it hashed again instead of using it", n)
	}
	if n := len(d.pre.parsed); n != 0 {
		t.Errorf("Process left %d parsed messages: it parsed again instead of using them", n)
	}
	err = st.Tx(ctx, func(tx *store.Tx) error {
		at, err := tx.HashWorkSince("taro@hosp.example", now.Add(-time.Hour))
		if len(at) != 1 {
			t.Errorf("%d hashes recorded for the sender, want 1", len(at))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A message whose turn comes before a worker took it is taken back, so
// Process does its work itself and no worker hashes it later.
func TestWithdrawTakesAQueuedOfferBack(t *testing.T) {
	var p preparePool
	for i, raw := range []string{"a", "b", "c"} {
		sum := sha256.Sum256([]byte(raw))
		p.queue = append(p.queue, offered{ctx: context.Background(), del: intake.Delivery{UID: uint32(i + 1)}, content: hex.EncodeToString(sum[:])})
	}
	sum := sha256.Sum256([]byte("b"))
	p.withdraw(hex.EncodeToString(sum[:]))
	if len(p.queue) != 2 || p.queue[0].del.UID != 1 || p.queue[1].del.UID != 3 {
		t.Errorf("queue after withdrawing the second: %+v", p.queue)
	}
}
