package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ProbeInterval is how often, while a backend is failing, Resilient and
// ResilientSpend let one call through to find out whether it is back. The
// calls in between are answered by the fail mode at once, so an outage costs
// no latency.
const ProbeInterval = time.Second

// maxPendingSpend bounds the spend ResilientSpend keeps for replay while its
// backend is down: one entry per scope and UTC day (or per seeded budget).
const maxPendingSpend = 4096

// Resilient wraps a Limiter whose backend can fail (Redis going away) with a
// documented fail mode. While inner returns errors, requests are admitted
// (failOpen) or refused with Decision{Limit: LimitUnavailable} (fail
// closed); the first failure of an incident is logged at error level and the
// recovery once at info level, and nothing in between. During an incident
// one call per ProbeInterval (of the callers' now) tries inner again, so the
// limiter recovers by itself when the backend returns.
//
// Errors that say nothing about the backend are returned as they are: an
// ErrInvalid argument, or the caller's own ctx being done. A reservation
// whose Done fails is counted in the incident and reported as done: its
// backend releases it on its own (redislimit expires reservations). log may
// be nil.
func Resilient(inner Limiter, failOpen bool, log *slog.Logger) Limiter {
	return &resilient{inner: inner, b: newBreaker("rate limiter", failOpen, log)}
}

type resilient struct {
	inner Limiter
	b     *breaker
}

func (r *resilient) Acquire(ctx context.Context, now time.Time, reqs []Request) (Decision, Reservation, error) {
	if err := ValidateRequests(reqs); err != nil {
		return Decision{}, nil, err
	}
	if !r.b.pass(now) {
		return r.fallback(), NopReservation{}, nil
	}
	d, res, err := r.inner.Acquire(ctx, now, reqs)
	if err != nil {
		if !backendFailure(ctx, err) {
			return d, res, err
		}
		r.b.fail(now, err)
		return r.fallback(), NopReservation{}, nil
	}
	r.b.succeed(now)
	if _, ok := res.(NopReservation); ok || res == nil {
		return d, NopReservation{}, nil
	}
	return d, &resilientReservation{inner: res, b: r.b}, nil
}

func (r *resilient) fallback() Decision {
	if r.b.failOpen {
		return Decision{Allowed: true}
	}
	return Decision{Limit: LimitUnavailable, RetryAfter: ProbeInterval}
}

type resilientReservation struct {
	inner Reservation
	b     *breaker
}

func (r *resilientReservation) Done(ctx context.Context, actualTokens int64) error {
	err := r.inner.Done(ctx, actualTokens)
	if err != nil && backendFailure(ctx, err) {
		r.b.fail(r.b.latest(), err)
		return nil
	}
	return err
}

// ResilientSpend wraps a Spend whose backend can fail, the way Resilient
// wraps a Limiter. While inner fails, Check reports room (failOpen) or
// returns an error wrapping ErrUnavailable; Add and Seed keep what they
// were given (bounded: per scope and day) and replay it once the backend
// answers again, so spend made during an outage is still counted. Spend
// that does not fit the bound is logged with the recovery.
func ResilientSpend(inner Spend, failOpen bool, log *slog.Logger) Spend {
	return &resilientSpend{
		inner: inner,
		b:     newBreaker("budget counters", failOpen, log),
		adds:  make(map[pendingAdd]int64),
		seeds: make(map[pendingSeed]seedCall),
	}
}

type resilientSpend struct {
	inner Spend
	b     *breaker

	hasPending atomic.Bool
	mu         sync.Mutex
	adds       map[pendingAdd]int64 // nano-USD
	seeds      map[pendingSeed]seedCall
	lost       int64 // nano-USD that did not fit
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

func (r *resilientSpend) Check(ctx context.Context, now time.Time, budgets []Budget) (bool, *Budget, error) {
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return false, nil, err
		}
	}
	if !r.b.pass(now) {
		return r.fallback(nil)
	}
	ok, exhausted, err := r.inner.Check(ctx, now, budgets)
	if err != nil {
		if !backendFailure(ctx, err) {
			return ok, exhausted, err
		}
		r.b.fail(now, err)
		return r.fallback(err)
	}
	r.succeed(ctx, now)
	return ok, exhausted, nil
}

func (r *resilientSpend) fallback(cause error) (bool, *Budget, error) {
	if r.b.failOpen {
		return true, nil, nil
	}
	if cause != nil {
		return false, nil, fmt.Errorf("checking budgets: %w: %w", ErrUnavailable, cause)
	}
	return false, nil, fmt.Errorf("checking budgets: %w", ErrUnavailable)
}

