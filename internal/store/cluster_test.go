package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// A lease is taken when free, renewed by its holder, refused to another
// while it runs, taken over once it expires, and free at once when
// released.
func TestDeskLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const ttl = 400 * time.Millisecond
		l, ok, err := s.AcquireLease(ctx, "id", "a", ttl)
		if err != nil || !ok || l.Holder != "a" {
			t.Fatalf("first acquire: %+v %v %v", l, ok, err)
		}
		if got := l.ExpiresAt.Sub(l.RenewedAt); got != ttl {
			t.Errorf("lease runs %s, want %s", got, ttl)
		}
		first := l.AcquiredAt
		if l, ok, err = s.AcquireLease(ctx, "id", "b", ttl); err != nil || ok || l.Holder != "a" || l.Expired {
			t.Fatalf("b took a's running lease: %+v %v %v", l, ok, err)
		}
		time.Sleep(50 * time.Millisecond)
		if l, ok, err = s.AcquireLease(ctx, "id", "a", ttl); err != nil || !ok || !l.AcquiredAt.Equal(first) || !l.RenewedAt.After(first) {
			t.Fatalf("renewal: %+v %v %v (acquired first at %s)", l, ok, err, first)
		}
		// a stops renewing: b takes over once the lease expires.
		time.Sleep(ttl + 50*time.Millisecond)
		leases, err := s.Leases(ctx)
		if err != nil || len(leases) != 1 || !leases[0].Expired || leases[0].Holder != "a" {
			t.Fatalf("leases after expiry: %+v %v", leases, err)
		}
		if l, ok, err = s.AcquireLease(ctx, "id", "b", ttl); err != nil || !ok || l.Holder != "b" || !l.AcquiredAt.After(first) {
			t.Fatalf("takeover: %+v %v %v", l, ok, err)
		}
		if _, ok, _ = s.AcquireLease(ctx, "id", "a", ttl); ok {
			t.Fatal("a took its lease back from b")
		}
		// Releasing someone else's lease does nothing; the holder's frees it.
		if err := s.ReleaseLease(ctx, "id", "a"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ = s.AcquireLease(ctx, "id", "a", ttl); ok {
			t.Fatal("a's release freed b's lease")
		}
		if err := s.ReleaseLease(ctx, "id", "b"); err != nil {
			t.Fatal(err)
		}
		if l, ok, err = s.AcquireLease(ctx, "id", "a", time.Minute); err != nil || !ok || l.Holder != "a" {
			t.Fatalf("acquire after release: %+v %v %v", l, ok, err)
		}
	})
}

// Heartbeats keep an instance live for the window; leaving removes it.
func TestInstanceHeartbeat(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		started := time.Now().Truncate(time.Millisecond)
		for _, name := range []string{"a", "b"} {
			if err := s.Heartbeat(ctx, Claimant{Instance: name, Window: time.Minute}, "p-"+name, started); err != nil {
				t.Fatal(err)
			}
		}
		live := func(window time.Duration) map[string]bool {
			t.Helper()
			ins, err := s.Instances(ctx, window)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]bool{}
			for _, in := range ins {
				out[in.Name] = in.Live
				if !in.StartedAt.Equal(started) {
					t.Errorf("%s started at %s, want %s", in.Name, in.StartedAt, started)
				}
			}
			return out
		}
		if got := live(time.Minute); !got["a"] || !got["b"] {
			t.Fatalf("live within a minute: %v", got)
		}
		time.Sleep(300 * time.Millisecond)
		if err := s.Heartbeat(ctx, Claimant{Instance: "a", Window: time.Minute}, "p-a", started); err != nil {
			t.Fatal(err)
		}
		if got := live(200 * time.Millisecond); !got["a"] || got["b"] {
			t.Fatalf("live within 200ms after only a beat: %v", got)
		}
		if err := s.LeaveCluster(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if got := live(time.Minute); len(got) != 1 || !got["b"] {
			t.Fatalf("after a left: %v", got)
		}
	})
}

