package bulk

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver store uses, for the raw insert rate

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
)

// The whole import of 10,000 rows next to what SQLite alone does with the
// same rows. With real argon2id costs hashing dominates: about 20 ms of a
// core per row or more, so 100-180 s on 2 cores (183 s measured); run it
// once:
//
//	go test ./mailflow/bulk/ -run '^$' -bench 'Import10k' -benchtime 1x
//
// Metrics: rows/s is ReadCSV+Prepare+Commit, hash-only-rows/s is Prepare
// alone (rules and hashing), commit-rows/s is Commit alone, and
// raw-insert-rows/s is plain INSERTs of the same account rows into a fresh
// database in one transaction.
func BenchmarkImport10k(b *testing.B) { benchImport(b, secret.DefaultParams()) }

// BenchmarkImport10kCheapHash makes the database part visible.
func BenchmarkImport10kCheapHash(b *testing.B) { benchImport(b, cheap) }

func benchImport(b *testing.B, params secret.Params) {
	const n = 10000
	data := manyRows(n)
	ctx := context.Background()
	var total, prep, commit, raw time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := store.Open(ctx, filepath.Join(b.TempDir(), "desk.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		t0 := time.Now()
		rows, err := ReadCSV(bytes.NewReader(data), 100000)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		prepared, err := Prepare(ctx, rows, Options{Now: now, Hash: params})
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		var results []Result
		err = st.Tx(ctx, func(tx *store.Tx) error {
			results, err = Commit(tx, prepared, commitOpts())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		total += t3.Sub(t0)
		prep += t2.Sub(t1)
		commit += t3.Sub(t2)

		b.StopTimer()
		for _, r := range results {
			if !r.Created {
				b.Fatalf("line %d refused: %v", r.Line, codes(r.Problems))
			}
		}
		st.Close()
		raw += rawInsert(b, prepared)
		b.StartTimer()
	}
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(total), "rows/s")
	b.ReportMetric(rate(prep), "hash-only-rows/s")
	b.ReportMetric(rate(commit), "commit-rows/s")
	b.ReportMetric(rate(raw), "raw-insert-rows/s")
}

// rawInsert times plain INSERTs of the prepared accounts into a fresh
// database with the desk's schema and pragmas, in one transaction.
func rawInsert(b *testing.B, prepared []Prepared) time.Duration {
	path := filepath.Join(b.TempDir(), "raw.db")
	st, err := store.Open(context.Background(), path, store.Options{}) // the schema
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	created := now.Unix()
	active := now.Add(DefaultActiveAfter).Unix()
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO accounts (login, kind, family_name, given_name, family_reading, given_reading,
		identity_key, sex, birth_date, institution, department, email, eligibility, password_hash,
		password_active_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range prepared {
		f := p.App.Fields
		if _, err := stmt.Exec(p.App.DesiredID, store.AccountPersonal, f["family_name"], f["given_name"], f["family_reading"],
			f["given_reading"], p.App.IdentityKey, f["sex"], f["birth_date"], f["institution"], f["department"], f["email"],
			f["eligibility"], p.Hash, active, created); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
