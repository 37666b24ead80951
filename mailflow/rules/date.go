package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Date is a calendar date without time of day or zone.
type Date struct{ Year, Month, Day int }

// String formats the date as yyyy-mm-dd.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Time returns midnight of the date in loc (UTC when loc is nil).
func (d Date) Time(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, loc)
}

func (d Date) key() int { return d.Year*10000 + d.Month*100 + d.Day }

func (d Date) ja() string { return fmt.Sprintf("%d年%d月%d日", d.Year, d.Month, d.Day) }

func (d Date) valid() bool {
	if d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	t := d.Time(time.UTC)
	return t.Year() == d.Year && int(t.Month()) == d.Month && t.Day() == d.Day
}

// era is one Japanese era; its year 1 is the Gregorian year of start.
type era struct {
	name, abbr, en string
	start, end     Date // end is the last day; zero for the current era
}

// eras holds the modern eras. Meiji counts from 1868-01-25, the Gregorian
// day of 慶応4年1月1日, since the era was applied from the start of that year.
var eras = []era{
	{"明治", "m", "Meiji", Date{1868, 1, 25}, Date{1912, 7, 29}},
	{"大正", "t", "Taishō", Date{1912, 7, 30}, Date{1926, 12, 24}},
	{"昭和", "s", "Shōwa", Date{1926, 12, 25}, Date{1989, 1, 7}},
	{"平成", "h", "Heisei", Date{1989, 1, 8}, Date{2019, 4, 30}},
	{"令和", "r", "Reiwa", Date{2019, 5, 1}, Date{}},
}

var (
	slashDateRe   = regexp.MustCompile(`^(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})$`)
	kanjiDateRe   = regexp.MustCompile(`^(\d{4})年(\d{1,2})月(\d{1,2})日?$`)
	compactDateRe = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)
	eraDateRe     = regexp.MustCompile(`^(?i)(明治|大正|昭和|平成|令和|[mtshr])(元|\d{1,2})(?:年|[/.\-])(\d{1,2})(?:月|[/.\-])(\d{1,2})日?$`)
)

// maxAge is the oldest birth date accepted, in years before now.
const maxAge = 120

// ParseDate reads a birth date written as yyyy/mm/dd, yyyy-mm-dd,
// yyyy.mm.dd, yyyy年m月d日, yyyymmdd or a Japanese era date (昭和60年4月1日,
// S60.4.1, 平成元年1月8日), in any width. Impossible dates, dates outside
// their era, future dates and dates more than 120 years before now (taken
// in now's zone) are problems; with problems the Date is zero.
func ParseDate(field, s string, now time.Time) (Date, []Problem) {
	v := removeSpace(norm.NFKC.String(s))
	if v == "" {
		return Date{}, []Problem{requiredProblem(field)}
	}
	d, e, ok := parseDateText(v)
	if !ok {
		return Date{}, []Problem{message{
			"日付の形式が正しくありません。yyyy/mm/dd（例: 1985/04/01）または和暦（例: 昭和60年4月1日）でご記入ください。",
			"The date is not in a known form; please write yyyy/mm/dd (e.g. 1985/04/01) or a Japanese era date (e.g. 昭和60年4月1日).",
		}.problem(field, "date.format")}
	}
	if !d.valid() {
		return Date{}, []Problem{message{"存在しない日付です。", "This date does not exist."}.problem(field, "date.invalid")}
	}
	if e != nil && (d.key() < e.start.key() || e.end != (Date{}) && d.key() > e.end.key()) {
		return Date{}, []Problem{eraProblem(field, e)}
	}
	y, m, day := now.Date()
	if d.key() > (Date{y, int(m), day}).key() {
		return Date{}, []Problem{message{"未来の日付は指定できません。", "The date is in the future."}.problem(field, "date.future")}
	}
	if d.key() < (Date{y - maxAge, int(m), day}).key() {
		return Date{}, []Problem{message{"120年以上前の日付は指定できません。", "The date is more than 120 years ago."}.problem(field, "date.too_old")}
	}
	return d, nil
}

// parseDateText matches the accepted forms; e is the era for era dates.
func parseDateText(v string) (d Date, e *era, ok bool) {
	for _, re := range []*regexp.Regexp{slashDateRe, kanjiDateRe, compactDateRe} {
		if m := re.FindStringSubmatch(v); m != nil {
			return Date{atoi(m[1]), atoi(m[2]), atoi(m[3])}, nil, true
		}
	}
	m := eraDateRe.FindStringSubmatch(v)
	if m == nil {
		return Date{}, nil, false
	}
	name := strings.ToLower(m[1])
	for i := range eras {
		if name == eras[i].name || name == eras[i].abbr {
			e = &eras[i]
		}
	}
	year := 1
	if m[2] != "元" {
		year = atoi(m[2])
	}
	if e == nil || year < 1 {
		return Date{}, nil, false
	}
	return Date{e.start.Year + year - 1, atoi(m[3]), atoi(m[4])}, e, true
}

// atoi converts digits the regexps already matched.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func eraProblem(field string, e *era) Problem {
	if e.end == (Date{}) {
		return Problem{Field: field, Code: "date.era",
			JA: fmt.Sprintf("%sは%sからです。日付をご確認ください。", e.name, e.start.ja()),
			EN: fmt.Sprintf("The %s era begins on %s; please check the date.", e.en, e.start)}
	}
	return Problem{Field: field, Code: "date.era",
		JA: fmt.Sprintf("%sは%sから%s（%s%d年%d月%d日）までです。日付をご確認ください。",
			e.name, e.start.ja(), e.end.ja(), e.name, e.end.Year-e.start.Year+1, e.end.Month, e.end.Day),
		EN: fmt.Sprintf("The %s era runs from %s to %s; please check the date.", e.en, e.start, e.end)}
}
