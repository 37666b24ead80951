package facility

import (
	"strings"
	"testing"
)

func TestPrefectures(t *testing.T) {
	for in, want := range map[string]string{"東京都": "東京都", "東京": "東京都", "大阪": "大阪府", "北海道": "北海道", "ｶﾅｶﾞﾜ": "", "神奈川": "神奈川県", "京都": "京都府"} {
		got, ps := ParsePrefecture("prefecture", in)
		if got != want || (want == "" && len(ps) == 0) {
			t.Errorf("%q -> %q %v, want %q", in, got, ps, want)
		}
	}
	if len(Prefectures) != 47 {
		t.Fatal(len(Prefectures))
	}
}

func TestSearchIsWidthAndCaseInsensitive(t *testing.T) {
	l, err := ReadList(strings.NewReader("都道府県,医療機関名,コード\n東京都,国立がん研究センター中央病院,1\n東京都,がん研有明病院,2\n東京都,ＡＢＣクリニック,3\n大阪府,大阪国際がんセンター,4\n"))
	if err != nil || l.Len() != 4 {
		t.Fatal(err, l.Len())
	}
	if got := l.Search("東京都", "abcｸﾘﾆｯｸ"); len(got) != 1 || got[0].Code != "3" {
		t.Errorf("half-width, lower case: %v", got)
	}
	if got := l.Search("東京都", "がん"); len(got) != 2 {
		t.Errorf("partial: %v", got)
	}
	if got := l.Search("東京都", "大阪国際"); len(got) != 0 {
		t.Errorf("other prefecture: %v", got)
	}
}

func TestPhoneKanaAgreementMobile(t *testing.T) {
	for in, want := range map[string]string{"012-123-1234": "0121231234", "(03)1234-5678": "0312345678", "０９０－１２３４－５６７８": "09012345678", "123-4567": "", "03-1234-567x": ""} {
		if got, _ := CheckPhone("phone", in); got != want {
			t.Errorf("phone %q -> %q want %q", in, got, want)
		}
	}
	if _, ps := CheckKatakana("kana", "ｲﾉｳｴ ﾀﾛｳ"); len(ps) != 1 || ps[0].Code != "facility.halfwidth_kana" {
		t.Errorf("half-width kana: %v", ps)
	}
	if _, ps := CheckKatakana("kana", "いのうえ"); len(ps) != 1 || ps[0].Code != "facility.kana" {
		t.Errorf("hiragana: %v", ps)
	}
	if got, ps := CheckKatakana("kana", "イノウエ　タロウ"); len(ps) != 0 || got != "イノウエ　タロウ" {
		t.Errorf("full-width: %q %v", got, ps)
	}
	if ok, _ := Agreed("agreement", "同意する"); !ok {
		t.Error("同意する")
	}
	if ok, _ := Agreed("agreement", "同意しない"); ok {
		t.Error("同意しない accepted")
	}
	mobile := []string{"docomo.ne.jp", "ezweb.ne.jp"} // the configured list (config facility.mobile_domains)
	if !IsMobile("x@docomo.ne.jp", mobile) || !IsMobile("x@sub.ezweb.ne.jp", mobile) || IsMobile("x@hosp.example", mobile) {
		t.Error("mobile domains")
	}
}
