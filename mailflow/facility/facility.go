// Package facility holds the rules of the cancer registry's facility
// connection service (seed 004): prefectures, the facility list and its
// search, telephone numbers and full-width katakana readings.
package facility

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// Prefectures are the 47, in the usual order.
var Prefectures = []string{
	"北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
	"埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
	"岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
	"鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
	"佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
}

// ParsePrefecture accepts a prefecture with or without 都/道/府/県.
func ParsePrefecture(field, v string) (string, []rules.Problem) {
	s := strings.Join(strings.Fields(norm.NFKC.String(v)), "")
	if s == "" {
		return "", rules.Required(field, v)
	}
	for _, p := range Prefectures {
		// Only the one suffix: 京都府 is 京都, not 京.
		r := []rune(p)
		short := string(r[:len(r)-1])
		if s == p || s == short {
			return p, nil
		}
	}
	return "", []rules.Problem{{Field: field, Code: "facility.prefecture",
		JA: "都道府県名として認識できません（例: 東京都、大阪、北海道）。", EN: "Not a prefecture (e.g. 東京都, 大阪, 北海道)."}}
}

// Facility is one entry of the configured facility list.
type Facility struct {
	Prefecture string
	Name       string
	Code       string
}

// List is the facility list, searched by prefecture and partial name.
type List struct {
	entries []Facility
	keys    []string
}

// LoadList reads a CSV "prefecture,name[,code]" (UTF-8, a header line
// starting with 都道府県 or prefecture is skipped).
func LoadList(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("facility list: %w", err)
	}
	defer f.Close()
	return ReadList(f)
}

// ReadList reads the facility list from r.
func ReadList(r io.Reader) (*List, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	l := &List{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return l, nil
		}
		if err != nil {
			return nil, fmt.Errorf("facility list line %d: %w", line, err)
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("facility list line %d: want prefecture,name[,code]", line)
		}
		pref := strings.TrimPrefix(strings.TrimSpace(rec[0]), "\ufeff")
		if line == 1 && (pref == "都道府県" || strings.EqualFold(pref, "prefecture")) {
			continue
		}
		p, problems := ParsePrefecture("prefecture", pref)
		if len(problems) > 0 {
			return nil, fmt.Errorf("facility list line %d: %q is not a prefecture", line, pref)
		}
		e := Facility{Prefecture: p, Name: strings.TrimSpace(rec[1])}
		if len(rec) > 2 {
			e.Code = strings.TrimSpace(rec[2])
		}
		l.entries = append(l.entries, e)
		l.keys = append(l.keys, searchKey(e.Name))
	}
}

// searchKey folds width and case and drops spaces, so that ｸﾘﾆｯｸ finds
// クリニック and ＡＢＣ finds abc.
func searchKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(norm.NFKC.String(s)) {
		if !unicode.IsSpace(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Search finds the facilities of a prefecture whose name contains the
// query (width- and case-insensitive). An exact name match alone wins.
func (l *List) Search(prefecture, query string) []Facility {
	q := searchKey(query)
	if q == "" {
		return nil
	}
	var out []Facility
	for i, e := range l.entries {
		if e.Prefecture != prefecture || !strings.Contains(l.keys[i], q) {
			continue
		}
		if l.keys[i] == q {
			return []Facility{e}
		}
		out = append(out, e)
	}
	return out
}

// Len is the number of facilities in the list.
func (l *List) Len() int { return len(l.entries) }

// CheckPhone accepts Japanese numbers as people write them (03-1234-5678,
// (03)1234-5678, 0312345678, full-width digits) and returns the digits.
func CheckPhone(field, v string) (string, []rules.Problem) {
	s := norm.NFKC.String(v)
	var digits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '-' || r == '(' || r == ')' || r == ' ' || r == 'ー' || r == '−' || r == '‐':
		default:
			return "", []rules.Problem{{Field: field, Code: "facility.phone",
				JA: "電話番号は数字とハイフンで記入してください（例: 012-123-1234）。", EN: "Write the number in digits and hyphens (e.g. 012-123-1234)."}}
		}
	}
	d := digits.String()
	if d == "" {
		return "", rules.Required(field, v)
	}
	if d[0] != '0' || len(d) < 10 || len(d) > 11 {
		return "", []rules.Problem{{Field: field, Code: "facility.phone",
			JA: "市外局番から10桁または11桁でご記入ください（例: 012-123-1234）。", EN: "Write the full number with the area code, 10 or 11 digits."}}
	}
	return d, nil
}

// CheckExtension accepts an extension of digits, or なし.
func CheckExtension(field, v string) (string, []rules.Problem) {
	s := strings.TrimSpace(norm.NFKC.String(v))
	if s == "" {
		return "", rules.Required(field, v)
	}
	if s == "なし" || s == "無し" {
		return "なし", nil
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", []rules.Problem{{Field: field, Code: "facility.extension",
				JA: "内線番号は数字でご記入ください（ない場合は「なし」）。", EN: "Write the extension in digits (なし if there is none)."}}
		}
	}
	if len(s) > 8 {
		return "", []rules.Problem{{Field: field, Code: "facility.extension",
			JA: "内線番号が長すぎます。", EN: "The extension is too long."}}
	}
	return s, nil
}

// CheckKatakana requires a reading in full-width katakana, as the seed's
// form asks (全角フリカナ); half-width katakana and hiragana are named.
func CheckKatakana(field, v string) (string, []rules.Problem) {
	s := strings.TrimSpace(v)
	if s == "" {
		return "", rules.Required(field, v)
	}
	for _, r := range s {
		switch {
		case r >= 0xFF61 && r <= 0xFF9F:
			return "", []rules.Problem{{Field: field, Code: "facility.halfwidth_kana",
				JA: "半角カタカナは使えません。全角カタカナでご記入ください。", EN: "Half-width katakana is not accepted; use full-width katakana."}}
		case unicode.In(r, unicode.Katakana) || r == 'ー' || r == '・' || r == ' ' || r == '\u3000':
		default:
			return "", []rules.Problem{{Field: field, Code: "facility.kana",
				JA: "全角カタカナでご記入ください。", EN: "Write it in full-width katakana."}}
		}
	}
	return s, nil
}

// Agreed reads the agreement to the terms.
func Agreed(field, v string) (bool, []rules.Problem) {
	s := strings.ToLower(strings.TrimSpace(norm.NFKC.String(v)))
	switch s {
	case "同意する", "同意します", "同意", "はい", "yes", "agree", "i agree", "agreed":
		return true, nil
	}
	return false, []rules.Problem{{Field: field, Code: "facility.agreement",
		JA: "利用規約をご確認のうえ「同意する」とご記入ください。同意がない場合はお申し込みできません。",
		EN: "Read the terms and write \"agree\"; without it the application cannot be accepted."}}
}

// IsMobile reports whether an address is at one of the mobile carriers'
// domains (or a subdomain of one).
func IsMobile(addr string, domains []string) bool {
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return false
	}
	d := strings.ToLower(addr[at+1:])
	for _, m := range domains {
		m = strings.ToLower(strings.TrimSpace(m))
		if d == m || strings.HasSuffix(d, "."+m) {
			return true
		}
	}
	return false
}
