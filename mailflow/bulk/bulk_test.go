package bulk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// cheap keeps argon2 out of the test time.
var cheap = secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}

const (
	headerJA = "氏名(姓),氏名(名),ふりがな(姓),ふりがな(名),性別,生年月日,所属機関,所属部署,所属メールアドレス,希望ID,パスワード,パスワード(確認),利用資格"
	headerEN = "Family name,Given name,Family name reading,Given name reading,Sex,Date of birth,Institution,Department,Institution e-mail,Desired ID,Password,Password (again),Eligibility"
	goodPW   = "Gk7vQz2x#Lp"
)

// row is a CSV line of the Japanese header's columns.
func row(family, given, birth, id, pw string) string {
	return fmt.Sprintf("%s,%s,やまだ,たろう,男性,%s,東都大学病院,総合診療科,%s@hosp.example,%s,%s,%s,1", family, given, birth, id, id, pw, pw)
}

func sjis(t testing.TB, s string) []byte {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "desk.db"), store.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var now = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func commitOpts() CommitOptions {
	return CommitOptions{Now: now, Actor: "admin@univ.example", ReferencePrefix: "MDG", Location: time.UTC}
}

func readString(t *testing.T, data []byte) []Row {
	t.Helper()
	rows, err := ReadCSV(bytes.NewReader(data), 100)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestReadCSVEncodings(t *testing.T) {
	body := headerJA + "\r\n" + row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW) + "\r\n" + row("髙橋", "①子", "1990-01-02", "takahashi-k", goodPW) + "\r\n"
	for name, data := range map[string][]byte{
		"utf8-bom": append([]byte("\xef\xbb\xbf"), body...),
		"utf8":     []byte(body),
		"sjis":     sjis(t, body), // CP932: 髙 and ① are NEC/IBM extensions
	} {
		t.Run(name, func(t *testing.T) {
			rows := readString(t, data)
			if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 3 {
				t.Fatalf("rows %+v", rows)
			}
			if rows[0].Fields["family_name"] != "山田" || rows[1].Fields["family_name"] != "髙橋" || rows[1].Fields["given_name"] != "1子" /* NFKC, as Parse */ {
				t.Errorf("fields %v / %v", rows[0].Fields, rows[1].Fields)
			}
			if rows[0].Fields["password"] != goodPW || rows[0].Fields["desired_id"] != "yamada-tk" || len(rows[0].Fields) != 13 {
				t.Errorf("fields %v", rows[0].Fields)
			}
		})
	}
}

func TestReadCSVHeadersAndRows(t *testing.T) {
	// English headings, full-width ones, an empty trailing column, blank
	// rows, a quoted cell over two lines, an extra cell.
	body := headerEN + ",\n" +
		",,,,,,,,,,,,,\n" +
		strings.Replace(row("Smith", "Alice", "1990/07/15", "smith-al", goodPW), "総合診療科", "\"General\nMedicine\"", 1) + "\n" +
		"\n" +
		"　,,\n" +
		row("Jones", "Bob", "1991/07/15", "jones-bo", goodPW) + ",stray\n"
	rows := readString(t, []byte(body))
	if len(rows) != 2 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	if rows[0].Line != 3 || rows[0].Fields["department"] != "General\nMedicine" || rows[0].Extra != 0 {
		t.Errorf("row 0 %+v", rows[0])
	}
	if rows[1].Line != 7 || rows[1].Extra != 1 {
		t.Errorf("row 1 %+v", rows[1])
	}
	// Full-width letters in the value are cleaned as Parse cleans them.
	wide := headerJA + "\n" + row("山田", "太郎", "１９８５／０４／０１", "ｙａｍａｄａ－ｔｋ", goodPW)
	if f := readString(t, []byte(wide))[0].Fields; f["desired_id"] != "yamada-tk" || f["birth_date"] != "1985/04/01" {
		t.Errorf("cleaned %v", f)
	}
	alias := "苗字,名,フリガナ(セイ),フリガナ(メイ),性別,誕生日,所属,部署,Email,ID,PW,パスワード確認,利用資格番号\n" + row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW)
	if f := readString(t, []byte(alias))[0].Fields; f["desired_id"] != "yamada-tk" || f["password_confirm"] != goodPW {
		t.Errorf("aliases %v", f)
	}
}