func (r *resilientSpend) Add(ctx context.Context, now time.Time, scopes []string, usd float64) error {
	n, err := NanoUSD(usd)
	if err != nil {
		return err
	}
	if err := ValidateScopes(scopes); err != nil {
		return err
	}
	if !r.b.pass(now) {
		r.keepAdd(now, scopes, n)
		return nil
	}
	if err := r.inner.Add(ctx, now, scopes, usd); err != nil {
		if !backendFailure(ctx, err) {
			return err
		}
		r.b.fail(now, err)
		r.keepAdd(now, scopes, n)
		return nil
	}
	r.succeed(ctx, now)
	return nil
}

func (r *resilientSpend) Seed(ctx context.Context, now time.Time, b Budget, usd float64) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if _, err := NanoUSD(usd); err != nil {
		return err
	}
	if !r.b.pass(now) {
		r.keepSeed(now, b, usd)
		return nil
	}
	if err := r.inner.Seed(ctx, now, b, usd); err != nil {
		if !backendFailure(ctx, err) {
			return err
		}
		r.b.fail(now, err)
		r.keepSeed(now, b, usd)
		return nil
	}
	r.succeed(ctx, now)
	return nil
}

func (r *resilientSpend) keepAdd(now time.Time, scopes []string, n int64) {
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

func (r *resilientSpend) keepSeed(now time.Time, b Budget, usd float64) {
	k := pendingSeed{b.Scope, b.Period, periodStartMicro(now, b.Period)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seeds[k]; ok {
		return // the first seed of a period wins, as in the backend
	}
	if len(r.adds)+len(r.seeds) >= maxPendingSpend {
		r.b.log.Error("budget counters: dropping a seed kept during an outage", "scope", b.Scope, "period", b.Period)
		return
	}
	r.seeds[k] = seedCall{now, b, usd}
	r.hasPending.Store(true)
}

// succeed ends an incident, if any, and replays what was kept during it:
// seeds first, so that a counter the backend lost is seeded before the
// outage's spend is added to it.
func (r *resilientSpend) succeed(ctx context.Context, now time.Time) {
	r.b.succeed(now)
	if !r.hasPending.Load() {
		return
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
		r.b.log.Info("budget counters: replayed spend kept during an outage", "usd", float64(replayed)/1e9)
	}
	if lost > 0 {
		r.b.log.Error("budget counters: spend made during an outage was not counted: too many scopes to keep",
			"usd", float64(lost)/1e9)
	}
	if failed == nil {
		return
	}
	// Keep the rest for the next success.
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
	if backendFailure(ctx, failed) {
		r.b.fail(now, failed)
	}
}

// backendFailure reports whether err, returned by a backend call made with
// ctx, says the backend failed, rather than the caller (a bad argument, or
// its ctx being done).
func backendFailure(ctx context.Context, err error) bool {
	return !errors.Is(err, ErrInvalid) && ctx.Err() == nil
}

// breaker tracks one backend's incidents: it logs their start and end once
// each and lets one call per ProbeInterval through while the backend fails.
type breaker struct {
	what     string
	failOpen bool
	log      *slog.Logger

	down atomic.Bool
	last atomic.Int64 // largest now seen, microseconds

	mu        sync.Mutex
	since     time.Time // when the incident began
	nextProbe time.Time
	failures  int // calls answered by the fail mode
}

func newBreaker(what string, failOpen bool, log *slog.Logger) *breaker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &breaker{what: what, failOpen: failOpen, log: log}
	b.last.Store(math.MinInt64)
	return b
}

// pass reports whether a call at now should go to the backend.
func (b *breaker) pass(now time.Time) bool {
	if us := now.UnixMicro(); us > b.last.Load() {
		b.last.Store(us) // a lost race leaves a slightly older time: harmless
	}
	if !b.down.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return true
	}
	if now.Before(b.nextProbe) {
		b.failures++
		return false
	}
	b.nextProbe = now.Add(ProbeInterval)
	return true
}

// fail records a backend failure seen at now.
func (b *breaker) fail(now time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.nextProbe = now.Add(ProbeInterval)
	if b.down.Load() {
		return
	}
	b.down.Store(true)
	b.since, b.failures = now, 1
	mode := "closed"
	if b.failOpen {
		mode = "open"
	}
	b.log.Error(b.what+" unavailable; failing "+mode+" until it answers again", "err", err)
}

// succeed records a backend success seen at now.
func (b *breaker) succeed(now time.Time) {
	if !b.down.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return
	}
	b.down.Store(false)
	b.log.Info(b.what+" available again", "outage", now.Sub(b.since), "calls_in_fail_mode", b.failures)
}

// latest is the largest now seen, for failures of calls that have none.
func (b *breaker) latest() time.Time {
	if us := b.last.Load(); us != math.MinInt64 {
		return time.UnixMicro(us)
	}
	return time.Time{}
}
