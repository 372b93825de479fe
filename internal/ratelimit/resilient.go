package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/internal/outage"
)

// ProbeInterval is how often, while a backend is down, Resilient and
// ResilientSpend probe it in the background to find out whether it is back.
// The calls in between are answered by the fail mode at once, so an outage
// costs no latency. It is also the Retry-After of a refusal by a limiter
// failing closed.
const ProbeInterval = outage.DefaultProbeInterval

// maxPendingSpend bounds the spend ResilientSpend keeps for replay while its
// backend is down: one entry per scope and UTC day (or per seeded budget).
const maxPendingSpend = 4096

// replayTimeout bounds the replay, by the background probe, of the spend
// kept during an outage.
const replayTimeout = 10 * time.Second

// ResilientOptions configure NewResilient and NewResilientSpend.
type ResilientOptions struct {
	// FailOpen admits requests (or reports room in every budget) while
	// the backend is down; otherwise they are refused.
	FailOpen bool
	// Timeout bounds each call to the backend, made while a client request
	// waits. Default: outage.DefaultTimeout.
	Timeout time.Duration
	// Probe asks the backend whether it answers (a PING). It runs in the
	// background, once a ProbeInterval, while the backend is down.
	// Required.
	Probe func(ctx context.Context) error
	// Logger receives the start and end of each outage. Default: discard.
	Logger *slog.Logger
}

// Resilient wraps a Limiter whose backend can fail (Redis going away or
// going silent) with a deadline per call and a documented fail mode. A call
// that fails or misses its deadline is answered by the fail mode: admitted
// (FailOpen) or refused with Decision{Limit: LimitUnavailable}. A few misses
// in a row open a breaker (see package outage): from then on every call is
// answered by the fail mode at once, without calling the backend, until a
// background probe finds it answering again. The first failure of an
// incident is logged at error level and the recovery once at info level,
// and nothing in between.
//
// Errors that say nothing about the backend are returned as they are: an
// ErrInvalid argument, or the caller's own ctx being done. A reservation
// whose Done fails is counted in the incident and reported as done: its
// backend releases it on its own (redislimit expires reservations). Close
// stops the probe.
type Resilient struct {
	inner    Limiter
	b        *outage.Breaker
	failOpen bool
}

var _ Limiter = (*Resilient)(nil)

// NewResilient wraps inner as described on Resilient.
func NewResilient(inner Limiter, o ResilientOptions) *Resilient {
	mode := "failing closed"
	if o.FailOpen {
		mode = "failing open"
	}
	return &Resilient{inner: inner, failOpen: o.FailOpen, b: outage.New(outage.Options{
		Name: "rate limiter", Mode: mode, Timeout: o.Timeout, Probe: o.Probe, ProbeInterval: ProbeInterval, Logger: o.Logger})}
}

// Acquire implements Limiter.
func (r *Resilient) Acquire(ctx context.Context, now time.Time, reqs []Request) (Decision, Reservation, error) {
	if err := ValidateRequests(reqs); err != nil {
		return Decision{}, nil, err
	}
	var (
		d   Decision
		res Reservation
		err error
	)
	berr := r.b.Do(ctx, func(ctx context.Context) error {
		d, res, err = r.inner.Acquire(ctx, now, reqs)
		if errors.Is(err, ErrInvalid) {
			return nil
		}
		return err
	})
	if errors.Is(berr, outage.ErrUnavailable) {
		return r.fallback(), NopReservation{}, nil
	}
	if err != nil {
		return d, res, err
	}
	if berr != nil {
		return Decision{}, nil, berr
	}
	if _, ok := res.(NopReservation); ok || res == nil {
		return d, NopReservation{}, nil
	}
	return d, &resilientReservation{inner: res, b: r.b}, nil
}

func (r *Resilient) fallback() Decision {
	if r.failOpen {
		return Decision{Allowed: true}
	}
	return Decision{Limit: LimitUnavailable, RetryAfter: ProbeInterval}
}

// Stats returns the breaker's counters.
func (r *Resilient) Stats() outage.Stats { return r.b.Stats() }

// Close stops the background probe. It does not close inner.
func (r *Resilient) Close() error { return r.b.Close() }

