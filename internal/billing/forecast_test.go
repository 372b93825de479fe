package billing

import (
	"math"
	"testing"
	"time"
)

func TestForecastCommitment(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	for _, tc := range []struct {
		name                 string
		now                  time.Time
		spent, recent        float64
		wantRate, wantProjct float64
		short                bool
	}{
		// Day 20: $1400 over the last 7 days is $200/day; 10 days left.
		{"on_track", start.AddDate(0, 0, 20), 4100, 1400, 200, 6100, false},
		{"short", start.AddDate(0, 0, 20), 4100, 700, 100, 5100, true},
		// Day 2: the window is the period so far.
		{"early", start.AddDate(0, 0, 2), 400, 400, 200, 6000, false},
		{"idle", start.AddDate(0, 0, 20), 100, 0, 0, 100, true},
		{"at_end", end, 5000, 700, 100, 5000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ForecastCommitment(6000, tc.spent, tc.recent, start, end, tc.now)
			if math.Abs(f.RunRateUSDPerDay-tc.wantRate) > 1e-9 || math.Abs(f.ProjectedUSD-tc.wantProjct) > 1e-6 || f.EndsShort != tc.short {
				t.Errorf("got %+v; want rate %v, projected %v, short %v", f, tc.wantRate, tc.wantProjct, tc.short)
			}
			if f.Method == "" || f.RunsOut || f.ExhaustsAt != nil {
				t.Errorf("got %+v: a commitment states its method and never runs out", f)
			}
		})
	}
}

func TestForecastBudget(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	now := start.AddDate(0, 0, 20)
	at := func(days float64) *time.Time {
		t := now.Add(time.Duration(days * 24 * float64(time.Hour)))
		return &t
	}
	for _, tc := range []struct {
		name          string
		start, end    time.Time
		spent, recent float64
		runsOut       bool
		at            *time.Time
	}{
		// $100 budget, $60 spent, $7/day: $40 left lasts 5.7 days, before the 10 left.
		{"runs_out", start, end, 60, 49, true, at(40.0 / 7)},
		{"lasts", start, end, 60, 14, false, nil},
		{"spent", start, end, 100, 0, true, &now},
		// A budget that never resets: the 7 days before now set the rate.
		{"never_resets", time.Time{}, time.Time{}, 90, 7, true, at(10)},
		{"never_resets_idle", time.Time{}, time.Time{}, 90, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ForecastBudget(100, tc.spent, tc.recent, tc.start, tc.end, now)
			if f.RunsOut != tc.runsOut || (f.ExhaustsAt == nil) != (tc.at == nil) ||
				f.ExhaustsAt != nil && f.ExhaustsAt.Sub(*tc.at).Abs() > time.Second {
				t.Errorf("got %+v (exhausts %v); want runs out %v at %v", f, f.ExhaustsAt, tc.runsOut, tc.at)
			}
			if tc.end.IsZero() && f.ProjectedUSD != 0 {
				t.Errorf("projected %v for a budget without a period end", f.ProjectedUSD)
			}
		})
	}
}
