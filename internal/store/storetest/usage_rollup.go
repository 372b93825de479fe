package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
)

// LedgerUnderTest is the usage-ledger upkeep and reporting API the suite
// exercises on top of StoreUnderTest: the hourly and daily rollups, retention of raw
// records, the raw-record scan and spend per provider.
type LedgerUnderTest interface {
	StoreUnderTest
	Rollup(ctx context.Context, now time.Time) (int, error)
	PruneUsage(ctx context.Context, before time.Time) (int64, error)
	ScanUsage(ctx context.Context, f store.UsageFilter, fn func(store.UsageRecord) error) error
	SpendByProvider(ctx context.Context, since time.Time) (map[string]float64, error)
	SumUsageByHour(ctx context.Context, f store.UsageFilter) ([]store.HourUsage, error)
	SumUsageByDay(ctx context.Context, f store.UsageFilter) ([]store.DayUsage, error)
	SumUsageRoutes(ctx context.Context, since, until time.Time) ([]store.RouteUsage, error)
}

// runLedger runs the ledger cases. Every store must keep its ledger small,
// so a store that does not implement LedgerUnderTest fails them.
func runLedger(t *testing.T, open func(t *testing.T) StoreUnderTest) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, LedgerUnderTest)
	}{
		{"usage_rollup_keeps_sums", testRollupKeepsSums},
		{"usage_rollup_idempotent", testRollupIdempotent},
		{"usage_rollup_concurrent", testRollupConcurrent},
		{"usage_rollup_late_records", testRollupLateRecords},
		{"usage_daily_rollup_matches_raw", testDailyRollupMatchesRaw},
		{"usage_prune_only_rolled", testPruneOnlyRolled},
		{"usage_sum_by_contract", testSumByContract},
		{"usage_scan", testScanUsage},
		{"usage_spend_by_provider", testSpendByProvider},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			l, ok := s.(LedgerUnderTest)
			if !ok {
				t.Fatalf("%T does not implement storetest.LedgerUnderTest", s)
			}
			tc.fn(t, l)
		})
	}
}

// hour0 is the start, in UTC, of the hour containing base: usageFixture
// spreads its records over the hours from there, one per minute.
var hour0 = base.UTC().Truncate(time.Hour)