// Abandoner is implemented by reservations that can let go of what this
// process does for them (renewing them) without telling their backend,
// which then releases them on its own after a while. Resilient abandons a
// reservation whose Done cannot reach the backend because it is known to
// be down.
type Abandoner interface {
	Abandon()
}

type resilientReservation struct {
	inner Reservation
	b     *outage.Breaker
}

func (r *resilientReservation) Done(ctx context.Context, actualTokens int64) error {
	var err error
	called := false
	berr := r.b.Do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		called = true
		err = r.inner.Done(ctx, actualTokens)
		if errors.Is(err, ErrInvalid) {
			return nil
		}
		return err
	})
	if errors.Is(berr, outage.ErrUnavailable) {
		if a, ok := r.inner.(Abandoner); ok && !called {
			a.Abandon()
		}
		return nil
	}
	return err
}

// ResilientSpend wraps a Spend whose backend can fail, the way Resilient
// wraps a Limiter. While inner fails, Check reports room (FailOpen) or
// returns an error wrapping ErrUnavailable; Add and Seed keep what they
// were given (bounded: per scope and day) and the background probe replays
// it once the backend answers again, so spend made during an outage is
// still counted. Spend that does not fit the bound is logged with the
// recovery. Close stops the probe.
type ResilientSpend struct {
	inner    Spend
	b        *outage.Breaker
	failOpen bool
	log      *slog.Logger

	hasPending atomic.Bool
	mu         sync.Mutex
	adds       map[pendingAdd]int64 // nano-USD
	seeds      map[pendingSeed]seedCall
	lost       int64 // nano-USD that did not fit
}

var _ Spend = (*ResilientSpend)(nil)

// NewResilientSpend wraps inner as described on ResilientSpend.
func NewResilientSpend(inner Spend, o ResilientOptions) *ResilientSpend {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &ResilientSpend{
		inner:    inner,
		failOpen: o.FailOpen,
		log:      o.Logger,
		adds:     make(map[pendingAdd]int64),
		seeds:    make(map[pendingSeed]seedCall),
	}
	mode := "failing closed"
	if o.FailOpen {
		mode = "failing open"
	}
	probe := o.Probe
	r.b = outage.New(outage.Options{Name: "budget counters", Mode: mode, Timeout: o.Timeout, Logger: o.Logger,
		ProbeInterval: ProbeInterval, ProbeTimeout: replayTimeout,
		// Back means answering a probe and taking the spend kept meanwhile.
		Probe: func(ctx context.Context) error {
			if err := probe(ctx); err != nil {
				return err
			}
			return r.replay(ctx)
		}})
	return r
}

type pendingAdd struct {
	scope string
	day   int64 // microseconds
}

type pendingSeed struct {
	scope, period string
	start         int64 // microseconds
}

type seedCall struct {
	now time.Time
	b   Budget
	usd float64
}

// do calls the backend through the breaker. It returns whether the backend
// is unavailable (call failed, missed its deadline or was not made), and
// otherwise call's own error.
func (r *ResilientSpend) do(ctx context.Context, call func(ctx context.Context) error) (unavailable bool, err error) {
	var callErr error
	berr := r.b.Do(ctx, func(ctx context.Context) error {
		callErr = call(ctx)
		if errors.Is(callErr, ErrInvalid) {
			return nil
		}
		return callErr
	})
	switch {
	case errors.Is(berr, outage.ErrUnavailable):
		return true, berr
	case callErr != nil:
		return false, callErr
	case berr != nil:
		return false, berr
	}
	if r.hasPending.Load() {
		// Spend kept by a failure too short to open the breaker.
		_ = r.b.Do(ctx, r.replay)
	}
	return false, nil
}

// Check implements Spend.
func (r *ResilientSpend) Check(ctx context.Context, now time.Time, budgets []Budget) (bool, *Budget, error) {
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return false, nil, err
		}
	}
	var (
		ok        bool
		exhausted *Budget
	)
	down, err := r.do(ctx, func(ctx context.Context) error {
		var err error
		ok, exhausted, err = r.inner.Check(ctx, now, budgets)
		return err
	})
	if down {
		if r.failOpen {
			return true, nil, nil
		}
		return false, nil, fmt.Errorf("checking budgets: %w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return false, nil, err
	}
	return ok, exhausted, nil
}

