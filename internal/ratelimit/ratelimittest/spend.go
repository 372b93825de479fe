package ratelimittest

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/ratelimit"
)

// RunSpend runs the Spend suite. newSpend must return a new Spend with no
// spend recorded for each call, and release it when t ends; subtests call it
// once each and run in parallel.
func RunSpend(t *testing.T, newSpend func(t *testing.T) ratelimit.Spend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *spendHarness)
	}{
		{"check_and_add", testSpendCheckAndAdd},
		{"limit_is_exclusive", testSpendLimitExclusive},
		{"day_rollover_at_utc_midnight", testSpendDayRollover},
		{"month_rollover", testSpendMonthRollover},
		{"periods_are_utc", testSpendPeriodsUTC},
		{"lifetime_never_resets", testSpendLifetime},
		{"seed", testSpendSeed},
		{"seed_per_period", testSpendSeedPerPeriod},
		{"add_to_several_scopes", testSpendSeveralScopes},
		{"exhausted_ends_last", testSpendExhaustedEndsLast},
		{"invalid", testSpendInvalid},
		{"concurrent_adds_are_exact", testSpendConcurrentAdds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &spendHarness{t: t, s: newSpend(t)})
		})
	}
}

type spendHarness struct {
	t *testing.T
	s ratelimit.Spend
}

func (h *spendHarness) add(now time.Time, usd float64, scopes ...string) {
	h.t.Helper()
	if err := h.s.Add(context.Background(), now, scopes, usd); err != nil {
		h.t.Fatalf("Add(%v, %v): %v", scopes, usd, err)
	}
}

func (h *spendHarness) seed(now time.Time, b ratelimit.Budget, usd float64) {
	h.t.Helper()
	if err := h.s.Seed(context.Background(), now, b, usd); err != nil {
		h.t.Fatalf("Seed(%+v, %v): %v", b, usd, err)
	}
}

// check fails the test unless Check reports want (nil: every budget has
// room).
func (h *spendHarness) check(now time.Time, want *ratelimit.Budget, budgets ...ratelimit.Budget) {
	h.t.Helper()
	ok, exhausted, err := h.s.Check(context.Background(), now, budgets)
	if err != nil {
		h.t.Fatalf("Check: %v", err)
	}
	if ok != (want == nil) {
		h.t.Errorf("Check(%+v) at %v: ok = %v, want %v", budgets, now, ok, want == nil)
	}
	if diff := cmp.Diff(want, exhausted); diff != "" {
		h.t.Errorf("Check(%+v) at %v: exhausted (-want +got):\n%s", budgets, now, diff)
	}
}

// spent checks that scope's spend in period at now is usd, to the nano-USD:
// a budget of usd is exhausted, one a nano-USD larger is not.
func (h *spendHarness) spent(now time.Time, scope, period string, usd float64) {
	h.t.Helper()
	over := ratelimit.Budget{Scope: scope, Period: period, LimitUSD: usd + 1e-9}
	h.check(now, nil, over)
	if usd > 0 {
		at := ratelimit.Budget{Scope: scope, Period: period, LimitUSD: usd}
		h.check(now, &at, at)
	}
}

func day(scope string, usd float64) ratelimit.Budget {
	return ratelimit.Budget{Scope: scope, LimitUSD: usd, Period: ratelimit.PeriodDay}
}

func month(scope string, usd float64) ratelimit.Budget {
	return ratelimit.Budget{Scope: scope, LimitUSD: usd, Period: ratelimit.PeriodMonth}
}

func lifetime(scope string, usd float64) ratelimit.Budget {
	return ratelimit.Budget{Scope: scope, LimitUSD: usd, Period: ratelimit.PeriodLifetime}
}

func utc(y int, m time.Month, d, h, min, s, ns int) time.Time {
	return time.Date(y, m, d, h, min, s, ns, time.UTC)
}

func testSpendCheckAndAdd(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	b := day("key:a", 1)
	h.check(now, nil, b)
	h.add(now, 0.6, "key:a")
	h.check(now, nil, b)
	// A request admitted here may still run over: the budget is checked
	// before, and charged after.
	h.add(now, 0.7, "key:a")
	h.check(now, &b, b)
	h.check(now, nil, day("key:other", 1))
	h.spent(now, "key:a", ratelimit.PeriodDay, 1.3)
}

func testSpendLimitExclusive(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	h.add(now, 0.1, "key:a")
	h.add(now, 0.2, "key:a") // 0.1+0.2 is not 0.3 in floating point; spend is exact
	b := day("key:a", 0.3)
	h.check(now, &b, b)
	h.check(now, nil, day("key:a", 0.300000001))
}

func testSpendDayRollover(t *testing.T, h *spendHarness) {
	last := utc(2025, 3, 14, 23, 59, 59, 999999000)
	h.add(last, 5, "key:a")
	d, m := day("key:a", 5), month("key:a", 5)
	h.check(last, &d, d)
	next := utc(2025, 3, 15, 0, 0, 0, 0)
	h.check(next, nil, d)
	h.check(next, &m, m, d)
	h.spent(next, "key:a", ratelimit.PeriodMonth, 5)
	h.spent(next, "key:a", ratelimit.PeriodDay, 0)
}

func testSpendMonthRollover(t *testing.T, h *spendHarness) {
	h.add(utc(2025, 1, 31, 23, 59, 59, 0), 3, "tenant:t")
	h.add(utc(2025, 2, 28, 23, 0, 0, 0), 2, "tenant:t")
	h.spent(utc(2025, 2, 28, 23, 30, 0, 0), "tenant:t", ratelimit.PeriodMonth, 2)
	h.spent(utc(2025, 3, 1, 0, 0, 0, 0), "tenant:t", ratelimit.PeriodMonth, 0)
	h.spent(utc(2025, 3, 1, 0, 0, 0, 0), "tenant:t", ratelimit.PeriodLifetime, 5)
}

