package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchyard/internal/outage"
)

// ResilientBudgets is a Resilient whose backend keeps the budgets' spend
// counters too (inner is a BudgetLimiter, spend wraps the Spend of the same
// counters), so that a request's budget check and rate-limit acquire are one
// call to the backend, and so are its settlement and spend add. It keeps
// every promise of Resilient and ResilientSpend:
//
//   - A call that fails or misses its deadline counts in both breakers (it
//     was a call to both dependencies) and is answered by each side's fail
//     mode: budgets failing closed refuse it as Check would (an error
//     wrapping ErrUnavailable); otherwise the limits' fail mode decides.
//     A call without budgets is the limits' alone.
//   - While either breaker is open, the calls are made separately, each
//     through its own breaker, exactly as Resilient and ResilientSpend make
//     them.
//   - Spend whose settlement call fails is kept by spend and replayed by its
//     probe, as ResilientSpend.Add keeps it.
//
// Close stops the limits' probe; spend is closed by its owner.
type ResilientBudgets struct {
	*Resilient
	inner BudgetLimiter
	spend *ResilientSpend
}

var _ BudgetLimiter = (*ResilientBudgets)(nil)

// NewResilientBudgets wraps inner as described on ResilientBudgets; o
// configures the limits' side as for NewResilient.
func NewResilientBudgets(inner BudgetLimiter, spend *ResilientSpend, o ResilientOptions) *ResilientBudgets {
	return &ResilientBudgets{Resilient: NewResilient(inner, o), inner: inner, spend: spend}
}

// AcquireBudgets implements BudgetLimiter.
func (r *ResilientBudgets) AcquireBudgets(ctx context.Context, now time.Time, reqs []Request, budgets []Budget) (Decision, *Budget, Reservation, error) {
	if err := ValidateRequests(reqs); err != nil {
		return Decision{}, nil, nil, err
	}
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return Decision{}, nil, nil, err
		}
	}
	// Without budgets the call is an Acquire whose reservation can add
	// spend: the budgets' breaker and fail mode have no say in it.
	checks := len(budgets) > 0
	if r.b.Open() || checks && r.spend.b.Open() {
		return r.separately(ctx, now, reqs, budgets)
	}
	var (
		d         Decision
		exhausted *Budget
		res       Reservation
		err       error
		called    bool
	)
	berr := r.b.Do(ctx, func(ctx context.Context) error {
		called = true
		d, exhausted, res, err = r.inner.AcquireBudgets(ctx, now, reqs, budgets)
		if errors.Is(err, ErrInvalid) {
			return nil
		}
		return err
	})
	if !called {
		return r.separately(ctx, now, reqs, budgets)
	}
	if checks {
		r.spend.observe(ctx, err)
	}
	switch {
	case errors.Is(berr, outage.ErrUnavailable):
		if checks && !r.spend.failOpen {
			return Decision{}, nil, nil, fmt.Errorf("checking budgets: %w: %w", ErrUnavailable, berr)
		}
		return r.fallback(), nil, NopReservation{}, nil
	case err != nil:
		return d, exhausted, res, err
	case berr != nil:
		return Decision{}, nil, nil, berr
	}
	r.spend.replayPending(ctx)
	if exhausted != nil {
		return Decision{}, exhausted, NopReservation{}, nil
	}
	if _, ok := res.(NopReservation); ok || res == nil {
		return d, nil, NopReservation{}, nil
	}
	if sr, ok := res.(SpendReservation); ok {
		// One allocation for both: the reservation is embedded by value.
		rr := resilientReservation{inner: res, b: r.b}
		return d, nil, &resilientSpendReservation{resilientReservation: rr, inner: sr, spend: r.spend}, nil
	}
	return d, nil, &resilientReservation{inner: res, b: r.b}, nil
}

// separately checks the budgets through spend and acquires the limits
// through Resilient, each with its own breaker and fail mode.
func (r *ResilientBudgets) separately(ctx context.Context, now time.Time, reqs []Request, budgets []Budget) (Decision, *Budget, Reservation, error) {
	if len(budgets) > 0 {
		ok, exhausted, err := r.spend.Check(ctx, now, budgets)
		if err != nil {
			return Decision{}, nil, nil, err
		}
		if !ok {
			return Decision{}, exhausted, NopReservation{}, nil
		}
	}
	d, res, err := r.Acquire(ctx, now, reqs)
	return d, nil, res, err
}

type resilientSpendReservation struct {
	resilientReservation
	inner SpendReservation
	spend *ResilientSpend
}

// DoneSpend implements SpendReservation.
func (r *resilientSpendReservation) DoneSpend(ctx context.Context, actualTokens int64, now time.Time, scopes []string, usd float64) error {
	n, err := NanoUSD(usd)
	if err == nil {
		err = ValidateScopes(scopes)
	}
	if err != nil {
		return errors.Join(r.Done(ctx, actualTokens), err)
	}
	if r.spend.b.Open() {
		// The spend goes where ResilientSpend keeps it.
		r.Done(ctx, actualTokens)
		return r.spend.Add(ctx, now, scopes, usd)
	}
	var callErr error
	called := false
	// Settling is not the caller's to cancel, in either breaker.
	sctx := context.WithoutCancel(ctx)
	berr := r.b.Do(sctx, func(ctx context.Context) error {
		called = true
		callErr = r.inner.DoneSpend(ctx, actualTokens, now, scopes, usd)
		if errors.Is(callErr, ErrInvalid) {
			return nil
		}
		return callErr
	})
	if !called {
		// The limits' backend is known to be down: the reservation is
		// released by it on its own; the spend is added (or kept) by spend.
		if a, ok := r.inner.(Abandoner); ok {
			a.Abandon()
		}
		return r.spend.Add(ctx, now, scopes, usd)
	}
	r.spend.observe(sctx, callErr)
	if errors.Is(berr, outage.ErrUnavailable) {
		if n > 0 && len(scopes) > 0 {
			r.spend.keepAdd(now, scopes, n)
		}
		return nil
	}
	return callErr
}

// observe counts in r's breaker a call that another wrapper made to the
// same backend on r's behalf (a BudgetLimiter's), which ended in err.
func (r *ResilientSpend) observe(ctx context.Context, err error) {
	if errors.Is(err, ErrInvalid) {
		err = nil
	}
	_ = r.b.Observe(ctx, err)
}

// replayPending replays the spend kept during a failure too short to open
// the breaker, once the backend has answered again.
func (r *ResilientSpend) replayPending(ctx context.Context) {
	if r.hasPending.Load() {
		_ = r.b.Do(ctx, r.replay)
	}
}
