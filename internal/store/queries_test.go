package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Every query of the store runs on both engines and gives the same
// answers: a query one engine cannot parse, or reads differently (types,
// NULLs, booleans), fails here rather than in a desk.
func TestEveryQueryRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		check := func(ok bool, format string, args ...any) {
			t.Helper()
			if !ok {
				t.Errorf(format, args...)
			}
		}
		var acct *Account
		var req *Request
		var seenID int64
		must(s.Tx(ctx, func(tx *Tx) error {
			acct = &Account{Login: "yamada-tk", Kind: AccountPersonal, Email: "taro@hosp.example", IdentityKey: "山田|太郎|1980-01-01",
				PasswordActiveAt: now, CreatedAt: now, Eligibility: 2}
			must(tx.CreateAccount(acct))
			a, err := tx.AccountByLogin("yamada-tk")
			must(err)
			check(a.ID == acct.ID && a.Eligibility == 2 && a.PasswordActiveAt.Equal(now) && a.Status == AccountActive && a.EmailChangedAt.IsZero(),
				"account read back: %+v", a)
			list, err := tx.AccountsByIdentity("山田|太郎|1980-01-01")
			must(err)
			check(len(list) == 1, "accounts by identity: %d", len(list))
			list, err = tx.AccountsByAddress("Yamada-TK@id.example", "id.example")
			must(err)
			check(len(list) == 1 && list[0].ID == acct.ID, "accounts by address: %d", len(list))
			_, err = tx.AccountByID(999)
			check(errors.Is(err, ErrNotFound), "missing account: %v", err)

			ref, err := tx.NextReference("MDG", 2027)
			must(err)
			req = &Request{Reference: ref, Kind: "new_id", State: StateAwaitingDocuments, Applicant: "taro@hosp.example",
				Fields: map[string]string{"family_name": "山田"}, DesiredID: "yamada-tk2", IdentityKey: "k1", ThreadRoot: "root@hosp", CreatedAt: now}
			must(tx.CreateRequest(req))
			must(tx.SetRequestAccount(req, acct.ID))
			must(tx.SetRequestFields(req, map[string]string{"family_name": "山田", "given_name": "太郎"}))
			must(tx.ClearRequestSecret(req))
			must(tx.LinkThreadMessage("root@hosp", req.ID))
			must(tx.LinkThreadMessage("root@hosp", req.ID)) // a second link is no error
			for _, find := range []func() (*Request, error){
				func() (*Request, error) { return tx.RequestByReference(ref) },
				func() (*Request, error) { return tx.RequestByID(req.ID) },
				func() (*Request, error) { return tx.RequestByThreadMessage("root@hosp") },
				func() (*Request, error) { return tx.OpenRequestByDesiredID("yamada-tk2") },
				func() (*Request, error) { return tx.OpenRequestByIdentity("new_id", "k1") },
			} {
				r, err := find()
				must(err)
				check(r.ID == req.ID && r.AccountID == acct.ID && r.Fields["given_name"] == "太郎" && r.ClosedAt.IsZero(), "request read back: %+v", r)
			}
			n, err := tx.CountRequests("new_id", StateAwaitingDocuments)
			must(err)
			check(n == 1, "count requests %d", n)
			open, err := tx.OpenRequestsOf("taro@hosp.example")
			must(err)
			check(len(open) == 1, "open requests of the applicant: %d", len(open))
			page, next, err := tx.OpenRequestsInState(StateAwaitingDocuments, now, RequestCursor{}, 10)
			must(err)
			check(len(page) == 1 && next.ID == req.ID, "open requests in state: %d, %+v", len(page), next)
			n, err = tx.RequestsFromSince("taro@hosp.example", now.Add(-time.Hour), "new_id", "password_reset")
			must(err)
			check(n == 1, "requests from the sender: %d", n)

			must(tx.Audit(now, "desk", req.ID, "received", "form"))
			must(tx.Audit(now, "desk", 0, "started", ""))
			log, err := tx.AuditLog(req.ID)
			must(err)
			check(len(log) == 1 && log[0].Action == "received" && log[0].At.Equal(now), "audit of the request: %+v", log)
			log, err = tx.AuditLog(0)
			must(err)
			check(len(log) == 2 && log[1].RequestID == 0, "whole audit log: %+v", log)

			seen := &Seen{Mailbox: "INBOX", UIDValidity: 4000000000, UID: 7, MessageID: "m7@hosp", ContentSHA256: "h7",
				From: "taro@hosp.example", Subject: "申請", ReceivedAt: now, Outcome: "answered", Reason: "password reset asked",
				RequestID: req.ID, Destination: "quarantine", Replacement: []byte("masked 秘密")}
			seenID, err = tx.RecordSeen(seen)
			must(err)
			got, err := tx.SeenByUID("INBOX", 4000000000, 7)
			must(err)
			check(got.ID == seenID && got.UIDValidity == 4000000000 && string(got.Replacement) == "masked 秘密" && !got.ReplacementFiled,
				"seen read back: %+v", got)
			must(tx.MarkReplacementFiled("INBOX", 4000000000, 7, "h7"))
			earlier, err := tx.EarlierRecords("INBOX", 1, 1, "nothing", "m7@hosp")
			must(err)
			got = earlier.ByMessageID
			check(got != nil && got.ID == seenID && got.ReplacementFiled, "seen by Message-ID: %+v", got)
			n, err = tx.SeenFromSince("taro@hosp.example", now.Add(-time.Hour), "password reset")
			must(err)
			check(n == 1, "seen from the sender: %d", n)
			_, ok, err := tx.UIDValidity("INBOX")
			must(err)
			check(!ok, "a UIDVALIDITY before any was set")
			must(tx.SetUIDValidity("INBOX", 11))
			must(tx.SetUIDValidity("INBOX", 12))
			v, ok, err := tx.UIDValidity("INBOX")
			must(err)
			check(ok && v == 12, "UIDVALIDITY %d %v", v, ok)

			n, err = tx.CountContaining("秘密")
			must(err)
			check(n == 1, "the masked copy's text found %d times, want 1", n)

			doc := &Document{RequestID: req.ID, SeenID: seenID, Filename: "form.pdf", ContentType: "application/pdf", Size: 4,
				SHA256: "d", Data: []byte("%PDF"), Accepted: true, ReceivedAt: now}
			must(tx.AddDocument(doc))
			docs, err := tx.Documents(req.ID)
			must(err)
			check(len(docs) == 1 && docs[0].ID == doc.ID && docs[0].Accepted && docs[0].Size == 4, "documents: %+v", docs)
			size, err := tx.DocumentBytes(req.ID)
			must(err)
			check(size == 4, "document bytes %d", size)

			must(tx.CountEvent("codes", "taro@hosp.example", 2, now))
			must(tx.CountEvent("codes", "taro@hosp.example", 3, now.Add(-2*time.Hour)))
			sum, err := tx.CountedSince("codes", "taro@hosp.example", now.Add(-time.Hour))
			must(err)
			check(sum == 2, "counted %d", sum)
			sum, err = tx.CountedSince("codes", "nobody", now)
			must(err)
			check(sum == 0, "counted for nobody %d", sum)
			must(tx.RecordHashWork("taro@hosp.example", now))
			hashes, err := tx.HashWorkSince("taro@hosp.example", now.Add(-time.Hour))
			must(err)
			check(len(hashes) == 1 && hashes[0].Equal(now), "hash work: %v", hashes)

			must(tx.SetPassword(acct.ID, "$argon2id$a", now))
			must(tx.SetIndicePassword(acct.ID, "$argon2id$b", now))
			must(tx.UpdateAffiliation(acct.ID, "病院", "内科"))
			must(tx.ChangeEmail(acct.ID, "new@hosp.example", now))
			must(tx.SetHolder(acct.ID, "山田", "花子", "new@hosp.example"))
			a, err = tx.AccountByID(acct.ID)
			must(err)
			check(a.PreviousEmail == "taro@hosp.example" && a.Email == "new@hosp.example" && a.EmailChangedAt.Equal(now) && a.GivenName == "花子",
				"account after changes: %+v", a)

			_, code, err := tx.IssueAccessCode(acct.ID, req.ID, "rename", 8, now, 10*time.Minute)
			must(err)
			codes, err := tx.ActiveAccessCodesFor("rename", []string{"yamada-tk"}, []string{"new@hosp.example"})
			must(err)
			check(len(codes) == 1 && codes[0].ID == code.ID, "active codes: %+v", codes)
			n, err = tx.CodesIssuedSince(acct.ID, now)
			must(err)
			check(n == 1, "codes issued %d", n)
			closed, err := tx.ExpireCodeRequests(now.Add(time.Hour), func(r *Request) (string, bool) { return StateExpired, true })
			must(err)
			check(len(closed) == 1 && closed[0].ID == req.ID && closed[0].State == StateExpired, "expired requests: %+v", closed)

			l, err := tx.Lifecycle(acct.ID)
			must(err)
			check(l.Status == AccountActive && l.RenamedAt.IsZero(), "lifecycle %+v", l)
			f := &Forwarding{AccountID: acct.ID, RequestID: req.ID, OldLogin: "yamada-tk", NewLogin: "yamada-tk2", StartsAt: now, EndsAt: now.Add(24 * time.Hour)}
			must(tx.AddForwarding(f))
			must(tx.RenameAccount(acct.ID, "yamada-tk3", now))
			fw, err := tx.ForwardingFrom("yamada-tk")
			must(err)
			check(fw.ID == f.ID && fw.NewLogin == "yamada-tk3", "forwarding %+v", fw)
			ending, err := tx.ForwardingsEndingBy(now.Add(48 * time.Hour))
			must(err)
			check(len(ending) == 1, "forwardings ending: %d", len(ending))
			used, err := tx.LoginEverUsed("yamada-tk")
			must(err)
			check(used, "an old login counts as used")
			used, err = tx.LoginEverUsed("never")
			must(err)
			check(!used, "a new login counts as used")
			must(tx.EndForwarding(f.ID, now))
			ended, err := tx.EndForwardings(acct.ID, now)
			must(err)
			check(ended == 0, "ended again: %d", ended)
			must(tx.CloseAccount(acct.ID, AccountDeleted, 0, now))
			l, err = tx.Lifecycle(acct.ID)
			must(err)
			check(l.Status == AccountDeleted && l.ClosedAt.Equal(now) && l.RenamedAt.Equal(now), "lifecycle after close %+v", l)

			first, err := tx.ClaimStep("reminders", "reminder-1:"+ref, req.ID, now)
			must(err)
			again, err := tx.ClaimStep("reminders", "reminder-1:"+ref, req.ID, now)
			must(err)
			done, err := tx.StepDone("reminder-1:" + ref)
			must(err)
			check(first && !again && done, "step claims %v %v %v", first, again, done)
			return nil
		}))

		// The facility desk's tables.
		must(s.Tx(ctx, func(tx *Tx) error {
			token, _, err := tx.IssueRequestToken(req.ID, 6, now, time.Hour)
			must(err)
			got, err := tx.CheckRequestToken(req.ID, token, now)
			must(err)
			check(got == TokenOK, "token check %v", got)
			must(tx.UseRequestToken(req.ID, now))
			got, err = tx.CheckRequestToken(req.ID, token, now)
			must(err)
			check(got == TokenUsed, "used token check %v", got)
			token, _, err = tx.IssueRequestToken(req.ID, 6, now, time.Hour) // replaces the used one whole
			must(err)
			got, err = tx.CheckRequestToken(req.ID, token, now)
			must(err)
			check(got == TokenOK, "new token check %v", got)

			u := &FacilityUser{UserID: "12345678", VPNID: "v1", Prefecture: "東京都", Facility: "病院", Email: "f@hosp.example",
				Name: "担当", Role: "manager", PasswordHash: "h", RequestID: req.ID, CreatedAt: now}
			must(tx.CreateFacilityUser(u))
			taken, err := tx.FacilityIDsTaken("12345678", "other")
			must(err)
			check(taken, "a user ID in use is free")
			must(tx.SetFacilityPassword(u.ID, "h2"))
			fu, err := tx.FacilityUserByUserID("12345678")
			must(err)
			check(fu.ID == u.ID && !fu.Initial && fu.PasswordHash == "h2", "facility user %+v", fu)
			must(tx.SetFacilityService(u.ID, "filing", "active", req.ID, now))
			must(tx.SetFacilityService(u.ID, "filing", "cancelled", req.ID, now))
			state, err := tx.FacilityService(u.ID, "filing")
			must(err)
			check(state == "cancelled", "facility service %q", state)
			return nil
		}))

		// Processing failures.
		must(s.Tx(ctx, func(tx *Tx) error {
			pf, err := tx.ProcessingFailure("INBOX", 12, 9)
			must(err)
			check(pf.Attempts == 0, "no failures yet: %+v", pf)
			pf.Attempts, pf.FirstFailedAt, pf.LastFailedAt, pf.NextAttemptAt, pf.LastError = 1, now, now, now.Add(time.Hour), "boom"
			must(tx.SaveProcessingFailure(pf))
			pf.Attempts = 2
			must(tx.SaveProcessingFailure(pf))
			got, err := tx.ProcessingFailure("INBOX", 12, 9)
			must(err)
			check(got.Attempts == 2 && got.NextAttemptAt.Equal(now.Add(time.Hour)), "failure %+v", got)
			must(tx.PruneProcessingFailures("INBOX", 12, now.Add(-time.Hour)))
			must(tx.UnlinkSeenContent("INBOX", 4000000000, 7))
			return nil
		}))
		uids, err := s.RetriesNotDue(ctx, "INBOX", 12, now)
		must(err)
		check(len(uids) == 1 && uids[0] == 9, "retries not due %v", uids)
		failures, err := s.ProcessingFailures(ctx)
		must(err)
		check(len(failures) == 1, "failures %+v", failures)
		must(s.Tx(ctx, func(tx *Tx) error { return tx.ClearProcessingFailure("INBOX", 12, 9) }))

		// The outbox beyond TestOutboxLifecycle.
		var noticeID int64
		must(s.Tx(ctx, func(tx *Tx) error {
			noticeID, err = tx.Enqueue(Queued{Kind: "k", RequestID: req.ID, Urgent: true, Notice: Notice{MessageID: "n@desk", Date: now,
				From: "desk@x", To: []string{"Taro@hosp.example"}, Subject: "s", Body: "b"}})
			must(err)
			ours, err := tx.IsOurMessageID("n@desk")
			must(err)
			check(ours, "our Message-ID not known")
			rid, found, err := tx.RecordBounce("n@desk", now, "550")
			must(err)
			check(found && rid == req.ID, "bounce %d %v", rid, found)
			_, found, err = tx.RecordBounce("other@desk", now, "550")
			must(err)
			check(!found, "bounce of a stranger's message found")
			return nil
		}))
		on, err := s.OnThread(ctx, "", []string{"n@desk"}, "taro@hosp.example", false)
		must(err)
		check(on, "a recipient of the thread's notice is not on it")
		on, err = s.OnThread(ctx, req.Reference, nil, "eve@evil.example", false)
		must(err)
		check(!on, "a stranger is on the thread")
		figures, err := s.OutboxFigures(ctx, now)
		must(err)
		check(figures.Pending == 1 && figures.OldestDue.Equal(now), "outbox figures %+v", figures)
		must(s.MarkFailed(ctx, noticeID, "550 no"))
		failed, err := s.FailedNoticesSince(ctx, now.Add(-time.Hour))
		must(err)
		check(len(failed) == 1 && failed[0].ID == noticeID, "failed notices %+v", failed)
		entries, err := s.Outbox(ctx, "")
		must(err)
		check(len(entries) == 1 && entries[0].Bounced, "outbox entries %+v", entries)

		// Reports and the jobs' reads.
		digest, err := s.DigestFigures(ctx, now.Add(-time.Hour), now.Add(time.Hour))
		must(err)
		check(len(digest) == 1 && digest[0].ReceivedToday == 1, "digest %+v", digest)
		quarantined, err := s.Quarantined(ctx, 0)
		must(err)
		check(len(quarantined) == 1 && quarantined[0].Masked && quarantined[0].UIDValidity == 4000000000, "quarantined %+v", quarantined)
		forwardings, err := s.ActiveForwardings(ctx, now)
		must(err)
		check(len(forwardings) == 0, "active forwardings %+v", forwardings)

		claimed, err := s.ClaimJobRun(ctx, "digest", now, now)
		must(err)
		claimedAgain, err := s.ClaimJobRun(ctx, "digest", now, now)
		must(err)
		check(claimed && !claimedAgain, "job claims %v %v", claimed, claimedAgain)
		must(s.FinishJobRun(ctx, "digest", now, now, "ok"))
		last, ok, err := s.LastJobSlot(ctx, "digest")
		must(err)
		check(ok && last.Equal(now), "last slot %v %v", last, ok)
		runs, err := s.JobRuns(ctx, "digest", 5)
		must(err)
		check(len(runs) == 1 && runs[0].Outcome == "ok" && runs[0].FinishedAt.Equal(now), "job runs %+v", runs)
	})
}