// Budgets follow UTC calendar days whatever zone now is given in.
func testSpendPeriodsUTC(t *testing.T, h *spendHarness) {
	tokyo := time.FixedZone("UTC+9", 9*3600)
	// 08:00 on the 15th in Tokyo is 23:00 on the 14th in UTC.
	h.add(time.Date(2025, 3, 15, 8, 0, 0, 0, tokyo), 1, "key:a")
	h.spent(utc(2025, 3, 14, 23, 30, 0, 0), "key:a", ratelimit.PeriodDay, 1)
	h.spent(time.Date(2025, 3, 15, 9, 0, 0, 0, tokyo), "key:a", ratelimit.PeriodDay, 0)
}

func testSpendLifetime(t *testing.T, h *spendHarness) {
	h.add(utc(2024, 12, 31, 12, 0, 0, 0), 1.5, "key:a")
	h.add(utc(2025, 6, 1, 12, 0, 0, 0), 1.5, "key:a")
	b := lifetime("key:a", 3)
	h.check(utc(2025, 7, 1, 0, 0, 0, 0), &b, b)
}

func testSpendSeed(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	b := month("key:a", 1)
	h.seed(now, b, 0.7)
	h.seed(now, b, 0.1) // already known: another replica seeded it
	h.spent(now, "key:a", ratelimit.PeriodMonth, 0.7)
	h.add(now, 0.3, "key:a")
	h.check(now, &b, b)

	// Spend added before any seed makes the counter known.
	h.add(now, 0.25, "key:b")
	h.seed(now, month("key:b", 1), 0.9)
	h.spent(now, "key:b", ratelimit.PeriodMonth, 0.25)

	// A new period starts unknown.
	h.seed(utc(2025, 4, 1, 0, 0, 0, 0), b, 0.2)
	h.spent(utc(2025, 4, 2, 0, 0, 0, 0), "key:a", ratelimit.PeriodMonth, 0.2)
}

func testSpendSeedPerPeriod(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	h.seed(now, month("key:a", 10), 8)
	h.seed(now, day("key:a", 10), 0.5)
	h.seed(now, lifetime("key:a", 100), 42)
	h.spent(now, "key:a", ratelimit.PeriodMonth, 8)
	h.spent(now, "key:a", ratelimit.PeriodDay, 0.5)
	h.spent(now, "key:a", ratelimit.PeriodLifetime, 42)
	h.add(now, 1, "key:a")
	h.spent(now, "key:a", ratelimit.PeriodMonth, 9)
	h.spent(now, "key:a", ratelimit.PeriodDay, 1.5)
	h.spent(now, "key:a", ratelimit.PeriodLifetime, 43)
}

func testSpendSeveralScopes(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	h.add(now, 2, "key:a", "tenant:t")
	h.add(now, 1, "key:b", "tenant:t")
	h.spent(now, "key:a", ratelimit.PeriodDay, 2)
	h.spent(now, "key:b", ratelimit.PeriodDay, 1)
	h.spent(now, "tenant:t", ratelimit.PeriodDay, 3)
}

func testSpendExhaustedEndsLast(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	h.add(now, 10, "key:a", "tenant:t")
	kd, tm, tl := day("key:a", 1), month("tenant:t", 1), lifetime("tenant:t", 5)
	h.check(now, &tm, kd, tm, day("key:a", 100))
	h.check(now, &tl, kd, tl, tm)
	h.check(now, &kd, month("key:a", 100), kd)
}

func testSpendInvalid(t *testing.T, h *spendHarness) {
	ctx, now := context.Background(), utc(2025, 3, 14, 12, 0, 0, 0)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"check_unknown_period", check(h.s, now, ratelimit.Budget{Scope: "key:a", LimitUSD: 1, Period: "week"})},
		{"check_zero_limit", check(h.s, now, day("key:a", 0))},
		{"check_nan_limit", check(h.s, now, day("key:a", math.NaN()))},
		{"check_empty_scope", check(h.s, now, day("", 1))},
		{"add_negative", h.s.Add(ctx, now, []string{"key:a"}, -1)},
		{"add_nan", h.s.Add(ctx, now, []string{"key:a"}, math.NaN())},
		{"add_inf", h.s.Add(ctx, now, []string{"key:a"}, math.Inf(1))},
		{"add_empty_scope", h.s.Add(ctx, now, []string{""}, 1)},
		{"add_scope_twice", h.s.Add(ctx, now, []string{"key:a", "key:a"}, 1)},
		{"seed_negative", h.s.Seed(ctx, now, day("key:a", 1), -1)},
		{"seed_unknown_period", h.s.Seed(ctx, now, ratelimit.Budget{Scope: "key:a", LimitUSD: 1, Period: "year"}, 1)},
	} {
		if !errors.Is(c.err, ratelimit.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, c.err)
		}
	}
	h.spent(now, "key:a", ratelimit.PeriodLifetime, 0) // nothing was recorded
}

func check(s ratelimit.Spend, now time.Time, b ratelimit.Budget) error {
	_, _, err := s.Check(context.Background(), now, []ratelimit.Budget{b})
	return err
}

func testSpendConcurrentAdds(t *testing.T, h *spendHarness) {
	now := utc(2025, 3, 14, 12, 0, 0, 0)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if err := h.s.Add(context.Background(), now, []string{"key:a", "tenant:t"}, 0.01); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.spent(now, "key:a", ratelimit.PeriodDay, 1)
	h.spent(now, "tenant:t", ratelimit.PeriodMonth, 1)
}
