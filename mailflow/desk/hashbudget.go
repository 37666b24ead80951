package desk

import (
	"sync"
	"time"
)

// hashBudget is the hourly hashing cap per sender, kept in memory: Prepare
// reserves a hash on a worker without a write transaction of its own (one
// commit per password form, and a wait for the database connection, kept
// the workers from hashing), and Process records in its transaction the
// hashes it uses. The records are what a restart starts from; a hash
// prepared for a message that never came up is counted here only.
type hashBudget struct {
	mu      sync.Mutex
	senders map[string][]time.Time // hashes reserved within the window, oldest first
	sweepAt int                    // senders held before the next sweep of quiet ones
}

// budgetWindow is the span of the per-sender cap.
const budgetWindow = time.Hour

// reserve takes one hash from the sender's budget of perHour, or reports
// that it is spent. The first reservation for a sender this process sees
// starts from the hashes recorded since the start of the window, read by
// load; every later one is counted here, so the check and the count are
// one step under the lock.
func (b *hashBudget) reserve(sender string, now time.Time, perHour int, load func(since time.Time) ([]time.Time, error)) (ok bool, err error) {
	since := now.Add(-budgetWindow)
	b.mu.Lock()
	_, known := b.senders[sender]
	b.mu.Unlock()
	var recorded []time.Time
	if !known {
		// Read outside the lock: the load may wait for the database.
		if recorded, err = load(since); err != nil {
			return false, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.senders == nil {
		b.senders = map[string][]time.Time{}
	}
	times, known := b.senders[sender]
	if !known {
		// Another reservation may have loaded it meanwhile; its entry
		// holds every hash since, so it wins.
		times = recorded
	}
	times = dropBefore(times, since)
	if len(times) >= perHour {
		b.senders[sender] = times
		return false, nil
	}
	b.senders[sender] = append(times, now)
	b.sweep(since)
	return true, nil
}

// sweep forgets the senders with nothing in the window once there are
// many, so a stream of one-time senders does not grow the map forever.
func (b *hashBudget) sweep(since time.Time) {
	if len(b.senders) < max(b.sweepAt, 1024) {
		return
	}
	for s, times := range b.senders {
		if len(dropBefore(times, since)) == 0 {
			delete(b.senders, s)
		}
	}
	b.sweepAt = 2 * len(b.senders)
}

// dropBefore returns times (oldest first) without those before since.
func dropBefore(times []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(times) && times[i].Before(since) {
		i++
	}
	return times[i:]
}
