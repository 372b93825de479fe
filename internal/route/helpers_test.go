package route

import (
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// draws returns the given numbers in turn, then fails the test.
func draws(t *testing.T, xs ...float64) func() float64 {
	var mu sync.Mutex
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		if len(xs) == 0 {
			t.Helper()
			t.Fatal("unexpected random draw")
			return 0
		}
		x := xs[0]
		xs = xs[1:]
		return x
	}
}

// t0 is a Wednesday in the middle of a month and quarter.
var t0 = time.Date(2025, time.May, 14, 12, 0, 0, 0, time.UTC)

func off(provider, typ, region string) Offering {
	return Offering{Provider: provider, ProviderType: typ, Region: region, UpstreamModel: "up-" + provider}
}

// newTestRouter builds a router over models with contracts, a fake clock
// and the given random draws (nil: any draw fails the test).
func newTestRouter(t *testing.T, models []Model, contracts []Contract, clk *clock, rnd func() float64) *Router {
	t.Helper()
	cat, err := NewCatalog(models)
	if err != nil {
		t.Fatal(err)
	}
	if rnd == nil {
		rnd = draws(t)
	}
	r, err := New(Options{Catalog: cat, Contracts: contracts, Now: clk.Now, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func providers(offs []Offering) []string {
	out := make([]string, len(offs))
	for i, o := range offs {
		out[i] = o.Provider
	}
	return out
}

func mustPlan(t *testing.T, r *Router, in Input) *Decision {
	t.Helper()
	d, err := r.Plan(in)
	if err != nil {
		t.Fatalf("Plan(%+v): %v", in, err)
	}
	return d
}

var (
	fail    = Outcome{Retryable: true}
	success = Outcome{Success: true}
)

// probed returns o as the outcome of the attempt on channel that d
// admitted as a probe; the test fails when d holds no probe of channel.
func probed(t *testing.T, d *Decision, channel string, o Outcome) Outcome {
	t.Helper()
	for _, p := range d.Probes {
		if p.Channel == channel {
			o.Probe = p
			return o
		}
	}
	t.Fatalf("the decision holds no probe of %q: %+v", channel, d.Probes)
	return o
}
