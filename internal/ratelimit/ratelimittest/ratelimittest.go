// Package ratelimittest is the conformance suite every ratelimit.Limiter and
// ratelimit.Spend passes: sliding-window exactness with injected times,
// token reservation and settlement, stream slots, all-or-nothing admission
// across scopes, retry-after and x-ratelimit-* values, concurrency, budgets
// and their UTC period rollover.
package ratelimittest

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/ratelimit"
)

// base is the time tests count from. It is not in UTC, to show that only
// instants matter.
var base = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("UTC+1", 3600))

// at returns base plus sec seconds (to the microsecond).
func at(sec float64) time.Time {
	return base.Add(time.Duration(sec * float64(time.Second)).Round(time.Microsecond))
}

func secs(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond)
}

// Run runs the Limiter suite. newLimiter must return a new limiter with no
// state for each call, and release it when t ends; subtests call it once
// each and run in parallel.
func Run(t *testing.T, newLimiter func(t *testing.T) ratelimit.Limiter) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"requests_sliding_window", testRequestsSlidingWindow},
		{"requests_no_double_at_boundary", testRequestsNoDoubleAtBoundary},
		{"requests_exact_property", testRequestsExactProperty},
		{"requests_out_of_order_times", testRequestsOutOfOrder},
		{"requests_limit_changes", testRequestsLimitChanges},
		{"tokens_reservation_and_settlement", testTokensReservation},
		{"tokens_actual_larger_and_smaller", testTokensActualLargerAndSmaller},
		{"tokens_settled_at_latest_now", testTokensSettledAtLatestNow},
		{"tokens_too_large", testTokensTooLarge},
		{"streams", testStreams},
		{"all_or_nothing_requests", testAllOrNothingRequests},
		{"all_or_nothing_tokens", testAllOrNothingTokens},
		{"all_or_nothing_streams", testAllOrNothingStreams},
		{"refusal_names_longest_wait", testRefusalLongestWait},
		{"headers_tightest_scope", testHeadersTightest},
		{"scopes_independent", testScopesIndependent},
		{"unlimited", testUnlimited},
		{"invalid", testInvalid},
		{"done_idempotent", testDoneIdempotent},
		{"concurrent_requests", testConcurrentRequests},
		{"concurrent_tokens", testConcurrentTokens},
		{"concurrent_streams", testConcurrentStreams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &harness{t: t, l: newLimiter(t)})
		})
	}
}

type harness struct {
	t *testing.T
	l ratelimit.Limiter
}

// acquire calls Acquire and fails the test on error.
func (h *harness) acquire(now time.Time, reqs ...ratelimit.Request) (ratelimit.Decision, ratelimit.Reservation) {
	h.t.Helper()
	d, res, err := h.l.Acquire(context.Background(), now, reqs)
	if err != nil {
		h.t.Fatalf("Acquire at %v: %v", now.Sub(base), err)
	}
	if res == nil {
		h.t.Fatalf("Acquire at %v returned a nil Reservation", now.Sub(base))
	}
	return d, res
}

// want checks a decision against the expected one.
func (h *harness) want(now time.Time, got, want ratelimit.Decision) {
	h.t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		h.t.Errorf("decision at %v (-want +got):\n%s", now.Sub(base), diff)
	}
}

func (h *harness) done(res ratelimit.Reservation, actual int64) {
	h.t.Helper()
	if err := res.Done(context.Background(), actual); err != nil {
		h.t.Fatalf("Done(%d): %v", actual, err)
	}
}

func rpm(scope string, n int) ratelimit.Request {
	return ratelimit.Request{Scope: scope, Limits: ratelimit.Limits{RPM: n}}
}

func tpm(scope string, n int, est int64) ratelimit.Request {
	return ratelimit.Request{Scope: scope, Limits: ratelimit.Limits{TPM: n}, EstTokens: est}
}

func streams(scope string, n int) ratelimit.Request {
	return ratelimit.Request{Scope: scope, Limits: ratelimit.Limits{MaxStreams: n}, Stream: true}
}

func allowedReq(limit, remaining int, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, RequestsLimit: limit, RequestsRemaining: remaining, RequestsReset: reset}
}

