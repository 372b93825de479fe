package route

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// healthOf returns the health of one channel.
func healthOf(t *testing.T, r *Router, channel string) ChannelHealth {
	t.Helper()
	for _, h := range r.Health() {
		if h.Channel == channel {
			return h
		}
	}
	t.Fatalf("no health for %q", channel)
	return ChannelHealth{}
}

func twoChannelRouter(t *testing.T, clk *clock) *Router {
	t.Helper()
	return newTestRouter(t, []Model{{Name: "m", Offerings: []Offering{off("a", "", ""), off("b", "", "")}}}, nil, clk, nil)
}

// step is one action of a breaker scenario.
type step struct {
	advance time.Duration
	observe *Outcome // on channel a
	probe   bool     // observe with the probe of the last plan that granted one
	plan    bool     // Plan once (admits a probe when a is half-open)
	state   string   // expected state of a after the step; "" to skip
	order   []string // expected order when plan is set
}

// tripA observes the failures that open a's breaker with the default
// options (a run of 20).
var tripA = slices.Repeat([]step{{observe: &fail}}, 20)

func TestBreaker_Transitions(t *testing.T) {
	f, s, neutral, limited := &fail, &success, &Outcome{}, &Outcome{RateLimited: true, Retryable: true}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"opens_after_twenty_consecutive_failures", slices.Concat(
			slices.Repeat([]step{{observe: f, state: StateClosed}}, 19),
			[]step{{observe: f, state: StateOpen}, {plan: true, order: []string{"b"}}},
		)},
		// One request every two seconds: the window never holds the
		// minimum, only a run trips.
		{"success_resets_the_run", slices.Concat(
			slices.Repeat([]step{{advance: 2 * time.Second, observe: f}}, 19), []step{{advance: 2 * time.Second, observe: s}},
			slices.Repeat([]step{{advance: 2 * time.Second, observe: f}}, 19), []step{{state: StateClosed}},
			[]step{{advance: 2 * time.Second, observe: f, state: StateOpen}},
		)},
		{"non_retryable_failures_do_not_count", slices.Concat(
			slices.Repeat([]step{{observe: f}}, 19),
			[]step{{observe: neutral}, {observe: neutral}, {observe: neutral, state: StateClosed}},
			[]step{{observe: f, state: StateOpen}},
		)},
		{"rate_limits_do_not_count", slices.Concat(
			slices.Repeat([]step{{observe: f}}, 19),
			slices.Repeat([]step{{observe: limited, state: StateClosed}}, 30),
			[]step{{observe: f, state: StateOpen}},
		)},
		{"half_opens_after_cool_off_and_closes_on_success", slices.Concat(tripA, []step{
			{state: StateOpen},
			{advance: 9 * time.Second, state: StateOpen},
			{advance: time.Second, state: StateHalfOpen},
			{plan: true, order: []string{"a", "b"}}, // a probe
			{plan: true, order: []string{"b"}},      // the probe slot is taken
			{observe: s, probe: true, state: StateClosed},
			{plan: true, order: []string{"a", "b"}},
		})},
		{"failed_probe_reopens_with_double_cool_off", slices.Concat(tripA, []step{
			{advance: 10 * time.Second, plan: true, order: []string{"a", "b"}},
			{observe: f, probe: true, state: StateOpen},
			{advance: 19 * time.Second, state: StateOpen},
			{advance: time.Second, state: StateHalfOpen},
			{plan: true, order: []string{"a", "b"}},
			{observe: f, probe: true, state: StateOpen},
			{advance: 39 * time.Second, state: StateOpen},
			{advance: time.Second, state: StateHalfOpen},
		})},
		{"probe_without_verdict_gives_way_after_probe_timeout", slices.Concat(tripA, []step{
			{advance: 10 * time.Second, plan: true, order: []string{"a", "b"}},
			{advance: 9 * time.Second, plan: true, order: []string{"b"}},
			{advance: time.Second, plan: true, order: []string{"a", "b"}},
		})},
		{"returned_probe_frees_its_slot", slices.Concat(tripA, []step{
			{advance: 10 * time.Second, plan: true, order: []string{"a", "b"}},
			{observe: neutral, probe: true, state: StateHalfOpen},
			{plan: true, order: []string{"a", "b"}},
		})},
		{"rate_limited_probe_is_no_verdict", slices.Concat(tripA, []step{
			{advance: 10 * time.Second, plan: true, order: []string{"a", "b"}},
			{observe: &Outcome{RateLimited: true, Retryable: true, RetryAfter: 2 * time.Second}, probe: true, state: StateHalfOpen},
			{plan: true, order: []string{"b"}}, // cooling down
			{advance: 2 * time.Second, plan: true, order: []string{"a", "b"}},
		})},
		{"outcomes_of_requests_planned_before_the_trip_are_ignored", slices.Concat(tripA, []step{
			{observe: s, state: StateOpen},
			{advance: 10 * time.Second, state: StateHalfOpen},
			{observe: f, state: StateHalfOpen}, // not a probe: no second trip
			{observe: s, state: StateHalfOpen}, // not a probe: no close
			{plan: true, order: []string{"a", "b"}},
			{observe: neutral, state: StateHalfOpen}, // not a probe: the slot stays taken
			{plan: true, order: []string{"b"}},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(t0)
			r := twoChannelRouter(t, clk)
			var last *Decision
			for i, st := range tc.steps {
				clk.Advance(st.advance)
				if st.observe != nil {
					o := *st.observe
					if st.probe {
						o = probed(t, last, "a", o)
					}
					r.Observe("a", o)
				}
				if st.plan {
					d := mustPlan(t, r, Input{Model: "m"})
					if len(d.Probes) > 0 {
						last = d
					}
					if diff := cmp.Diff(st.order, providers(d.Order)); diff != "" {
						t.Fatalf("step %d: order (-want +got):\n%s", i, diff)
					}
				}
				if st.state != "" {
					if got := healthOf(t, r, "a").State; got != st.state {
						t.Fatalf("step %d: state %s, want %s", i, got, st.state)
					}
				}
			}
		})
	}
}

