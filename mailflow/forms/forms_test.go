package forms

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

func TestNewIDJapaneseSample(t *testing.T) {
	f := Parse(samples.NewIDJapanese("yamada-tk", "山田", "太郎"))
	want := map[string]string{
		"family_name": "山田", "given_name": "太郎", "family_reading": "やまだ", "given_reading": "たろう",
		"sex": "男性", "birth_date": "昭和60年4月1日", "institution": "東都大学病院", "department": "総合診療科",
		"email": "taro.yamada@hosp.example", "desired_id": "yamada-tk",
		"password": "Gk7vQz2x#Lp", "password_confirm": "Gk7vQz2x#Lp", "eligibility": "1",
	}
	if f.Kind != KindNewID || f.Lang != "ja" {
		t.Fatalf("kind %q lang %q", f.Kind, f.Lang)
	}
	if !reflect.DeepEqual(f.Fields, want) {
		t.Errorf("fields\n got %v\nwant %v", f.Fields, want)
	}
	if len(f.Unknown) != 0 || len(f.Repeated) != 0 {
		t.Errorf("unknown %q repeated %q", f.Unknown, f.Repeated)
	}
}

func TestNewIDEnglishSample(t *testing.T) {
	f := Parse(samples.NewIDEnglish("smith-al"))
	if f.Kind != KindNewID || f.Lang != "en" {
		t.Fatalf("kind %q lang %q", f.Kind, f.Lang)
	}
	spec, _ := SpecFor(KindNewID)
	for _, fl := range spec.Fields {
		if f.Fields[fl.Key] == "" {
			t.Errorf("missing %s", fl.Key)
		}
	}
	if f.Fields["password_confirm"] != "Rw9mTq4z!Hv" || f.Fields["desired_id"] != "smith-al" || f.Fields["birth_date"] != "1990-07-15" {
		t.Errorf("fields %v", f.Fields)
	}
	if len(f.Unknown) != 0 {
		t.Errorf("unknown %q", f.Unknown)
	}
}

func TestNewIDWithErrorsSample(t *testing.T) {
	f := Parse(samples.NewIDWithErrors())
	if f.Kind != KindNewID || f.Lang != "ja" {
		t.Fatalf("kind %q lang %q", f.Kind, f.Lang)
	}
	if f.Fields["desired_id"] != "Sato_Hanako" || f.Fields["password_confirm"] != "abcd1235" || f.Fields["family_reading"] != "sato" {
		t.Errorf("fields %v", f.Fields)
	}
	if _, ok := f.Fields["eligibility"]; ok {
		t.Errorf("eligibility should be missing")
	}
}

// sampleValue is what the round trip types after a label: full-width text
// to check NFKC, and secrets that must come back byte for byte.
func sampleValue(f Field) (typed, want string) {
	if f.Secret {
		v := "Ｐw9#" + f.Key + "　x"
		return v, v
	}
	if f.AsWritten {
		return "ＡＢ１" + f.Key, "ＡＢ１" + f.Key // kept as typed: the rule is about its width
	}
	return "ＡＢ１" + f.Key, "AB1" + f.Key
}

// A reply that quotes the blank form with the values typed after the
// labels parses to exactly the fields, in every kind and both languages.
func TestQuotedBlankRoundTrip(t *testing.T) {
	for _, spec := range Specs() {
		for _, lang := range []string{"ja", "en"} {
			t.Run(string(spec.Kind)+"/"+lang, func(t *testing.T) {
				byLabel := map[string]Field{}
				for _, f := range spec.Fields {
					byLabel[label(f, lang == "en")] = f
				}
				want := map[string]string{}
				var reply strings.Builder
				reply.WriteString("Thanks, here it is.\n\n")
				for _, line := range strings.Split(Blank(spec.Kind, lang), "\n") {
					// As the desk flow test does it: cut at the first colon.
					lab, _, ok := strings.Cut(line, ":")
					if f, known := byLabel[strings.TrimSpace(lab)]; ok && known {
						typed, w := sampleValue(f)
						line = lab + ": " + typed
						want[f.Key] = w
					}
					reply.WriteString("> " + line + "\n")
				}
				if len(want) != len(spec.Fields) {
					t.Fatalf("blank form has %d field lines, spec %d", len(want), len(spec.Fields))
				}
				got := Parse(reply.String())
				if got.Kind != spec.Kind || got.Lang != lang {
					t.Errorf("kind %q lang %q", got.Kind, got.Lang)
				}
				if !reflect.DeepEqual(got.Fields, want) {
					t.Errorf("fields\n got %v\nwant %v", got.Fields, want)
				}
				if len(got.Unknown) != 0 || len(got.Repeated) != 0 {
					t.Errorf("unknown %q repeated %q", got.Unknown, got.Repeated)
				}
				// The answers typed below an unfilled quoted form win over it.
				var below strings.Builder
				for _, line := range strings.Split(Blank(spec.Kind, lang), "\n") {
					below.WriteString("> " + line + "\n")
				}
				for _, f := range spec.Fields {
					typed, _ := sampleValue(f)
					below.WriteString(label(f, lang == "en") + "： " + typed + "\n")
				}
				if got := Parse(below.String()); !reflect.DeepEqual(got.Fields, want) || got.Kind != spec.Kind {
					t.Errorf("answers below the quote: %q %v", got.Kind, got.Fields)
				}
			})
		}
	}
}