// at returns hour0 plus h hours and m minutes.
func at(h, m int) time.Time {
	return hour0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// ledgerFixture is usageFixture with varied contracts and traffic.
func ledgerFixture(n int, idPrefix string) []store.UsageRecord {
	recs := usageFixture(n, idPrefix)
	for i := range recs {
		switch i % 4 {
		case 0:
			recs[i].Contracts = nil
		case 1:
			recs[i].Contracts = []string{"eu-only"}
		case 2:
			recs[i].Contracts = []string{"eu-only", "commit-azure"}
		case 3:
			recs[i].Contracts = []string{"commit-azure"}
		}
		if i%5 == 0 {
			recs[i].Traffic = "stateful"
		}
	}
	return recs
}

// shifted returns recs with new request IDs, created at t plus one second
// per record, as a replica flushing its queue late would insert them.
func shifted(recs []store.UsageRecord, idPrefix string, t time.Time) []store.UsageRecord {
	out := slices.Clone(recs)
	for i := range out {
		out[i].RequestID = fmt.Sprintf("%s-%05d", idPrefix, i)
		out[i].CreatedAt = t.Add(time.Duration(i) * time.Second)
	}
	return out
}

// ledgerWindows are filters whose windows start and end on and off hour
// boundaries, within one hour and across several.
var ledgerWindows = []struct {
	name string
	f    store.UsageFilter
}{
	{"all", store.UsageFilter{}},
	{"since_mid_hour", store.UsageFilter{Since: at(2, 17).Add(33 * time.Second)}},
	{"until_mid_hour", store.UsageFilter{Until: at(5, 41)}},
	{"within_one_hour", store.UsageFilter{Since: at(3, 10), Until: at(3, 50)}},
	{"adjacent_partial_hours", store.UsageFilter{Since: at(3, 30), Until: at(4, 15)}},
	{"across_hours", store.UsageFilter{Since: at(1, 30), Until: at(6, 30)}},
	{"whole_hours", store.UsageFilter{Since: at(2, 0), Until: at(5, 0)}},
	{"aligned_since_mid_until", store.UsageFilter{Since: at(2, 0), Until: at(4, 30)}},
	{"mid_since_aligned_until", store.UsageFilter{Since: at(1, 45), Until: at(4, 0)}},
	{"first_hour_edge", store.UsageFilter{Since: at(0, 20), Until: at(0, 40)}},
	{"tenant_across_hours", store.UsageFilter{TenantID: "ten_b", Since: at(1, 5), Until: at(7, 55)}},
	{"key", store.UsageFilter{KeyID: "ten_a_key1", Since: at(0, 59)}},
	{"model_until", store.UsageFilter{Model: "nova-pro", Until: at(6, 1)}},
	{"provider_and_tenant", store.UsageFilter{Provider: "azure-eastus", TenantID: "ten_c"}},
	{"no_match", store.UsageFilter{TenantID: "ten_none"}},
	{"before_data", store.UsageFilter{Since: at(-3, 0), Until: at(0, 5)}},
	{"after_data", store.UsageFilter{Since: at(40, 30)}},
	{"empty_window", store.UsageFilter{Since: at(3, 0), Until: at(3, 0)}},
}

var ledgerGroupings = []string{store.GroupNone, store.GroupTenant, store.GroupKey, store.GroupModel, store.GroupProvider, store.GroupContract}

// pruneRule widens f the way SumUsage reads a window once raw records are
// pruned: an edge inside an hour before prunedBefore counts that hour whole.
func pruneRule(f store.UsageFilter, prunedBefore time.Time) store.UsageFilter {
	hourOf := func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
	if !f.Since.IsZero() && hourOf(f.Since).Before(prunedBefore) {
		f.Since = hourOf(f.Since)
	}
	if !f.Until.IsZero() && !f.Until.Equal(hourOf(f.Until)) && hourOf(f.Until).Before(prunedBefore) {
		f.Until = hourOf(f.Until).Add(time.Hour)
	}
	return f
}

// expectedLedgerSums is what SumUsage must return over recs when raw
// records were pruned before prunedBefore (zero: never).
func expectedLedgerSums(recs []store.UsageRecord, f store.UsageFilter, groupBy string, prunedBefore time.Time) []store.UsageSummary {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		if groupBy == store.GroupNone {
			return []store.UsageSummary{{}}
		}
		return nil
	}
	f = pruneRule(f, prunedBefore)
	if groupBy != store.GroupContract {
		return expectedSums(recs, f, groupBy)
	}
	var out []store.UsageSummary
	names := map[string]bool{}
	for _, r := range recs {
		if len(r.Contracts) == 0 {
			names[""] = true
		}
		for _, c := range r.Contracts {
			names[c] = true
		}
	}
	for name := range names {
		var mine []store.UsageRecord
		for _, r := range recs {
			if name == "" && len(r.Contracts) == 0 || name != "" && slices.Contains(r.Contracts, name) {
				mine = append(mine, r)
			}
		}
		sum := expectedSums(mine, f, store.GroupNone)[0]
		if sum.Requests == 0 {
			continue
		}
		sum.Group = name
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// expectedHourSums is what SumUsageByHour must return over recs: the
// records in f's window (as pruning widens it) summed per clock hour.
func expectedHourSums(recs []store.UsageRecord, f store.UsageFilter, prunedBefore time.Time) []store.HourUsage {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil
	}
	f = pruneRule(f, prunedBefore)
	hours := map[time.Time]bool{}
	for _, r := range recs {
		hours[r.CreatedAt.UTC().Truncate(time.Hour)] = true
	}
	var out []store.HourUsage
	for _, h := range slices.SortedFunc(maps.Keys(hours), time.Time.Compare) {
		hf := f
		if hf.Since.IsZero() || hf.Since.Before(h) {
			hf.Since = h
		}
		if end := h.Add(time.Hour); hf.Until.IsZero() || hf.Until.After(end) {
			hf.Until = end
		}
		if !hf.Since.Before(hf.Until) {
			continue
		}
		if sum := expectedSums(recs, hf, store.GroupNone)[0]; sum.Requests > 0 {
			out = append(out, store.HourUsage{Hour: h, UsageSummary: sum})
		}
	}
	return out
}

// checkLedgerSums compares SumUsage with the expected sums for every
// window and grouping.
func checkLedgerSums(t *testing.T, s LedgerUnderTest, stage string, recs []store.UsageRecord, prunedBefore time.Time) {
	t.Helper()
	for _, w := range ledgerWindows {
		for _, g := range ledgerGroupings {
			got, err := s.SumUsage(t.Context(), w.f, g)
			if err != nil {
				t.Fatalf("%s: %s by %q: SumUsage: %v", stage, w.name, g, err)
			}
			if diff := cmp.Diff(expectedLedgerSums(recs, w.f, g, prunedBefore), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: %s by %q: SumUsage (-want +got):\n%s", stage, w.name, g, diff)
			}
		}
	}
	for _, w := range ledgerWindows {
		got, err := s.SumUsageByHour(t.Context(), w.f)
		if err != nil {
			t.Fatalf("%s: %s: SumUsageByHour: %v", stage, w.name, err)
		}
		if diff := cmp.Diff(expectedHourSums(recs, w.f, prunedBefore), got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: %s: SumUsageByHour (-want +got):\n%s", stage, w.name, diff)
		}
	}
	spend, err := s.SpendSince(t.Context(), "ten_a", "", at(1, 30))
	if err != nil {
		t.Fatalf("%s: SpendSince: %v", stage, err)
	}
	want := expectedLedgerSums(recs, store.UsageFilter{TenantID: "ten_a", Since: at(1, 30)}, store.GroupNone, prunedBefore)[0].CostUSD
	if spend != want {
		t.Errorf("%s: SpendSince = %.9f, want %.9f", stage, spend, want)
	}
}

// createdBefore counts the records created before t.
func createdBefore(recs []store.UsageRecord, t time.Time) int {
	n := 0
	for _, r := range recs {
		if r.CreatedAt.Before(t) {
			n++
		}
	}
	return n
}

func mustRollup(t *testing.T, s LedgerUnderTest, now time.Time, want int) {
	t.Helper()
	n, err := s.Rollup(t.Context(), now)
	if err != nil {
		t.Fatalf("Rollup(%v): %v", now, err)
	}
	if n != want {
		t.Errorf("Rollup(%v) rolled %d records, want %d", now, n, want)
	}
}

func mustPrune(t *testing.T, s LedgerUnderTest, before time.Time, want int) {
	t.Helper()
	n, err := s.PruneUsage(t.Context(), before)
	if err != nil {
		t.Fatalf("PruneUsage(%v): %v", before, err)
	}
	if n != int64(want) {
		t.Errorf("PruneUsage(%v) deleted %d records, want %d", before, n, want)
	}
}

// scanAll returns the records ScanUsage yields for f.
func scanAll(t *testing.T, s LedgerUnderTest, f store.UsageFilter) []store.UsageRecord {
	t.Helper()
	var out []store.UsageRecord
	if err := s.ScanUsage(t.Context(), f, func(r store.UsageRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("ScanUsage: %v", err)
	}
	return out
}

func testRollupKeepsSums(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	recs := ledgerFixture(480, "sum") // 14:09 to 22:08 UTC
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	checkLedgerSums(t, s, "raw", recs, time.Time{})

	// The hour containing now is never rolled.
	mustRollup(t, s, at(4, 30), createdBefore(recs, at(4, 0)))
	checkLedgerSums(t, s, "partly_rolled", recs, time.Time{})
	mustRollup(t, s, at(30, 0), len(recs)-createdBefore(recs, at(4, 0)))
	checkLedgerSums(t, s, "rolled", recs, time.Time{})

	// Pruning the raw records of the hours before 17:00 keeps every sum of
	// whole hours, and counts edge hours before 17:00 whole.
	mustPrune(t, s, at(3, 20), createdBefore(recs, at(3, 0)))
	checkLedgerSums(t, s, "pruned", recs, at(3, 0))
	if got := len(scanAll(t, s, store.UsageFilter{})); got != len(recs)-createdBefore(recs, at(3, 0)) {
		t.Errorf("raw records after prune = %d, want %d", got, len(recs)-createdBefore(recs, at(3, 0)))
	}
	// Pruning further back changes nothing.
	mustPrune(t, s, at(1, 0), 0)
	checkLedgerSums(t, s, "pruned_again", recs, at(3, 0))

	// Everything rolled can go; the prune horizon stops at the last
	// rollup's hour, so windows after it stay exact.
	mustPrune(t, s, at(100, 0), len(recs)-createdBefore(recs, at(3, 0)))
	checkLedgerSums(t, s, "all_pruned", recs, at(30, 0))
	if got := scanAll(t, s, store.UsageFilter{}); len(got) != 0 {
		t.Errorf("%d raw records left after pruning everything rolled", len(got))
	}
}

func testRollupIdempotent(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	mustRollup(t, s, at(10, 0), 0) // an empty ledger
	recs := ledgerFixture(300, "idem")
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	mustRollup(t, s, at(3, 5), createdBefore(recs, at(3, 0)))
	mustRollup(t, s, at(3, 59), 0)
	mustRollup(t, s, at(1, 0), 0) // a replica whose clock is behind
	checkLedgerSums(t, s, "rolled_once", recs, time.Time{})
	mustRollup(t, s, at(20, 0), len(recs)-createdBefore(recs, at(3, 0)))
	mustRollup(t, s, at(20, 0), 0)
	checkLedgerSums(t, s, "rolled_all", recs, time.Time{})
	// Re-inserting rolled records (a retried batch) counts nothing twice.
	if err := s.InsertUsage(ctx, recs[:50]); err != nil {
		t.Fatal(err)
	}
	mustRollup(t, s, at(20, 0), 0)
	checkLedgerSums(t, s, "retried_batch", recs, time.Time{})
}

func testRollupConcurrent(t *testing.T, s LedgerUnderTest) {
	const (
		writers = 4
		rollers = 4
		batches = 6
		perBat  = 100
	)
	// Writers insert records spread over ten hours, some for hours already
	// rolled, while rollers roll everything before a moving now.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  []store.UsageRecord
		errs = make(chan error, writers+rollers)
	)
	rolled := make([]int, rollers)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := shifted(ledgerFixture(perBat, "x"), fmt.Sprintf("w%d-b%d", w, b), at(b+w%2, 7*w))
				if err := s.InsertUsage(context.Background(), recs); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				all = append(all, recs...)
				mu.Unlock()
			}
		})
	}
	var rwg sync.WaitGroup
	for r := range rollers {
		rwg.Go(func() {
			for i := 0; ; i++ {
				n, err := s.Rollup(context.Background(), at(2+i%8, r))
				if err != nil {
					errs <- err
					return
				}
				rolled[r] += n
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent rollup: %v", err)
	}
	final, err := s.Rollup(t.Context(), at(30, 0))
	if err != nil {
		t.Fatal(err)
	}
	total := final
	for _, n := range rolled {
		total += n
	}
	if total != len(all) {
		t.Errorf("records rolled over all rollups = %d, want %d, each exactly once", total, len(all))
	}
	checkLedgerSums(t, s, "after_concurrent_rollups", all, time.Time{})
}

func testRollupLateRecords(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	recs := ledgerFixture(360, "on-time")
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	mustRollup(t, s, at(8, 0), len(recs))
	mustPrune(t, s, at(2, 0), createdBefore(recs, at(2, 0)))

	// A replica flushes after a crash: records for rolled hours, one of
	// them already pruned.
	late := shifted(ledgerFixture(40, "x"), "late-rolled", at(3, 12))
	late = append(late, shifted(ledgerFixture(30, "x"), "late-pruned", at(1, 40))...)
	if err := s.InsertUsage(ctx, late); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(recs), late...)
	checkLedgerSums(t, s, "late_unrolled", all, at(2, 0))
	mustRollup(t, s, at(8, 0), len(late))
	checkLedgerSums(t, s, "late_rolled", all, at(2, 0))
	// The late records of the pruned hour are rolled now, so they go too.
	mustPrune(t, s, at(2, 0), 30)
	checkLedgerSums(t, s, "late_pruned", all, at(2, 0))
}

func testPruneOnlyRolled(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	mustPrune(t, s, at(100, 0), 0) // nothing was ever rolled
	// More records than one rollup transaction or prune statement takes,
	// three hours of them, plus a few in a fourth.
	const n = 2*5000 + 1234
	recs := make([]store.UsageRecord, 0, n+10)
	for i, r := range ledgerFixture(n, "bulk") {
		r.CreatedAt = at(0, 0).Add(time.Duration(i) * 3 * time.Hour / n)
		recs = append(recs, r)
	}
	recs = append(recs, shifted(ledgerFixture(10, "x"), "tail", at(3, 30))...)
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	mustPrune(t, s, at(100, 0), 0) // still nothing rolled
	mustRollup(t, s, at(2, 1), createdBefore(recs, at(2, 0)))
	// Only rolled records go, however far before says.
	mustPrune(t, s, at(100, 0), createdBefore(recs, at(2, 0)))
	left := scanAll(t, s, store.UsageFilter{})
	if len(left) != len(recs)-createdBefore(recs, at(2, 0)) {
		t.Fatalf("raw records after prune = %d, want %d", len(left), len(recs)-createdBefore(recs, at(2, 0)))
	}
	for _, r := range left {
		if r.CreatedAt.Before(at(2, 0)) {
			t.Fatalf("record %s of a rolled hour survived the prune", r.RequestID)
		}
	}
	checkLedgerSums(t, s, "pruned", recs, at(2, 0))
	mustRollup(t, s, at(5, 0), len(left))
	mustPrune(t, s, at(3, 59), createdBefore(recs, at(3, 0))-createdBefore(recs, at(2, 0)))
	checkLedgerSums(t, s, "pruned_later", recs, at(3, 0))
}

func testSumByContract(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	recs := []store.UsageRecord{
		{RequestID: "none", TenantID: "t", InputTokens: 1, CostUSD: 0.001, Status: 200, CreatedAt: at(0, 10)},
		{RequestID: "a", TenantID: "t", InputTokens: 10, CostUSD: 0.01, Status: 200, Contracts: []string{"a"}, CreatedAt: at(0, 20)},
		{RequestID: "ab", TenantID: "t", InputTokens: 100, CostUSD: 0.1, Status: 500, Contracts: []string{"a", "b"}, CreatedAt: at(1, 10)},
		// A contract named twice counts once.
		{RequestID: "baa", TenantID: "t", InputTokens: 1000, CostUSD: 1, Status: 200, Contracts: []string{"b", "a", "a"}, CreatedAt: at(1, 20)},
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	want := []store.UsageSummary{
		{Group: "", Requests: 1, InputTokens: 1, CostUSD: 0.001},
		{Group: "a", Requests: 3, InputTokens: 1110, CostUSD: 1.11, Errors: 1},
		{Group: "b", Requests: 2, InputTokens: 1100, CostUSD: 1.1, Errors: 1},
	}
	check := func(stage string) {
		t.Helper()
		got, err := s.SumUsage(ctx, store.UsageFilter{}, store.GroupContract)
		if err != nil {
			t.Fatalf("%s: SumUsage: %v", stage, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: SumUsage by contract (-want +got):\n%s", stage, diff)
		}
		got, err = s.SumUsage(ctx, store.UsageFilter{Since: at(1, 15)}, store.GroupContract)
		if err != nil {
			t.Fatalf("%s: SumUsage: %v", stage, err)
		}
		wantSince := []store.UsageSummary{
			{Group: "a", Requests: 1, InputTokens: 1000, CostUSD: 1},
			{Group: "b", Requests: 1, InputTokens: 1000, CostUSD: 1},
		}
		if diff := cmp.Diff(wantSince, got); diff != "" {
			t.Errorf("%s: SumUsage by contract since 15:15 (-want +got):\n%s", stage, diff)
		}
	}
	check("raw")
	mustRollup(t, s, at(2, 0), 4)
	check("rolled")
	got, err := s.SumUsage(ctx, store.UsageFilter{TenantID: "other"}, store.GroupContract)
	if err != nil || len(got) != 0 {
		t.Errorf("SumUsage by contract of no records = %v, %v; want none", got, err)
	}
}

func testScanUsage(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	// More than one page of records, inserted out of order.
	recs := ledgerFixture(2500, "scan")
	for i := range recs {
		sec := (i * 7919) % 2500
		if sec >= 990 && sec <= 1010 {
			sec = 990 // a run of ties across the first page's end
		}
		recs[i].CreatedAt = at(0, 0).Add(time.Duration(sec) * time.Second)
		if i%7 == 0 {
			recs[i].Route = "strategy=priority; attempts=azure-eastus," + recs[i].Provider
		}
	}
	recs[3].RequestID = ""
	recs[4].CreatedAt = recs[5].CreatedAt // ties keep insertion order
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	want := make([]store.UsageRecord, len(recs))
	for i, r := range recs {
		r.CreatedAt = micro(r.CreatedAt)
		r.CostUSD = float64(nanos(r.CostUSD)) / 1e9
		want[i] = r
	}
	sort.SliceStable(want, func(i, j int) bool { return want[i].CreatedAt.Before(want[j].CreatedAt) })
	if diff := cmp.Diff(want, scanAll(t, s, store.UsageFilter{})); diff != "" {
		t.Errorf("ScanUsage (-want +got):\n%s", diff)
	}

	f := store.UsageFilter{TenantID: "ten_b", Provider: "aws-us-east-1", Since: at(0, 5), Until: at(0, 30)}
	var wantF []store.UsageRecord
	for _, r := range want {
		if r.TenantID == f.TenantID && r.Provider == f.Provider && !r.CreatedAt.Before(f.Since) && r.CreatedAt.Before(f.Until) {
			wantF = append(wantF, r)
		}
	}
	if diff := cmp.Diff(wantF, scanAll(t, s, f), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ScanUsage(filtered) (-want +got):\n%s", diff)
	}

	// SumUsageRoutes counts the same records per route.
	type routeKey struct{ tenant, model, traffic, provider, route, contracts string }
	wantRoutes := map[routeKey]int64{}
	for _, r := range want {
		if !r.CreatedAt.Before(f.Since) && r.CreatedAt.Before(f.Until) {
			wantRoutes[routeKey{r.TenantID, r.Model, r.Traffic, r.Provider, r.Route, strings.Join(r.Contracts, ",")}]++
		}
	}
	routes, err := s.SumUsageRoutes(ctx, f.Since, f.Until)
	if err != nil {
		t.Fatal(err)
	}
	gotRoutes := map[routeKey]int64{}
	for _, g := range routes {
		k := routeKey{g.TenantID, g.Model, g.Traffic, g.Provider, g.Route, strings.Join(g.Contracts, ",")}
		if _, dup := gotRoutes[k]; dup {
			t.Errorf("SumUsageRoutes returned %+v twice", k)
		}
		gotRoutes[k] = g.Requests
	}
	if diff := cmp.Diff(wantRoutes, gotRoutes, cmp.AllowUnexported(routeKey{})); diff != "" {
		t.Errorf("SumUsageRoutes (-want +got):\n%s", diff)
	}

	// fn's error stops the scan and comes back unchanged.
	stop := errors.New("stop")
	seen := 0
	err = s.ScanUsage(ctx, store.UsageFilter{}, func(store.UsageRecord) error {
		seen++
		if seen == 1500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 1500 {
		t.Errorf("ScanUsage with a failing fn = %v after %d records, want stop after 1500", err, seen)
	}

	// fn may use the store.
	err = s.ScanUsage(ctx, store.UsageFilter{Until: at(0, 1)}, func(r store.UsageRecord) error {
		_, err := s.SumUsage(ctx, store.UsageFilter{TenantID: r.TenantID}, store.GroupNone)
		return err
	})
	if err != nil {
		t.Errorf("ScanUsage calling the store from fn: %v", err)
	}
}

func testSpendByProvider(t *testing.T, s LedgerUnderTest) {
	ctx := t.Context()
	recs := ledgerFixture(300, "spend")
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	check := func(stage string, prunedBefore time.Time) {
		t.Helper()
		for _, since := range []time.Time{{}, at(1, 0), at(2, 33), at(4, 59), at(9, 0)} {
			got, err := s.SpendByProvider(ctx, since)
			if err != nil {
				t.Fatalf("%s: SpendByProvider(%v): %v", stage, since, err)
			}
			want := map[string]float64{}
			for _, sum := range expectedLedgerSums(recs, store.UsageFilter{Since: since}, store.GroupProvider, prunedBefore) {
				want[sum.Group] = sum.CostUSD
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: SpendByProvider(%v) (-want +got):\n%s", stage, since, diff)
			}
		}
	}
	check("raw", time.Time{})
	mustRollup(t, s, at(3, 30), createdBefore(recs, at(3, 0)))
	check("rolled", time.Time{})
	mustPrune(t, s, at(3, 0), createdBefore(recs, at(3, 0)))
	check("pruned", at(3, 0))
}
