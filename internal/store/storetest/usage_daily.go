package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
)

// day0 is the start, in UTC, of the day containing base.
var day0 = base.UTC().Truncate(24 * time.Hour)

// onDay returns day0 plus d days, h hours and m minutes.
func onDay(d, h, m int) time.Time {
	return day0.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// dailyWindows are filters whose windows start and end on and off day and
// hour boundaries, over several days, and in the not yet rolled tail; the
// partial days at their ends are short (read as hours) or long (read as
// their day less the hours outside the window).
var dailyWindows = []struct {
	name string
	f    store.UsageFilter
}{
	{"all", store.UsageFilter{}},
	{"whole_days", store.UsageFilter{Since: onDay(1, 0, 0), Until: onDay(3, 0, 0)}},
	{"mid_hour_edges_across_days", store.UsageFilter{Since: onDay(0, 20, 31).Add(17 * time.Second), Until: onDay(3, 1, 43)}},
	{"hour_edges_across_days", store.UsageFilter{Since: onDay(0, 22, 0), Until: onDay(2, 3, 0)}},
	{"day_since_into_tail", store.UsageFilter{Since: onDay(1, 0, 0), Until: onDay(3, 4, 45)}},
	{"mid_since_whole_day_until", store.UsageFilter{Since: onDay(1, 6, 15), Until: onDay(3, 0, 0)}},
	{"one_day_less_an_hour", store.UsageFilter{Since: onDay(1, 1, 0), Until: onDay(2, 0, 0)}},
	{"within_a_day", store.UsageFilter{Since: onDay(2, 3, 20), Until: onDay(2, 19, 5)}},
	{"most_of_a_day", store.UsageFilter{Since: onDay(1, 1, 10), Until: onDay(1, 22, 50)}},
	{"until_late_in_a_day", store.UsageFilter{Since: onDay(0, 21, 0), Until: onDay(2, 21, 30)}},
	{"since_early_in_a_day", store.UsageFilter{Since: onDay(1, 2, 0), Until: onDay(3, 2, 0)}},
	{"across_one_midnight", store.UsageFilter{Since: onDay(1, 23, 10), Until: onDay(2, 0, 50)}},
	{"unbounded_since", store.UsageFilter{Until: onDay(2, 0, 30)}},
	{"unbounded_until", store.UsageFilter{Since: onDay(1, 6, 15)}},
	{"tail_only", store.UsageFilter{Since: onDay(3, 3, 0)}},
	{"tenant_30_days", store.UsageFilter{TenantID: "ten_b", Since: onDay(-26, 4, 10), Until: onDay(4, 4, 10)}},
	{"key_across_days", store.UsageFilter{KeyID: "ten_a_key1", Since: onDay(0, 23, 59)}},
	{"provider_across_days", store.UsageFilter{Provider: "azure-eastus", Since: onDay(1, 12, 0), Until: onDay(3, 12, 0)}},
	{"model_tenant", store.UsageFilter{Model: "nova-pro", TenantID: "ten_c", Until: onDay(3, 0, 1)}},
}

// dailyFixture is ledgerFixture spread over three and a half days, from
// 20:13 on day0 to 04:30 on day0+4, a record every 11 minutes and some
// seconds.
func dailyFixture(idPrefix string) []store.UsageRecord {
	recs := ledgerFixture(450, idPrefix)
	for i := range recs {
		recs[i].CreatedAt = onDay(0, 20, 13).Add(time.Duration(i)*11*time.Minute + time.Duration(i%53)*time.Second)
	}
	return recs
}

// expectedDaySums is what SumUsageByDay must return over recs: the records
// in f's window (as pruning widens it) summed per UTC day.
func expectedDaySums(recs []store.UsageRecord, f store.UsageFilter, prunedBefore time.Time) []store.DayUsage {
	var out []store.DayUsage
	for _, h := range expectedHourSums(recs, f, prunedBefore) {
		day := h.Hour.Truncate(24 * time.Hour)
		if n := len(out); n == 0 || !out[n-1].Day.Equal(day) {
			out = append(out, store.DayUsage{Day: day})
		}
		d := &out[len(out)-1]
		d.Requests += h.Requests
		d.Errors += h.Errors
		d.InputTokens += h.InputTokens
		d.OutputTokens += h.OutputTokens
		d.CachedInputTokens += h.CachedInputTokens
		d.CacheWriteTokens += h.CacheWriteTokens
		d.ReasoningTokens += h.ReasoningTokens
		d.CostUSD += h.CostUSD
	}
	// Costs are summed in nano-dollars, as the stores do, not as floats.
	for i := range out {
		hf := pruneRule(f, prunedBefore)
		if hf.Since.IsZero() || hf.Since.Before(out[i].Day) {
			hf.Since = out[i].Day
		}
		if end := out[i].Day.Add(24 * time.Hour); hf.Until.IsZero() || hf.Until.After(end) {
			hf.Until = end
		}
		out[i].CostUSD = expectedSums(recs, hf, store.GroupNone)[0].CostUSD
	}
	return out
}

// checkDailySums compares SumUsage, SumUsageByHour and SumUsageByDay with
// the sums of raw over every daily window and grouping.
func checkDailySums(t *testing.T, s LedgerUnderTest, stage string, raw []store.UsageRecord, prunedBefore time.Time) {
	t.Helper()
	for _, w := range dailyWindows {
		for _, g := range ledgerGroupings {
			got, err := s.SumUsage(t.Context(), w.f, g)
			if err != nil {
				t.Fatalf("%s: %s by %q: SumUsage: %v", stage, w.name, g, err)
			}
			if diff := cmp.Diff(expectedLedgerSums(raw, w.f, g, prunedBefore), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: %s by %q: SumUsage (-want +got):\n%s", stage, w.name, g, diff)
			}
		}
		hours, err := s.SumUsageByHour(t.Context(), w.f)
		if err != nil {
			t.Fatalf("%s: %s: SumUsageByHour: %v", stage, w.name, err)
		}
		if diff := cmp.Diff(expectedHourSums(raw, w.f, prunedBefore), hours, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: %s: SumUsageByHour (-want +got):\n%s", stage, w.name, diff)
		}
		days, err := s.SumUsageByDay(t.Context(), w.f)
		if err != nil {
			t.Fatalf("%s: %s: SumUsageByDay: %v", stage, w.name, err)
		}
		if diff := cmp.Diff(expectedDaySums(raw, w.f, prunedBefore), days, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: %s: SumUsageByDay (-want +got):\n%s", stage, w.name, diff)
		}
	}
}

// testDailyRollupMatchesRaw checks that sums read through the daily and
// hourly rollups equal a scan of the raw ledger, over windows with day and
// hour edges, while part of the ledger is not rolled yet, after late
// records land in rolled days, and once old raw records are pruned.
func testDailyRollupMatchesRaw(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	recs := dailyFixture("daily")
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// The truth is the raw ledger as the store keeps it.
	raw := scanAll(t, s, store.UsageFilter{})
	if len(raw) != len(recs) {
		t.Fatalf("scanned %d raw records, want %d", len(raw), len(recs))
	}
	checkDailySums(t, s, "raw", raw, time.Time{})

	// Roll up to 02:30 on day 3: the days before are whole in the daily
	// rollup, day 3 partly, and its hours from 02:00 are an unrolled tail.
	mustRollup(t, s, onDay(3, 2, 30), createdBefore(recs, onDay(3, 2, 0)))
	checkDailySums(t, s, "rolled_to_day3_0200", raw, time.Time{})

	// Late records for rolled days (a replica flushing its queue) are
	// counted raw until the next rollup adds them to their hours and days.
	late := shifted(ledgerFixture(40, "late"), "daily-late", onDay(1, 23, 59).Add(40*time.Second))
	if err := s.InsertUsage(ctx, late); err != nil {
		t.Fatal(err)
	}
	raw = scanAll(t, s, store.UsageFilter{})
	checkDailySums(t, s, "late_records", raw, time.Time{})
	mustRollup(t, s, onDay(3, 2, 30), len(late))
	checkDailySums(t, s, "late_rolled", raw, time.Time{})

	mustRollup(t, s, onDay(10, 0, 0), len(raw)-createdBefore(raw, onDay(3, 2, 0)))
	checkDailySums(t, s, "all_rolled", raw, time.Time{})

	// Pruned hours are counted whole at a window's edges, from the hourly
	// rollup; whole days still come from the daily one.
	mustPrune(t, s, onDay(1, 5, 20), createdBefore(raw, onDay(1, 5, 0)))
	checkDailySums(t, s, "pruned", raw, onDay(1, 5, 0))

	// Days as SumUsageByDay returns them are UTC midnights.
	days, err := s.SumUsageByDay(ctx, store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[time.Time]bool{}
	for _, r := range raw {
		want[r.CreatedAt.UTC().Truncate(24*time.Hour)] = true
	}
	var got []time.Time
	for _, d := range days {
		got = append(got, d.Day)
	}
	if diff := cmp.Diff(slices.SortedFunc(maps.Keys(want), time.Time.Compare), got); diff != "" {
		t.Errorf("SumUsageByDay days (-want +got):\n%s", diff)
	}
	if len(days) != 5 {
		t.Errorf("SumUsageByDay returned %d days, want 5 (%s)", len(days), fmt.Sprint(got))
	}
}
