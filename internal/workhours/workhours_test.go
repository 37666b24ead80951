package workhours

import (
	"testing"
	"time"
)

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func nineToFive(t *testing.T, loc *time.Location, holidays ...string) Calendar {
	t.Helper()
	var days []Date
	for _, h := range holidays {
		d, err := ParseDate(h)
		if err != nil {
			t.Fatal(err)
		}
		days = append(days, d)
	}
	c, err := New(loc, 9*time.Hour, 17*time.Hour, weekdays, days)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// 2026-12-01 is a Tuesday; 2026-11-23 (勤労感謝の日) a Monday.
func TestAddAndBetweenTokyo(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	cal := nineToFive(t, tokyo, "2026-11-23", "2026-12-29", "2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02", "2027-01-03")
	at := func(month time.Month, day, hour, minute int) time.Time {
		year := 2026
		if month == time.January {
			year = 2027
		}
		return time.Date(year, month, day, hour, minute, 0, 0, tokyo)
	}
	for _, c := range []struct {
		name  string
		start time.Time
		d     time.Duration
		want  time.Time
		// worked is Between(start, want): less than d only when start
		// is outside working hours and d is zero.
		worked time.Duration
	}{
		{"within the day", at(12, 1, 10, 0), 2 * time.Hour, at(12, 1, 12, 0), 2 * time.Hour},
		{"up to closing exactly", at(12, 1, 10, 0), 7 * time.Hour, at(12, 1, 17, 0), 7 * time.Hour},
		{"into the next day", at(12, 1, 10, 0), 8 * time.Hour, at(12, 2, 10, 0), 8 * time.Hour},
		{"start at closing", at(12, 1, 17, 0), 8 * time.Hour, at(12, 2, 17, 0), 8 * time.Hour},
		{"start after closing", at(12, 1, 18, 30), time.Hour, at(12, 2, 10, 0), time.Hour},
		{"start before opening", at(12, 1, 7, 0), 90 * time.Minute, at(12, 1, 10, 30), 90 * time.Minute},
		{"over the weekend", at(12, 4, 15, 0), 4 * time.Hour, at(12, 7, 11, 0), 4 * time.Hour},
		{"start on a Saturday", at(12, 5, 12, 0), time.Hour, at(12, 7, 10, 0), time.Hour},
		{"weekend and a Monday holiday", at(11, 20, 16, 0), 2 * time.Hour, at(11, 24, 10, 0), 2 * time.Hour},
		{"over the new year holidays", at(12, 28, 16, 0), 8 * time.Hour, at(1, 4, 16, 0), 8 * time.Hour},
		{"a week", at(12, 1, 9, 0), 40 * time.Hour, at(12, 7, 17, 0), 40 * time.Hour},
		{"zero inside hours", at(12, 1, 10, 0), 0, at(12, 1, 10, 0), 0},
		{"zero after closing is the next opening", at(12, 1, 20, 0), 0, at(12, 2, 9, 0), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cal.Add(c.start, c.d); !got.Equal(c.want) {
				t.Errorf("Add(%s, %s) = %s, want %s", c.start, c.d, got.In(tokyo), c.want)
			}
			if got := cal.Between(c.start, c.want); got != c.worked {
				t.Errorf("Between(%s, %s) = %s, want %s", c.start, c.want, got, c.worked)
			}
		})
	}
	for _, c := range []struct {
		name string
		a, b time.Time
		want time.Duration
	}{
		{"backwards", at(12, 2, 10, 0), at(12, 1, 10, 0), 0},
		{"a weekend alone", at(12, 5, 0, 0), at(12, 7, 0, 0), 0},
		{"Friday evening to Monday morning", at(12, 4, 16, 0), at(12, 7, 10, 0), 2 * time.Hour},
		{"both outside hours, a day apart", at(12, 1, 20, 0), at(12, 2, 20, 0), 8 * time.Hour},
		{"a holiday alone", at(11, 23, 0, 0), at(11, 24, 0, 0), 0},
		{"the given zone does not matter", at(12, 1, 10, 0).UTC(), at(12, 1, 12, 0).In(mustLoad(t, "America/New_York")), 2 * time.Hour},
	} {
		if got := cal.Between(c.a, c.b); got != c.want {
			t.Errorf("%s: Between = %s, want %s", c.name, got, c.want)
		}
	}
}

// Opening and closing are wall-clock times: across a daylight-saving
// change the desk still opens at 09:00 local, which is another hour UTC.
func TestDaylightSavingNewYork(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	cal := nineToFive(t, ny)
	for _, c := range []struct {
		name        string
		start, want time.Time
		wantUTCHour int
	}{
		// Clocks go forward on Sunday 2026-03-08.
		{"spring forward", time.Date(2026, 3, 6, 16, 0, 0, 0, ny), time.Date(2026, 3, 9, 10, 0, 0, 0, ny), 14},
		// Clocks go back on Sunday 2026-11-01.
		{"fall back", time.Date(2026, 10, 30, 16, 0, 0, 0, ny), time.Date(2026, 11, 2, 10, 0, 0, 0, ny), 15},
	} {
		got := cal.Add(c.start, 2*time.Hour)
		if !got.Equal(c.want) || got.UTC().Hour() != c.wantUTCHour {
			t.Errorf("%s: Add = %s (%s UTC), want %s", c.name, got, got.UTC().Format("15:04"), c.want)
		}
		if w := cal.Between(c.start, c.want); w != 2*time.Hour {
			t.Errorf("%s: Between = %s, want 2h", c.name, w)
		}
		// Elapsed time differs from the naive 66h by the clock change.
		if elapsed := c.want.Sub(c.start); elapsed == 66*time.Hour {
			t.Errorf("%s: the clock change did not show (%s elapsed)", c.name, elapsed)
		}
	}
	// A desk open round the clock counts the time that really passes: the
	// day the clocks go forward has 23 hours.
	always, err := New(ny, 0, 24*time.Hour, []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := always.Between(time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, ny)); got != 23*time.Hour {
		t.Errorf("the spring-forward day has %s of working time, want 23h", got)
	}
	if got := always.Add(time.Date(2026, 3, 7, 12, 0, 0, 0, ny), 24*time.Hour); !got.Equal(time.Date(2026, 3, 8, 13, 0, 0, 0, ny)) {
		t.Errorf("24h round the clock from Saturday noon = %s", got)
	}
}

func TestNewRefuses(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	for _, c := range []struct {
		name        string
		loc         *time.Location
		open, close time.Duration
		days        []time.Weekday
	}{
		{"no zone", nil, 9 * time.Hour, 17 * time.Hour, weekdays},
		{"closing before opening", tokyo, 17 * time.Hour, 9 * time.Hour, weekdays},
		{"empty day", tokyo, 9 * time.Hour, 9 * time.Hour, weekdays},
		{"past midnight", tokyo, 9 * time.Hour, 25 * time.Hour, weekdays},
		{"seconds", tokyo, 9 * time.Hour, 17*time.Hour + time.Second, weekdays},
		{"no weekday", tokyo, 9 * time.Hour, 17 * time.Hour, nil},
		{"no such weekday", tokyo, 9 * time.Hour, 17 * time.Hour, []time.Weekday{7}},
	} {
		if _, err := New(c.loc, c.open, c.close, c.days, nil); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := ParseDate("2026-13-01"); err == nil {
		t.Error("month 13 accepted")
	}
}