func TestBlankShape(t *testing.T) {
	if Blank("nope", "ja") != "" {
		t.Error("unknown kind should give no form")
	}
	for _, spec := range Specs() {
		for _, lang := range []string{"ja", "en"} {
			text := Blank(spec.Kind, lang)
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			wantHeader := "申請種別: " + spec.TitleJA
			if lang == "en" {
				wantHeader = "Request: " + spec.TitleEN
			}
			if lines[0] != wantHeader {
				t.Errorf("%s/%s header %q", spec.Kind, lang, lines[0])
			}
			for i, f := range spec.Fields {
				if want := label(f, lang == "en") + ": "; lines[1+i] != want {
					t.Errorf("%s/%s line %d = %q, want %q", spec.Kind, lang, 1+i, lines[1+i], want)
				}
			}
			for _, line := range lines[1+len(spec.Fields):] {
				if line == "" {
					continue
				}
				prefix := "※"
				if lang == "en" {
					prefix = "*"
				}
				if !strings.HasPrefix(line, prefix) || strings.ContainsAny(line, ":：") {
					t.Errorf("%s/%s note %q", spec.Kind, lang, line)
				}
				if rl, ok := splitLine(line); ok {
					t.Errorf("note %q reads as label %q", line, rl.label)
				}
			}
		}
	}
	ja := Blank(KindNewID, "ja")
	for _, s := range []string{"氏名(姓): \n", "ふりがな(名): \n", "パスワード(確認): \n", "利用資格: \n",
		"医療関連の資格をお持ちの方", "臨床実習及び臨床研修を行うもの及びこれの指導または関連業務を行うもの",
		"医歯学・医療・生物学系の学会事務局・公益法人・病院・NPO等で学術情報(学術雑誌編集、臨床研究支援等)を取り扱っている方"} {
		if !strings.Contains(ja, s) {
			t.Errorf("ja blank lacks %q", s)
		}
	}
	if en := Blank(KindNewID, "en"); !strings.Contains(en, "Password (again): \n") || !strings.Contains(en, "Institution e-mail: \n") {
		t.Errorf("en blank:\n%s", en)
	}
}

func TestNewIDSpec(t *testing.T) {
	spec, ok := SpecFor(KindNewID)
	if !ok || spec.TitleJA != "新規ID申請" || spec.TitleEN != "new personal ID" {
		t.Fatalf("%+v", spec)
	}
	want := [][3]string{
		{"family_name", "氏名(姓)", "Family name"}, {"given_name", "氏名(名)", "Given name"},
		{"family_reading", "ふりがな(姓)", "Family name reading"}, {"given_reading", "ふりがな(名)", "Given name reading"},
		{"sex", "性別", "Sex"}, {"birth_date", "生年月日", "Date of birth"}, {"institution", "所属機関", "Institution"},
		{"department", "所属部署", "Department"}, {"email", "所属メールアドレス", "Institution e-mail"},
		{"desired_id", "希望ID", "Desired ID"}, {"password", "パスワード", "Password"},
		{"password_confirm", "パスワード(確認)", "Password (again)"}, {"eligibility", "利用資格", "Eligibility"},
	}
	if len(spec.Fields) != len(want) {
		t.Fatalf("%d fields", len(spec.Fields))
	}
	for i, w := range want {
		f := spec.Fields[i]
		if f.Key != w[0] || f.JA != w[1] || f.EN != w[2] || !f.Required {
			t.Errorf("field %d = %+v, want %v", i, f, w)
		}
		if f.Secret != (f.Key == "password" || f.Key == "password_confirm") {
			t.Errorf("%s secret %v", f.Key, f.Secret)
		}
	}
	// Specs hands out copies.
	spec.Fields[0].Aliases[0] = "changed"
	spec.Fields[0].JA = "changed"
	again, _ := SpecFor(KindNewID)
	if again.Fields[0].Aliases[0] == "changed" || again.Fields[0].JA == "changed" {
		t.Error("SpecFor exposes its tables")
	}
}

