package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// testClock is a settable clock for the router.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newBreakerGateway serves model "m" over ps in priority order, with a
// router on clk restricted by contracts.
func newBreakerGateway(t *testing.T, clk *testClock, contracts []route.Contract, ps ...*fakeProvider) (*Gateway, *route.Router) {
	t.Helper()
	reg := provider.NewRegistry()
	m := route.Model{Name: "m", Strategy: "priority", MaxAttempts: len(ps)}
	for _, p := range ps {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
		m.Offerings = append(m.Offerings, route.Offering{Provider: p.name, ProviderType: "fake", UpstreamModel: "up-" + p.name})
	}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	r, err := route.New(route.Options{Catalog: cat, Contracts: contracts, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Runtime: Runtime{Router: r, Providers: reg}}), r
}

// tripAndWait opens channel's breaker with a run of failures and lets its
// cool-off (the default ten seconds) pass: the breaker is half-open.
func tripAndWait(t *testing.T, r *route.Router, clk *testClock, channel string) {
	t.Helper()
	for range 20 {
		r.Observe(channel, route.Outcome{Retryable: true})
	}
	if s := stateOf(t, r, channel); s != route.StateOpen {
		t.Fatalf("%s is %s after a run of failures", channel, s)
	}
	clk.Advance(10 * time.Second)
}

func stateOf(t *testing.T, r *route.Router, channel string) string {
	t.Helper()
	for _, h := range r.Health() {
		if h.Channel == channel {
			return h.State
		}
	}
	t.Fatalf("no channel %q", channel)
	return ""
}

// probes reports whether a plan made now would probe channel.
func probes(t *testing.T, r *route.Router, channel string) bool {
	t.Helper()
	d, err := r.Plan(route.Input{Model: "m"})
	if err != nil {
		return false
	}
	ok := false
	for _, p := range d.Probes {
		ok = ok || p.Channel == channel
		r.Observe(p.Channel, route.Outcome{Probe: p}) // hand it back
	}
	return ok
}

// A half-open channel planned behind one that serves the request gets its
// probe slot back at once, not after the probe timeout: the next request
// may probe it.
func TestProbe_UnusedIsHandedBack(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)}
	a, b := &fakeProvider{name: "a"}, &fakeProvider{name: "b"}
	g, r := newBreakerGateway(t, clk, nil, a, b)
	tripAndWait(t, r, clk, "b")
	for i := range 3 {
		_, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
		if err != nil || res.Provider != "a" {
			t.Fatalf("request %d: %v, served by %q", i, err, res.Provider)
		}
		if len(res.Decision.Probes) != 1 || res.Decision.Probes[0].Channel != "b" {
			t.Fatalf("request %d: probes %+v, want b's", i, res.Decision.Probes)
		}
	}
	if b.calls != 0 || stateOf(t, r, "b") != route.StateHalfOpen {
		t.Errorf("b: %d calls, %s", b.calls, stateOf(t, r, "b"))
	}
}

// A probe whose client went away, or that the channel could not take,
// hands its slot back too.
func TestProbe_CancelledIsHandedBack(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)}
	a := &fakeProvider{name: "a", errs: []error{context.Canceled}}
	g, r := newBreakerGateway(t, clk, nil, a)
	tripAndWait(t, r, clk, "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.Chat(ctx, &Call{Model: "m"}, chatReq()); err == nil {
		t.Fatal("a cancelled request succeeded")
	}
	if a.calls != 1 || !probes(t, r, "a") {
		t.Errorf("after a cancelled probe (%d calls), the next request is not a probe", a.calls)
	}
}

// A streamed probe closes the breaker with its first event, while the
// stream is still going; the stream's end then counts as any outcome.
func TestProbe_StreamClosesOnFirstEvent(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)}
	a := &fakeProvider{name: "a", failAfter: 2} // the first event, then cut
	only := route.Contract{Name: "only-a", Allow: &route.Allow{Providers: []string{"a"}}}
	g, r := newBreakerGateway(t, clk, []route.Contract{only}, a)
	tripAndWait(t, r, clk, "a")
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, r, "a"); st != route.StateClosed {
		t.Errorf("during the probe's stream: %s, want closed", st)
	}
	for _, err := range llm.All(s) {
		if err != nil {
			break
		}
	}
	s.Close()
	var h route.ChannelHealth
	for _, x := range r.Health() {
		h = x
	}
	if h.State != route.StateClosed || h.WindowRequests != 1 || h.ErrorRate != 1 {
		t.Errorf("after the cut stream: %+v, want closed with one failure counted", h)
	}
}

// Rate limits cool the channel but do not open its breaker: the
// channel enforces its quota, it is not dead.
func TestRateLimits_CoolWithoutTripping(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)}
	var errs []error
	for range 40 {
		errs = append(errs, pErr(provider.KindRateLimited))
	}
	a, b := &fakeProvider{name: "a", errs: errs}, &fakeProvider{name: "b"}
	g, r := newBreakerGateway(t, clk, nil, a, b)
	for i := range 40 {
		clk.Advance(time.Second) // the default cool-down of a 429 without Retry-After
		if _, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq()); err != nil || res.Provider != "b" {
			t.Fatalf("request %d: %v, served by %q", i, err, res.Provider)
		}
	}
	h := r.Health()[0]
	if h.State != route.StateClosed || h.WindowRequests != 0 || a.calls != 40 {
		t.Errorf("after 40 429s: %+v, %d calls", h, a.calls)
	}
	if want := clk.Now().Add(time.Second); !h.CoolingUntil.Equal(want) {
		t.Errorf("cooling until %v, want a second after the last 429 (%v)", h.CoolingUntil, want)
	}
}

// When the only allowed channel's breaker is open, the refusal says when
// it will let a probe through, and the first request after that is the
// probe.
func TestNoChannel_RetryAfterThenProbe(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)}
	a, b := &fakeProvider{name: "a"}, &fakeProvider{name: "b"}
	only := route.Contract{Name: "only-a", Allow: &route.Allow{Providers: []string{"a"}}}
	g, r := newBreakerGateway(t, clk, []route.Contract{only}, a, b)
	for range 20 {
		r.Observe("a", route.Outcome{Retryable: true})
	}
	clk.Advance(4 * time.Second)
	_, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrNoChannel || ge.RetryAfter != 6*time.Second {
		t.Fatalf("err = %#v, want no channel with Retry-After 6s", err)
	}
	clk.Advance(6 * time.Second)
	if _, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq()); err != nil || res.Provider != "a" {
		t.Fatalf("after the cool-off: %v, served by %q", err, res.Provider)
	}
	if st := stateOf(t, r, "a"); st != route.StateClosed || b.calls != 0 {
		t.Errorf("after the probe: %s, %d calls outside the contract", st, b.calls)
	}
}

// A request refused before any attempt (a key that may not use the
// model) hands its probe back.
func TestProbe_RefusedRequestHandsItBack(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)}
	a := &fakeProvider{name: "a"}
	g, r := newBreakerGateway(t, clk, nil, a)
	tripAndWait(t, r, clk, "a")
	_, _, err := g.Chat(context.Background(), &Call{Model: "m", AllowedModels: []string{"other-*"}}, chatReq())
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrModelNotAllowed {
		t.Fatalf("err = %v, want model not allowed", err)
	}
	if a.calls != 0 || !probes(t, r, "a") {
		t.Errorf("after a refused request (%d calls), the next request is not a probe", a.calls)
	}
}