// enqueueDue queues n notices that are due now and returns their IDs.
func enqueueDue(t *testing.T, s *Store, n int, now time.Time) []int64 {
	t.Helper()
	var ids []int64
	err := s.Tx(context.Background(), func(tx *Tx) error {
		for i := range n {
			id, err := tx.Enqueue(Queued{Kind: "k", Notice: Notice{MessageID: fmt.Sprintf("n%d-%d@desk", i, now.UnixNano()), Date: now,
				From: "desk@x", To: []string{fmt.Sprintf("r%d@x", i)}, Subject: "s", Body: "b"}})
			ids = append(ids, id)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A live instance's claims are left alone; a dead one's are taken after
// its heartbeat lapses; marking a notice ends its claim; leaving frees the
// claims at once.
func TestClaimDue(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now()
		const window = 400 * time.Millisecond
		a, b := Claimant{Instance: "a", Window: window}, Claimant{Instance: "b", Window: window}
		ids := enqueueDue(t, s, 3, now)
		for _, c := range []Claimant{a, b} {
			if err := s.Heartbeat(ctx, c, "p-"+c.Instance, now); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ClaimDue(ctx, a, now, 2)
		if err != nil || len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] {
			t.Fatalf("a claimed %v, %v; want the first two of %v in order", noticeIDs(got), err, ids)
		}
		if got, err = s.ClaimDue(ctx, b, now, 10); err != nil || len(got) != 1 || got[0].ID != ids[2] {
			t.Fatalf("b claimed %v, %v; want only %d", noticeIDs(got), err, ids[2])
		}
		// Claims are kept by their owner: a sees its own again.
		if got, err = s.ClaimDue(ctx, a, now, 10); err != nil || len(got) != 2 {
			t.Fatalf("a's second claim: %v, %v", noticeIDs(got), err)
		}
		if err := s.MarkRetry(ctx, ids[0], now, "4xx"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, ids[2], now); err != nil {
			t.Fatal(err)
		}
		// ids[0] was released by its retry mark; ids[1] is still a's.
		if got, err = s.ClaimDue(ctx, b, now, 10); err != nil || len(got) != 1 || got[0].ID != ids[0] {
			t.Fatalf("b after a's retry mark: %v, %v; want %d", noticeIDs(got), err, ids[0])
		}
		// a dies: b keeps beating, and takes a's claim once a's beat lapses.
		deadline := time.Now().Add(5 * window)
		for {
			if err := s.Heartbeat(ctx, Claimant{Instance: "b", Window: time.Minute}, "p-b", now); err != nil {
				t.Fatal(err)
			}
			got, err = s.ClaimDue(ctx, b, now, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("b never took a's claim: %v", noticeIDs(got))
			}
			time.Sleep(window / 8)
		}
		// b leaves cleanly: a (back again) gets everything at once.
		if err := s.LeaveCluster(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.Heartbeat(ctx, Claimant{Instance: "a", Window: time.Minute}, "p-a", now); err != nil {
			t.Fatal(err)
		}
		if got, err = s.ClaimDue(ctx, a, now, 10); err != nil || len(got) != 2 {
			t.Fatalf("a after b left: %v, %v", noticeIDs(got), err)
		}
	})
}

// Senders of several instances claiming at once never get the same row.
func TestClaimDueConcurrentPostgres(t *testing.T) {
	s := openPostgresTest(t)
	ctx := context.Background()
	now := time.Now()
	const notices, instances, perInstance = 600, 3, 2
	enqueueDue(t, s, notices, now)
	var mu sync.Mutex
	owner := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, instances*perInstance)
	for i := range instances {
		c := Claimant{Instance: fmt.Sprintf("i%d", i), Window: time.Minute}
		if err := s.Heartbeat(ctx, c, "p-"+c.Instance, now); err != nil {
			t.Fatal(err)
		}
		for range perInstance { // an instance's lanes claim at once too
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := s.ClaimDue(ctx, c, now, 7)
					if err != nil {
						errs <- err
						return
					}
					fresh := 0
					mu.Lock()
					for _, n := range got {
						if prev, dup := owner[n.ID]; dup {
							if prev != c.Instance {
								errs <- fmt.Errorf("notice %d claimed by %s and %s", n.ID, prev, c.Instance)
							}
							continue
						}
						owner[n.ID] = c.Instance
						fresh++
					}
					mu.Unlock()
					for _, n := range got {
						if err := s.MarkSent(ctx, n.ID, now); err != nil {
							errs <- err
							return
						}
					}
					if len(got) == 0 && fresh == 0 {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(owner) != notices {
		t.Errorf("%d of %d notices claimed", len(owner), notices)
	}
	per := map[string]int{}
	for _, who := range owner {
		per[who]++
	}
	t.Logf("claimed per instance: %v", per)
}

func noticeIDs(ns []Notice) []int64 {
	var ids []int64
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	return ids
}

// A second process under a name whose heartbeat is fresh is refused, and
// records nothing; once the first one's heartbeat has lapsed it takes the
// name, and the first one is refused in turn.
func TestInstanceNameInUse(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		started := time.Now().Truncate(time.Millisecond)
		long := Claimant{Instance: "a", Window: time.Minute}
		if err := s.Heartbeat(ctx, long, "first", started); err != nil {
			t.Fatal(err)
		}
		var inUse *NameInUseError
		err := s.Heartbeat(ctx, long, "second", started.Add(time.Second))
		if !errors.As(err, &inUse) || inUse.Instance != "a" || !inUse.StartedAt.Equal(started) || inUse.Seen >= time.Minute {
			t.Fatalf("a second process under the name: %v (%+v)", err, inUse)
		}
		if !strings.Contains(err.Error(), "cluster.instance") {
			t.Errorf("the error does not say what to change: %v", err)
		}
		if err := s.Heartbeat(ctx, long, "first", started); err != nil {
			t.Fatalf("the first process beats on: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		short := Claimant{Instance: "a", Window: 200 * time.Millisecond}
		if err := s.Heartbeat(ctx, short, "second", started.Add(time.Second)); err != nil {
			t.Fatalf("after the first one lapsed: %v", err)
		}
		ins, err := s.Instances(ctx, time.Minute)
		if err != nil || len(ins) != 1 || !ins[0].StartedAt.Equal(started.Add(time.Second)) {
			t.Fatalf("instances after the takeover of the name: %+v %v", ins, err)
		}
		if err := s.Heartbeat(ctx, long, "first", started); !errors.As(err, &inUse) {
			t.Fatalf("the first process after the second took the name: %v", err)
		}
	})
}