func refusedReq(scope string, retry time.Duration, limit, remaining int, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Limit: ratelimit.LimitRequests, Scope: scope, RetryAfter: retry,
		RequestsLimit: limit, RequestsRemaining: remaining, RequestsReset: reset}
}

func allowedTok(limit, remaining int64, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, TokensLimit: limit, TokensRemaining: remaining, TokensReset: reset}
}

func refusedTok(scope string, retry time.Duration, limit, remaining int64, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Limit: ratelimit.LimitTokens, Scope: scope, RetryAfter: retry,
		TokensLimit: limit, TokensRemaining: remaining, TokensReset: reset}
}

// With RPM 5 and one request a second, the first five are admitted, the
// next ones wait for the first to be a full minute old, and from then on
// one slot frees up each second.
func testRequestsSlidingWindow(t *testing.T, h *harness) {
	const scope = "key:a"
	for s := 0; s < 60; s++ {
		now := at(float64(s))
		d, _ := h.acquire(now, rpm(scope, 5))
		if s < 5 {
			h.want(now, d, allowedReq(5, 4-s, time.Minute))
		} else {
			// The request at 0s leaves at 60s; the window empties when
			// the one at 4s leaves, at 64s.
			h.want(now, d, refusedReq(scope, secs(60-float64(s)), 5, 0, secs(64-float64(s))))
		}
	}
	for _, c := range []struct {
		sec  float64
		want ratelimit.Decision
	}{
		{59.999999, refusedReq(scope, secs(0.000001), 5, 0, secs(4.000001))},
		{60, allowedReq(5, 0, time.Minute)},
		{60.5, refusedReq(scope, secs(0.5), 5, 0, secs(59.5))},
		{61, allowedReq(5, 0, time.Minute)},
		{61, refusedReq(scope, secs(1), 5, 0, time.Minute)},
		{64, allowedReq(5, 2, time.Minute)}, // 2s, 3s and 4s leave: 60s, 61s and 64s remain
		{64, allowedReq(5, 1, time.Minute)},
		{64, allowedReq(5, 0, time.Minute)},
		{64, refusedReq(scope, secs(56), 5, 0, time.Minute)},
	} {
		now := at(c.sec)
		d, _ := h.acquire(now, rpm(scope, 5))
		h.want(now, d, c.want)
	}
}

// A fixed per-minute window would admit five more right after the minute
// turns; a sliding one admits nothing until the burst is a minute old.
func testRequestsNoDoubleAtBoundary(t *testing.T, h *harness) {
	const scope = "key:burst"
	for i := range 5 {
		d, _ := h.acquire(at(59.9), rpm(scope, 5))
		h.want(at(59.9), d, allowedReq(5, 4-i, time.Minute))
	}
	for _, s := range []float64{60, 60.1, 90, 119.899999} {
		d, _ := h.acquire(at(s), rpm(scope, 5))
		h.want(at(s), d, refusedReq(scope, secs(119.9-s), 5, 0, secs(119.9-s)))
	}
	for i := range 5 {
		d, _ := h.acquire(at(119.9), rpm(scope, 5))
		h.want(at(119.9), d, allowedReq(5, 4-i, time.Minute))
	}
	d, _ := h.acquire(at(119.9), rpm(scope, 5))
	h.want(at(119.9), d, refusedReq(scope, time.Minute, 5, 0, time.Minute))
}

// Over a long random sequence, a request is admitted exactly when fewer than
// RPM requests were admitted in the minute before it, and a refused one
// learns exactly when it could have been admitted.
func testRequestsExactProperty(t *testing.T, h *harness) {
	const (
		scope = "key:prop"
		limit = 7
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var admitted []time.Time
	now := base
	for range 300 {
		now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second))).Truncate(time.Millisecond))
		var inWindow []time.Time
		for _, a := range admitted {
			if now.Sub(a) < ratelimit.Window {
				inWindow = append(inWindow, a)
			}
		}
		d, _ := h.acquire(now, rpm(scope, limit))
		if want := len(inWindow) < limit; d.Allowed != want {
			t.Fatalf("at %v with %d in the window: allowed %v, want %v", now.Sub(base), len(inWindow), d.Allowed, want)
		}
		if d.Allowed {
			admitted = append(admitted, now)
			continue
		}
		if want := inWindow[len(inWindow)-limit].Add(ratelimit.Window).Sub(now); d.RetryAfter != want {
			t.Fatalf("at %v: RetryAfter %v, want %v", now.Sub(base), d.RetryAfter, want)
		}
	}
	if n := len(admitted); n < 20 || n > 280 {
		t.Fatalf("%d of 300 admitted; the sequence does not exercise the limit", n)
	}
}

