package redislimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/ratelimit"
)

// AcquireBudgets and DoneSpend make the decisions that Memory and
// MemorySpend make with Check then Acquire, and Done then Add, over random
// sequences of requests of scopes with limits and budgets, spend and
// settlements, across a day's end.
func TestBudgetsMatchMemory(t *testing.T) {
	url := redisURL(t)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed_", seed), func(t *testing.T) {
			t.Parallel()
			prefix := testPrefix(t, url)
			l := newLimiter(t, url, Options{Prefix: prefix, ReservationTTL: time.Hour})
			s := newSpend(t, url, Options{Prefix: prefix})
			compareBudgets(t, seed, ratelimit.NewMemory(), ratelimit.NewMemorySpend(), l, s)
		})
	}
}

// compareBudgets runs ml and ms as the gateway runs a Limiter and a Spend,
// and r as it runs a BudgetLimiter, whose counters rs keeps: Done and Add
// where a reservation holds nothing.
func compareBudgets(t *testing.T, seed uint64, ml ratelimit.Limiter, ms ratelimit.Spend, r ratelimit.BudgetLimiter, rs ratelimit.Spend) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	limits := map[string]ratelimit.Limits{
		"key:a":    {RPM: 6, TPM: 500},
		"key:b":    {MaxStreams: 2},
		"tenant:t": {RPM: 8},
	}
	budgets := map[string][]ratelimit.Budget{
		"key:a":    {{Scope: "key:a", LimitUSD: 0.5, Period: ratelimit.PeriodDay}},
		"key:b":    {{Scope: "key:b", LimitUSD: 2, Period: ratelimit.PeriodLifetime}},
		"tenant:t": {{Scope: "tenant:t", LimitUSD: 1.5, Period: ratelimit.PeriodMonth}},
	}
	names := []string{"key:a", "key:b", "tenant:t"}
	type held struct {
		m, r   ratelimit.Reservation
		scopes []string
	}
	var running []held
	now := time.Date(2025, 3, 31, 23, 58, 0, 0, time.UTC) // a day's and a month's end
	refused := 0
	for step := range 300 {
		if len(running) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(running))
			h := running[i]
			running = append(running[:i], running[i+1:]...)
			actual, usd := rng.Int64N(200), float64(rng.IntN(150))/1000
			err := errors.Join(h.m.Done(ctx, actual), ms.Add(ctx, now, h.scopes, usd))
			if sr, ok := h.r.(ratelimit.SpendReservation); ok {
				err = errors.Join(err, sr.DoneSpend(ctx, actual, now, h.scopes, usd))
			} else {
				err = errors.Join(err, h.r.Done(ctx, actual), rs.Add(ctx, now, h.scopes, usd))
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second)))).Truncate(time.Millisecond)
		var reqs []ratelimit.Request
		var bs []ratelimit.Budget
		var scopes []string
		for _, n := range names {
			if rng.IntN(2) == 0 {
				scopes = append(scopes, n)
				reqs = append(reqs, ratelimit.Request{Scope: n, Limits: limits[n], EstTokens: rng.Int64N(150), Stream: rng.IntN(3) == 0})
				bs = append(bs, budgets[n]...)
			}
		}
		ok, mex, err := ms.Check(ctx, now, bs)
		if err != nil {
			t.Fatal(err)
		}
		var md ratelimit.Decision
		mres := ratelimit.Reservation(ratelimit.NopReservation{})
		if ok {
			if md, mres, err = ml.Acquire(ctx, now, reqs); err != nil {
				t.Fatal(err)
			}
		}
		rd, rex, rres, err := r.AcquireBudgets(ctx, now, reqs, bs)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(mex, rex); diff != "" {
			t.Fatalf("step %d at %v, %+v: exhausted budget (-memory +redis):\n%s", step, now, bs, diff)
		}
		if diff := cmp.Diff(md, rd); diff != "" {
			t.Fatalf("step %d at %v, %+v (-memory +redis):\n%s", step, now, reqs, diff)
		}
		if rex != nil {
			refused++
		}
		if md.Allowed {
			running = append(running, held{mres, rres, scopes})
		}
	}
	if refused == 0 {
		t.Error("no request was refused by a budget: the sequence tests nothing")
	}
}