func TestTables(t *testing.T) {
	if len(labelConflicts) > 0 {
		t.Errorf("labels naming two keys: %q", labelConflicts)
	}
	kinds := []Kind{KindNewID, KindPasswordReset, KindAccessCode, KindOperatorReset, KindIndiceReset,
		KindRename, KindAffiliation, KindDeletion, KindMerge, KindHandover,
		KindFacilityApplication, KindFacilityService, KindFacilityPassword, KindStatus, KindInquiry}
	specs := Specs()
	if len(specs) != len(kinds) {
		t.Fatalf("%d specs", len(specs))
	}
	fieldOf := map[string]Field{}
	for i, spec := range specs {
		if spec.Kind != kinds[i] || spec.TitleJA == "" || spec.TitleEN == "" || len(spec.Fields) == 0 {
			t.Errorf("spec %d: %+v", i, spec)
		}
		seen := map[string]bool{}
		for _, f := range spec.Fields {
			if seen[f.Key] {
				t.Errorf("%s: key %s twice", spec.Kind, f.Key)
			}
			seen[f.Key] = true
			if strings.ContainsAny(f.HelpJA+f.HelpEN, ":：") {
				t.Errorf("%s: help has a colon", f.Key)
			}
			// Same labels and secrecy in every kind.
			if old, ok := fieldOf[f.Key]; ok && (old.JA != f.JA || old.EN != f.EN || old.Secret != f.Secret) {
				t.Errorf("%s differs between kinds", f.Key)
			}
			fieldOf[f.Key] = f
			for _, l := range append([]string{f.JA, f.EN}, f.Aliases...) {
				e, ok := lookupLabel(l)
				if !ok || e.marker || e.key != f.Key {
					t.Errorf("label %q -> %+v %v, want %s", l, e, ok, f.Key)
				}
			}
		}
		// Every kind's title names it on a marker line, and no other kind.
		for _, title := range []string{spec.TitleJA, spec.TitleEN, string(spec.Kind)} {
			if k, ok := kindOf(title); !ok || k != spec.Kind {
				t.Errorf("title %q -> %q", title, k)
			}
		}
	}
	for _, f := range fieldTable {
		if _, ok := fieldOf[f.Key]; !ok {
			t.Errorf("field %s is used by no kind", f.Key)
		}
	}
}