// Replicas' clocks interleave: a request stamped earlier than one already
// recorded still counts from its own time.
func testRequestsOutOfOrder(t *testing.T, h *harness) {
	const scope = "key:ooo"
	for _, c := range []struct {
		sec  float64
		want ratelimit.Decision
	}{
		{10, allowedReq(2, 1, time.Minute)},
		{5, allowedReq(2, 0, secs(65))}, // the newest record, at 10s, leaves at 70s
		{6, refusedReq(scope, secs(59), 2, 0, secs(64))},
		{65, allowedReq(2, 0, time.Minute)}, // the one at 5s has left
		{69.9, refusedReq(scope, secs(0.1), 2, 0, secs(55.1))},
	} {
		d, _ := h.acquire(at(c.sec), rpm(scope, 2))
		h.want(at(c.sec), d, c.want)
	}
}

// Limits come with each request (a config reload changes them); the window
// is judged against the limit of the moment.
func testRequestsLimitChanges(t *testing.T, h *harness) {
	const scope = "key:reload"
	for i := range 5 {
		h.acquire(at(float64(i)), rpm(scope, 5))
	}
	now := at(10)
	d, _ := h.acquire(now, rpm(scope, 3))
	// Five in the window, limit 3: three must leave, the third at 62s.
	h.want(now, d, refusedReq(scope, secs(52), 3, 0, secs(54)))
	d, _ = h.acquire(now, rpm(scope, 10))
	h.want(now, d, allowedReq(10, 4, time.Minute))
}

func testTokensReservation(t *testing.T, h *harness) {
	const scope = "key:tok"
	req := func(est int64) ratelimit.Request { return tpm(scope, 1000, est) }

	d, a := h.acquire(at(0), req(400))
	h.want(at(0), d, allowedTok(1000, 600, time.Minute))
	d, b := h.acquire(at(1), req(400))
	h.want(at(1), d, allowedTok(1000, 200, time.Minute))
	d, _ = h.acquire(at(2), req(300))
	// Only running requests hold the tokens: no way to know when they end.
	h.want(at(2), d, refusedTok(scope, ratelimit.RetryHint, 1000, 200, time.Minute))

	h.done(a, 100) // settled at 2s, the latest time given
	d, c := h.acquire(at(3), req(300))
	h.want(at(3), d, allowedTok(1000, 200, time.Minute))
	d, _ = h.acquire(at(3), req(250))
	// 100 settled + 700 running; 50 must leave: the 100 settled at 2s, at 62s.
	h.want(at(3), d, refusedTok(scope, secs(59), 1000, 200, time.Minute))

	h.done(b, 0)
	h.done(c, 300) // settled at 3s
	d, e := h.acquire(at(3), req(250))
	h.want(at(3), d, allowedTok(1000, 350, time.Minute))
	h.done(e, 250) // settled at 3s too

	d, _ = h.acquire(at(62.5), req(500))
	// 550 settled at 3s remain; the 50 of the 100 at 2s are not enough
	// any more, so all of 3s must leave, at 63s.
	h.want(at(62.5), d, refusedTok(scope, secs(0.5), 1000, 450, secs(0.5)))
	d, f := h.acquire(at(63), req(1000))
	h.want(at(63), d, allowedTok(1000, 0, time.Minute))
	h.done(f, 1000)
}

