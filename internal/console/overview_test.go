package console_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// TestOverviewFromRollupsMatchesRawRecords fills a ledger over 32 days,
// rolls it up (the current hour stays raw, and a few records arrive late
// for hours already rolled), and checks that every figure of the overview,
// which reads the daily and hourly rollups, is the figure summed from the raw
// records: the three windows' totals, the 24 hourly request bars and the
// 30 daily spend bars.
func TestOverviewFromRollupsMatchesRawRecords(t *testing.T) {
	f := newFixture(t, false)
	st := f.svc.Store.(*sqlstore.Store)
	now := time.Date(2026, 3, 20, 14, 37, 12, 0, time.UTC)
	f.clk.mu.Lock()
	f.clk.t = now
	f.clk.mu.Unlock()
	rng := rand.New(rand.NewPCG(3, 14))
	var recs []store.UsageRecord
	record := func(i int, at time.Time) store.UsageRecord {
		r := store.UsageRecord{RequestID: fmt.Sprintf("req_%05d", i), TenantID: []string{"ten_a", "ten_b"}[i%2], KeyID: "key_x",
			Model: "m", Provider: []string{"azure-sim", "openai-sim"}[i%3%2], Status: http.StatusOK, CreatedAt: at,
			InputTokens: int64(rng.IntN(900)), OutputTokens: int64(rng.IntN(300)), CostUSD: float64(rng.IntN(20000)) / 1e6}
		if i%17 == 0 {
			r.Status, r.ErrorKind = 502, "upstream_error"
		}
		return r
	}
	const n = 3000
	span := 32 * 24 * time.Hour
	for i := range n {
		recs = append(recs, record(i, now.Add(-span+time.Duration(float64(span)*(float64(i)+rng.Float64())/n)).Truncate(time.Microsecond)))
	}
	// Records on the windows' edges.
	for i, at := range []time.Time{now.Add(-30 * 24 * time.Hour), now.Add(-30*24*time.Hour - time.Microsecond), now.Add(-24 * time.Hour),
		now.Add(-time.Hour), now.Add(-time.Hour - time.Second), now, now.Add(59 * time.Second)} {
		recs = append(recs, record(n+i, at))
	}
	if err := st.InsertUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rollup(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	// Late arrivals for hours already rolled stay raw until the next
	// rollup.
	var late []store.UsageRecord
	for i, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-50 * time.Hour), now.Add(-20 * 24 * time.Hour)} {
		late = append(late, record(n+100+i, at))
	}
	if err := st.InsertUsage(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, late...)

	sum := func(from, to time.Time) (reqs, errs, in, out int64, cost float64) {
		for _, r := range recs {
			if r.CreatedAt.Before(from) || !r.CreatedAt.Before(to) {
				continue
			}
			reqs++
			if r.Failed() {
				errs++
			}
			in += r.InputTokens
			out += r.OutputTokens
			cost += r.CostUSD
		}
		return
	}
	b := f.browser(t)
	b.signIn(adminToken)
	p := b.get("/ui/")
	if p.status != http.StatusOK {
		t.Fatalf("GET /ui/ = %d\n%s", p.status, p.body)
	}
	until := now.Add(time.Minute)
	for _, w := range []struct {
		label string
		from  time.Time
	}{{"Last hour", now.Add(-time.Hour)}, {"Last day", now.Add(-24 * time.Hour)}, {"Last 30 days", now.Add(-30 * 24 * time.Hour)}} {
		reqs, errs, in, out, cost := sum(w.from, until)
		if reqs == 0 {
			t.Fatalf("%s: the fixture has no records in the window", w.label)
		}
		want := fmt.Sprintf(`<tr><th scope="row">%s</th><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>`,
			w.label, grouped(reqs), grouped(errs), grouped(in), grouped(out), dollars(cost))
		if !strings.Contains(p.body, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
	hourStart := now.Truncate(time.Hour).Add(-23 * time.Hour)
	for i := range 24 {
		from := hourStart.Add(time.Duration(i) * time.Hour)
		reqs, errs, _, _, _ := sum(from, from.Add(time.Hour))
		want := fmt.Sprintf("<title>%s: %s (%s errors)</title>", from.Format("15:04"), grouped(reqs), grouped(errs))
		if !strings.Contains(p.body, want) {
			t.Errorf("the requests chart lacks %s", want)
		}
	}
	dayStart := now.Truncate(24*time.Hour).AddDate(0, 0, -29)
	for i := range 30 {
		from := dayStart.AddDate(0, 0, i)
		_, _, _, _, cost := sum(from, from.AddDate(0, 0, 1))
		want := fmt.Sprintf("<title>%s: %s</title>", from.Format("Jan 2"), dollars(cost))
		if !strings.Contains(p.body, want) {
			t.Errorf("the daily spend chart lacks %s", want)
		}
	}
}

// grouped and dollars format as the console does (thousands separators;
// cents under $100, six places under a cent).
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func dollars(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v < 0.01:
		return "$" + strings.TrimRight(strconv.FormatFloat(v, 'f', 6, 64), "0")
	case v < 100:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	return "$" + grouped(int64(v+0.5))
}
