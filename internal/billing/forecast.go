package billing

import (
	"time"
)

// RunRateWindow is how far back a forecast's run rate looks: the spend of
// the last seven days, or of the period so far when it began less recently.
const RunRateWindow = 7 * 24 * time.Hour

// ForecastMethod states how every forecast is made.
const ForecastMethod = "linear: spend so far plus the run rate (spend per day over the last 7 days, " +
	"or over the period so far when shorter) times the time left in the period"

// Forecast is the end-of-period projection of a budget or commitment.
type Forecast struct {
	Method string `json:"method"`
	// RunRateUSDPerDay is the recent spend per day the projection
	// extends.
	RunRateUSDPerDay float64 `json:"run_rate_usd_per_day"`
	// ProjectedUSD is the spend expected by the period's end; zero for a
	// budget whose period never ends.
	ProjectedUSD float64 `json:"projected_usd"`
	// EndsShort is set on a commitment projected to end its period below
	// the committed amount.
	EndsShort bool `json:"ends_short,omitempty"`
	// RunsOut is set on a budget projected to be spent before its period
	// ends (or already spent); ExhaustsAt is when, at the run rate.
	RunsOut    bool       `json:"runs_out,omitempty"`
	ExhaustsAt *time.Time `json:"exhausts_at,omitempty"`
}

// RunRateSince is the start of the run-rate window of a period that
// began at start (the zero time: a budget that never resets), at now.
func RunRateSince(start, now time.Time) time.Time {
	if w := now.Add(-RunRateWindow); w.After(start) {
		return w
	}
	return start
}

// runRate is the spend per day of recent, spent since RunRateSince.
func runRate(recent float64, since, now time.Time) float64 {
	days := now.Sub(since).Hours() / 24
	if days <= 0 || recent <= 0 {
		return 0
	}
	return recent / days
}

// ForecastCommitment projects a commitment of amount over [start, end)
// that has spent so far, recent of it since RunRateSince(start, now).
func ForecastCommitment(amount, spent, recent float64, start, end, now time.Time) Forecast {
	f := Forecast{Method: ForecastMethod, RunRateUSDPerDay: runRate(recent, RunRateSince(start, now), now)}
	left := max(end.Sub(now), 0).Hours() / 24
	f.ProjectedUSD = spent + f.RunRateUSDPerDay*left
	f.EndsShort = f.ProjectedUSD < amount
	return f
}

// ForecastBudget projects a budget of amount over [start, end) (a zero
// end: it never resets) that has spent so far, recent of it since
// RunRateSince(start, now).
func ForecastBudget(amount, spent, recent float64, start, end, now time.Time) Forecast {
	f := Forecast{Method: ForecastMethod, RunRateUSDPerDay: runRate(recent, RunRateSince(start, now), now)}
	if !end.IsZero() {
		left := max(end.Sub(now), 0).Hours() / 24
		f.ProjectedUSD = spent + f.RunRateUSDPerDay*left
	}
	switch {
	case spent >= amount:
		at := now
		f.RunsOut, f.ExhaustsAt = true, &at
	case f.RunRateUSDPerDay > 0:
		days := (amount - spent) / f.RunRateUSDPerDay
		if days < 365*100 {
			at := now.Add(time.Duration(days * 24 * float64(time.Hour))).Truncate(time.Second)
			if end.IsZero() || at.Before(end) {
				f.RunsOut, f.ExhaustsAt = true, &at
			}
		}
	}
	return f
}