func TestBreaker_ErrorRate(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	// Alternate: never two failures in a row, but half of them fail.
	for i := range 19 {
		if i%2 == 0 {
			r.Observe("a", fail)
		} else {
			r.Observe("a", success)
		}
		clk.Advance(time.Second)
	}
	h := healthOf(t, r, "a")
	if h.State != StateClosed || h.WindowRequests != 19 {
		t.Fatalf("after 19 outcomes: %+v", h)
	}
	r.Observe("a", success) // 20 requests, 10 failures: 50%, but the last one succeeded
	if h := healthOf(t, r, "a"); h.State != StateClosed || h.ErrorRate != 0.5 {
		t.Fatalf("a success never trips: %+v", h)
	}
	r.Observe("a", fail) // 21 requests, 11 failures
	if h := healthOf(t, r, "a"); h.State != StateOpen {
		t.Fatalf("error rate over the threshold: %+v", h)
	}
}

func TestBreaker_ErrorRateWindowForgets(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	for range 9 {
		r.Observe("a", fail)
		r.Observe("a", success)
	}
	if h := healthOf(t, r, "a"); h.WindowRequests != 18 {
		t.Fatalf("window holds %d outcomes, want 18", h.WindowRequests)
	}
	clk.Advance(31 * time.Second) // the window has moved on
	for range 4 {
		r.Observe("a", fail)
	}
	r.Observe("a", success)
	h := healthOf(t, r, "a")
	if h.State != StateClosed || h.WindowRequests != 5 {
		t.Fatalf("old outcomes still counted: %+v", h)
	}
}

