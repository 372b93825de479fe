package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// h returns 2025-06-01 00:00 UTC plus hours and minutes.
func h(hours, minutes int) time.Time {
	return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(hours)*time.Hour + time.Duration(minutes)*time.Minute)
}

func TestPlanUsageReads(t *testing.T) {
	var zero time.Time
	for _, tc := range []struct {
		name                string
		since, until, prune time.Time
		want                usageReads
	}{
		{name: "unbounded", want: usageReads{hasWhole: true}},
		{name: "aligned", since: h(1, 0), until: h(5, 0),
			want: usageReads{whole: usageSpan{h(1, 0), h(5, 0)}, hasWhole: true}},
		{name: "since_only_mid_hour", since: h(1, 20),
			want: usageReads{whole: usageSpan{h(2, 0), zero}, hasWhole: true, edges: []usageSpan{{h(1, 20), h(2, 0)}}}},
		{name: "until_only_mid_hour", until: h(4, 40),
			want: usageReads{whole: usageSpan{zero, h(4, 0)}, hasWhole: true, edges: []usageSpan{{h(4, 0), h(4, 40)}}}},
		{name: "both_mid_hour", since: h(1, 20), until: h(4, 40),
			want: usageReads{whole: usageSpan{h(2, 0), h(4, 0)}, hasWhole: true, edges: []usageSpan{{h(1, 20), h(2, 0)}, {h(4, 0), h(4, 40)}}}},
		{name: "adjacent_hours", since: h(1, 20), until: h(2, 40),
			want: usageReads{whole: usageSpan{h(2, 0), h(2, 0)}, edges: []usageSpan{{h(1, 20), h(2, 0)}, {h(2, 0), h(2, 40)}}}},
		{name: "same_hour", since: h(1, 20), until: h(1, 40),
			want: usageReads{edges: []usageSpan{{h(1, 20), h(1, 40)}}}},
		{name: "mid_hour_to_next_boundary", since: h(1, 20), until: h(2, 0),
			want: usageReads{whole: usageSpan{h(2, 0), h(2, 0)}, edges: []usageSpan{{h(1, 20), h(2, 0)}}}},
		{name: "empty", since: h(3, 0), until: h(3, 0)},
		{name: "reversed", since: h(3, 30), until: h(3, 10)},
		{name: "pruned_start_edge", since: h(1, 20), until: h(4, 40), prune: h(2, 0),
			want: usageReads{whole: usageSpan{h(1, 0), h(4, 0)}, hasWhole: true, edges: []usageSpan{{h(4, 0), h(4, 40)}}}},
		{name: "pruned_both_edges", since: h(1, 20), until: h(4, 40), prune: h(5, 0),
			want: usageReads{whole: usageSpan{h(1, 0), h(5, 0)}, hasWhole: true}},
		{name: "prune_horizon_is_the_end_hour", since: h(1, 20), until: h(4, 40), prune: h(4, 0),
			want: usageReads{whole: usageSpan{h(1, 0), h(4, 0)}, hasWhole: true, edges: []usageSpan{{h(4, 0), h(4, 40)}}}},
		{name: "pruned_same_hour", since: h(1, 20), until: h(1, 40), prune: h(3, 0),
			want: usageReads{whole: usageSpan{h(1, 0), h(2, 0)}, hasWhole: true}},
		{name: "pruned_hours_before_window", since: h(5, 20), until: h(6, 40), prune: h(3, 0),
			want: usageReads{whole: usageSpan{h(6, 0), h(6, 0)}, edges: []usageSpan{{h(5, 20), h(6, 0)}, {h(6, 0), h(6, 40)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planUsageReads(tc.since, tc.until, tc.prune, time.Time{})
			// How whole is split into days and hours is TestPlanUsageReads_Days'.
			got.days, got.hasDays, got.hours, got.minus = usageSpan{}, false, nil, nil
			if diff := gocmp.Diff(tc.want, got, gocmp.AllowUnexported(usageReads{}, usageSpan{})); diff != "" {
				t.Errorf("planUsageReads (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanUsageReads_Days(t *testing.T) {
	var zero time.Time
	day := func(d, hours int) time.Time { return h(d*24+hours, 0) }
	for _, tc := range []struct {
		name              string
		since, until, now time.Time
		days              usageSpan
		hasDays           bool
		hours, minus      []usageSpan
	}{
		{name: "unbounded", hasDays: true},
		{name: "whole_days", since: day(1, 0), until: day(4, 0), days: usageSpan{day(1, 0), day(4, 0)}, hasDays: true},
		// Fewer hours are added than subtracted at both ends.
		{name: "hours_added", since: day(1, 15), until: day(4, 7), days: usageSpan{day(2, 0), day(4, 0)}, hasDays: true,
			hours: []usageSpan{{day(1, 15), day(2, 0)}, {day(4, 0), day(4, 7)}}},
		// Fewer hours are subtracted than added at both ends.
		{name: "hours_subtracted", since: day(1, 5), until: day(4, 17), days: usageSpan{day(1, 0), day(5, 0)}, hasDays: true,
			minus: []usageSpan{{day(1, 0), day(1, 5)}, {day(4, 17), day(5, 0)}}},
		{name: "mid_hour_edges", since: day(1, 5).Add(20 * time.Minute), until: day(4, 7).Add(40 * time.Minute),
			days: usageSpan{day(1, 0), day(4, 0)}, hasDays: true,
			hours: []usageSpan{{day(4, 0), day(4, 7)}}, minus: []usageSpan{{day(1, 0), day(1, 6)}}},
		// The hours after now hold no traffic: the day of now is read whole
		// less nothing that holds any.
		{name: "until_near_now", since: day(1, 0), until: day(4, 10), now: day(4, 9).Add(30 * time.Minute),
			days: usageSpan{day(1, 0), day(5, 0)}, hasDays: true, minus: []usageSpan{{day(4, 10), day(5, 0)}}},
		{name: "until_near_now_early", since: day(1, 0), until: day(4, 1), now: day(4, 0).Add(30 * time.Minute),
			days: usageSpan{day(1, 0), day(5, 0)}, hasDays: true, minus: []usageSpan{{day(4, 1), day(5, 0)}}},
		{name: "since_only", since: day(1, 5), days: usageSpan{day(1, 0), zero}, hasDays: true,
			minus: []usageSpan{{day(1, 0), day(1, 5)}}},
		{name: "until_only", until: day(4, 7), days: usageSpan{zero, day(4, 0)}, hasDays: true,
			hours: []usageSpan{{day(4, 0), day(4, 7)}}},
		{name: "less_than_a_day_across_midnight", since: day(1, 5), until: day(2, 3), days: usageSpan{day(1, 0), day(2, 0)}, hasDays: true,
			hours: []usageSpan{{day(2, 0), day(2, 3)}}, minus: []usageSpan{{day(1, 0), day(1, 5)}}},
		{name: "short_across_midnight", since: day(1, 20), until: day(2, 3),
			hours: []usageSpan{{day(1, 20), day(2, 0)}, {day(2, 0), day(2, 3)}}},
		{name: "within_a_day", since: day(1, 5), until: day(1, 9), hours: []usageSpan{{day(1, 5), day(1, 9)}}},
		{name: "most_of_a_day", since: day(1, 2), until: day(1, 21), days: usageSpan{day(1, 0), day(2, 0)}, hasDays: true,
			minus: []usageSpan{{day(1, 0), day(1, 2)}, {day(1, 21), day(2, 0)}}},
		{name: "to_midnight", since: day(1, 2), until: day(2, 0), days: usageSpan{day(1, 0), day(2, 0)}, hasDays: true,
			minus: []usageSpan{{day(1, 0), day(1, 2)}}},
		{name: "exactly_one_day", since: day(1, 0), until: day(2, 0), days: usageSpan{day(1, 0), day(2, 0)}, hasDays: true},
		{name: "no_whole_hours", since: day(1, 5).Add(20 * time.Minute), until: day(1, 5).Add(40 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planUsageReads(tc.since, tc.until, time.Time{}, tc.now)
			want := got
			want.days, want.hasDays, want.hours, want.minus = tc.days, tc.hasDays, tc.hours, tc.minus
			if diff := gocmp.Diff(want, got, gocmp.AllowUnexported(usageReads{}, usageSpan{})); diff != "" {
				t.Errorf("planUsageReads (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpen_SQLiteIncrementalAutoVacuum(t *testing.T) {
	s := OpenTestStore(t, DriverSQLite)
	var mode int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != 2 {
		t.Errorf("auto_vacuum of a new file = %d, %v; want 2 (incremental)", mode, err)
	}
}

// records returns n records for the given tenant, one every step from
// start, with request IDs prefix-0, prefix-1, ...
func records(n int, prefix, tenant string, start time.Time, step time.Duration) []store.UsageRecord {
	recs := make([]store.UsageRecord, n)
	for i := range recs {
		recs[i] = store.UsageRecord{
			RequestID: fmt.Sprintf("%s-%d", prefix, i), TenantID: tenant, KeyID: tenant + "-key", Model: "gpt-5",
			Provider: []string{"azure", "bedrock"}[i%2], Traffic: "stateless", Status: 200,
			InputTokens: 100, OutputTokens: 10, CostUSD: 0.0001, Latency: time.Millisecond,
			Route: strings.Repeat("r", 200), CreatedAt: start.Add(time.Duration(i) * step),
		}
	}
	return recs
}

// ledgerCounts returns the requests counted in the aggregates and the
// unrolled and rolled raw records.
func ledgerCounts(t *testing.T, s *Store) (aggregated, unrolled, rolled int64) {
	t.Helper()
	err := s.w.QueryRowContext(t.Context(), `SELECT
(SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_hourly),
(SELECT COUNT(*) FROM usage_records WHERE NOT rolled),
(SELECT COUNT(*) FROM usage_records WHERE rolled)`).Scan(&aggregated, &unrolled, &rolled)
	if err != nil {
		t.Fatal(err)
	}
	return aggregated, unrolled, rolled
}

// TestRollup_TwoHandles runs rollups and inserts through two stores on one
// database, as two replicas would.
func TestRollup_TwoHandles(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			a := OpenTestStore(t, driver)
			b, err := Open(t.Context(), driver, sameDatabase(t, a))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			const rounds = 8
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				rolled int
				errs   []error
			)
			for i, s := range []*Store{a, b} {
				wg.Go(func() {
					for r := range rounds {
						// Each replica inserts an hour of records, some of
						// them late for an hour the other may have rolled,
						// then rolls up with its own clock.
						recs := records(300, fmt.Sprintf("s%d-r%d", i, r), "ten", h(r, 0), 12*time.Second)
						err := s.InsertUsage(context.Background(), recs)
						var n int
						if err == nil {
							n, err = s.Rollup(context.Background(), h(r+1, 3*i))
						}
						mu.Lock()
						rolled += n
						if err != nil {
							errs = append(errs, err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			agg, unrolled, rolledRows := ledgerCounts(t, a)
			const total = 2 * rounds * 300
			if agg != int64(rolled) || rolledRows != int64(rolled) || agg+unrolled != total {
				t.Errorf("aggregated %d, rolled rows %d, unrolled %d, Rollup reported %d; want aggregated = rolled rows = reported and %d in all",
					agg, rolledRows, unrolled, rolled, total)
			}
			sums, err := b.SumUsage(t.Context(), store.UsageFilter{}, store.GroupNone)
			if err != nil {
				t.Fatal(err)
			}
			if sums[0].Requests != total || sums[0].InputTokens != total*100 {
				t.Errorf("SumUsage = %+v, want %d requests", sums[0], total)
			}
		})
	}
}

// TestRollupAndPrune_SmallBatches runs many batches of each.
func TestRollupAndPrune_SmallBatches(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			recs := records(300, "r", "ten", h(0, 0), 40*time.Second) // 0:00 to 3:19
			if err := s.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			n, err := s.rollup(ctx, h(3, 10), 7)
			if err != nil || n != 270 {
				t.Fatalf("rollup = %d, %v; want 270 records", n, err)
			}
			if agg, unrolled, rolled := ledgerCounts(t, s); agg != 270 || rolled != 270 || unrolled != 30 {
				t.Errorf("after rollup: aggregated %d, rolled %d, unrolled %d; want 270, 270, 30", agg, rolled, unrolled)
			}
			var watermark *time.Time
			if err := s.w.QueryRowContext(ctx, `SELECT rolled_until FROM usage_rollup_state`).Scan(timeColumn{ptr: &watermark}); err != nil {
				t.Fatal(err)
			}
			if watermark == nil || !watermark.Equal(h(3, 0)) {
				t.Errorf("rolled_until = %v, want %v", watermark, h(3, 0))
			}
			d, err := s.pruneUsage(ctx, h(2, 30), 7)
			if err != nil || d != 180 {
				t.Fatalf("pruneUsage = %d, %v; want 180 records", d, err)
			}
			if agg, unrolled, rolled := ledgerCounts(t, s); agg != 270 || rolled != 90 || unrolled != 30 {
				t.Errorf("after prune: aggregated %d, rolled %d, unrolled %d; want 270, 90, 30", agg, rolled, unrolled)
			}
			sums, err := s.SumUsage(ctx, store.UsageFilter{}, store.GroupProvider)
			if err != nil {
				t.Fatal(err)
			}
			if len(sums) != 2 || sums[0].Requests != 150 || sums[1].Requests != 150 {
				t.Errorf("SumUsage by provider = %+v, want 150 requests each", sums)
			}
		})
	}
}

// TestRollup_HourlyRows checks the aggregate rows themselves: keys, status
// classes and every sum, latency included.
func TestRollup_HourlyRows(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			rec := func(id string, at time.Time, status int, kind string, contracts ...string) store.UsageRecord {
				return store.UsageRecord{RequestID: id, TenantID: "t1", KeyID: "k1", Model: "m", Provider: "p", Traffic: "stateful",
					InputTokens: 1, OutputTokens: 2, CachedInputTokens: 3, CacheWriteTokens: 4, ReasoningTokens: 5,
					CostUSD: 0.000000007, Latency: 11 * time.Millisecond, Status: status, ErrorKind: kind, Contracts: contracts, CreatedAt: at}
			}
			recs := []store.UsageRecord{
				rec("a", h(0, 1), 200, ""), rec("b", h(0, 59), 200, ""),
				rec("c", h(0, 30), 429, "rate_limited"), rec("d", h(0, 31), 200, "partial"),
				rec("e", h(0, 40), 200, "", "eu"), rec("f", h(1, 0), 200, ""),
			}
			if err := s.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rollup(ctx, h(2, 0)); err != nil {
				t.Fatal(err)
			}
			type row struct {
				Hour                                             time.Time
				Contracts, Class                                 string
				Requests, Errors, In, Out, Cached, Write, Reason int64
				CostNano, LatencyNS                              int64
				Tenant, Key, Model, Provider, Traffic            string
			}
			rows, err := s.w.QueryContext(ctx, `SELECT hour_start, contracts, status_class, requests, errors, input_tokens, output_tokens,
cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, latency_ns, tenant_id, key_id, model, provider, traffic
FROM usage_hourly`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []row
			for rows.Next() {
				var r row
				if err := rows.Scan(timeColumn{t: &r.Hour}, &r.Contracts, &r.Class, &r.Requests, &r.Errors, &r.In, &r.Out, &r.Cached,
					&r.Write, &r.Reason, &r.CostNano, &r.LatencyNS, &r.Tenant, &r.Key, &r.Model, &r.Provider, &r.Traffic); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			// Sorted here: Postgres would order text by its collation.
			slices.SortFunc(got, func(a, b row) int {
				return cmp.Or(a.Hour.Compare(b.Hour), strings.Compare(a.Contracts, b.Contracts), strings.Compare(a.Class, b.Class))
			})
			ms := int64(time.Millisecond)
			want := []row{
				{h(0, 0), `["eu"]`, "ok", 1, 0, 1, 2, 3, 4, 5, 7, 11 * ms, "t1", "k1", "m", "p", "stateful"},
				{h(0, 0), `[]`, "error", 2, 2, 2, 4, 6, 8, 10, 14, 22 * ms, "t1", "k1", "m", "p", "stateful"},
				{h(0, 0), `[]`, "ok", 2, 0, 2, 4, 6, 8, 10, 14, 22 * ms, "t1", "k1", "m", "p", "stateful"},
				{h(1, 0), `[]`, "ok", 1, 0, 1, 2, 3, 4, 5, 7, 11 * ms, "t1", "k1", "m", "p", "stateful"},
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("usage_hourly (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPruneUsage_SQLiteFileStaysBounded runs a day of hourly insert,
// rollup and prune cycles with two hours of raw retention: the file stops
// growing once retention is reached and keeps no free pages.
func TestPruneUsage_SQLiteFileStaysBounded(t *testing.T) {
	s := OpenTestStore(t, DriverSQLite)
	ctx := t.Context()
	pages := func() (count, free int64) {
		t.Helper()
		if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&count); err != nil {
			t.Fatal(err)
		}
		if err := s.w.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
			t.Fatal(err)
		}
		return count, free
	}
	const perHour = 2000
	var steady int64
	for hour := range 24 {
		recs := records(perHour, fmt.Sprintf("h%d", hour), "ten", h(hour, 0), time.Hour/perHour)
		if err := s.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}
		now := h(hour+1, 5)
		if n, err := s.Rollup(ctx, now); err != nil || n != perHour {
			t.Fatalf("hour %d: Rollup = %d, %v; want %d", hour, n, err, perHour)
		}
		deleted, err := s.PruneUsage(ctx, now.Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if hour >= 2 && deleted != perHour {
			t.Errorf("hour %d: pruned %d records, want %d", hour, deleted, perHour)
		}
		count, free := pages()
		if deleted > 0 && free != 0 {
			t.Errorf("hour %d: %d free pages left after pruning, want 0", hour, free)
		}
		switch {
		case hour == 4:
			steady = count
		case hour > 4 && count > steady+steady/10:
			t.Errorf("hour %d: %d pages, want at most %d: the file keeps growing", hour, count, steady+steady/10)
		}
	}
	sums, err := s.SumUsage(ctx, store.UsageFilter{}, store.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if sums[0].Requests != 24*perHour {
		t.Errorf("requests after a day of pruning = %d, want %d", sums[0].Requests, 24*perHour)
	}
}

// TestSumUsage_SQLiteQueryPlans checks that sums never read rolled raw
// records for the hours they take from the aggregates.
func TestSumUsage_SQLiteQueryPlans(t *testing.T) {
	s := OpenTestStore(t, DriverSQLite)
	for _, tc := range []struct {
		name string
		f    store.UsageFilter
		by   string
		want []string // in order, one per part
	}{
		{"by_tenant", store.UsageFilter{}, store.GroupTenant,
			[]string{"SCAN usage_daily", "usage_records USING INDEX usage_records_unrolled_idx"}},
		{"tenant_since", store.UsageFilter{TenantID: "t", Since: h(0, 0)}, store.GroupNone,
			[]string{"SEARCH usage_daily USING INDEX usage_daily_tenant_idx (tenant_id=? AND day_start>?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>?)"}},
		{"key_mid_hour", store.UsageFilter{KeyID: "k", Since: h(0, 30)}, store.GroupModel,
			[]string{"SEARCH usage_daily USING INDEX usage_daily_key_idx (key_id=? AND day_start>?)",
				"SEARCH usage_hourly USING INDEX usage_hourly_key_idx (key_id=? AND hour_start>? AND hour_start<?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>?)",
				"SEARCH usage_records USING INDEX usage_records_key_created_idx (key_id=? AND created_at>? AND created_at<?)"}},
		{"since_by_provider", store.UsageFilter{Since: h(0, 0)}, store.GroupProvider,
			[]string{"SEARCH usage_daily USING INDEX sqlite_autoindex_usage_daily_1 (day_start>?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>?)"}},
		// 30 days from mid-hour to mid-hour: whole days from usage_daily,
		// the hours around them from usage_hourly, the edges raw.
		{"30d_mid_hour_by_key", store.UsageFilter{Since: h(5, 20), Until: h(30*24+5, 20)}, store.GroupKey,
			[]string{"SEARCH usage_daily USING INDEX sqlite_autoindex_usage_daily_1 (day_start>? AND day_start<?)",
				"SEARCH usage_hourly USING INDEX sqlite_autoindex_usage_hourly_1 (hour_start>? AND hour_start<?)",
				"SEARCH usage_hourly USING INDEX sqlite_autoindex_usage_hourly_1 (hour_start>? AND hour_start<?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>? AND created_at<?)",
				"SEARCH usage_records USING INDEX usage_records_created_idx (created_at>? AND created_at<?)",
				"SEARCH usage_records USING INDEX usage_records_created_idx (created_at>? AND created_at<?)"}},
		// SumUsageByDay: a daily series of a provider.
		{"provider_by_day", store.UsageFilter{Provider: "p", Since: h(0, 0), Until: h(30*24+5, 0)}, "day",
			[]string{"SEARCH usage_daily USING INDEX sqlite_autoindex_usage_daily_1 (day_start>? AND day_start<?)",
				"SEARCH usage_hourly USING INDEX sqlite_autoindex_usage_hourly_1 (hour_start>? AND hour_start<?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>? AND created_at<?)"}},
		// SumUsageByHour: an hourly series of a tenant.
		{"tenant_by_hour", store.UsageFilter{TenantID: "t", Since: h(0, 0)}, "hour",
			[]string{"SEARCH usage_hourly USING INDEX usage_hourly_tenant_idx (tenant_id=? AND hour_start>?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>?)"}},
		{"since_by_hour", store.UsageFilter{Since: h(0, 0)}, "hour",
			[]string{"SEARCH usage_hourly USING INDEX sqlite_autoindex_usage_hourly_1 (hour_start>?)",
				"SEARCH usage_records USING INDEX usage_records_unrolled_idx (created_at>?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g partGroups
			switch tc.by {
			case "hour":
				g = partGroups{hourly: "hour_start", raw: s.d.hourStart("created_at")}
			case "day":
				g = partGroups{daily: "day_start", hourly: s.d.dayStart("hour_start"), raw: s.d.dayStart("created_at")}
			default:
				col, _ := usageGroupColumn(tc.by)
				g = partGroups{daily: col, hourly: col, raw: col}
			}
			q, args := s.sumUsageQuery(planUsageReads(tc.f.Since, tc.f.Until, time.Time{}, time.Time{}), tc.f, g, tc.by != store.GroupNone)
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var (
					id, parent, unused int
					detail             string
				)
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(detail, "usage_") {
					got = append(got, detail)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("plan reads %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("part %d reads %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// BenchmarkSumUsage sums 200k records spread over 30 days, raw and then
// rolled up: the queries a usage report and a budget check make.
func BenchmarkSumUsage(b *testing.B) {
	for _, driver := range drivers() {
		b.Run(driver, func(b *testing.B) {
			s := OpenTestStore(b, driver)
			ctx := context.Background()
			const (
				n    = 200_000
				span = 30 * 24 * time.Hour
			)
			start := h(0, 0)
			for i := 0; i < n; i += 10_000 {
				recs := make([]store.UsageRecord, 10_000)
				for j := range recs {
					k := i + j
					recs[j] = store.UsageRecord{
						RequestID: fmt.Sprintf("bench-%d", k), TenantID: fmt.Sprintf("ten_%d", k%3), KeyID: fmt.Sprintf("key_%d", k%12),
						Model: []string{"gpt-5", "claude", "nova", "gemini"}[k%4], Provider: []string{"azure", "bedrock"}[k%2],
						Traffic: "stateless", Status: 200, InputTokens: 500, OutputTokens: 50, CostUSD: 0.0012,
						Contracts: []string{"eu-only"}, CreatedAt: start.Add(time.Duration(k) * (span / n)),
					}
				}
				if err := s.InsertUsage(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			queries := []struct {
				name string
				f    store.UsageFilter
				by   string
			}{
				{"report_30d_by_model", store.UsageFilter{Since: start.Add(17 * time.Minute)}, store.GroupModel},
				{"report_7d_by_contract", store.UsageFilter{Since: start.Add(23*24*time.Hour + 17*time.Minute)}, store.GroupContract},
				{"budget_tenant_month", store.UsageFilter{TenantID: "ten_1", Since: start}, store.GroupNone},
			}
			run := func(stage string) {
				for _, q := range queries {
					b.Run(stage+"/"+q.name, func(b *testing.B) {
						for b.Loop() {
							if _, err := s.SumUsage(ctx, q.f, q.by); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
			run("raw")
			if _, err := s.Rollup(ctx, start.Add(span)); err != nil {
				b.Fatal(err)
			}
			if driver == DriverPostgres {
				// What autovacuum does after a rollup this large: clear the
				// row versions it replaced from the indexes, and teach the
				// planner that unrolled records are now rare.
				if _, err := s.w.ExecContext(ctx, "VACUUM ANALYZE usage_records"); err != nil {
					b.Fatal(err)
				}
			}
			run("rolled")
		})
	}
}
