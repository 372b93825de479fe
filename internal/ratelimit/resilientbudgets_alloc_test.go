package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"switchyard/internal/ratelimit"
)

// freeBudgets is a backend that admits everything and allocates nothing,
// so that what a request costs through ResilientBudgets is the wrappers'.
type freeBudgets struct{ res *freeReservation }

type freeReservation struct{}

func (freeReservation) Done(context.Context, int64) error { return nil }

func (freeReservation) DoneSpend(context.Context, int64, time.Time, []string, float64) error {
	return nil
}

func (f freeBudgets) Acquire(context.Context, time.Time, []ratelimit.Request) (ratelimit.Decision, ratelimit.Reservation, error) {
	return ratelimit.Decision{Allowed: true}, f.res, nil
}

func (f freeBudgets) AcquireBudgets(context.Context, time.Time, []ratelimit.Request, []ratelimit.Budget) (ratelimit.Decision, *ratelimit.Budget, ratelimit.Reservation, error) {
	return ratelimit.Decision{Allowed: true}, nil, f.res, nil
}

// TestResilientBudgetsAllocs: a governed request's acquire and settle go
// through the limits' breaker (a deadline each: its context and timer, 8
// allocations of the 10) and are counted in the budgets' breaker, which
// has no call of its own to bound and so starts no deadline. 24 when the
// budgets' breaker started a deadline of its own for each count, the
// settle made its uncancelable context twice and the reservation was two
// objects.
func TestResilientBudgetsAllocs(t *testing.T) {
	inner := freeBudgets{res: &freeReservation{}}
	o := ratelimit.ResilientOptions{Timeout: time.Second, Probe: func(context.Context) error { return nil }}
	s := ratelimit.NewResilientSpend(inner.spend(), o)
	defer s.Close()
	l := ratelimit.NewResilientBudgets(inner, s, o)
	defer l.Close()
	reqs := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 100}, EstTokens: 10}}
	budgets := []ratelimit.Budget{{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}}
	scopes := []string{"key:k"}
	now := time.Now()
	// The request's own context, as net/http's, can be canceled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	allocs := testing.AllocsPerRun(200, func() {
		d, _, res, err := l.AcquireBudgets(ctx, now, reqs, budgets)
		if err != nil || !d.Allowed {
			t.Fatalf("%+v, %v", d, err)
		}
		if err := res.(ratelimit.SpendReservation).DoneSpend(ctx, 20, now, scopes, 0.001); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.0f allocations for an acquire and its settle", allocs)
	if allocs > 10 {
		t.Errorf("%.0f allocations for an acquire and its settle, want at most 10", allocs)
	}
}

// spend is a Spend with room in every budget that allocates nothing.
func (freeBudgets) spend() ratelimit.Spend { return freeSpend{} }

type freeSpend struct{}

func (freeSpend) Check(context.Context, time.Time, []ratelimit.Budget) (bool, *ratelimit.Budget, error) {
	return true, nil, nil
}

func (freeSpend) Add(context.Context, time.Time, []string, float64) error { return nil }

func (freeSpend) Seed(context.Context, time.Time, ratelimit.Budget, float64) error { return nil }
