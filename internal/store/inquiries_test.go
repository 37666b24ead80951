package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Open requests of one kind come oldest first (ties by id), closed ones
// and other kinds left out, at most limit; an unanswered inquiry counts as
// waiting for staff in the digest.
func TestOpenRequestsOfKind(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		err := s.Tx(ctx, func(tx *Tx) error {
			for i, e := range []struct {
				kind, state string
				hoursAgo    int
				close       bool
			}{
				{"inquiry", "answered", 5, false},        // 1
				{"inquiry", "awaiting_answer", 9, false}, // 2
				{"inquiry", "completed", 20, true},       // 3: closed
				{"new_id", "documents_received", 30, false},
				{"inquiry", "awaiting_answer", 5, false}, // 5: same time as 1, later id
				{"inquiry", "awaiting_answer", 1, false}, // 6
			} {
				created := base.Add(-time.Duration(e.hoursAgo) * time.Hour)
				r := &Request{Reference: fmt.Sprintf("MDG-2026-%06d", i+1), Kind: e.kind, State: "new", Applicant: "a@x.example",
					Fields: map[string]string{"question": "q"}, CreatedAt: created}
				if err := tx.CreateRequest(r); err != nil {
					return err
				}
				if err := tx.SetRequestState(r, e.state, created, e.close); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		refs := func(rs []*Request) string {
			var out []string
			for _, r := range rs {
				out = append(out, r.Reference[len(r.Reference)-1:]+":"+r.State)
			}
			return strings.Join(out, " ")
		}
		all, err := s.OpenRequestsOfKind(ctx, "inquiry", 100)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := refs(all), "2:awaiting_answer 1:answered 5:awaiting_answer 6:awaiting_answer"; got != want {
			t.Errorf("open inquiries %s, want %s", got, want)
		}
		if all[0].Fields["question"] != "q" || !all[0].CreatedAt.Equal(base.Add(-9*time.Hour)) {
			t.Errorf("request not read whole: %+v", all[0])
		}
		two, err := s.OpenRequestsOfKind(ctx, "inquiry", 2)
		if err != nil || refs(two) != "2:awaiting_answer 1:answered" {
			t.Errorf("limit 2: %s, %v", refs(two), err)
		}
		if none, err := s.OpenRequestsOfKind(ctx, "rename", 10); err != nil || len(none) != 0 {
			t.Errorf("a kind with none: %v, %v", none, err)
		}

		figures, err := s.DigestFigures(ctx, base.Add(-24*time.Hour), base)
		if err != nil {
			t.Fatal(err)
		}
		var inquiries KindFigures
		for _, f := range figures {
			if f.Kind == "inquiry" {
				inquiries = f
			}
		}
		if inquiries.Open != 4 || !inquiries.OldestPending.Equal(base.Add(-9*time.Hour)) {
			t.Errorf("inquiry figures %+v: want 4 open, the oldest unanswered 9 hours old", inquiries)
		}
	})
}