// Add implements Spend.
func (r *ResilientSpend) Add(ctx context.Context, now time.Time, scopes []string, usd float64) error {
	n, err := NanoUSD(usd)
	if err != nil {
		return err
	}
	if err := ValidateScopes(scopes); err != nil {
		return err
	}
	down, err := r.do(ctx, func(ctx context.Context) error { return r.inner.Add(ctx, now, scopes, usd) })
	if down {
		r.keepAdd(now, scopes, n)
		return nil
	}
	return err
}

// Seed implements Spend.
func (r *ResilientSpend) Seed(ctx context.Context, now time.Time, b Budget, usd float64) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if _, err := NanoUSD(usd); err != nil {
		return err
	}
	down, err := r.do(ctx, func(ctx context.Context) error { return r.inner.Seed(ctx, now, b, usd) })
	if down {
		r.keepSeed(now, b, usd)
		return nil
	}
	return err
}

// Stats returns the breaker's counters.
func (r *ResilientSpend) Stats() outage.Stats { return r.b.Stats() }

// Close stops the background probe. It does not close inner.
func (r *ResilientSpend) Close() error { return r.b.Close() }

func (r *ResilientSpend) keepAdd(now time.Time, scopes []string, n int64) {
	day := PeriodStart(now, PeriodDay).UnixMicro()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range scopes {
		k := pendingAdd{s, day}
		if _, ok := r.adds[k]; !ok && len(r.adds)+len(r.seeds) >= maxPendingSpend {
			r.lost += n
			continue
		}
		r.adds[k] += n
	}
	r.hasPending.Store(true)
}

func (r *ResilientSpend) keepSeed(now time.Time, b Budget, usd float64) {
	k := pendingSeed{b.Scope, b.Period, periodStartMicro(now, b.Period)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seeds[k]; ok {
		return // the first seed of a period wins, as in the backend
	}
	if len(r.adds)+len(r.seeds) >= maxPendingSpend {
		r.log.Error("budget counters: dropping a seed kept during an outage", "scope", b.Scope, "period", b.Period)
		return
	}
	r.seeds[k] = seedCall{now, b, usd}
	r.hasPending.Store(true)
}

// replay writes what was kept during an outage: seeds first, so that a
// counter the backend lost is seeded before the outage's spend is added to
// it. What it cannot write is kept for the next replay, and the error
// returned.
func (r *ResilientSpend) replay(ctx context.Context) error {
	if !r.hasPending.Load() {
		return nil
	}
	r.mu.Lock()
	seeds, adds, lost := r.seeds, r.adds, r.lost
	r.seeds, r.adds, r.lost = make(map[pendingSeed]seedCall), make(map[pendingAdd]int64), 0
	r.hasPending.Store(false)
	r.mu.Unlock()

	var failed error
	for k, c := range seeds {
		if failed == nil {
			if failed = r.inner.Seed(ctx, c.now, c.b, c.usd); failed == nil {
				delete(seeds, k)
			}
		}
	}
	var replayed int64
	for k, n := range adds {
		if failed == nil {
			if failed = r.inner.Add(ctx, time.UnixMicro(k.day), []string{k.scope}, float64(n)/1e9); failed == nil {
				replayed += n
				delete(adds, k)
			}
		}
	}
	if replayed > 0 {
		r.log.Info("budget counters: replayed spend kept during an outage", "usd", float64(replayed)/1e9)
	}
	if lost > 0 {
		r.log.Error("budget counters: spend made during an outage was not counted: too many scopes to keep",
			"usd", float64(lost)/1e9)
	}
	if failed == nil {
		return nil
	}
	// Keep the rest for the next replay.
	r.mu.Lock()
	for k, c := range seeds {
		if _, ok := r.seeds[k]; !ok {
			r.seeds[k] = c
		}
	}
	for k, n := range adds {
		r.adds[k] += n
	}
	r.hasPending.Store(true)
	r.mu.Unlock()
	return fmt.Errorf("replaying spend kept during an outage: %w", failed)
}