func TestSecretKeys(t *testing.T) {
	cases := map[Kind][]string{
		KindNewID:         {"password", "password_confirm"},
		KindAccessCode:    {"access_code", "new_password", "new_password_confirm"},
		KindOperatorReset: {"new_password", "new_password_confirm"},
		KindPasswordReset: nil,
		KindStatus:        nil,
		"nope":            nil,
	}
	for k, want := range cases {
		if got := SecretKeys(k); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestMarkers(t *testing.T) {
	markers := []string{"申請種別", "種別", "申請の種類", "Request", "Request type", "ＲＥＱＵＥＳＴ"}
	for _, spec := range Specs() {
		for i, title := range []string{spec.TitleJA, spec.TitleEN, strings.ToUpper(spec.TitleEN)} {
			text := fmt.Sprintf("%s：%s\n", markers[i%len(markers)], title)
			if got := Parse(text); got.Kind != spec.Kind {
				t.Errorf("%q -> %q", text, got.Kind)
			}
		}
		for _, m := range markers {
			if got := Parse("> " + m + ": " + spec.TitleJA + "\n"); got.Kind != spec.Kind {
				t.Errorf("%s %s -> %q", m, spec.TitleJA, got.Kind)
			}
		}
	}
	short := map[string]Kind{
		"新規": KindNewID, "new id": KindNewID, "New ID application": KindNewID, "新規ID申請(個人用)": KindNewID,
		"password reset": KindPasswordReset, "パスワード再設定": KindPasswordReset, "パスワード更新申請": KindPasswordReset,
		"オペレータへパスワード更新申請": KindOperatorReset, "INDICE用パスワード更新": KindIndiceReset,
		"ID変更": KindRename, "rename": KindRename, "所属変更": KindAffiliation, "delete": KindDeletion,
		"ID統合": KindMerge, "hand-over": KindHandover, "ID引き継ぎ": KindHandover, "書類再発行": KindStatus, "status": KindStatus,
		"アクセスコード": KindAccessCode,
		// Whatever the forms do not cover is a question for the operators.
		"お問い合わせ": KindInquiry, "その他": KindInquiry, "Inquiry": KindInquiry, "question": KindInquiry,
		"status inquiry": KindStatus,
	}
	for v, want := range short {
		if got := Parse("申請種別: " + v); got.Kind != want {
			t.Errorf("%q -> %q, want %q", v, got.Kind, want)
		}
	}
	if got := Parse("申請種別: 宝くじ\n"); got.Kind != "" {
		t.Errorf("unknown marker value -> %q", got.Kind)
	}
	// The marker of what the applicant wrote beats the quoted one.
	if got := Parse("> 申請種別: 新規ID申請\n申請種別: ID変更\n"); got.Kind != KindRename {
		t.Errorf("quoted marker won: %q", got.Kind)
	}
}

func TestInferKind(t *testing.T) {
	noMarker := strings.Replace(samples.NewIDJapanese("yamada-tk", "山田", "太郎"), "申請種別：新規ID申請\n", "", 1)
	if got := Parse(noMarker); got.Kind != KindNewID {
		t.Errorf("full new_id without marker -> %q", got.Kind)
	}
	cases := map[string]Kind{
		"アクセスコード: 1234567890\n": KindAccessCode,
		"> 本文\nアクセスコード：１２３４５６７８９０\n新しいパスワード: Ab3x!\n新しいパスワード(確認): Ab3x!\n":            KindAccessCode,
		"氏名(姓): 山田\n氏名(名): 太郎\nふりがな(姓): やまだ\nふりがな(名): たろう\n性別: 男\n生年月日: 1985/04/01\n": KindPasswordReset,
		"受付番号: MDG-2026-000123\n":                                     KindStatus,
		"URL: https://journal.example.jp/\nエラーメッセージ: 403 Forbidden\n": KindInquiry,
		"希望ID: abc-de\n利用資格: 1\n":                                     KindNewID,
		"理由: 特になし\n":                                                  "",
		"こんにちは\n":                                                     "",
		"":                                                            "",
		"氏名(姓): 山田\n":                                                 "",
	}
	for text, want := range cases {
		if got := Parse(text); got.Kind != want {
			t.Errorf("%q -> %q, want %q", text, got.Kind, want)
		}
	}
}

func TestFallbacks(t *testing.T) {
	f := Parse("申請種別: 新規ID申請\nID: yamada-tk\n")
	if f.Fields["desired_id"] != "yamada-tk" || f.Fields["id"] != "" {
		t.Errorf("new_id ID line: %v", f.Fields)
	}
	f = Parse("申請種別: アクセスコード\nアクセスコード: 0123456789\nパスワード: Ab3xyz!9\nパスワード(確認): Ab3xyz!9\n")
	if f.Fields["new_password"] != "Ab3xyz!9" || f.Fields["new_password_confirm"] != "Ab3xyz!9" || f.Fields["access_code"] != "0123456789" {
		t.Errorf("access code passwords: %v", f.Fields)
	}
	f = Parse("申請種別: ID変更\nID: old-id\n希望ID: new-id\n")
	if f.Fields["new_id"] != "new-id" || f.Fields["id"] != "old-id" {
		t.Errorf("rename: %v", f.Fields)
	}
}

func TestParserRules(t *testing.T) {
	text := strings.Join([]string{
		"【氏名（姓）】山田",
		"【氏名 名】：太郎",
		"  ＞＞ ふりがな（姓）　：　ヤマダ　",
		">> ふりがな(名): ", // empty: ignored
		"ふりがな(名)：タロウ",
		"FAMILY NAME READING: やまだ", // same key, different value: repeated
		"生年月日(西暦)：１９８５／０４／０１",
		"・性別：男性",
		"1. 所属機関(必須): 東都大学",
		"E-mail: a@b.example",
		"Password (confirm):  pa ss　",
		"See https://example.org/x for details",
		"https://example.org/form",
		"会議は12:30からです",
		"趣味: 登山",
		"From: someone@example.org",
		"これはとても長いラベルのように見えるけれど実は文章の一部です: はい",
		"パスワード: abc: def",
	}, "\n")
	f := Parse(text)
	want := map[string]string{
		"family_name": "山田", "given_name": "太郎", "family_reading": "やまだ", "given_reading": "タロウ", // unquoted beats quoted
		"birth_date": "1985/04/01", "sex": "男性", "institution": "東都大学", "email": "a@b.example",
		"password_confirm": "pa ss", "password": "abc: def",
	}
	if !reflect.DeepEqual(f.Fields, want) {
		t.Errorf("fields\n got %v\nwant %v", f.Fields, want)
	}
	if !slices.Equal(f.Unknown, []string{"趣味"}) {
		t.Errorf("unknown %q", f.Unknown)
	}
	if !slices.Equal(f.Repeated, []string{"family_reading"}) {
		t.Errorf("repeated %q", f.Repeated)
	}
	if f.Lang != "ja" {
		t.Errorf("lang %q", f.Lang)
	}
}

func TestRepeated(t *testing.T) {
	f := Parse("希望ID: aaa-bb\n希望ID: aaa-bb\nパスワード: Xx1xxxxx\nPassword: Yy2yyyyy\n> 性別: 女性\n性別: 男性\n")
	if !slices.Equal(f.Repeated, []string{"password", "sex"}) {
		t.Errorf("repeated %q", f.Repeated)
	}
	// First unquoted value wins; unquoted beats quoted.
	if f.Fields["password"] != "Xx1xxxxx" || f.Fields["sex"] != "男性" || f.Fields["desired_id"] != "aaa-bb" {
		t.Errorf("fields %v", f.Fields)
	}
}

func TestLang(t *testing.T) {
	cases := map[string]string{
		"":                           "ja",
		"Hello, I would like an ID.": "en",
		"IDがほしいです":                   "ja",
		"ID: abc-de\n":               "en", // no counted label, Latin text
		"Family name: Smith\n性別: 女性\nSex: F\n": "en",
		"Family name: Smith\n性別: 女性\n":         "ja",
		"> Family name: \n> Sex: \n":           "en",
		"> Family name: \n> Sex: \n性別: 女性\n":   "ja", // filled lines decide
	}
	for text, want := range cases {
		if got := Parse(text).Lang; got != want {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	text := strings.Join([]string{
		"申請種別: 新規ID申請",
		"希望ID: yamada-tk",
		"パスワード：　Gk7vQz2x#Lp",
		"> パスワード(確認): Gk7vQz2x#Lp",
		">> Password (again): Other9Secret",
		"【アクセスコード】0123456789",
		"新しいパスワード(確認)：x",
		"I typed Gk7vQz2x#Lp above.",
		"パスワード: ",
		"所属機関: 東都大学",
	}, "\r\n")
	got := Mask(text)
	want := strings.Join([]string{
		"申請種別: 新規ID申請",
		"希望ID: yamada-tk",
		"パスワード：　********",
		"> パスワード(確認): ********",
		">> Password (again): ********",
		"【アクセスコード】********",
		"新しいパスワード(確認)：********",
		"I typed ******** above.",
		"パスワード: ",
		"所属機関: 東都大学",
	}, "\r\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	plain := samples.NewIDEnglish("smith-al")
	m := Mask(plain)
	if strings.Contains(m, "Rw9mTq4z!Hv") || !strings.Contains(m, "Desired ID: smith-al") || !strings.Contains(m, "Password: ********") {
		t.Errorf("masked sample:\n%s", m)
	}
	if Mask("no secrets here\n") != "no secrets here\n" {
		t.Error("text without secrets changed")
	}
}