func testTokensActualLargerAndSmaller(t *testing.T, h *harness) {
	const scope = "key:settle"
	req := func(est int64) ratelimit.Request { return tpm(scope, 1000, est) }

	_, a := h.acquire(at(0), req(100))
	h.done(a, 900) // larger than estimated: the window holds 900
	d, _ := h.acquire(at(10), req(200))
	h.want(at(10), d, refusedTok(scope, secs(50), 1000, 100, secs(50)))
	d, b := h.acquire(at(10), req(100))
	h.want(at(10), d, allowedTok(1000, 0, time.Minute))
	h.done(b, 0)

	_, c := h.acquire(at(60), req(800))
	h.done(c, 50) // smaller: the other 750 are free at once
	d, _ = h.acquire(at(60), req(950))
	h.want(at(60), d, allowedTok(1000, 0, time.Minute))
}

// Done has no time of its own: the tokens count from the latest time the
// limiter has been given, and never from before their admission.
func testTokensSettledAtLatestNow(t *testing.T, h *harness) {
	const scope = "key:late"
	_, a := h.acquire(at(0), tpm(scope, 1000, 100))
	h.acquire(at(30), rpm("key:other", 100)) // time goes on elsewhere
	h.done(a, 500)                           // settled at 30s

	d, _ := h.acquire(at(80), tpm(scope, 1000, 600))
	h.want(at(80), d, refusedTok(scope, secs(10), 1000, 500, secs(10)))
	d, _ = h.acquire(at(90), tpm(scope, 1000, 1000))
	h.want(at(90), d, allowedTok(1000, 0, time.Minute))
}

func testTokensTooLarge(t *testing.T, h *harness) {
	d, _ := h.acquire(at(0), tpm("key:big", 100, 101))
	h.want(at(0), d, ratelimit.Decision{Limit: ratelimit.LimitTokens, Scope: "key:big", TooLarge: true,
		TokensLimit: 100, TokensRemaining: 100})

	// Too large beats any wait on another scope: no wait helps.
	h.acquire(at(0), rpm("tenant:busy", 1))
	d, _ = h.acquire(at(1), rpm("tenant:busy", 1), tpm("key:big", 100, 101))
	h.want(at(1), d, ratelimit.Decision{Limit: ratelimit.LimitTokens, Scope: "key:big", TooLarge: true,
		RequestsLimit: 1, RequestsRemaining: 0, RequestsReset: secs(59), TokensLimit: 100, TokensRemaining: 100})

	d, _ = h.acquire(at(2), tpm("key:big", 100, 100))
	h.want(at(2), d, allowedTok(100, 0, time.Minute))
}

func testStreams(t *testing.T, h *harness) {
	const scope = "key:str"
	_, a := h.acquire(at(0), streams(scope, 2))
	d, b := h.acquire(at(0), streams(scope, 2))
	h.want(at(0), d, ratelimit.Decision{Allowed: true})
	d, _ = h.acquire(at(1), streams(scope, 2))
	h.want(at(1), d, ratelimit.Decision{Limit: ratelimit.LimitStreams, Scope: scope, RetryAfter: ratelimit.RetryHint})

	plain := streams(scope, 2)
	plain.Stream = false
	if d, _ := h.acquire(at(1), plain); !d.Allowed {
		t.Errorf("a request that does not stream was refused a stream slot: %+v", d)
	}

	h.done(a, 10)
	if d, _ := h.acquire(at(2), streams(scope, 2)); !d.Allowed {
		t.Errorf("stream refused after one ended: %+v", d)
	}
	if d, _ := h.acquire(at(2), streams(scope, 2)); d.Allowed {
		t.Errorf("third concurrent stream admitted: %+v", d)
	}
	h.done(b, 10)
}

func testAllOrNothingRequests(t *testing.T, h *harness) {
	key, tenant := rpm("key:k", 10), rpm("tenant:t", 1)
	d, _ := h.acquire(at(0), key, tenant)
	h.want(at(0), d, allowedReq(1, 0, time.Minute))
	d, _ = h.acquire(at(1), key, tenant)
	h.want(at(1), d, refusedReq("tenant:t", secs(59), 1, 0, secs(59)))
	d, _ = h.acquire(at(2), key)
	// One request counted against the key, not two.
	h.want(at(2), d, allowedReq(10, 8, time.Minute))
}

