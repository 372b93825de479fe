package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/outage"
	"switchyard/internal/ratelimit"
	"switchyard/internal/syncbuf"
)

// budgetsOptions are resilientOptions logging to a buffer that both
// breakers' probes may write at once.
func budgetsOptions(f *flaky, failOpen bool, buf *syncbuf.Buffer) ratelimit.ResilientOptions {
	return ratelimit.ResilientOptions{FailOpen: failOpen, Timeout: 50 * time.Millisecond, Probe: f.ping,
		Logger: slog.New(slog.NewTextHandler(buf, nil))}
}

// flakyBudgets is a flaky backend that checks budgets in the call that
// acquires and adds spend in the call that settles: one backend call each.
type flakyBudgets struct{ *flaky }

func (f flakyBudgets) AcquireBudgets(ctx context.Context, now time.Time, reqs []ratelimit.Request, budgets []ratelimit.Budget) (ratelimit.Decision, *ratelimit.Budget, ratelimit.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, nil, nil, err
	}
	if err := f.call(ctx); err != nil {
		return ratelimit.Decision{}, nil, nil, err
	}
	ok, exhausted, err := f.spend.Check(ctx, now, budgets)
	if err != nil || !ok {
		return ratelimit.Decision{}, exhausted, ratelimit.NopReservation{}, err
	}
	d, res, err := f.lim.Acquire(ctx, now, reqs)
	if err != nil {
		return d, nil, res, err
	}
	return d, nil, flakySpendReservation{flakyReservation{f.flaky, res}}, nil
}

type flakySpendReservation struct{ flakyReservation }

func (r flakySpendReservation) DoneSpend(ctx context.Context, actual int64, now time.Time, scopes []string, usd float64) error {
	if err := r.f.call(ctx); err != nil {
		return err
	}
	return errors.Join(r.res.Done(ctx, actual), r.f.spend.Add(ctx, now, scopes, usd))
}

// TestResilientBudgets: the combined calls keep each side's fail mode, and
// a failed one counts in both breakers, so that only outage.DefaultTrip
// calls reach the backend (and, blackholed, wait their deadline) before
// both answer without calling it. Spend settled meanwhile is kept and
// replayed by the probe; once back, limits and budgets apply again.
func TestResilientBudgets(t *testing.T) {
	reqs := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 100, TPM: 1000}, EstTokens: 10}}
	budgets := []ratelimit.Budget{{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}}
	scopes := []string{"key:k"}
	for _, state := range []string{"refuse", "blackhole"} {
		for _, limitsOpen := range []bool{true, false} {
			for _, budgetsOpen := range []bool{true, false} {
				t.Run(fmt.Sprint(state, "_limits_open_", limitsOpen, "_budgets_open_", budgetsOpen), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						ctx := context.Background()
						f := newFlaky()
						var buf syncbuf.Buffer
						s := ratelimit.NewResilientSpend(f, budgetsOptions(f, budgetsOpen, &buf))
						defer s.Close()
						l := ratelimit.NewResilientBudgets(flakyBudgets{f}, s, budgetsOptions(f, limitsOpen, &buf))
						defer l.Close()

						d, ex, res, err := l.AcquireBudgets(ctx, at(0), reqs, budgets)
						if err != nil || !d.Allowed || ex != nil {
							t.Fatalf("healthy: %+v, %+v, %v", d, ex, err)
						}
						if err := res.(ratelimit.SpendReservation).DoneSpend(ctx, 20, at(0), scopes, 0.6); err != nil {
							t.Fatal(err)
						}
						_, _, held, err := l.AcquireBudgets(ctx, at(0.1), reqs, budgets)
						if err != nil {
							t.Fatal(err)
						}
						if n := f.callCount(); n != 3 {
							t.Fatalf("%d backend calls for an acquire, a settle and an acquire, want 3", n)
						}

						f.set(state)
						waited := 0
						for i := range 10 {
							start := time.Now()
							d, ex, res, err := l.AcquireBudgets(ctx, at(0.2+0.1*float64(i)), reqs, budgets)
							if time.Since(start) > 0 {
								waited++
							}
							switch {
							case !budgetsOpen:
								if !errors.Is(err, ratelimit.ErrUnavailable) {
									t.Errorf("call %d while down, budgets failing closed: %+v, %v; want ErrUnavailable", i, d, err)
								}
								continue
							case err != nil || ex != nil:
								t.Fatalf("call %d while down: %+v, %v", i, ex, err)
							}
							want := ratelimit.Decision{Allowed: true}
							if !limitsOpen {
								want = ratelimit.Decision{Limit: ratelimit.LimitUnavailable, RetryAfter: ratelimit.ProbeInterval}
							}
							if diff := cmp.Diff(want, d); diff != "" {
								t.Errorf("call %d while down (-want +got):\n%s", i, diff)
							}
							if err := res.Done(ctx, 1); err != nil {
								t.Errorf("Done of a reservation made while down: %v", err)
							}
						}
						if n := f.callCount(); n != 3+outage.DefaultTrip {
							t.Errorf("%d backend calls, want %d", n, 3+outage.DefaultTrip)
						}
						if want := map[string]int{"refuse": 0, "blackhole": outage.DefaultTrip}[state]; waited != want {
							t.Errorf("%d calls waited a deadline, want %d", waited, want)
						}
						if !l.Stats().Open || !s.Stats().Open {
							t.Errorf("breakers open: limits %v, budgets %v; want both", l.Stats().Open, s.Stats().Open)
						}
						// Settled while down: abandoned, its spend kept.
						if err := held.(ratelimit.SpendReservation).DoneSpend(ctx, 20, at(3), scopes, 0.6); err != nil {
							t.Errorf("DoneSpend while down: %v", err)
						}
						if f.abandons != 1 || f.callCount() != 3+outage.DefaultTrip {
							t.Errorf("%d reservations abandoned, %d backend calls; want 1, %d", f.abandons, f.callCount(), 3+outage.DefaultTrip)
						}

						f.set("")
						time.Sleep(ratelimit.ProbeInterval)
						synctest.Wait()
						// $1.20 of $1 is spent: the outage's spend was replayed.
						d, ex, _, err = l.AcquireBudgets(ctx, at(4), reqs, budgets)
						if err != nil || d.Allowed || ex == nil || ex.Scope != "key:k" {
							t.Errorf("after recovery: %+v, %+v, %v; want the budget spent", d, ex, err)
						}
						d, ex, _, err = l.AcquireBudgets(ctx, at(4), reqs, []ratelimit.Budget{{Scope: "key:k", LimitUSD: 1.3, Period: ratelimit.PeriodDay}})
						if err != nil || !d.Allowed || ex != nil || d.RequestsLimit != 100 {
							t.Errorf("after recovery with room: %+v, %+v, %v", d, ex, err)
						}
						var errs int
						for _, line := range logged(bytes.NewBufferString(buf.String())) {
							if strings.HasPrefix(line, "ERROR") {
								errs++
							}
						}
						if errs != 2 {
							t.Errorf("%d incidents logged, want 2 (limits and budgets):\n%s", errs, buf.String())
						}
					})
				})
			}
		}
	}
}

