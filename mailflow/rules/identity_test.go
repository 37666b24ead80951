package rules

import (
	"slices"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"山田　太郎", "山田太郎"},
		{" 山田 太郎 ", "山田太郎"},
		{"ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"},
		{"Ｙａｍａｄａ\tTaro", "YamadaTaro"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.in); got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeReading(t *testing.T) {
	tests := []struct {
		in, want string
		code     string
	}{
		{"やまだ", "ヤマダ", ""},
		{"ヤマダ", "ヤマダ", ""},
		{"ﾔﾏﾀﾞ", "ヤマダ", ""},
		{"さとう　はなこ", "サトウハナコ", ""},
		{"ゆうすけ", "ユウスケ", ""},
		{"ジョー・スミス", "ジョー・スミス", ""},
		{"ｼﾞｮｰ･ｽﾐｽ", "ジョー・スミス", ""},
		{"ゔぁ", "ヴァ", ""},
		{"いすゞ", "イスヾ", ""},
		{"sato", "", "reading.kana"},
		{"佐藤", "", "reading.kana"},
		{"さとうA", "", "reading.kana"},
		{" ", "", "required"},
	}
	for _, tt := range tests {
		got, ps := NormalizeReading("family_reading", tt.in)
		if got != tt.want {
			t.Errorf("NormalizeReading(%q) = %q, want %q", tt.in, got, tt.want)
		}
		var want []string
		if tt.code != "" {
			want = []string{tt.code}
		}
		if c := codes(ps); !slices.Equal(c, want) {
			t.Errorf("NormalizeReading(%q) problems = %v, want %v", tt.in, c, want)
		}
		for _, p := range ps {
			if p.Field != "family_reading" {
				t.Errorf("NormalizeReading(%q) names field %q", tt.in, p.Field)
			}
		}
	}
}

func TestParseSex(t *testing.T) {
	tests := []struct {
		in   string
		want Sex
		ok   bool
	}{
		{"男", Male, true}, {"男性", Male, true}, {"M", Male, true}, {"m", Male, true},
		{"Male", Male, true}, {"MALE", Male, true}, {"1", Male, true}, {"１", Male, true}, {" 男 ", Male, true},
		{"女", Female, true}, {"女性", Female, true}, {"F", Female, true}, {"female", Female, true},
		{"２", Female, true}, {"Ｆ", Female, true},
		{"3", SexUnknown, false}, {"other", SexUnknown, false}, {"", SexUnknown, false},
	}
	for _, tt := range tests {
		got, ps := ParseSex("sex", tt.in)
		if got != tt.want || (len(ps) == 0) != tt.ok {
			t.Errorf("ParseSex(%q) = %v, %v; want %v, ok=%v", tt.in, got, codes(ps), tt.want, tt.ok)
		}
	}
	if Male.String() != "male" || Female.String() != "female" || SexUnknown.String() != "" {
		t.Errorf("Sex.String: %q %q %q", Male, Female, SexUnknown)
	}
}