func testAllOrNothingTokens(t *testing.T, h *harness) {
	d, _ := h.acquire(at(0), tpm("key:k", 1000, 400), tpm("tenant:t", 500, 400))
	h.want(at(0), d, allowedTok(500, 100, time.Minute))
	d, _ = h.acquire(at(1), tpm("key:k", 1000, 200), tpm("tenant:t", 500, 200))
	h.want(at(1), d, refusedTok("tenant:t", ratelimit.RetryHint, 500, 100, time.Minute))
	d, _ = h.acquire(at(2), tpm("key:k", 1000, 600))
	h.want(at(2), d, allowedTok(1000, 0, time.Minute))
}

func testAllOrNothingStreams(t *testing.T, h *harness) {
	key, tenant := streams("key:k", 2), streams("tenant:t", 1)
	if d, _ := h.acquire(at(0), key, tenant); !d.Allowed {
		t.Fatalf("first stream refused: %+v", d)
	}
	d, _ := h.acquire(at(0), key, tenant)
	h.want(at(0), d, ratelimit.Decision{Limit: ratelimit.LimitStreams, Scope: "tenant:t", RetryAfter: ratelimit.RetryHint})
	if d, _ := h.acquire(at(0), key); !d.Allowed {
		t.Errorf("the key's second slot was taken by a refused request: %+v", d)
	}
	if d, _ := h.acquire(at(0), key); d.Allowed {
		t.Errorf("the key admitted a third stream: %+v", d)
	}
}

// When several limits refuse, the one that frees up last is reported: a
// retry needs all of them.
func testRefusalLongestWait(t *testing.T, h *harness) {
	h.acquire(at(0), rpm("key:k", 1))
	h.acquire(at(0), tpm("tenant:t", 100, 100))
	reqs := []ratelimit.Request{tpm("tenant:t", 100, 50), rpm("key:k", 1)}
	d, _ := h.acquire(at(10), reqs...)
	h.want(at(10), d, ratelimit.Decision{Limit: ratelimit.LimitRequests, Scope: "key:k", RetryAfter: secs(50),
		RequestsLimit: 1, RequestsReset: secs(50), TokensLimit: 100, TokensReset: time.Minute})
}

func testHeadersTightest(t *testing.T, h *harness) {
	key := ratelimit.Request{Scope: "key:k", Limits: ratelimit.Limits{RPM: 10, TPM: 1000}, EstTokens: 100}
	tenant := ratelimit.Request{Scope: "tenant:t", Limits: ratelimit.Limits{RPM: 3, TPM: 5000}, EstTokens: 100}
	d, res := h.acquire(at(0), key, tenant)
	h.want(at(0), d, ratelimit.Decision{Allowed: true,
		RequestsLimit: 3, RequestsRemaining: 2, RequestsReset: time.Minute,
		TokensLimit: 1000, TokensRemaining: 900, TokensReset: time.Minute})
	h.done(res, 4500) // settled at 0s
	d, _ = h.acquire(at(20), key, tenant)
	h.want(at(20), d, ratelimit.Decision{Limit: ratelimit.LimitTokens, Scope: "key:k", RetryAfter: secs(40),
		RequestsLimit: 3, RequestsRemaining: 2, RequestsReset: secs(40),
		TokensLimit: 1000, TokensRemaining: 0, TokensReset: secs(40)})
}

func testScopesIndependent(t *testing.T, h *harness) {
	h.acquire(at(0), rpm("key:a", 1))
	if d, _ := h.acquire(at(1), rpm("key:a", 1)); d.Allowed {
		t.Fatalf("key:a admitted over its limit")
	}
	d, _ := h.acquire(at(1), rpm("key:b", 1))
	h.want(at(1), d, allowedReq(1, 0, time.Minute))
}

