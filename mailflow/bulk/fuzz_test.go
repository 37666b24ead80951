package bulk

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"

	"github.com/madoguchi/madoguchi/internal/secret"
)

// FuzzReadCSV feeds arbitrary bytes as a bulk registration file: it must
// never panic, every row must carry its line number, a file error must
// name its reason, and checking the rows must never echo a password into
// a problem text.
func FuzzReadCSV(f *testing.F) {
	header := "氏名(姓),氏名(名),ふりがな(姓),ふりがな(名),性別,生年月日,所属機関,所属部署,所属メールアドレス,希望ID,パスワード,パスワード(確認),利用資格\r\n"
	row := "鈴木,一郎,すずき,いちろう,男,1980/01/02,南山病院,内科,suzuki@minami.example,suzuki-ic,Hq3wZr8n!,Hq3wZr8n!,1\r\n"
	sjis, _ := japanese.ShiftJIS.NewEncoder().String(header + row)
	for _, seed := range []string{
		header + row,
		"\ufeff" + header + row,
		sjis,
		header + row + row,
		header + "\"unterminated,quote\r\n",
		"Family name,Given name\r\n",
		header + strings.Repeat(",", 40) + "\r\n",
		"",
		"\xff\xfe" + "a\x00b\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadCSV(bytes.NewReader(data), 50)
		if err != nil {
			var fe *FileError
			if ok := asFileError(err, &fe); ok && (fe.Reason == "" || fe.ReasonJA == "") {
				t.Fatalf("file error without a reason: %#v", fe)
			}
			return
		}
		for _, r := range rows {
			if r.Line < 2 {
				t.Fatalf("row with line %d", r.Line)
			}
			for k, v := range r.Fields {
				if !utf8.ValidString(v) {
					t.Fatalf("field %s not UTF-8: %q", k, v)
				}
			}
		}
		prepared, err := Prepare(context.Background(), rows, Options{Now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
			Hash: secret.Params{MemoryKiB: 8, Time: 1, Threads: 1}, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range prepared {
			pw := rows[i].Fields["password"]
			for _, pr := range append(p.Problems, p.Warnings...) {
				if len(pw) >= 6 && (strings.Contains(pr.JA, pw) || strings.Contains(pr.EN, pw)) {
					t.Fatalf("a problem text holds the password: %q", pr.JA)
				}
			}
			if p.App.Password != "" {
				t.Fatal("the clear password lives on after Prepare")
			}
		}
	})
}

func asFileError(err error, target **FileError) bool {
	fe, ok := err.(*FileError)
	if ok {
		*target = fe
	}
	return ok
}
