package outbound

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
)

// A sensitive notice is sealed in the store: the sender still delivers its
// clear text, and afterwards the code is in no database file.
func TestDeliverSealedNoticeFromStore(t *testing.T) {
	const code = "4711081512"
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "desk.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := testNotice(testDate)
	n.Charset, n.Cc = "utf-8", nil
	n.Body = "Access code: " + code + "\n"
	err = st.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Enqueue(store.Queued{Kind: "reset_code", Sensitive: true, Notice: n})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	sk := newSink(t)
	var logs bytes.Buffer
	s := newTestSender(t, sk.addr, st, testDate.Add(time.Minute), &logs)
	if sent, retried, failed := deliver(t, s); sent != 1 || retried+failed != 0 {
		t.Fatalf("sent %d retried %d failed %d; log:\n%s", sent, retried, failed, logs.String())
	}
	msgs := sk.messages()
	if len(msgs) != 1 || !strings.Contains(normalizeCRLF(parse(t, msgs[0].Data).body), code) {
		t.Fatalf("the recipient must get the clear code: %d messages", len(msgs))
	}
	if strings.Contains(logs.String(), code) {
		t.Fatalf("the log carries the code:\n%s", logs.String())
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte(code)) {
			t.Errorf("%s holds the code", filepath.Base(f))
		}
	}
}
