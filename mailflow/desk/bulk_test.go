package desk_test

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"

	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

const admin = "admin@madoguchi.test"

const bulkHeader = "氏名(姓),氏名(名),ふりがな(姓),ふりがな(名),性別,生年月日,所属機関,所属部署,所属メールアドレス,希望ID,パスワード,パスワード(確認),利用資格\r\n"

func bulkMail(name string, csv []byte) samples.Mail {
	m := operatorMail("", "一括登録をお願いします。\n")
	m.From, m.Subject = "Admin <"+admin+">", "一括登録"
	m.Attachments = []samples.Attachment{{Filename: name, ContentType: "text/csv", Data: csv}}
	return m
}

// A program administrator's Shift_JIS CSV, as Excel writes it, with
// broken rows: the good row becomes an account, each broken row is
// reported by field in the result CSV, and no password is kept anywhere.
func TestBulkRegistrationShiftJISWithBrokenRows(t *testing.T) {
	h := newHarness(t, withConfig("program_administrators: ["+admin+"]\n"))
	csv := bulkHeader +
		"鈴木,一郎,すずき,いちろう,男,1980/01/02,南山病院,内科,suzuki@minami.example,suzuki-ic,Hq3wZr8n!,Hq3wZr8n!,1\r\n" +
		"佐藤,花子,さとう,はなこ,女,1990/02/30,南山病院,看護部,sato@minami.example,Sato_Hanako,Kd8vNq2w!,Kd8vNq2w!,2\r\n" +
		"田中,次郎,たなか,じろう,男,1975/05/05,南山病院,外科,tanaka@minami.example,tanaka-jr,abcd1234,abcd1234,1\r\n"
	sjis, err := japanese.ShiftJIS.NewEncoder().String(csv)
	if err != nil {
		t.Fatal(err)
	}
	h.deliver(bulkMail("members.csv", []byte(sjis)))
	h.once()
	n := h.only(admin)
	contains(t, "bulk result", n.Body, "行数: 3", "登録したID: 1", "登録できなかった行: 2")
	if len(n.Attachments) != 1 {
		t.Fatalf("result attachments: %+v", n.Attachments)
	}
	result := string(n.Attachments[0].Data)
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(result, "\ufeff")), "\r\n")
	if len(lines) != 4 {
		t.Fatalf("result CSV has %d lines, want header + 3:\n%s", len(lines), result)
	}
	contains(t, "row 2", lines[1], "suzuki-ic")
	contains(t, "row 3", lines[2], "希望ID", "生年月日")
	contains(t, "row 4", lines[3], "パスワード")
	if _, err := h.account("suzuki-ic"); err != nil {
		t.Errorf("the good row was not registered: %v", err)
	}
	if _, err := h.account("tanaka-jr"); err == nil {
		t.Error("a refused row was registered")
	}
	h.inboxEmpty()
	assertSecretNowhere(t, h, "Hq3wZr8n!")
	assertSecretNowhere(t, h, "Kd8vNq2w!")
}

// UTF-8 with a BOM works; a file with a broken header is refused whole;
// a CSV from someone who is not a program administrator registers nothing.
func TestBulkRegistrationBOMHeaderAndStranger(t *testing.T) {
	h := newHarness(t, withConfig("program_administrators: ["+admin+"]\n"))
	good := "\ufeff" + bulkHeader + "鈴木,一郎,スズキ,イチロウ,男性,1980-01-02,南山病院,内科,suzuki@minami.example,suzuki-ic,Hq3wZr8n!,Hq3wZr8n!,1\r\n"
	h.deliver(bulkMail("bom.csv", []byte(good)))
	h.once()
	contains(t, "BOM", h.only(admin).Body, "登録したID: 1")

	h.deliver(bulkMail("broken.csv", []byte("名前,メモ\r\n山田,x\r\n")))
	h.once()
	refused := h.only(admin)
	contains(t, "broken header", refused.Subject, "読めませんでした")
	contains(t, "broken header", refused.Body, "メモ")

	stranger := bulkMail("x.csv", []byte(strings.Replace(good, "suzuki-ic", "suzuki-xx", 1)))
	stranger.From = "someone@else.example"
	h.deliver(stranger)
	h.once()
	h.fresh()
	if _, err := h.account("suzuki-xx"); err == nil {
		t.Error("a stranger's CSV registered an account")
	}
}
