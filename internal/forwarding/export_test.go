package forwarding

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
)

// The export writes the forwardings in force, as Postfix and CSV, and
// replaces the previous files whole.
func TestExportWritesActiveForwardings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "d.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	err = st.Tx(ctx, func(tx *store.Tx) error {
		a := &store.Account{Login: "yamada-tr", Kind: store.AccountPersonal, CreatedAt: now}
		if err := tx.CreateAccount(a); err != nil {
			return err
		}
		if err := tx.AddForwarding(&store.Forwarding{AccountID: a.ID, OldLogin: "yamada-tk", NewLogin: "yamada-tr", StartsAt: now, EndsAt: now.AddDate(1, 0, 0)}); err != nil {
			return err
		}
		ended := &store.Forwarding{AccountID: a.ID, OldLogin: "old-one", NewLogin: "yamada-tr", StartsAt: now.AddDate(-2, 0, 0), EndsAt: now.AddDate(-1, 0, 0)}
		return tx.AddForwarding(ended)
	})
	if err != nil {
		t.Fatal(err)
	}
	pf, cf := filepath.Join(dir, "virtual"), filepath.Join(dir, "fw.csv")
	os.WriteFile(pf, []byte("stale\n"), 0o644)
	tokyo := time.FixedZone("JST", 9*3600)
	n, err := Export(ctx, st, now, tokyo, "id.example.jp", pf, cf)
	if err != nil || n != 1 {
		t.Fatalf("exported %d, %v; want the one forwarding in force", n, err)
	}
	postfix, _ := os.ReadFile(pf)
	if !strings.Contains(string(postfix), "yamada-tk@id.example.jp\tyamada-tr@id.example.jp\n") || strings.Contains(string(postfix), "stale") || strings.Contains(string(postfix), "old-one") {
		t.Errorf("postfix table:\n%s", postfix)
	}
	csvData, _ := os.ReadFile(cf)
	if string(csvData) != "old,new,ends\nyamada-tk@id.example.jp,yamada-tr@id.example.jp,2027-11-25\n" {
		t.Errorf("csv:\n%s", csvData)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