func TestReadCSVFileErrors(t *testing.T) {
	valid := row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW)
	cases := []struct {
		name string
		data []byte
		want []string // in Reason
	}{
		{"unknown", []byte(headerJA + ",備考\n" + valid), []string{`unknown column "備考" (column 14)`}},
		{"duplicate", []byte(headerJA + ",E-mail\n" + valid), []string{`duplicate column "E-mail"`}},
		{"missing", []byte("氏名(姓),氏名(名),性別\n山田,太郎,男性"), []string{"missing columns:", "Family name reading", "Given name reading", "Date of birth", "Institution e-mail", "Password (again)", "Eligibility"}},
		{"empty", nil, []string{"empty"}},
		{"too many", []byte(headerJA + strings.Repeat("\n"+valid, 101)), []string{"at most 100 rows"}},
		{"utf16", []byte{0xff, 0xfe, 'a', 0}, []string{"UTF-16"}},
		{"binary", append(sjis(t, headerJA+"\n"), 0x82, 0xa0, 0xff, 0xfe, 0xfd), []string{"line 2 is neither UTF-8 nor Shift_JIS"}},
	}
	for _, c := range cases {
		_, err := ReadCSV(bytes.NewReader(c.data), 100)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err %v, want *FileError", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(fe.Reason, w) {
				t.Errorf("%s: reason %q lacks %q", c.name, fe.Reason, w)
			}
		}
		if fe.ReasonJA == "" {
			t.Errorf("%s: no Japanese reason", c.name)
		}
	}
	_, err := ReadCSV(strings.NewReader("氏名(姓),氏名(名)\n"), 100)
	var fe *FileError
	if errors.As(err, &fe) && !strings.Contains(fe.ReasonJA, "ふりがな(姓)") {
		t.Errorf("JA reason names the Japanese labels: %q", fe.ReasonJA)
	}
}

// codes lists the problem codes by field: "field:code".
func codes(ps []rules.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Field+":"+p.Code)
	}
	return out
}

func has(ps []rules.Problem, field, code string) bool {
	for _, p := range ps {
		if p.Field == field && p.Code == code {
			return true
		}
	}
	return false
}