func TestBreaker_CoolOffCapAndReset(t *testing.T) {
	clk := newClock(t0)
	cat, err := NewCatalog([]Model{{Name: "m", Offerings: []Offering{off("a", "", ""), off("b", "", "")}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Catalog: cat, Now: clk.Now, Breaker: BreakerOptions{ConsecutiveFailures: 1, CoolOff: time.Second, MaxCoolOff: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	r.Observe("a", fail)
	var got []time.Duration
	for range 5 {
		h := healthOf(t, r, "a")
		got = append(got, h.OpenUntil.Sub(clk.Now()))
		clk.Set(h.OpenUntil)
		d := mustPlan(t, r, Input{Model: "m"})
		r.Observe("a", probed(t, d, "a", fail))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cool-offs (-want +got):\n%s", diff)
	}

	// A probe succeeds; a trip soon after still doubles from where it was.
	clk.Set(healthOf(t, r, "a").OpenUntil)
	d := mustPlan(t, r, Input{Model: "m"})
	r.Observe("a", probed(t, d, "a", success))
	clk.Advance(time.Second)
	r.Observe("a", fail)
	if d := healthOf(t, r, "a").OpenUntil.Sub(clk.Now()); d != 5*time.Second {
		t.Errorf("trip soon after closing: cool-off %v, want 5s", d)
	}
	// Long healthy after closing: the next trip starts over.
	clk.Set(healthOf(t, r, "a").OpenUntil)
	d = mustPlan(t, r, Input{Model: "m"})
	r.Observe("a", probed(t, d, "a", success))
	clk.Advance(time.Minute)
	r.Observe("a", fail)
	if h := healthOf(t, r, "a"); h.OpenUntil.Sub(clk.Now()) != time.Second || h.Trips != 1 {
		t.Errorf("trip long after closing: %+v", h)
	}
}

func TestObserve_LatencyAverages(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	r.Observe("a", Outcome{Success: true, TTFB: 100 * time.Millisecond, Latency: time.Second})
	r.Observe("a", Outcome{Success: true, TTFB: 200 * time.Millisecond, Latency: 2 * time.Second})
	r.Observe("a", Outcome{Retryable: true, TTFB: time.Millisecond, Latency: time.Millisecond}) // failures do not count
	r.Observe("a", Outcome{Success: true})                                                      // unknown timings do not count
	h := healthOf(t, r, "a")
	if h.TTFBEWMA != 120*time.Millisecond || h.LatencyEWMA != 1200*time.Millisecond {
		t.Errorf("averages ttfb %v latency %v, want 120ms and 1.2s", h.TTFBEWMA, h.LatencyEWMA)
	}
	r.Observe("nope", fail) // unknown channels are ignored
	r.CoolDown("nope", time.Second)
	if n := len(r.Health()); n != 2 {
		t.Errorf("%d channels in health", n)
	}
}

func TestHealth_JSON(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	for range 20 {
		r.Observe("a", fail)
	}
	r.Observe("b", Outcome{Success: true, TTFB: 50 * time.Millisecond, Latency: 300 * time.Millisecond, RetryAfter: time.Minute})
	got, err := json.Marshal(r.Health())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"channel":"a","state":"open","consecutive_failures":0,"error_rate":0,"window_requests":0,"trips":1,"open_until":"2025-05-14T12:00:10Z"},` +
		`{"channel":"b","state":"closed","consecutive_failures":0,"error_rate":0,"window_requests":1,"cooling_until":"2025-05-14T12:01:00Z","latency_ewma_ns":300000000,"ttfb_ewma_ns":50000000}]`
	if string(got) != want {
		t.Errorf("health JSON\n got %s\nwant %s", got, want)
	}
}

// A channel failing 20% of its requests stays in service at any traffic,
// even when its failures come in runs of five (the old trip): the ratio
// never reaches half and no run reaches twenty.
func TestBreaker_FlakyStaysInService(t *testing.T) {
	for _, tc := range []struct {
		name    string
		every   time.Duration // between requests
		pattern []bool        // true fails; 20% of each
	}{
		{"every_fifth_fails_100_a_second", 10 * time.Millisecond, []bool{true, false, false, false, false}},
		{"every_fifth_fails_one_a_second", time.Second, []bool{true, false, false, false, false}},
		{"runs_of_five_100_a_second", 10 * time.Millisecond, append(slices.Repeat([]bool{true}, 5), make([]bool, 20)...)},
		{"runs_of_five_one_a_minute", time.Minute, append(slices.Repeat([]bool{true}, 5), make([]bool, 20)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(t0)
			r := twoChannelRouter(t, clk)
			for i := range 5000 {
				clk.Advance(tc.every)
				d := mustPlan(t, r, Input{Model: "m"})
				if d.Order[0].Provider != "a" {
					t.Fatalf("request %d went to %s: %+v", i, d.Order[0].Provider, healthOf(t, r, "a"))
				}
				o := success
				if tc.pattern[i%len(tc.pattern)] {
					o = fail
				}
				r.Observe("a", o)
			}
			if h := healthOf(t, r, "a"); h.State != StateClosed || h.Trips != 0 {
				t.Errorf("after 5000 requests: %+v", h)
			}
		})
	}
}

// A dead channel trips on its MinRequests-th failure when its traffic
// fills the window, and on its ConsecutiveFailures-th when it does not.
func TestBreaker_DeadTripsAtTheMinimum(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		want  int
	}{
		{"busy: the window's minimum", 100 * time.Millisecond, 10},
		{"quiet: the run", 10 * time.Second, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(t0)
			cat, err := NewCatalog([]Model{{Name: "m", Offerings: []Offering{off("a", "", "")}}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := New(Options{Catalog: cat, Now: clk.Now, Breaker: BreakerOptions{MinRequests: 10, ConsecutiveFailures: 30}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for healthOf(t, r, "a").State == StateClosed && n < 100 {
				clk.Advance(tc.every)
				r.Observe("a", fail)
				n++
			}
			if n != tc.want {
				t.Errorf("tripped after %d failures, want %d", n, tc.want)
			}
		})
	}
}

// The only channel a contract allows for some traffic is probed once its
// cool-off ends, like any other: the refusals in between say when to
// retry, a failed probe doubles the cool-off, a successful one closes the
// breaker.
func TestBreaker_ExclusiveChannelIsProbed(t *testing.T) {
	clk := newClock(t0)
	onlyA := Contract{Name: "only-a", Match: Match{Traffic: Stateless}, Allow: &Allow{Providers: []string{"a"}}}
	r := newTestRouter(t, []Model{{Name: "m", Offerings: []Offering{off("a", "", ""), off("b", "", "")}}}, []Contract{onlyA}, clk, nil)
	refused := func(wantRetry time.Duration) {
		t.Helper()
		d, err := r.Plan(Input{Model: "m"})
		var ne *NoChannelError
		if !errors.As(err, &ne) || !ne.Unhealthy || ne.RetryAfter != wantRetry {
			t.Fatalf("plan: %v (%+v), want a refusal with Retry-After %v", err, ne, wantRetry)
		}
		if len(d.Order) != 0 || len(d.Probes) != 0 {
			t.Fatalf("refused plan has order %v, probes %v", providers(d.Order), d.Probes)
		}
	}
	probe := func() *Decision {
		t.Helper()
		d := mustPlan(t, r, Input{Model: "m"})
		if diff := cmp.Diff([]string{"a"}, providers(d.Order)); diff != "" || len(d.Probes) != 1 {
			t.Fatalf("probe plan: order (-want +got):\n%s probes %v", diff, d.Probes)
		}
		return d
	}
	for range 20 {
		r.Observe("a", fail)
	}
	refused(10 * time.Second)
	clk.Advance(9 * time.Second)
	refused(time.Second)
	clk.Advance(time.Second)
	d := probe()
	refused(time.Second) // the probe is in flight
	r.Observe("a", probed(t, d, "a", fail))
	refused(20 * time.Second) // doubled
	clk.Advance(20 * time.Second)
	d = probe()
	// Stateful traffic is not bound by the contract: b serves it meanwhile.
	if sd := mustPlan(t, r, Input{Model: "m", Traffic: Stateful}); sd.Order[0].Provider != "b" {
		t.Fatalf("stateful traffic: order %v", providers(sd.Order))
	}
	r.Observe("a", probed(t, d, "a", success))
	if h := healthOf(t, r, "a"); h.State != StateClosed {
		t.Fatalf("after a successful probe: %+v", h)
	}
	if d := mustPlan(t, r, Input{Model: "m"}); len(d.Probes) != 0 || len(d.Order) != 1 {
		t.Errorf("closed: order %v, probes %v", providers(d.Order), d.Probes)
	}
}

// A probe that has not answered within ProbeTimeout (the cool-off by
// default) gives way: the next request probes too, so a slow or lost
// probe does not refuse the traffic a contract keeps on the channel for
// longer than the cool-off.
func TestBreaker_SlowProbeGivesWay(t *testing.T) {
	clk := newClock(t0)
	onlyA := Contract{Name: "only-a", Allow: &Allow{Providers: []string{"a"}}}
	r := newTestRouter(t, []Model{{Name: "m", Offerings: []Offering{off("a", "", ""), off("b", "", "")}}}, []Contract{onlyA}, clk, nil)
	for range 20 {
		r.Observe("a", fail)
	}
	clk.Advance(10 * time.Second)
	slow := mustPlan(t, r, Input{Model: "m"})
	clk.Advance(9 * time.Second)
	if _, err := r.Plan(Input{Model: "m"}); err == nil {
		t.Fatal("a second probe within the probe timeout")
	}
	clk.Advance(time.Second)
	second := mustPlan(t, r, Input{Model: "m"})
	// The slow probe answers after all: its verdict still counts.
	r.Observe("a", probed(t, slow, "a", success))
	if h := healthOf(t, r, "a"); h.State != StateClosed {
		t.Fatalf("after the slow probe's success: %+v", h)
	}
	// The second probe's failure comes after the breaker closed: it is an
	// ordinary failure, not a verdict.
	r.Observe("a", probed(t, second, "a", fail))
	if h := healthOf(t, r, "a"); h.State != StateClosed || h.WindowRequests != 1 {
		t.Errorf("after the second probe's failure: %+v", h)
	}
}

// Answered closes a half-open breaker on a probe's first byte; a probe of
// an earlier half-open spell changes nothing.
func TestBreaker_Answered(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	for range 20 {
		r.Observe("a", fail)
	}
	clk.Advance(10 * time.Second)
	old := mustPlan(t, r, Input{Model: "m"})
	r.Observe("a", probed(t, old, "a", fail)) // open again, for 20s
	clk.Advance(20 * time.Second)
	if h := healthOf(t, r, "a"); h.State != StateHalfOpen {
		t.Fatalf("%+v", h)
	}
	r.Answered(old.Probes[0])
	r.Observe("a", probed(t, old, "a", success))
	if h := healthOf(t, r, "a"); h.State != StateHalfOpen {
		t.Fatalf("a stale probe decided the breaker: %+v", h)
	}
	d := mustPlan(t, r, Input{Model: "m"})
	r.Answered(d.Probes[0])
	if h := healthOf(t, r, "a"); h.State != StateClosed {
		t.Fatalf("answered probe: %+v", h)
	}
	// The stream's end then counts as an ordinary outcome.
	r.Observe("a", probed(t, d, "a", success))
	if h := healthOf(t, r, "a"); h.State != StateClosed || h.WindowRequests != 1 {
		t.Errorf("after the stream's end: %+v", h)
	}
}

// A probe handed back after its ProbeTimeout holds no slot any more, so
// it frees none: the probe admitted in its place keeps its own.
func TestBreaker_LateProbeFreesNoOtherSlot(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	for range 20 {
		r.Observe("a", fail)
	}
	clk.Advance(10 * time.Second)
	first := mustPlan(t, r, Input{Model: "m"})
	clk.Advance(10 * time.Second)
	second := mustPlan(t, r, Input{Model: "m"})
	if len(first.Probes) != 1 || len(second.Probes) != 1 {
		t.Fatalf("probes %v and %v", first.Probes, second.Probes)
	}
	r.Observe("a", probed(t, first, "a", Outcome{})) // the first, late and unused
	if d := mustPlan(t, r, Input{Model: "m"}); len(d.Probes) != 0 {
		t.Fatalf("a third probe while the second is in flight: order %v", providers(d.Order))
	}
	r.Observe("a", probed(t, second, "a", Outcome{}))
	if d := mustPlan(t, r, Input{Model: "m"}); len(d.Probes) != 1 {
		t.Errorf("the second probe handed back: order %v, probes %v", providers(d.Order), d.Probes)
	}
}

func TestResetBreaker_ClosesAndForgets(t *testing.T) {
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := twoChannelRouter(t, clk)
	for range 20 {
		r.Observe("a", fail)
	}
	r.CoolDown("a", time.Minute)
	if h := healthOf(t, r, "a"); h.State != StateOpen || h.Trips != 1 || h.CoolingUntil.IsZero() {
		t.Fatalf("before reset: %+v", h)
	}
	if !r.ResetBreaker("a") {
		t.Fatal("ResetBreaker(a) = false for a configured channel")
	}
	h := healthOf(t, r, "a")
	if h.State != StateClosed || h.Trips != 0 || h.ConsecutiveFailures != 0 || h.WindowRequests != 0 || !h.CoolingUntil.IsZero() {
		t.Fatalf("after reset: %+v", h)
	}
	d, err := r.Plan(Input{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{d.Order[0].Provider, d.Order[1].Provider}; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("order after reset = %v, want a first again", got)
	}
	if r.ResetBreaker("nope") {
		t.Error("ResetBreaker of an unknown channel = true")
	}
}

func TestBreaker_OnOpen(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	r := twoChannelRouter(t, clk)
	type opened struct {
		channel string
		at      time.Time
	}
	var got []opened
	r.OnBreakerOpen(func(channel string, at time.Time) { got = append(got, opened{channel, at}) })
	for range 19 {
		r.Observe("a", fail)
	}
	if len(got) != 0 {
		t.Fatalf("told of an opening before the trip: %v", got)
	}
	r.Observe("a", fail)
	if len(got) != 1 || got[0].channel != "a" || !got[0].at.Equal(clk.t) {
		t.Fatalf("openings = %v, want a at %v", got, clk.t)
	}
	// Failures while open do not open it again.
	r.Observe("a", fail)
	if len(got) != 1 {
		t.Errorf("openings = %v, want one", got)
	}
}
