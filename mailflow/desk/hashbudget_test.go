package desk

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The cap counts the hashes recorded before (read once per sender) and
// every reservation since; an hour later the oldest are spent no more.
func TestHashBudgetCountsRecordedAndReserved(t *testing.T) {
	var b hashBudget
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	loads := 0
	load := func(since time.Time) ([]time.Time, error) {
		loads++
		return []time.Time{start.Add(-50 * time.Minute), start.Add(-10 * time.Minute)}, nil
	}
	for i := 0; i < 3; i++ {
		if ok, err := b.reserve("a@example.jp", start.Add(time.Duration(i)*time.Second), 5, load); err != nil || !ok {
			t.Fatalf("reservation %d: ok %v, err %v; want granted (2 recorded + %d of 5)", i+1, ok, err, i+1)
		}
	}
	if ok, _ := b.reserve("a@example.jp", start.Add(5*time.Second), 5, load); ok {
		t.Error("a sixth hash within the hour was granted; the cap is 5")
	}
	if loads != 1 {
		t.Errorf("the recorded hashes were read %d times, want once", loads)
	}
	// Eleven minutes later the hash recorded 50 minutes before the start
	// has left the window.
	if ok, _ := b.reserve("a@example.jp", start.Add(11*time.Minute), 5, load); !ok {
		t.Error("a hash was refused after the oldest one left the hour")
	}
	if ok, _ := b.reserve("b@example.jp", start, 5, func(time.Time) ([]time.Time, error) { return nil, nil }); !ok {
		t.Error("another sender was refused: the cap is per sender")
	}
	if _, err := b.reserve("c@example.jp", start, 5, func(time.Time) ([]time.Time, error) { return nil, errors.New("disk") }); err == nil {
		t.Error("a failed read of the recorded hashes was not reported")
	}
}

// Concurrent reservations for one sender never exceed the cap.
func TestHashBudgetConcurrentReservationsKeepTheCap(t *testing.T) {
	var b hashBudget
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := b.reserve("flood@example.jp", now, 10, func(time.Time) ([]time.Time, error) {
				time.Sleep(time.Millisecond) // the read waits for the database
				return []time.Time{now.Add(-time.Minute)}, nil
			})
			if err == nil && ok {
				granted.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := granted.Load(); n != 9 {
		t.Errorf("%d reservations granted, want 9 (cap 10, one recorded)", n)
	}
}

// Senders with nothing left in the window are forgotten once there are
// many, so one-time senders do not grow the map for ever.
func TestHashBudgetForgetsQuietSenders(t *testing.T) {
	var b hashBudget
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	none := func(time.Time) ([]time.Time, error) { return nil, nil }
	for i := 0; i < 2000; i++ {
		b.reserve(fmt.Sprintf("s%d@example.jp", i), start, 5, none)
	}
	b.reserve("late@example.jp", start.Add(2*time.Hour), 5, none)
	for i := 0; i < 1100; i++ {
		b.reserve(fmt.Sprintf("t%d@example.jp", i), start.Add(2*time.Hour), 5, none)
	}
	if n := len(b.senders); n > 1500 {
		t.Errorf("%d senders held after 2,000 of them went quiet for two hours, want the quiet ones swept", n)
	}
	if _, ok := b.senders["late@example.jp"]; !ok {
		t.Error("a sender within the window was swept")
	}
}