func TestPrepareCommitShiftJIS(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	// An ID issued before the import.
	err := st.Tx(ctx, func(tx *store.Tx) error {
		return tx.CreateAccount(&store.Account{Login: "old-id", Kind: store.AccountPersonal, IdentityKey: "x|y|1970-01-01", CreatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		headerJA,
		row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW),   // 2 ok
		row("佐藤", "花子", "1986/05/02", "Sato_Hanako", goodPW), // 3 bad ID
		row("鈴木", "一郎", "1987/06/03", "suzuki-ic", "abc"),    // 4 weak password
		row("田中", "次郎", "1988/02/30", "tanaka-jr", goodPW),   // 5 impossible date
		row("高橋", "三郎", "1989/07/04", "yamada-tk", goodPW),   // 6 same ID as line 2
		row("山田", "太郎", "1985/04/01", "yamada-t2", goodPW),   // 7 same person as line 2
		row("伊藤", "四郎", "1990/08/05", "old-id", goodPW),      // 8 taken in the database
		row("渡辺", "五郎", "1991/09/06", "watanabe-g", goodPW),  // 9 ok
	}
	rows := readString(t, sjis(t, strings.Join(lines, "\r\n")+"\r\n"))
	var calls, last int
	prepared, err := Prepare(ctx, rows, Options{Now: now, Hash: cheap, Workers: 3, Progress: func(done, total int) {
		calls++
		if done < last || total != 8 {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != 8 || calls < 2 {
		t.Errorf("progress ended at %d after %d calls", last, calls)
	}
	for _, p := range prepared {
		if p.App.Password != "" || p.Row.Fields["password"] != "" || p.Row.Fields["password_confirm"] != "" {
			t.Errorf("line %d keeps the clear password", p.Row.Line)
		}
		if (p.Hash == "") != (len(p.Problems) > 0) {
			t.Errorf("line %d: hash %q with problems %v", p.Row.Line, p.Hash, codes(p.Problems))
		}
	}
	var results []Result
	err = st.Tx(ctx, func(tx *store.Tx) error {
		var err error
		results, err = Commit(tx, prepared, commitOpts())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 8 {
		t.Fatalf("%d results", len(results))
	}
	want := map[int]func(Result) bool{
		2: func(r Result) bool { return r.Created },
		3: func(r Result) bool { return has(r.Problems, "desired_id", "id.underscore") },
		4: func(r Result) bool { return len(r.Problems) > 0 && r.Problems[0].Field == "password" },
		5: func(r Result) bool { return has(r.Problems, "birth_date", "date.invalid") },
		6: func(r Result) bool {
			return has(r.Problems, "desired_id", "id.taken") && strings.Contains(r.Problems[len(r.Problems)-1].JA, "2行目")
		},
		7: func(r Result) bool { return has(r.Problems, "", "identity.duplicate_row") },
		8: func(r Result) bool { return has(r.Problems, "desired_id", "id.taken") },
		9: func(r Result) bool { return r.Created },
	}
	for i, r := range results {
		if r.Line != i+2 {
			t.Errorf("result %d is line %d", i, r.Line)
		}
		if ok := want[r.Line]; !ok(r) {
			t.Errorf("line %d: created %v problems %v", r.Line, r.Created, codes(r.Problems))
		}
	}
	err = st.Tx(ctx, func(tx *store.Tx) error {
		for _, id := range []string{"yamada-tk", "watanabe-g"} {
			a, err := tx.AccountByLogin(id)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			if ok, _ := secret.Verify(goodPW, a.PasswordHash); !ok {
				t.Errorf("%s: password does not verify", id)
			}
			if !a.PasswordActiveAt.Equal(now.Add(7*24*time.Hour)) || a.Eligibility != 1 || a.BirthDate == "" || a.RequestID == 0 {
				t.Errorf("%s: account %+v", id, a)
			}
			req, err := tx.RequestByID(a.RequestID)
			if err != nil {
				return err
			}
			if req.State != store.StateApproved || req.Open() || req.AccountID != a.ID || req.PasswordHash != "" || req.Applicant != "admin@univ.example" || req.Fields["password"] != "" {
				t.Errorf("%s: request %+v", id, req)
			}
			log, err := tx.AuditLog(req.ID)
			if err != nil || len(log) != 1 || log[0].Action != "bulk_created" {
				t.Errorf("%s: audit %+v %v", id, log, err)
			}
		}
		for _, id := range []string{"Sato_Hanako", "suzuki-ic", "tanaka-jr", "yamada-t2"} {
			if _, err := tx.AccountByLogin(id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: refused row left an account (%v)", id, err)
			}
		}
		n, err := tx.CountRequests("new_id", store.StateApproved)
		if n != 2 || err != nil {
			t.Errorf("%d requests, %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The same file again: every valid row is now taken or a known person.
	err = st.Tx(ctx, func(tx *store.Tx) error {
		again, err := Commit(tx, prepared, commitOpts())
		if err != nil {
			return err
		}
		if again[0].Created || !has(again[0].Problems, "desired_id", "id.taken") || !has(again[0].Problems, "", "identity.has_account") {
			t.Errorf("again: %v", codes(again[0].Problems))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCommitRollsBackEverything(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	rows := readString(t, []byte(headerJA+"\n"+row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW)+"\n"+row("渡辺", "五郎", "1991/09/06", "watanabe-g", goodPW)))
	prepared, err := Prepare(ctx, rows, Options{Now: now, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("mail could not be queued")
	err = st.Tx(ctx, func(tx *store.Tx) error {
		res, err := Commit(tx, prepared, commitOpts())
		if err != nil || !res[0].Created || !res[1].Created {
			t.Fatalf("commit %+v %v", res, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("tx: %v", err)
	}
	st.Tx(ctx, func(tx *store.Tx) error {
		for _, id := range []string{"yamada-tk", "watanabe-g"} {
			if _, err := tx.AccountByLogin(id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s survived the rollback (%v)", id, err)
			}
		}
		if n, _ := tx.CountRequests("new_id", store.StateApproved); n != 0 {
			t.Errorf("%d requests survived", n)
		}
		return nil
	})
}

func TestPrepareCancelled(t *testing.T) {
	rows := readString(t, []byte(headerJA+"\n"+row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Prepare(ctx, rows, Options{Now: now, Hash: cheap}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

// manyRows is a CSV of n valid rows: distinct IDs and birth dates.
func manyRows(n int) []byte {
	var b strings.Builder
	b.WriteString(headerJA + "\r\n")
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := "u" + base26(i) + "-bk"
		b.WriteString(row("山田", "太郎"+base26(i), birth.AddDate(0, 0, i).Format("2006/01/02"), id, goodPW))
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

func base26(i int) string {
	s := ""
	for {
		s = string(rune('a'+i%26)) + s
		i /= 26
		if i == 0 {
			return s
		}
	}
}

func TestTenThousandRows(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 rows")
	}
	st := openStore(t)
	ctx := context.Background()
	rows, err := ReadCSV(bytes.NewReader(manyRows(10000)), 100000)
	if err != nil {
		t.Fatal(err)
	}
	prepared, err := Prepare(ctx, rows, Options{Now: now, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	err = st.Tx(ctx, func(tx *store.Tx) error {
		results, err = Commit(tx, prepared, commitOpts())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, r := range results {
		if r.Created {
			created++
		} else if created < 3 {
			t.Errorf("line %d: %v", r.Line, codes(r.Problems))
		}
	}
	if created != 10000 {
		t.Errorf("%d created", created)
	}
	st.Tx(ctx, func(tx *store.Tx) error {
		if n, _ := tx.CountRequests("new_id", store.StateApproved); n != 10000 {
			t.Errorf("%d requests", n)
		}
		last, err := tx.AccountByLogin("u" + base26(9999) + "-bk")
		if err != nil || last.RequestID == 0 {
			t.Errorf("last account %v %v", last, err)
		}
		return nil
	})
	if out := ResultCSV(results, "ja"); bytes.Count(out, []byte("\r\n")) != 10001 {
		t.Errorf("result CSV has %d lines", bytes.Count(out, []byte("\r\n")))
	}
}

func TestResultCSV(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	rows := readString(t, []byte(headerJA+"\n"+
		row("山田", "太郎", "1985/04/01", "yamada-tk", goodPW)+"\n"+
		row("佐藤", "花子", "1986/05/02", "=cmd|x", "Secretpass1")+"\n"+
		row("鈴木", "一郎", "1987/06/03", "suzuki9-ic", "Zq8mWx3vTy")))
	prepared, err := Prepare(ctx, rows, Options{Now: now, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	st.Tx(ctx, func(tx *store.Tx) error {
		results, err = Commit(tx, prepared, commitOpts())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"ja", "en"} {
		out := ResultCSV(results, lang)
		if !bytes.HasPrefix(out, []byte("\xef\xbb\xbf")) {
			t.Errorf("%s: no BOM", lang)
		}
		text := string(out)
		lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
		if len(lines) != 4 {
			t.Fatalf("%s: %d lines:\n%s", lang, len(lines), text)
		}
		for _, pw := range []string{goodPW, "Secretpass1", "Zq8mWx3vTy"} {
			if strings.Contains(text, pw) {
				t.Errorf("%s: result holds a password", lang)
			}
		}
		if strings.Contains(text, ",=cmd") {
			t.Errorf("%s: formula cell left as is", lang)
		}
		t.Logf("%s:\n%s", lang, text)
	}
	ja := string(ResultCSV(results, "ja"))
	for _, w := range []string{"\ufeff行,結果,ID,内容\r\n", "2,登録,yamada-tk,", "3,エラー,'=cmd|x,", "希望ID: ", "4,登録,suzuki9-ic,注意 希望ID: "} {
		if !strings.Contains(ja, w) {
			t.Errorf("ja lacks %q", w)
		}
	}
	en := string(ResultCSV(results, "en"))
	for _, w := range []string{"\ufeffline,result,id,problems\r\n", "2,created,yamada-tk,", "3,error,", "Desired ID: ", "warning Desired ID: "} {
		if !strings.Contains(en, w) {
			t.Errorf("en lacks %q", w)
		}
	}
}