// Spend whose settlement failed, too briefly to open a breaker, is replayed
// by the next call that succeeds.
func TestResilientBudgetsShortFailure(t *testing.T) {
	ctx := context.Background()
	reqs := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{TPM: 1000}, EstTokens: 10}}
	budgets := []ratelimit.Budget{{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}}
	f := newFlaky()
	var buf syncbuf.Buffer
	s := ratelimit.NewResilientSpend(f, budgetsOptions(f, false, &buf))
	defer s.Close()
	l := ratelimit.NewResilientBudgets(flakyBudgets{f}, s, budgetsOptions(f, false, &buf))
	defer l.Close()
	_, _, res, err := l.AcquireBudgets(ctx, at(0), reqs, budgets)
	if err != nil {
		t.Fatal(err)
	}
	f.set("refuse")
	if err := res.(ratelimit.SpendReservation).DoneSpend(ctx, 20, at(1), []string{"key:k"}, 2); err != nil {
		t.Fatal(err)
	}
	f.set("")
	if d, ex, _, err := l.AcquireBudgets(ctx, at(2), reqs, budgets); err != nil || !d.Allowed || ex != nil {
		t.Fatalf("first call after the failure: %+v, %+v, %v", d, ex, err)
	}
	if _, ex, _, err := l.AcquireBudgets(ctx, at(3), reqs, budgets); err != nil || ex == nil {
		t.Errorf("spend kept by a short failure was not replayed: %+v, %v", ex, err)
	}
	if _, _, _, err := l.AcquireBudgets(ctx, at(3), reqs, []ratelimit.Budget{{Scope: "key:k"}}); !errors.Is(err, ratelimit.ErrInvalid) {
		t.Errorf("invalid budget: %v, want ErrInvalid", err)
	}
}

// A call without budgets is the limits' alone: the budgets' fail mode and
// breaker have no say in it, and its reservation still adds spend.
func TestResilientBudgetsWithoutBudgets(t *testing.T) {
	ctx := context.Background()
	reqs := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{TPM: 1000}, EstTokens: 10}}
	f := newFlaky()
	var buf syncbuf.Buffer
	s := ratelimit.NewResilientSpend(f, budgetsOptions(f, false, &buf))
	defer s.Close()
	l := ratelimit.NewResilientBudgets(flakyBudgets{f}, s, budgetsOptions(f, true, &buf))
	defer l.Close()
	d, ex, res, err := l.AcquireBudgets(ctx, at(0), reqs, nil)
	if err != nil || !d.Allowed || ex != nil {
		t.Fatalf("healthy: %+v, %+v, %v", d, ex, err)
	}
	if err := res.(ratelimit.SpendReservation).DoneSpend(ctx, 20, at(0), []string{"key:k"}, 2); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.Check(ctx, at(0), []ratelimit.Budget{{Scope: "key:k", LimitUSD: 2, Period: ratelimit.PeriodDay}}); err != nil || ok {
		t.Errorf("spend added by DoneSpend not counted: room=%v, %v", ok, err)
	}
	f.set("refuse")
	for i := range 2 * outage.DefaultTrip {
		if d, _, _, err := l.AcquireBudgets(ctx, at(1), reqs, nil); err != nil || !d.Allowed {
			t.Errorf("call %d while down, limits failing open, budgets closed: %+v, %v; want admitted", i, d, err)
		}
	}
	if st := s.Stats(); st.Open {
		t.Errorf("budgets breaker opened by calls without budgets: %+v", st)
	}
}
