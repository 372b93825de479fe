package console

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// TestCumulativeSpendMatchesRawRecords checks every point of the
// burn-down of a day's, a week's, a month's and a quarter's commitment
// against the channel's spend summed from the raw records (the points of
// a month's and a quarter's on UTC midnights), on a ledger
// rolled up but for the current hour and a few late records.
func TestCumulativeSpendMatchesRawRecords(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	c := &console{svc: &admin.Service{Store: st}}
	now := time.Date(2026, 3, 20, 14, 37, 12, 0, time.UTC)
	rng := rand.New(rand.NewPCG(5, 14))
	var recs []store.UsageRecord
	record := func(i int, at time.Time) store.UsageRecord {
		return store.UsageRecord{RequestID: fmt.Sprintf("req_%05d", i), TenantID: "ten_a", KeyID: "key_x", Model: "m",
			Provider: []string{"azure-sim", "openai-sim"}[i%3%2], Status: 200, CreatedAt: at,
			InputTokens: int64(rng.IntN(900)), CostUSD: float64(rng.IntN(20000)) / 1e6}
	}
	const n = 4000
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span := now.Add(time.Minute).Sub(first)
	for i := range n {
		recs = append(recs, record(i, first.Add(time.Duration(float64(span)*(float64(i)+rng.Float64())/n)).Truncate(time.Microsecond)))
	}
	for i, at := range []time.Time{first, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), now.Add(-time.Microsecond), now} {
		recs = append(recs, record(n+i, at), record(n+10+i, at))
	}
	if err := st.InsertUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rollup(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	var late []store.UsageRecord
	for i, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-50 * time.Hour), now.Add(-20 * 24 * time.Hour)} {
		late = append(late, record(n+100+i, at))
	}
	if err := st.InsertUsage(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, late...)
	spent := func(channel string, from, to time.Time) float64 {
		sum := 0.0
		for _, r := range recs {
			if r.Provider == channel && !r.CreatedAt.Before(from) && r.CreatedAt.Before(to) {
				sum += r.CostUSD
			}
		}
		return sum
	}
	for _, p := range []route.Period{route.PeriodDay, route.PeriodWeek, route.PeriodMonth, route.PeriodQuarter} {
		start, end := p.Bounds(now)
		for _, channel := range []string{"azure-sim", "openai-sim"} {
			pts, err := c.cumulativeSpend(httptest.NewRequest("GET", "/ui/contracts", nil), channel, start, end, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) == 0 || len(pts) > burnBuckets {
				t.Fatalf("%s %s: %d points, want 1 to %d", p, channel, len(pts), burnBuckets)
			}
			if last := pts[len(pts)-1].at; !last.Equal(now) {
				t.Errorf("%s %s: the last point is at %v, want now", p, channel, last)
			}
			prev := start
			for _, pt := range pts {
				if !pt.at.After(prev) {
					t.Errorf("%s %s: point at %v does not follow %v", p, channel, pt.at, prev)
				}
				prev = pt.at
				if (p == route.PeriodMonth || p == route.PeriodQuarter) && !pt.at.Equal(now) && !pt.at.Equal(pt.at.Truncate(24*time.Hour)) {
					t.Errorf("%s %s: point at %v is not a UTC midnight", p, channel, pt.at)
				}
				if want := spent(channel, start, pt.at); math.Abs(pt.usd-want) > 1e-6 {
					t.Errorf("%s %s: spend to %v = %.9f, want %.9f", p, channel, pt.at, pt.usd, want)
				}
			}
		}
	}
}
