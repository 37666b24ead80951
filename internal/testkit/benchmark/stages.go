package benchmark

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/smtp"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/message"
)

// fetchBatch is how many messages one UID FETCH of the fetch stage asks for.
const fetchBatch = 100

// stageFetch copies the mailbox to another user of a separate loopback
// IMAP server and reads every message's body once over one connection
// (UID FETCH BODY.PEEK[] in batches), as fast as the client can.
func stageFetch(ctx context.Context, m *mix) (Stage, error) {
	const user, pw = "fetch", "fetchpass"
	srv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{user: pw}})
	if err != nil {
		return Stage{}, fmt.Errorf("fetch stage: start IMAP: %w", err)
	}
	defer srv.Close()
	for _, msg := range m.msgs {
		if err := srv.Append(user, "INBOX", msg.raw); err != nil {
			return Stage{}, fmt.Errorf("fetch stage: %w", err)
		}
	}
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		return Stage{}, fmt.Errorf("fetch stage: dial: %w", err)
	}
	defer c.Close()
	if err := c.Login(user, pw).Wait(); err != nil {
		return Stage{}, fmt.Errorf("fetch stage: login: %w", err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return Stage{}, fmt.Errorf("fetch stage: select: %w", err)
	}
	if int(sel.NumMessages) != len(m.msgs) {
		return Stage{}, fmt.Errorf("fetch stage: %d messages in the copy, want %d", sel.NumMessages, len(m.msgs))
	}
	search, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return Stage{}, fmt.Errorf("fetch stage: search: %w", err)
	}
	uids := search.AllUIDs()
	section := &imap.FetchItemBodySection{Peek: true}
	var got int
	var size int64
	start := time.Now()
	for i := 0; i < len(uids); i += fetchBatch {
		if err := ctx.Err(); err != nil {
			return Stage{}, err
		}
		cmd := c.Fetch(imap.UIDSetNum(uids[i:min(i+fetchBatch, len(uids))]...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
					n, err := io.Copy(io.Discard, body.Literal)
					if err != nil {
						return Stage{}, fmt.Errorf("fetch stage: read body: %w", err)
					}
					size += n
					got++
				}
			}
		}
		if err := cmd.Close(); err != nil {
			return Stage{}, fmt.Errorf("fetch stage: fetch: %w", err)
		}
	}
	elapsed := time.Since(start)
	if got != len(m.msgs) || size != m.bytes {
		return Stage{}, fmt.Errorf("fetch stage: read %d messages (%d bytes), want %d (%d bytes)", got, size, len(m.msgs), m.bytes)
	}
	_ = c.Logout().Wait()
	return newStage("IMAP FETCH", fmt.Sprintf("UID FETCH BODY.PEEK[], %d per command, one connection", fetchBatch), "msg", got, elapsed), nil
}

// stageParse parses every message with the desk's parser, on one goroutine
// as the desk does.
func stageParse(ctx context.Context, m *mix) (Stage, error) {
	lim := message.DefaultLimits()
	start := time.Now()
	for i, msg := range m.msgs {
		if i%1000 == 0 && ctx.Err() != nil {
			return Stage{}, ctx.Err()
		}
		if _, err := message.Parse(bytes.NewReader(msg.raw), lim); err != nil {
			return Stage{}, fmt.Errorf("parse stage: message %d: %w", i, err)
		}
	}
	return newStage("MIME parse", "message.Parse, one goroutine", "msg", len(m.msgs), time.Since(start)), nil
}