// A budget refusal acquires nothing; spend added by DoneSpend is what Check
// reads, also after Done; counters beyond 2^53 nano-USD compare exactly.
func TestAcquireBudgets(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	l := newLimiter(t, url, Options{Prefix: prefix})
	s := newSpend(t, url, Options{Prefix: prefix})
	ctx := context.Background()
	reqs := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 3, TPM: 1000}, EstTokens: 10}}
	bs := []ratelimit.Budget{
		{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodMonth},
		{Scope: "tenant:t", LimitUSD: 10, Period: ratelimit.PeriodDay},
	}
	scopes := []string{"key:k", "tenant:t"}

	acquire := func(now time.Time) (ratelimit.Decision, *ratelimit.Budget, ratelimit.SpendReservation) {
		t.Helper()
		d, ex, res, err := l.AcquireBudgets(ctx, now, reqs, bs)
		if err != nil {
			t.Fatal(err)
		}
		if ex != nil {
			return d, ex, nil
		}
		sr, ok := res.(ratelimit.SpendReservation)
		if !ok {
			t.Fatalf("reservation %T does not add spend", res)
		}
		return d, nil, sr
	}
	d, ex, res := acquire(base)
	if !d.Allowed || ex != nil {
		t.Fatalf("first request: %+v, %+v", d, ex)
	}
	if err := res.DoneSpend(ctx, 20, base, scopes, 0.6); err != nil {
		t.Fatal(err)
	}
	d, ex, res = acquire(base.Add(time.Second))
	if !d.Allowed || ex != nil {
		t.Fatalf("second request: %+v, %+v", d, ex)
	}
	// Done first, then DoneSpend: the spend is still added, once.
	if err := res.Done(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if err := res.DoneSpend(ctx, 20, base, scopes, 0.5); err != nil {
		t.Fatal(err)
	}
	_, want, err := s.Check(ctx, base, bs)
	if err != nil {
		t.Fatal(err)
	}
	if want == nil || want.Scope != "key:k" {
		t.Fatalf("Check after $1.10 of a $1 budget: exhausted %+v", want)
	}
	d, ex, _ = acquire(base.Add(2 * time.Second))
	if diff := cmp.Diff(want, ex); diff != "" || d.Allowed {
		t.Fatalf("third request allowed=%v, exhausted (-Check +AcquireBudgets):\n%s", d.Allowed, diff)
	}
	// The refused request took none of the RPM: a third is admitted.
	if d, _, err := l.Acquire(ctx, base.Add(3*time.Second), reqs); err != nil || !d.Allowed || d.RequestsRemaining != 0 {
		t.Fatalf("Acquire after a budget refusal = %+v, %v; want the third of 3 admitted", d, err)
	}

	// Counters and limits past 2^53 nano-USD, where a float would round.
	c := client(t, url)
	defer c.Close()
	big := []ratelimit.Budget{{Scope: "key:big", LimitUSD: 1e8, Period: ratelimit.PeriodLifetime}}
	key := spendKey(prefix, base, "key:big", ratelimit.PeriodLifetime)
	for _, tc := range []struct {
		spent     string
		exhausted bool
	}{{"99999999999999999", false}, {"100000000000000000", true}, {"100000000000000001", true}} {
		if err := c.Set(ctx, key, tc.spent, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		_, ex, _, err := l.AcquireBudgets(ctx, base, nil, big)
		if err != nil {
			t.Fatal(err)
		}
		if (ex != nil) != tc.exhausted {
			t.Errorf("spent %s nano-USD of 1e17: exhausted %+v, want %v", tc.spent, ex, tc.exhausted)
		}
	}

	// Invalid spend is reported once the reservation is settled.
	d, _, r, err := l.AcquireBudgets(ctx, base.Add(2*time.Minute), reqs, nil)
	if err != nil || !d.Allowed {
		t.Fatalf("request without budgets = %+v, %v", d, err)
	}
	res = r.(ratelimit.SpendReservation)
	if err := res.DoneSpend(ctx, 20, base, []string{""}, 0.1); !errors.Is(err, ratelimit.ErrInvalid) {
		t.Errorf("DoneSpend with an empty scope = %v, want ErrInvalid", err)
	}
	if _, _, _, err := l.AcquireBudgets(ctx, base, reqs, []ratelimit.Budget{{Scope: "key:k", Period: "week", LimitUSD: 1}}); !errors.Is(err, ratelimit.ErrInvalid) {
		t.Errorf("AcquireBudgets with an unknown period = %v, want ErrInvalid", err)
	}
}
