package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/demo"
)

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "desk.db")
	cfg := filepath.Join(dir, "madoguchi.yaml")
	// Import never connects: the servers may be anywhere.
	if err := os.WriteFile(cfg, []byte(demo.Config("127.0.0.1:1", "127.0.0.1:1", db)), 0o600); err != nil {
		t.Fatal(err)
	}
	csvText := "氏名(姓),氏名(名),ふりがな(姓),ふりがな(名),性別,生年月日,所属機関,所属部署,所属メールアドレス,希望ID,パスワード,パスワード(確認),利用資格\r\n" +
		"山田,太郎,やまだ,たろう,男性,1985/04/01,東都大学病院,総合診療科,taro@hosp.example,yamada-tk,Gk7vQz2x#Lp,Gk7vQz2x#Lp,1\r\n" +
		"佐藤,花子,さとう,はなこ,女性,1986/05/02,東都大学病院,総合診療科,hanako@hosp.example,Sato_Hanako,Gk7vQz2x#Lp,Gk7vQz2x#Lp,1\r\n" +
		"渡辺,五郎,わたなべ,ごろう,男性,1991/09/06,東都大学病院,総合診療科,goro@hosp.example,watanabe-g,Rw9mTq4z!Hv,Rw9mTq4z!Hv,2\r\n"
	sj, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(csvText))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "members.csv")
	if err := os.WriteFile(in, sj, 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code := runImport(context.Background(), []string{"-config", cfg, "-lang", "en", in}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, &stdout, &stderr)
	}
	if !strings.Contains(stderr.String(), "\r["+strings.Repeat("=", barWidth)+"] 3/3 rows") || !strings.HasSuffix(stderr.String(), "\n") {
		t.Errorf("progress bar: %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "created 2, refused 1") || !strings.Contains(stdout.String(), "members.result.csv") {
		t.Errorf("summary: %q", stdout.String())
	}
	result, err := os.ReadFile(filepath.Join(dir, "members.result.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(result), "\ufeff"), "\r\n"), "\r\n")
	if len(lines) != 4 || lines[0] != "line,result,id,problems" || !strings.HasPrefix(lines[1], "2,created,yamada-tk") ||
		!strings.HasPrefix(lines[2], "3,error,Sato_Hanako") || !strings.HasPrefix(lines[3], "4,created,watanabe-g") {
		t.Errorf("result file:\n%s", result)
	}
	if strings.Contains(string(result), "Gk7vQz2x#Lp") {
		t.Error("result file holds a password")
	}

	st, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Tx(context.Background(), func(tx *store.Tx) error {
		a, err := tx.AccountByLogin("watanabe-g")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := secret.Verify("Rw9mTq4z!Hv", a.PasswordHash); !ok {
			t.Error("password does not verify")
		}
		if _, err := tx.AccountByLogin("Sato_Hanako"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused row registered: %v", err)
		}
		log, _ := tx.AuditLog(a.RequestID)
		if len(log) != 1 || !strings.HasPrefix(log[0].Actor, "cli:") {
			t.Errorf("audit %+v", log)
		}
		return nil
	})
}

func TestImportCommandErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "madoguchi.yaml")
	os.WriteFile(cfg, []byte(demo.Config("127.0.0.1:1", "127.0.0.1:1", filepath.Join(dir, "desk.db"))), 0o600)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("氏名(姓),備考\n山田,x\n"), 0o600)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{bad}, 2, "usage: madoguchi import"},
		{[]string{"-config", cfg}, 2, "usage: madoguchi import"},
		{[]string{"-config", cfg, "-lang", "fr", bad}, 2, "usage: madoguchi import"},
		{[]string{"-config", filepath.Join(dir, "none.yaml"), bad}, 1, "none.yaml"},
		{[]string{"-config", cfg, filepath.Join(dir, "none.csv")}, 1, "none.csv"},
		{[]string{"-config", cfg, bad}, 1, `unknown column "備考"`},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := runImport(context.Background(), c.args, &stdout, &stderr)
		t.Logf("%v -> %d %s", c.args, code, stderr.String())
		if code != c.code || !strings.Contains(stderr.String(), c.want) || strings.Contains(stderr.String(), "goroutine") {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr.String())
		}
	}
}
