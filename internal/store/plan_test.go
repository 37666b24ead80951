package store

import (
	"context"
	"strings"
	"testing"
)

// The desk's per-message queries use an index: a scan would make each
// message cost more as the tables grow (partial indexes are only usable
// when the query repeats their condition literally).
func TestHotQueriesUseIndexes(t *testing.T) {
	s := openTest(t)
	for _, q := range []string{
		`SELECT id FROM seen_messages WHERE message_id = 'x' AND message_id <> '' AND outcome <> 'duplicate' ORDER BY id LIMIT 1`,
		`SELECT id FROM seen_messages WHERE content_sha256 = 'x' AND outcome <> 'duplicate' ORDER BY id LIMIT 1`,
		`SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= 1 ORDER BY priority, next_attempt_at, id LIMIT 10`,
		`SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'`,
		`SELECT count(*) FROM outbox WHERE recipient = 'a' AND created_at >= 1 AND state <> 'suppressed'`,
		`SELECT id FROM requests WHERE desired_id = 'a' AND closed_at IS NULL AND desired_id <> '' LIMIT 1`,
		`SELECT COUNT(*) FROM seen_messages WHERE from_addr = 'a' AND received_at >= 1`,
		`SELECT COUNT(*) FROM hash_work WHERE sender = 'a' AND at >= 1`,
		// The digest's open inquiries.
		`SELECT id FROM requests WHERE kind = 'inquiry' AND closed_at IS NULL ORDER BY created_at, id LIMIT 10`,
	} {
		rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if strings.Contains(joined, "SCAN ") && !strings.Contains(joined, "USING") {
			t.Errorf("%s\n  scans: %s", q, joined)
		}
	}
}
