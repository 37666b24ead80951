package forms

import "testing"

func TestKeyForLabel(t *testing.T) {
	cases := []struct {
		kind  Kind
		label string
		key   string
		ok    bool
	}{
		{KindNewID, "氏名(姓)", "family_name", true},
		{KindNewID, "氏名（姓）", "family_name", true}, // full-width brackets
		{KindNewID, "【氏名 姓】", "family_name", true},
		{KindNewID, "Family name", "family_name", true},
		{KindNewID, "FAMILY_NAME", "family_name", true},
		{KindNewID, "Ｆａｍｉｌｙ ｎａｍｅ", "family_name", true}, // full-width letters
		{KindNewID, "苗字", "family_name", true},          // alias
		{KindNewID, "フリガナ(セイ)", "family_reading", true},
		{KindNewID, "E-mail", "email", true},
		{KindNewID, "ｅｍａｉｌ", "email", true},
		{KindNewID, "生年月日(西暦)", "birth_date", true},
		{KindNewID, "生年月日(必須)", "birth_date", true}, // hint
		{KindNewID, "希望ID *", "desired_id", true},
		{KindNewID, "ID", "desired_id", true}, // the kind's fallback, as in Parse
		{KindNewID, "パスワード（確認）", "password_confirm", true},
		{KindNewID, "Confirm password", "password_confirm", true},
		{KindNewID, "利用資格", "eligibility", true},
		{KindNewID, "新しいパスワード", "", false}, // a field of another kind
		{KindNewID, "申請種別", "", false},     // the marker line is no field
		{KindNewID, "備考", "", false},
		{KindNewID, "", "", false},
		{KindAccessCode, "パスワード", "new_password", true},
		{KindRename, "ID", "id", true},
	}
	for _, c := range cases {
		key, ok := KeyForLabel(c.kind, c.label)
		if key != c.key || ok != c.ok {
			t.Errorf("KeyForLabel(%s, %q) = %q, %v; want %q, %v", c.kind, c.label, key, ok, c.key, c.ok)
		}
	}
}

func TestKeyForLabelEveryLabelOfNewID(t *testing.T) {
	spec, _ := SpecFor(KindNewID)
	for _, f := range spec.Fields {
		for _, l := range append([]string{f.JA, f.EN}, f.Aliases...) {
			if key, ok := KeyForLabel(KindNewID, l); !ok || key != f.Key {
				t.Errorf("%q -> %q, %v; want %s", l, key, ok, f.Key)
			}
		}
	}
}

func TestCleanValue(t *testing.T) {
	if got := CleanValue("desired_id", "　ｙａｍａｄａ－ｔｋ "); got != "yamada-tk" {
		t.Errorf("desired_id: %q", got)
	}
	if got := CleanValue("password", " Ｐａｓｓ1 "); got != "Ｐａｓｓ1" {
		t.Errorf("password keeps its bytes: %q", got)
	}
}