func testUnlimited(t *testing.T, h *harness) {
	for i := range 50 {
		reqs := []ratelimit.Request{
			{Scope: "key:free", EstTokens: 1 << 40, Stream: true},
			{Scope: "tenant:free", Limits: ratelimit.Limits{MaxStreams: 1}}, // not a stream
		}
		d, res := h.acquire(at(float64(i)/10), reqs...)
		h.want(at(0), d, ratelimit.Decision{Allowed: true})
		h.done(res, 1<<40)
	}
	d, res := h.acquire(at(0))
	h.want(at(0), d, ratelimit.Decision{Allowed: true})
	h.done(res, 5)
}

func testInvalid(t *testing.T, h *harness) {
	for _, c := range []struct {
		name string
		reqs []ratelimit.Request
	}{
		{"empty_scope", []ratelimit.Request{rpm("", 1)}},
		{"negative_rpm", []ratelimit.Request{rpm("key:a", -1)}},
		{"negative_tpm", []ratelimit.Request{tpm("key:a", -1, 0)}},
		{"negative_streams", []ratelimit.Request{streams("key:a", -1)}},
		{"negative_estimate", []ratelimit.Request{tpm("key:a", 10, -1)}},
		{"scope_twice", []ratelimit.Request{rpm("key:a", 1), tpm("key:a", 10, 1)}},
	} {
		d, res, err := h.l.Acquire(context.Background(), at(0), c.reqs)
		if !errors.Is(err, ratelimit.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, err)
		}
		if d.Allowed || res != nil {
			t.Errorf("%s: got %+v, %v with an error", c.name, d, res)
		}
	}
}

func testDoneIdempotent(t *testing.T, h *harness) {
	req := ratelimit.Request{Scope: "key:once", Limits: ratelimit.Limits{TPM: 1000, MaxStreams: 1}, EstTokens: 500, Stream: true}
	_, a := h.acquire(at(0), req)
	d, refused := h.acquire(at(0), req)
	if d.Allowed {
		t.Fatalf("second stream admitted")
	}
	h.done(refused, 999) // holds nothing
	h.done(a, 100)
	h.done(a, 100)
	h.done(a, 700)

	req.EstTokens = 800
	d, b := h.acquire(at(1), req)
	// One stream slot and 100 tokens: anything else was counted twice.
	want := allowedTok(1000, 100, time.Minute)
	h.want(at(1), d, want)
	req.EstTokens = 0
	if d, _ := h.acquire(at(1), req); d.Allowed || d.Limit != ratelimit.LimitStreams {
		t.Errorf("a second Done released the slot again: %+v", d)
	}
	h.done(b, 0)
}

func testConcurrentRequests(t *testing.T, h *harness) {
	const scope = "key:race"
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for i := range 100 {
		wg.Go(func() {
			d, _, err := h.l.Acquire(context.Background(), at(float64(i%10)/10), []ratelimit.Request{rpm(scope, 10)})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Errorf("%d of 100 concurrent requests admitted with RPM 10, want exactly 10", got)
	}
}

func testConcurrentTokens(t *testing.T, h *harness) {
	const scope = "tenant:race"
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for range 50 {
		wg.Go(func() {
			d, _, err := h.l.Acquire(context.Background(), at(0), []ratelimit.Request{tpm(scope, 1000, 30)})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 33 {
		t.Errorf("%d requests of 30 tokens admitted with TPM 1000, want 33", got)
	}
}

// Streams come and go from many goroutines; no more than MaxStreams ever
// run at once, and every slot comes back.
func testConcurrentStreams(t *testing.T, h *harness) {
	const (
		scope = "key:streams"
		limit = 3
	)
	var wg sync.WaitGroup
	var running, peak, admitted atomic.Int32
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				now := at(float64(g*20+i) / 1000)
				d, res, err := h.l.Acquire(context.Background(), now, []ratelimit.Request{streams(scope, limit)})
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Allowed {
					continue
				}
				admitted.Add(1)
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				running.Add(-1)
				if err := res.Done(context.Background(), 1); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Errorf("%d streams ran at once, limit %d", p, limit)
	}
	if admitted.Load() < limit {
		t.Errorf("only %d streams admitted in all", admitted.Load())
	}
	for i := range limit {
		if d, _ := h.acquire(at(1), streams(scope, limit)); !d.Allowed {
			t.Fatalf("slot %d not released: %+v", i, d)
		}
	}
}
