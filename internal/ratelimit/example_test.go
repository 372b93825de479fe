package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"switchyard/internal/ratelimit"
)

// A gateway admits each request against the limits of its key and of its
// tenant at once, and settles the tokens it used when it has finished.
func Example() {
	lim := ratelimit.NewMemory()
	ctx := context.Background()
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	reqs := []ratelimit.Request{
		{Scope: ratelimit.KeyScope("key_1"), Limits: ratelimit.Limits{RPM: 2, TPM: 1000}, EstTokens: 300},
		{Scope: ratelimit.TenantScope("ten_1"), Limits: ratelimit.Limits{TPM: 5000, MaxStreams: 1}, EstTokens: 300, Stream: true},
	}
	for i := range 3 {
		d, res, err := lim.Acquire(ctx, now.Add(time.Duration(i)*time.Second), reqs)
		if err != nil {
			fmt.Println(err)
			return
		}
		if !d.Allowed {
			fmt.Printf("request %d: 429, %s limit of %s, retry-after %v\n", i, d.Limit, d.Scope, d.RetryAfter)
			continue
		}
		fmt.Printf("request %d: admitted, remaining %d requests and %d tokens\n", i, d.RequestsRemaining, d.TokensRemaining)
		if err := res.Done(ctx, 250); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// request 0: admitted, remaining 1 requests and 700 tokens
	// request 1: admitted, remaining 0 requests and 450 tokens
	// request 2: 429, requests limit of key:key_1, retry-after 58s
}

// A budget is checked before a request and charged after it.
func ExampleSpend() {
	spend := ratelimit.NewMemorySpend()
	ctx := context.Background()
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	budgets := []ratelimit.Budget{
		{Scope: ratelimit.KeyScope("key_1"), LimitUSD: 5, Period: ratelimit.PeriodDay},
		{Scope: ratelimit.TenantScope("ten_1"), LimitUSD: 100, Period: ratelimit.PeriodMonth},
	}
	// At startup, from the usage ledger.
	_ = spend.Seed(ctx, now, budgets[1], 99.5)

	for _, cost := range []float64{0.25, 0.5} {
		ok, exhausted, err := spend.Check(ctx, now, budgets)
		if err != nil {
			fmt.Println(err)
			return
		}
		if !ok {
			fmt.Printf("refused: %s's %s budget of $%v is spent\n", exhausted.Scope, exhausted.Period, exhausted.LimitUSD)
			break
		}
		fmt.Printf("admitted, costs $%v\n", cost)
		_ = spend.Add(ctx, now, []string{budgets[0].Scope, budgets[1].Scope}, cost)
	}
	ok, exhausted, _ := spend.Check(ctx, now, budgets)
	fmt.Println(ok, exhausted.Scope, exhausted.Period)
	// Output:
	// admitted, costs $0.25
	// admitted, costs $0.5
	// false tenant:ten_1 month
}
