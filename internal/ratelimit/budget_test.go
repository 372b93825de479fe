package ratelimit_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"switchyard/internal/ratelimit"
)

func TestPeriodStartAndEnd(t *testing.T) {
	tokyo := time.FixedZone("UTC+9", 9*3600)
	utc := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		name       string
		now        time.Time
		period     string
		start, end time.Time
	}{
		{"day", time.Date(2025, 3, 14, 15, 9, 26, 5, time.UTC), ratelimit.PeriodDay, utc(2025, 3, 14), utc(2025, 3, 15)},
		{"day_at_midnight", utc(2025, 3, 14), ratelimit.PeriodDay, utc(2025, 3, 14), utc(2025, 3, 15)},
		{"day_before_midnight", time.Date(2025, 3, 14, 23, 59, 59, 999999999, time.UTC), ratelimit.PeriodDay, utc(2025, 3, 14), utc(2025, 3, 15)},
		{"day_is_utc", time.Date(2025, 3, 15, 8, 0, 0, 0, tokyo), ratelimit.PeriodDay, utc(2025, 3, 14), utc(2025, 3, 15)},
		{"day_new_year", time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), ratelimit.PeriodDay, utc(2025, 12, 31), utc(2026, 1, 1)},
		{"month", time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC), ratelimit.PeriodMonth, utc(2025, 3, 1), utc(2025, 4, 1)},
		{"month_is_utc", time.Date(2025, 4, 1, 5, 0, 0, 0, tokyo), ratelimit.PeriodMonth, utc(2025, 3, 1), utc(2025, 4, 1)},
		{"month_leap_february", time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), ratelimit.PeriodMonth, utc(2024, 2, 1), utc(2024, 3, 1)},
		{"month_december", time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC), ratelimit.PeriodMonth, utc(2025, 12, 1), utc(2026, 1, 1)},
		{"lifetime", time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC), ratelimit.PeriodLifetime, time.Time{}, time.Time{}},
		{"unknown", time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC), "week", time.Time{}, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ratelimit.PeriodStart(c.now, c.period); !got.Equal(c.start) || got.Location() != c.start.Location() {
				t.Errorf("PeriodStart = %v, want %v", got, c.start)
			}
			if got := ratelimit.PeriodEnd(c.now, c.period); !got.Equal(c.end) {
				t.Errorf("PeriodEnd = %v, want %v", got, c.end)
			}
		})
	}
}

func TestNanoUSD(t *testing.T) {
	for _, c := range []struct {
		usd  float64
		want int64
		ok   bool
	}{
		{0, 0, true},
		{1, 1e9, true},
		{0.1 + 0.2, 300000000, true},
		{1.2345678905, 1234567891, true},
		{4e-10, 0, true},
		{9e9, 9e18, true},
		{-0.01, 0, false},
		{math.NaN(), 0, false},
		{math.Inf(1), 0, false},
		{1e10, 0, false},
	} {
		got, err := ratelimit.NanoUSD(c.usd)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("NanoUSD(%v) = %d, %v; want %d, ok %v", c.usd, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, ratelimit.ErrInvalid) {
			t.Errorf("NanoUSD(%v) error %v does not wrap ErrInvalid", c.usd, err)
		}
	}
}

func TestBudgetValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		b    ratelimit.Budget
		ok   bool
	}{
		{"day", ratelimit.Budget{Scope: "key:a", LimitUSD: 1, Period: ratelimit.PeriodDay}, true},
		{"lifetime", ratelimit.Budget{Scope: "key:a", LimitUSD: 0.01}, true},
		{"empty_scope", ratelimit.Budget{LimitUSD: 1, Period: ratelimit.PeriodDay}, false},
		{"unknown_period", ratelimit.Budget{Scope: "key:a", LimitUSD: 1, Period: "Day"}, false},
		{"zero", ratelimit.Budget{Scope: "key:a", Period: ratelimit.PeriodDay}, false},
		{"negative", ratelimit.Budget{Scope: "key:a", LimitUSD: -1, Period: ratelimit.PeriodDay}, false},
		{"infinite", ratelimit.Budget{Scope: "key:a", LimitUSD: math.Inf(1), Period: ratelimit.PeriodDay}, false},
	} {
		err := c.b.Validate()
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ratelimit.ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ok %v", c.name, err, c.ok)
		}
	}
}
