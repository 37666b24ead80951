package rules

import (
	"testing"
	"time"
)

var jst = time.FixedZone("JST", 9*60*60)

// testNow is fixed so that the age limits do not drift.
var testNow = time.Date(2025, 6, 15, 10, 0, 0, 0, jst)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // date, or the problem code
	}{
		{"1985/04/01", "1985-04-01"},
		{"1985/4/1", "1985-04-01"},
		{"1985-04-01", "1985-04-01"},
		{"1985.04.01", "1985-04-01"},
		{"19850401", "1985-04-01"},
		{"1985年4月1日", "1985-04-01"},
		{"１９８５／０４／０１", "1985-04-01"},
		{" 1985/04/01\u3000", "1985-04-01"},
		{"S60.4.1", "1985-04-01"},
		{"s60/4/1", "1985-04-01"},
		{"昭和60年4月1日", "1985-04-01"},
		{"昭和６０年４月１日", "1985-04-01"},
		{"昭和 60年 4月 1日", "1985-04-01"},
		{"㍼60年4月1日", "1985-04-01"},
		{"昭和元年12月25日", "1926-12-25"},
		{"昭和元年12月24日", "date.era"},
		{"大正15年12月24日", "1926-12-24"},
		{"T15.12.25", "date.era"},
		{"昭和64年1月7日", "1989-01-07"},
		{"昭和64年1月8日", "date.era"},
		{"平成元年1月8日", "1989-01-08"},
		{"平成元年1月7日", "date.era"},
		{"H1.1.8", "1989-01-08"},
		{"平成31年4月30日", "2019-04-30"},
		{"平成31年5月1日", "date.era"},
		{"令和元年5月1日", "2019-05-01"},
		{"R1.4.30", "date.era"},
		{"令和7年6月15日", "2025-06-15"},
		{"明治38年6月16日", "1905-06-16"},
		{"M45.7.30", "date.era"},
		{"平成0年1月1日", "date.format"},
		{"2001/02/30", "date.invalid"},
		{"2000/02/29", "2000-02-29"},
		{"1985/13/01", "date.invalid"},
		{"昭和60年2月30日", "date.invalid"},
		{"2025/06/16", "date.future"},
		{"令和7年6月16日", "date.future"},
		{"1905/06/14", "date.too_old"},
		{"1905/06/15", "1905-06-15"},
		{"85/04/01", "date.format"},
		{"April 1, 1985", "date.format"},
		{"X60.4.1", "date.format"},
		{"", "required"},
	}
	for _, tt := range tests {
		d, ps := ParseDate("birth_date", tt.in, testNow)
		got := d.String()
		if len(ps) > 0 {
			got = ps[0].Code
			if len(ps) != 1 || d != (Date{}) || ps[0].Field != "birth_date" || ps[0].JA == "" || ps[0].EN == "" {
				t.Errorf("ParseDate(%q) = %v, %+v", tt.in, d, ps)
			}
		}
		if got != tt.want {
			t.Errorf("ParseDate(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseDateNowZone(t *testing.T) {
	// 2025-06-15 20:00 UTC is already the 16th in Japan.
	now := time.Date(2025, 6, 15, 20, 0, 0, 0, time.UTC)
	if _, ps := ParseDate("d", "2025/06/16", now.In(jst)); len(ps) != 0 {
		t.Errorf("today in JST refused: %+v", ps)
	}
	if _, ps := ParseDate("d", "2025/06/16", now); len(ps) != 1 || ps[0].Code != "date.future" {
		t.Errorf("tomorrow in UTC accepted: %+v", ps)
	}
}

func TestDateTime(t *testing.T) {
	d := Date{1985, 4, 1}
	if got := d.Time(jst); !got.Equal(time.Date(1985, 4, 1, 0, 0, 0, 0, jst)) {
		t.Errorf("Time(jst) = %v", got)
	}
	if got := d.Time(nil); got.Location() != time.UTC || got.Day() != 1 {
		t.Errorf("Time(nil) = %v", got)
	}
	if got := (Date{987, 1, 2}).String(); got != "0987-01-02" {
		t.Errorf("String = %q", got)
	}
}

func TestEraProblemText(t *testing.T) {
	_, ps := ParseDate("d", "昭和64年1月8日", testNow)
	if len(ps) != 1 || ps[0].JA != "昭和は1926年12月25日から1989年1月7日（昭和64年1月7日）までです。日付をご確認ください。" {
		t.Errorf("era problem = %+v", ps)
	}
}
