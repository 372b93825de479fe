package sqlstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// TestScanUsageHours sums rolled hours, unrolled records and late
// arrivals into one stream per hour, in order, and matches a direct sum
// of the records.
func TestScanUsageHours(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			var all []store.UsageRecord
			rec := func(i int, at time.Time) store.UsageRecord {
				r := store.UsageRecord{RequestID: fmt.Sprintf("r%d", i), TenantID: []string{"t1", "t2"}[i%2], KeyID: fmt.Sprintf("k%d", i%3),
					Model: []string{"m1", "m2"}[i/2%2], Provider: []string{"azure", "bedrock", "openai"}[i%3],
					Traffic: []string{"stateless", "stateful"}[i/3%2], Status: 200,
					InputTokens: int64(100 + i), OutputTokens: int64(10 + i), CachedInputTokens: int64(i % 7), CacheWriteTokens: int64(i % 5),
					ReasoningTokens: int64(i % 3), CostUSD: float64(i+1) * 0.000001, Latency: time.Duration(i) * time.Millisecond, CreatedAt: at}
				if i%4 == 0 {
					r.Contracts = []string{"eu"}
				}
				if i%11 == 0 {
					r.Status, r.ErrorKind = 503, "unavailable"
				}
				return r
			}
			var batch []store.UsageRecord
			for i := range 60 {
				r := rec(i, h(0, i*4)) // hours 0..3
				batch = append(batch, r)
			}
			if err := s.InsertUsage(ctx, batch); err != nil {
				t.Fatal(err)
			}
			all = append(all, batch...)
			if _, err := s.Rollup(ctx, h(2, 0)); err != nil {
				t.Fatal(err)
			}
			late := []store.UsageRecord{rec(100, h(0, 10)), rec(101, h(1, 50)), rec(102, h(5, 0))}
			if err := s.InsertUsage(ctx, late); err != nil {
				t.Fatal(err)
			}
			all = append(all, late...)

			since, until := h(0, 30), h(3, 10) // widened to 00:00 .. 04:00
			want := map[string]*store.UsageHour{}
			var order []string
			for _, r := range all {
				hour := r.CreatedAt.Truncate(time.Hour)
				if hour.Before(h(0, 0)) || !hour.Before(h(4, 0)) {
					continue
				}
				k := fmt.Sprint(hour.Unix(), r.TenantID, r.Model, r.Provider, r.Traffic, r.Contracts)
				w := want[k]
				if w == nil {
					w = &store.UsageHour{Hour: hour, TenantID: r.TenantID, Model: r.Model, Provider: r.Provider, Traffic: r.Traffic,
						Contracts: append([]string{}, r.Contracts...)}
					want[k] = w
					order = append(order, k)
				}
				w.Requests++
				if r.Failed() {
					w.Errors++
				}
				w.InputTokens += r.InputTokens
				w.OutputTokens += r.OutputTokens
				w.CachedInputTokens += r.CachedInputTokens
				w.CacheWriteTokens += r.CacheWriteTokens
				w.ReasoningTokens += r.ReasoningTokens
				w.CostUSD += r.CostUSD
				w.Latency += r.Latency
			}
			got := map[string]*store.UsageHour{}
			var last time.Time
			err := s.ScanUsageHours(ctx, since, until, func(u *store.UsageHour) error {
				if u.Hour.Before(last) {
					t.Errorf("hour %v after %v: not in time order", u.Hour, last)
				}
				last = u.Hour
				c := *u
				c.Contracts = append([]string{}, u.Contracts...)
				k := fmt.Sprint(c.Hour.Unix(), c.TenantID, c.Model, c.Provider, c.Traffic, c.Contracts)
				if got[k] != nil {
					t.Errorf("group %s twice", k)
				}
				got[k] = &c
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			approx := gocmp.Comparer(func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 })
			if diff := gocmp.Diff(want, got, approx); diff != "" {
				t.Errorf("ScanUsageHours (-want +got):\n%s", diff)
			}
			if len(order) < 10 {
				t.Fatalf("only %d groups: the test data is too uniform", len(order))
			}

			stop := errors.New("stop")
			n := 0
			err = s.ScanUsageHours(ctx, since, until, func(*store.UsageHour) error { n++; return stop })
			if err != stop || n != 1 {
				t.Errorf("a callback error: got %v after %d calls, want it unchanged after 1", err, n)
			}
			if err := s.ScanUsageHours(ctx, h(3, 0), h(3, 0), func(u *store.UsageHour) error {
				return errors.New("called for an empty window: " + strings.Join(u.Contracts, ","))
			}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSumUsage_GroupLine sums by tenant, key, channel and model at once,
// over rolled and unrolled records.
func TestSumUsage_GroupLine(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			var recs []store.UsageRecord
			want := map[[4]string]int64{}
			for i := range 40 {
				r := store.UsageRecord{RequestID: fmt.Sprint("l", i), TenantID: []string{"t1", "t2"}[i%2], KeyID: []string{"", "k1", "k2"}[i%3],
					Provider: []string{"azure", "bedrock"}[i/2%2], Model: []string{"m-1", "m 2"}[i/4%2], Status: 200, InputTokens: int64(i),
					CostUSD: 0.001, CreatedAt: h(i/10, i)}
				recs = append(recs, r)
				want[[4]string{r.TenantID, r.KeyID, r.Provider, r.Model}] += int64(i)
			}
			if err := s.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rollup(ctx, h(2, 0)); err != nil {
				t.Fatal(err)
			}
			sums, err := s.SumUsage(ctx, store.UsageFilter{Since: h(0, 0), Until: h(5, 0)}, store.GroupLine)
			if err != nil {
				t.Fatal(err)
			}
			got := map[[4]string]int64{}
			for _, u := range sums {
				tn, k, p, m := store.SplitLine(u.Group)
				got[[4]string{tn, k, p, m}] += u.InputTokens
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("input tokens by line (-want +got):\n%s", diff)
			}
		})
	}
}
