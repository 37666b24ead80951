// Package workhours does arithmetic in working time: the hours a desk is
// staffed, on its working weekdays, holidays excepted, in its time zone.
// Opening and closing are wall-clock times, so a desk that opens at 09:00
// opens at 09:00 on both sides of a daylight-saving change.
package workhours

import (
	"errors"
	"fmt"
	"time"
)

// Date is a calendar day, independent of any time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the day t falls on in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads a YYYY-MM-DD date.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date like 2026-12-29", s)
	}
	return DateOf(t), nil
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Calendar says when a desk is staffed. Build it with New.
type Calendar struct {
	loc                    *time.Location
	openHour, openMinute   int
	closeHour, closeMinute int
	weekdays               [7]bool
	holidays               map[Date]bool
}

// New builds a calendar: open and close are wall-clock times of day
// (9*time.Hour for 09:00; close may be 24h), whole minutes, open before
// close; at least one weekday works.
func New(loc *time.Location, open, close time.Duration, weekdays []time.Weekday, holidays []Date) (Calendar, error) {
	if loc == nil {
		return Calendar{}, errors.New("workhours: no time zone")
	}
	if open < 0 || close > 24*time.Hour || open >= close || open%time.Minute != 0 || close%time.Minute != 0 {
		return Calendar{}, fmt.Errorf("workhours: opening %s and closing %s are not whole minutes of one day, opening first", open, close)
	}
	c := Calendar{loc: loc, holidays: map[Date]bool{},
		openHour: int(open / time.Hour), openMinute: int(open % time.Hour / time.Minute),
		closeHour: int(close / time.Hour), closeMinute: int(close % time.Hour / time.Minute)}
	for _, w := range weekdays {
		if w < time.Sunday || w > time.Saturday {
			return Calendar{}, fmt.Errorf("workhours: no weekday %d", w)
		}
		c.weekdays[w] = true
	}
	if c.weekdays == [7]bool{} {
		return Calendar{}, errors.New("workhours: no working weekday")
	}
	for _, h := range holidays {
		c.holidays[h] = true
	}
	return c, nil
}

// Location is the calendar's time zone.
func (c Calendar) Location() *time.Location { return c.loc }

// window is the working time of the day that starts at midnight day
// (local), or ok false when the day is not worked. Built from wall-clock
// fields, so a daylight-saving change moves it with the clocks.
func (c Calendar) window(day time.Time) (open, close time.Time, ok bool) {
	y, m, d := day.Date()
	if !c.weekdays[day.Weekday()] || c.holidays[Date{y, m, d}] {
		return time.Time{}, time.Time{}, false
	}
	return time.Date(y, m, d, c.openHour, c.openMinute, 0, 0, c.loc),
		time.Date(y, m, d, c.closeHour, c.closeMinute, 0, 0, c.loc), true
}

// midnight is the start of the local day t falls on, moved by days.
func (c Calendar) midnight(t time.Time, days int) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d+days, 0, 0, 0, 0, c.loc)
}

// maxDays bounds the walk over days: New ensures a working weekday, and
// the holidays are finite, so only an absurd duration gets this far.
const maxDays = 100 * 366

// Add is the moment d of working time after start. A start outside working
// hours counts from the next opening; d <= 0 gives the next working moment
// at or after start.
func (c Calendar) Add(start time.Time, d time.Duration) time.Time {
	d = max(d, 0)
	for i := 0; i < maxDays; i++ {
		open, close, ok := c.window(c.midnight(start, i))
		if !ok || !close.After(start) {
			continue
		}
		from := open
		if start.After(open) {
			from = start
		}
		left := close.Sub(from)
		if d <= left {
			return from.Add(d).In(start.Location())
		}
		d -= left
	}
	return time.Time{}
}

// Between is the working time from a to b; zero when b is not after a.
func (c Calendar) Between(a, b time.Time) time.Duration {
	var sum time.Duration
	for i := 0; i < maxDays; i++ {
		day := c.midnight(a, i)
		if !day.Before(b) {
			break
		}
		open, close, ok := c.window(day)
		if !ok {
			continue
		}
		if a.After(open) {
			open = a
		}
		if b.Before(close) {
			close = b
		}
		if close.After(open) {
			sum += close.Sub(open)
		}
	}
	return sum
}
