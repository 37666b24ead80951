package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// copySeed is what seedEveryTable wrote, for the checks after the copy.
type copySeed struct {
	request      *Request
	document     []byte
	replacement  []byte
	sealedBody   string
	nextRefAfter string // the reference the copied counter hands out next
}

// seedEveryTable writes rows into the desk's tables through the store's
// own methods, the way the desk does: a request and its account pointing
// at each other, a merged account, a sealed notice, binary documents and
// a masked copy holding NUL and invalid UTF-8 bytes, a subject PostgreSQL's
// text cannot take as it is. A table it does not know (added by a later
// migration) gets one made-up row, so the copy is still tested with it.
func seedEveryTable(t *testing.T, st *Store) copySeed {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	seed := copySeed{
		document:    append([]byte("%PDF-1.7\x00\xff\xfe"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 64)...),
		replacement: []byte("Subject: masked\r\n\r\n\x00\xff\xc3(********\r\n"),
		sealedBody:  "Your access code is 8731942006.",
	}
	err := st.Tx(ctx, func(tx *Tx) error {
		ref, err := tx.NextReference("MDG", 2026)
		if err != nil {
			return err
		}
		r := &Request{Reference: ref, Kind: "new_id", State: "awaiting_documents", Applicant: "alice@univ.example",
			Fields: map[string]string{"family_name": "山田"}, ThreadRoot: "apply-1@univ.example", CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateRequest(r); err != nil {
			return err
		}
		seed.request = r
		a := &Account{Login: "yamada-ha", Kind: "personal", FamilyName: "山田", Email: "alice@univ.example", Eligibility: 1,
			CreatedAt: now, RequestID: r.ID, PasswordActiveAt: now}
		if err := tx.CreateAccount(a); err != nil {
			return err
		}
		if err := tx.SetRequestAccount(r, a.ID); err != nil {
			return err
		}
		old := &Account{Login: "yamada-old", Kind: "personal", CreatedAt: now}
		if err := tx.CreateAccount(old); err != nil {
			return err
		}
		if err := tx.CloseAccount(old.ID, "merged", a.ID, now); err != nil {
			return err
		}
		if err := tx.LinkThreadMessage("apply-1@univ.example", r.ID); err != nil {
			return err
		}
		if err := tx.SetUIDValidity("INBOX", 7); err != nil {
			return err
		}
		seenID, err := tx.RecordSeen(&Seen{Mailbox: "INBOX", UIDValidity: 7, UID: 1, MessageID: "apply-1@univ.example",
			ContentSHA256: "ab", From: "alice@univ.example", Subject: "New ID\x00 \xff", ReceivedAt: now, Outcome: "answered",
			RequestID: r.ID, Destination: "processed", Replacement: seed.replacement})
		if err != nil {
			return err
		}
		if err := tx.AddDocument(&Document{RequestID: r.ID, SeenID: seenID, Filename: "form.pdf", ContentType: "application/pdf",
			Size: int64(len(seed.document)), SHA256: "cd", Data: seed.document, Accepted: true, ReceivedAt: now}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(Queued{Kind: "reset_code", RequestID: r.ID, Sensitive: true, Notice: Notice{
			MessageID: "code-1@madoguchi.example", Date: now, From: "desk@madoguchi.example", To: []string{"alice@univ.example"},
			Subject: "Access code", Body: seed.sealedBody}}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(Queued{Kind: "new_id_received", RequestID: r.ID, Notice: Notice{
			MessageID: "recv-1@madoguchi.example", Date: now, From: "desk@madoguchi.example", To: []string{"alice@univ.example"},
			Subject: "Received", Body: "We received your application.",
			Attachments: []NoticeAttachment{{Filename: "form.pdf", ContentType: "application/pdf", Data: seed.document}}}}); err != nil {
			return err
		}
		if err := tx.Audit(now, "desk", r.ID, "received", "application"); err != nil {
			return err
		}
		if _, _, err := tx.IssueAccessCode(a.ID, r.ID, "password_reset", 10, now, 10*time.Minute); err != nil {
			return err
		}
		if err := tx.AddForwarding(&Forwarding{AccountID: a.ID, RequestID: r.ID, OldLogin: "yamada-old", NewLogin: "yamada-ha",
			StartsAt: now, EndsAt: now.Add(24 * time.Hour)}); err != nil {
			return err
		}
		if err := tx.RecordHashWork("alice@univ.example", now); err != nil {
			return err
		}
		if _, _, err := tx.IssueRequestToken(r.ID, 8, now, time.Hour); err != nil {
			return err
		}
		fu := &FacilityUser{UserID: "fac-0001", VPNID: "vpn-0001", Prefecture: "東京都", Facility: "病院", FacilityCode: "1310000001",
			Email: "fac@hosp.example", Name: "佐藤", Role: "staff", RequestID: r.ID, CreatedAt: now}
		if err := tx.CreateFacilityUser(fu); err != nil {
			return err
		}
		if err := tx.SetFacilityService(fu.ID, "vpn", "active", r.ID, now); err != nil {
			return err
		}
		if err := tx.CountEvent("replies", "alice@univ.example", 1, now); err != nil {
			return err
		}
		if err := tx.SaveProcessingFailure(ProcessingFailure{Mailbox: "INBOX", UIDValidity: 7, UID: 2, Attempts: 1,
			FirstFailedAt: now, LastFailedAt: now, NextAttemptAt: now.Add(time.Minute), LastError: "boom"}); err != nil {
			return err
		}
		if _, err := tx.ClaimStep("reminders", "reminder-1", r.ID, now); err != nil {
			return err
		}
		seed.nextRefAfter, err = tx.NextReference("MDG", 2026) // the counter moves on; the copy must keep it there
		return err
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	if _, err := st.ClaimJobRun(ctx, "digest", now.Truncate(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	// The reference handed out above was never used by a request: the next
	// one after the copy is the one after it.
	next, err := samples.NextReference(seed.nextRefAfter)
	if err != nil {
		t.Fatal(err)
	}
	seed.nextRefAfter = next

	tables, err := st.sqliteTableNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		var n int
		if err := st.db.QueryRowContext(ctx, `SELECT count(*) FROM `+sqliteIdent(table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Logf("table %s is not seeded by the desk's methods here; it gets a made-up row", table)
			if err := insertMadeUpRow(ctx, st.db, table); err != nil {
				t.Fatalf("table %s: %v (seed it in seedEveryTable)", table, err)
			}
		}
	}
	return seed
}

func (s *Store) sqliteTableNames(ctx context.Context) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tables, err := sqliteTables(ctx, tx)
	var names []string
	for _, t := range tables {
		names = append(names, t.name)
	}
	return names, err
}

// insertMadeUpRow writes one row into table with a value for every column
// that needs one, referring to an existing row where it must.
func insertMadeUpRow(ctx context.Context, db *sql.DB, table string) error {
	parents := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT "from", "table", "to" FROM pragma_foreign_key_list(?)`, table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var from, parent string
		var to sql.NullString
		if err := rows.Scan(&from, &parent, &to); err != nil {
			rows.Close()
			return err
		}
		col := "rowid"
		if to.Valid && to.String != "" {
			col = to.String
		}
		parents[from] = fmt.Sprintf(`(SELECT MIN(%s) FROM %s)`, sqliteIdent(col), sqliteIdent(parent))
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT name, upper(type), "notnull", dflt_value IS NOT NULL, pk FROM pragma_table_info(?)`, table)
	if err != nil {
		return err
	}
	var cols, values []string
	for rows.Next() {
		var name, typ string
		var notNull, hasDefault bool
		var pk int
		if err := rows.Scan(&name, &typ, &notNull, &hasDefault, &pk); err != nil {
			rows.Close()
			return err
		}
		value, ok := parents[name]
		switch {
		case ok:
		case pk == 1 && typ == "INTEGER":
			continue // the rowid
		case !notNull && pk == 0 || hasDefault:
			continue
		case strings.Contains(typ, "INT"):
			value = "1"
		case strings.Contains(typ, "BLOB"):
			value = "x'00ff'"
		case strings.Contains(typ, "REAL"):
			value = "1.5"
		default:
			value = "'made up'"
		}
		cols = append(cols, sqliteIdent(name))
		values = append(values, value)
	}
	rows.Close()
	_, err = db.ExecContext(ctx, `INSERT INTO `+sqliteIdent(table)+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(values, ", ")+`)`)
	return err
}

// TestCopyToPostgres copies a desk's SQLite database with a row in every
// table into PostgreSQL and opens the copy as a desk would. The work is in
// the subtest Postgres, which CI's PostgreSQL step selects (-run /Postgres).
func TestCopyToPostgres(t *testing.T) {
	t.Run("Postgres", func(t *testing.T) {
		ctx := context.Background()
		url, pgOpts := postgresTestOptions(t)
		src, dbPath := openSQLiteToCopy(t)
		seed := seedEveryTable(t, src)
		tables, err := src.sqliteTableNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		src.Close()

		keyPath := filepath.Join(t.TempDir(), "seal.key")
		if created, err := InstallKeyFile(dbPath, keyPath); err != nil || !created {
			t.Fatalf("install key: %v, %v", created, err)
		}
		var progress, notes []string
		opts := CopyOptions{Schema: pgOpts.Schema, KeyPath: keyPath,
			Progress: func(table string, rows int64, _ time.Duration) {
				progress = append(progress, fmt.Sprintf("%s %d", table, rows))
			},
			Note: func(table, note string) { notes = append(notes, table+": "+note) },
		}
		res, err := CopyToPostgres(ctx, dbPath, url, opts)
		if err != nil {
			t.Fatalf("copy: %v", err)
		}
		latest, _ := LatestSchemaVersion()
		if res.Version != latest {
			t.Errorf("version %d, want %d", res.Version, latest)
		}
		listed := map[string]TableCount{}
		for _, tc := range res.Tables {
			listed[tc.Table] = tc
		}
		for _, table := range tables {
			tc, ok := listed[table]
			switch {
			case !ok:
				t.Errorf("table %s is not in the result", table)
			case tc.SQLite == 0 || tc.SQLite != tc.Postgres || tc.Where != "":
				t.Errorf("table %s: %+v; want the same rows on both sides", table, tc)
			}
		}
		if len(progress) != len(tables) {
			t.Errorf("progress for %d tables, want %d: %v", len(progress), len(tables), progress)
		}
		if !strings.Contains(strings.Join(notes, "\n"), "seen_messages: 1 text values held NUL or invalid UTF-8") {
			t.Errorf("no note on the subject made valid: %q", notes)
		}

		dst, err := OpenPostgres(ctx, url, Options{Schema: pgOpts.Schema, KeyPath: keyPath})
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		// The sealed notice opens with the copied key.
		due, err := dst.Due(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 10)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, n := range due {
			bodies = append(bodies, n.Body)
		}
		if !strings.Contains(strings.Join(bodies, "\n"), seed.sealedBody) {
			t.Errorf("the sealed notice does not read back: %q", bodies)
		}
		err = dst.Tx(ctx, func(tx *Tx) error {
			docs, err := tx.Documents(seed.request.ID)
			if err != nil {
				return err
			}
			if len(docs) != 1 || !docs[0].Accepted {
				t.Fatalf("documents after the copy: %+v", docs)
			}
			// No method reads a document's content back; the column does.
			var data []byte
			if err := tx.queryRow(`SELECT data FROM documents WHERE id = ?`, docs[0].ID).Scan(&data); err != nil {
				return err
			}
			if !bytes.Equal(data, seed.document) {
				t.Errorf("document after the copy: %q, want the bytes as written", data)
			}
			seen, err := tx.SeenByUID("INBOX", 7, 1)
			if err != nil {
				return err
			}
			if !bytes.Equal(seen.Replacement, seed.replacement) || seen.Subject != "New ID\uFFFD \uFFFD" {
				t.Errorf("seen after the copy: replacement %q, subject %q", seen.Replacement, seen.Subject)
			}
			r, err := tx.RequestByReference(seed.request.Reference)
			if err != nil {
				return err
			}
			if r.AccountID == 0 || r.ID != seed.request.ID {
				t.Errorf("request after the copy: %+v", r)
			}
			// A new request takes the next reference and an id of its own.
			ref, err := tx.NextReference("MDG", 2026)
			if err != nil {
				return err
			}
			if ref != seed.nextRefAfter {
				t.Errorf("next reference %s, want %s", ref, seed.nextRefAfter)
			}
			nr := &Request{Reference: ref, Kind: "new_id", State: "awaiting_documents", Applicant: "bob@univ.example",
				CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := tx.CreateRequest(nr); err != nil {
				return fmt.Errorf("a new request after the copy: %w", err)
			}
			if nr.ID <= seed.request.ID {
				t.Errorf("new request id %d, copied ones go up to %d", nr.ID, seed.request.ID)
			}
			return tx.Audit(time.Now(), "desk", nr.ID, "received", "after the copy")
		})
		if err != nil {
			t.Fatal(err)
		}

		// Again into the same schema: refused, naming the tables, and
		// nothing changes.
		_, err = CopyToPostgres(ctx, dbPath, url, opts)
		if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "requests") || !strings.Contains(err.Error(), "outbox") {
			t.Errorf("copy into a schema with rows: %v", err)
		}
		var n int
		if err := dst.db.QueryRowContext(ctx, `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 2 {
			t.Errorf("requests after the refused copy: %d, %v", n, err)
		}
	})
}

// A SQLite database not at this build's version is refused before
// anything is made in PostgreSQL.
func TestCopyRefusesOtherVersion(t *testing.T) {
	t.Run("Postgres", func(t *testing.T) {
		ctx := context.Background()
		url, pgOpts := postgresTestOptions(t)
		src, dbPath := openSQLiteToCopy(t)
		latest, _ := LatestSchemaVersion()
		if _, err := src.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", latest-1)); err != nil {
			t.Fatal(err)
		}
		src.Close()
		_, err := CopyToPostgres(ctx, dbPath, url, CopyOptions{Schema: pgOpts.Schema, KeyPath: pgOpts.KeyPath})
		if !errors.Is(err, ErrCopyVersion) || !strings.Contains(err.Error(), "run this madoguchi once against the SQLite database first") {
			t.Fatalf("copy of an older database: %v", err)
		}
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var exists bool
		if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, pgOpts.Schema).Scan(&exists); err != nil || exists {
			t.Errorf("schema made for a refused copy: %v, %v", exists, err)
		}
	})
}

// The target key file gets the SQLite database's key; an existing one with
// the same key is kept, one with another key refused.
func TestInstallKeyFile(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "desk.db")
	src, err := Open(ctx, dbPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	key, _ := os.ReadFile(KeyPathFor(dbPath))
	dst := filepath.Join(t.TempDir(), "seal.key")
	if created, err := InstallKeyFile(dbPath, dst); err != nil || !created {
		t.Fatalf("first install: %v, %v", created, err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, key) {
		t.Error("the installed key is not the database's")
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v, %v", fi, err)
	}
	if created, err := InstallKeyFile(dbPath, dst); err != nil || created {
		t.Errorf("same key again: %v, %v; want it kept", created, err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{7}, keySize), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallKeyFile(dbPath, other); !errors.Is(err, ErrKeyDiffers) {
		t.Errorf("another key: %v, want ErrKeyDiffers", err)
	}
	if got, _ := os.ReadFile(other); !bytes.Equal(got, bytes.Repeat([]byte{7}, keySize)) {
		t.Error("the other key file was changed")
	}
}

// SQLite's loose values go into PostgreSQL's types; a value that fits
// nothing is named by kind, never by content.
func TestToPostgres(t *testing.T) {
	cases := []struct {
		in       any
		dataType string
		want     any
		changed  bool
	}{
		{int64(5), "bigint", int64(5), false},
		{float64(5), "bigint", int64(5), false},
		{"42", "bigint", int64(42), false},
		{int64(1), "boolean", true, false},
		{int64(0), "boolean", false, false},
		{"a\x00b", "text", "a\uFFFDb", true},
		{[]byte("héllo"), "text", "héllo", false},
		{int64(7), "text", "7", false},
		{"raw", "bytea", []byte("raw"), false},
		{nil, "bigint", nil, false},
	}
	for _, c := range cases {
		got, changed, err := toPostgres(c.in, c.dataType)
		if err != nil || changed != c.changed || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
			t.Errorf("toPostgres(%#v, %s) = %#v, %v, %v; want %#v, %v", c.in, c.dataType, got, changed, err, c.want, c.changed)
		}
	}
	_, _, err := toPostgres("secret text", "bigint")
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "text, 11 bytes") {
		t.Errorf("bad value: %v", err)
	}
	if _, _, err := toPostgres(int64(2), "boolean"); err == nil {
		t.Error("2 went into a boolean")
	}
}

// openSQLiteToCopy opens a fresh SQLite desk database to copy, and returns
// it with its path.
func openSQLiteToCopy(t *testing.T) (*Store, string) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "desk.db")
	src, err := Open(context.Background(), dbPath, Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	return src, dbPath
}