// The synthetic database for benchmarks seeds on both engines.
func TestSeedSynthetic(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		err := s.SeedSynthetic(ctx, Synthetic{Accounts: 30, OpenRequests: 5, Closed: 7, DueReminders: 3, DueCodes: 2, DueForwardings: 4, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var login string
		if err := s.queryRowOnce(ctx, `SELECT login FROM accounts ORDER BY id LIMIT 1`).Scan(&login); err != nil || login != "s0000001-x" {
			t.Errorf("first synthetic login %q, %v", login, err)
		}
		var requests int
		if err := s.queryRowOnce(ctx, `SELECT count(*) FROM requests`).Scan(&requests); err != nil || requests != 5+7+3+2 {
			t.Errorf("%d synthetic requests, %v", requests, err)
		}
	})
}

// Concurrent transactions never hand out one reference twice, claim one
// job slot or step twice, or lose a wrong try: under PostgreSQL they run
// on several connections at once.
func TestConcurrentClaimsAndCounters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		var code *AccessCode
		err := s.Tx(ctx, func(tx *Tx) error {
			a, r := accountWithRequest(t, tx, now)
			var err error
			_, code, err = tx.IssueAccessCode(a.ID, r.ID, "password_reset", 10, now, time.Hour)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		const workers = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		refs := map[string]bool{}
		slots, steps := 0, 0
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					var ref string
					var step bool
					err := s.Tx(ctx, func(tx *Tx) error {
						var err error
						if ref, err = tx.NextReference("MDG", 2030); err != nil {
							return err
						}
						if step, err = tx.ClaimStep("j", fmt.Sprintf("step-%d", i), 0, now); err != nil {
							return err
						}
						c, err := tx.LatestAccessCode(code.RequestID)
						if err != nil {
							return err
						}
						_, _, err = tx.CheckAccessCode(c, "wrong", now, 1000, true)
						return err
					})
					slot, claimErr := s.ClaimJobRun(ctx, "job", now.Add(time.Duration(i)*time.Minute), now)
					if err == nil {
						err = claimErr
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if refs[ref] {
						errs <- fmt.Errorf("reference %s handed out twice", ref)
					}
					refs[ref] = true
					if slot {
						slots++
					}
					if step {
						steps++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(refs) != workers*5 || slots != 5 || steps != 5 {
			t.Errorf("%d references, %d slots, %d steps; want %d, 5, 5", len(refs), slots, steps, workers*5)
		}
		var tries int
		if err := s.queryRowOnce(ctx, `SELECT wrong_tries FROM access_codes WHERE id = ?`, code.ID).Scan(&tries); err != nil || tries != workers*5 {
			t.Errorf("%d wrong tries counted, %v; want %d", tries, err, workers*5)
		}
	})
}

// TestMarkReplacementFiled: the mark reaches the message's own record and
// every record of the same content (seen again after a UIDVALIDITY
// change), and no other.
func TestMarkReplacementFiled(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC)
		err := s.Tx(ctx, func(tx *Tx) error {
			for _, r := range []Seen{
				{UIDValidity: 4000000000, UID: 7, ContentSHA256: "h7"},
				{UIDValidity: 5, UID: 9, ContentSHA256: "h7"},
				{UIDValidity: 4000000000, UID: 8, ContentSHA256: "h8"},
			} {
				r.Mailbox, r.From, r.ReceivedAt, r.Outcome, r.Destination, r.Replacement = "INBOX", "taro@hosp.example", now, "answered", "processed", []byte("masked")
				if _, err := tx.RecordSeen(&r); err != nil {
					return err
				}
			}
			if err := tx.MarkReplacementFiled("INBOX", 4000000000, 7, "h7"); err != nil {
				return err
			}
			for _, place := range []struct {
				validity, uid uint32
				want          bool
			}{{4000000000, 7, true}, {5, 9, true}, {4000000000, 8, false}} {
				got, err := tx.SeenByUID("INBOX", place.validity, place.uid)
				if err != nil {
					return err
				}
				if got.ReplacementFiled != place.want {
					t.Errorf("replacement filed at %d/%d: %v, want %v", place.validity, place.uid, got.ReplacementFiled, place.want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