// stageInsert writes the rows the desk writes for every message (its
// seen_messages row and one outbox row with a notice of the blank-forms
// size) into a fresh database, one transaction per message as the desk
// commits, with the desk's default synchronous=full.
func stageInsert(ctx context.Context, m *mix, dir string, pg *pgTarget) (Stage, error) {
	name, how := "SQLite inserts", "seen_messages + outbox row, one transaction per message, synchronous=full"
	var st *store.Store
	var err error
	if pg != nil {
		name, how = "PostgreSQL inserts", "seen_messages + outbox row, one transaction per message, the server's durability settings"
		st, err = pg.openStore(ctx, "bench_inserts")
	} else {
		st, err = store.Open(ctx, filepath.Join(dir, "inserts.db"), store.Options{})
	}
	if err != nil {
		return Stage{}, fmt.Errorf("insert stage: %w", err)
	}
	defer st.Close()
	body := map[string]string{"iso-2022-jp": forms.Blank(forms.KindNewID, "ja"), "utf-8": forms.Blank(forms.KindNewID, "en")}
	now := time.Now().UTC()
	start := time.Now()
	for i, msg := range m.msgs {
		sum := sha256.Sum256(msg.raw)
		from := fmt.Sprintf("sender%d@bench.example", i)
		err := st.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.RecordSeen(&store.Seen{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1),
				MessageID: fmt.Sprintf("%d@client.example", i), ContentSHA256: hex.EncodeToString(sum[:]), From: from,
				Subject: "IDの申請方法について", ReceivedAt: now, Outcome: "answered", Reason: "blank forms sent", Destination: "processed"}); err != nil {
				return err
			}
			_, err := tx.Enqueue(store.Queued{Kind: "blank_forms", Notice: store.Notice{
				MessageID: fmt.Sprintf("bench.%d@id.madoguchi.example", i), Date: now, From: deskAddr, To: []string{from},
				Subject: "申請書式のご案内", Body: body[msg.charset], InReplyTo: fmt.Sprintf("%d@client.example", i), Charset: "utf-8",
			}})
			return err
		})
		if err != nil {
			return Stage{}, fmt.Errorf("insert stage: message %d: %w", i, err)
		}
	}
	return newStage(name, how, "msg", len(m.msgs), time.Since(start)), nil
}

// stageSMTP sends n notices of the blank-forms size to a separate sink
// over one SMTP connection (MAIL, RCPT, DATA for each).
func stageSMTP(ctx context.Context, n int) (Stage, error) {
	sink, err := loopback.StartSMTP(loopback.SinkOptions{})
	if err != nil {
		return Stage{}, fmt.Errorf("smtp stage: %w", err)
	}
	defer sink.Close()
	c, err := smtp.Dial(sink.Addr)
	if err != nil {
		return Stage{}, fmt.Errorf("smtp stage: dial: %w", err)
	}
	defer c.Close()
	if err := c.Hello("bench.madoguchi.example"); err != nil {
		return Stage{}, fmt.Errorf("smtp stage: hello: %w", err)
	}
	body := strings.ReplaceAll(forms.Blank(forms.KindNewID, "en"), "\n", "\r\n")
	start := time.Now()
	for i := 0; i < n; i++ {
		if i%1000 == 0 && ctx.Err() != nil {
			return Stage{}, ctx.Err()
		}
		to := fmt.Sprintf("sender%d@bench.example", i)
		msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Blank forms\r\nMessage-ID: <bench.%d@id.madoguchi.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", deskAddr, to, i, body)
		if err := c.Mail(deskAddr); err != nil {
			return Stage{}, fmt.Errorf("smtp stage: MAIL: %w", err)
		}
		if err := c.Rcpt(to); err != nil {
			return Stage{}, fmt.Errorf("smtp stage: RCPT: %w", err)
		}
		w, err := c.Data()
		if err != nil {
			return Stage{}, fmt.Errorf("smtp stage: DATA: %w", err)
		}
		if _, err := io.WriteString(w, msg); err != nil {
			return Stage{}, fmt.Errorf("smtp stage: DATA: %w", err)
		}
		if err := w.Close(); err != nil {
			return Stage{}, fmt.Errorf("smtp stage: end of DATA: %w", err)
		}
	}
	elapsed := time.Since(start)
	_ = c.Quit()
	if got := len(sink.Messages()); got != n {
		return Stage{}, fmt.Errorf("smtp stage: the sink holds %d messages, want %d", got, n)
	}
	return newStage("SMTP delivery", "MAIL/RCPT/DATA, one connection", "msg", n, elapsed), nil
}

// stageHash computes n argon2id hashes at the desk's cost on every core,
// with one secret.Hasher as a desk has.
func stageHash(ctx context.Context, n int) (Stage, error) {
	workers := runtime.NumCPU()
	hasher := secret.NewHasher(secret.DefaultParams())
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				if _, err := hasher.Hash("Gk7vQz2x#Lp"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return Stage{}, fmt.Errorf("hash stage: %w", err)
	}
	return newStage("argon2id", fmt.Sprintf("secret.Hasher, DefaultParams, %d goroutines", workers), "hash", n, elapsed), nil
}

func newStage(name, how, unit string, count int, elapsed time.Duration) Stage {
	return Stage{Name: name, How: how, Unit: unit, Count: count, Elapsed: elapsed, Rate: float64(count) / elapsed.Seconds()}
}
