package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/outage"
	"switchyard/internal/ratelimit"
)

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// flaky is a backend the test takes down (refusing: calls fail at once;
// blackholed: calls hang until their deadline) and brings back. It counts
// the calls that reach it, besides the probes.
type flaky struct {
	mu       sync.Mutex
	state    string // "", "refuse" or "blackhole"
	calls    int
	abandons int
	lim      ratelimit.Limiter
	spend    ratelimit.Spend
}

func newFlaky() *flaky {
	return &flaky{lim: ratelimit.NewMemory(), spend: ratelimit.NewMemorySpend()}
}

func (f *flaky) set(state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = state
}

func (f *flaky) call(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	state := f.state
	f.mu.Unlock()
	switch state {
	case "refuse":
		return errDown
	case "blackhole":
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// ping is the probe: it does not count as a call.
func (f *flaky) ping(ctx context.Context) error {
	f.mu.Lock()
	state := f.state
	f.mu.Unlock()
	if state != "" {
		return errDown
	}
	return nil
}

func (f *flaky) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *flaky) Acquire(ctx context.Context, now time.Time, reqs []ratelimit.Request) (ratelimit.Decision, ratelimit.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, nil, err
	}
	if err := f.call(ctx); err != nil {
		return ratelimit.Decision{}, nil, err
	}
	d, res, err := f.lim.Acquire(ctx, now, reqs)
	if err != nil {
		return d, res, err
	}
	return d, flakyReservation{f, res}, nil
}

type flakyReservation struct {
	f   *flaky
	res ratelimit.Reservation
}

func (r flakyReservation) Done(ctx context.Context, actual int64) error {
	if err := r.f.call(ctx); err != nil {
		return err
	}
	return r.res.Done(ctx, actual)
}

func (r flakyReservation) Abandon() {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	r.f.abandons++
}

func (f *flaky) Check(ctx context.Context, now time.Time, b []ratelimit.Budget) (bool, *ratelimit.Budget, error) {
	if err := f.call(ctx); err != nil {
		return false, nil, err
	}
	return f.spend.Check(ctx, now, b)
}

func (f *flaky) Add(ctx context.Context, now time.Time, scopes []string, usd float64) error {
	if err := f.call(ctx); err != nil {
		return err
	}
	return f.spend.Add(ctx, now, scopes, usd)
}

func (f *flaky) Seed(ctx context.Context, now time.Time, b ratelimit.Budget, usd float64) error {
	if err := f.call(ctx); err != nil {
		return err
	}
	return f.spend.Seed(ctx, now, b, usd)
}

func resilientOptions(f *flaky, failOpen bool, buf *bytes.Buffer) ratelimit.ResilientOptions {
	return ratelimit.ResilientOptions{FailOpen: failOpen, Timeout: 50 * time.Millisecond, Probe: f.ping,
		Logger: slog.New(slog.NewTextHandler(buf, nil))}
}

// logged returns the messages logged so far, one "LEVEL message" each.
func logged(buf *bytes.Buffer) []string {
	var out []string
	for line := range strings.Lines(buf.String()) {
		var level, msg string
		for _, f := range []string{"level=", "msg="} {
			i := strings.Index(line, f)
			if i < 0 {
				continue
			}
			v := line[i+len(f):]
			if strings.HasPrefix(v, `"`) {
				v = v[1 : strings.Index(v[1:], `"`)+1]
			} else if j := strings.IndexByte(v, ' '); j >= 0 {
				v = v[:j]
			}
			if f == "level=" {
				level = v
			} else {
				msg = v
			}
		}
		out = append(out, level+" "+msg)
	}
	return out
}

// TestResilient: with the backend refusing or blackholed, calls are
// answered by the fail mode; only the first outage.DefaultTrip of them
// reach the backend (and, blackholed, wait their deadline), the rest are
// answered without calling it. A reservation settled meanwhile is
// abandoned to the backend's expiry. The background probe finds the backend
// back and its limits apply again; each incident is logged once each way.
func TestResilient(t *testing.T) {
	req := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 2}}}
	for _, c := range []struct {
		failOpen bool
		state    string
		want     ratelimit.Decision
	}{
		{true, "refuse", ratelimit.Decision{Allowed: true}},
		{false, "refuse", ratelimit.Decision{Limit: ratelimit.LimitUnavailable, RetryAfter: ratelimit.ProbeInterval}},
		{true, "blackhole", ratelimit.Decision{Allowed: true}},
		{false, "blackhole", ratelimit.Decision{Limit: ratelimit.LimitUnavailable, RetryAfter: ratelimit.ProbeInterval}},
	} {
		t.Run(fmt.Sprint(c.state, "_fail_open_", c.failOpen), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				f := newFlaky()
				var buf bytes.Buffer
				l := ratelimit.NewResilient(f, resilientOptions(f, c.failOpen, &buf))
				defer l.Close()

				d, held, err := l.Acquire(ctx, at(0), req)
				if err != nil || !d.Allowed {
					t.Fatalf("healthy: %+v, %v", d, err)
				}

				f.set(c.state)
				waited := 0
				for i := range 10 {
					start := time.Now()
					d, res, err := l.Acquire(ctx, at(0.1*float64(i+1)), req)
					if err != nil {
						t.Fatal(err)
					}
					if time.Since(start) > 0 {
						waited++
					}
					if diff := cmp.Diff(c.want, d); diff != "" {
						t.Errorf("call %d while down (-want +got):\n%s", i, diff)
					}
					if err := res.Done(ctx, 1); err != nil {
						t.Errorf("Done of a reservation made while down: %v", err)
					}
				}
				if n := f.callCount(); n != 1+outage.DefaultTrip {
					t.Errorf("%d backend calls, want %d", n, 1+outage.DefaultTrip)
				}
				if want := map[string]int{"refuse": 0, "blackhole": outage.DefaultTrip}[c.state]; waited != want {
					t.Errorf("%d calls waited a deadline, want %d", waited, want)
				}
				if st := l.Stats(); !st.Open || st.Skipped != 10-outage.DefaultTrip {
					t.Errorf("stats: %+v", st)
				}
				if err := held.Done(ctx, 1); err != nil {
					t.Errorf("Done while the backend is down is part of the incident, got %v", err)
				}
				if f.abandons != 1 {
					t.Errorf("%d reservations abandoned, want 1", f.abandons)
				}
				wantLog := []string{"ERROR rate limiter unavailable; failing " + map[bool]string{true: "open", false: "closed"}[c.failOpen] + " until it answers again"}
				if diff := cmp.Diff(wantLog, logged(&buf)); diff != "" {
					t.Errorf("log during the incident (-want +got):\n%s", diff)
				}

				f.set("")
				time.Sleep(ratelimit.ProbeInterval)
				synctest.Wait()
				if d, _, err := l.Acquire(ctx, at(3), req); err != nil || !d.Allowed || d.RequestsLimit != 2 || d.RequestsRemaining != 0 {
					t.Fatalf("after recovery: %+v, %v", d, err)
				}
				if d, _, _ := l.Acquire(ctx, at(3), req); d.Allowed || d.Limit != ratelimit.LimitRequests {
					t.Errorf("the backend's limit is not applied after recovery: %+v", d)
				}
				wantLog = append(wantLog, "INFO rate limiter available again")
				if diff := cmp.Diff(wantLog, logged(&buf)); diff != "" {
					t.Errorf("log after recovery (-want +got):\n%s", diff)
				}

				// A second incident is logged again.
				f.set(c.state)
				for range outage.DefaultTrip {
					l.Acquire(ctx, at(10), req)
				}
				if got := logged(&buf); len(got) != 3 || !strings.HasPrefix(got[2], "ERROR") {
					t.Errorf("second incident not logged: %q", got)
				}
			})
		})
	}
}

// Errors that are the caller's own pass through: they say nothing about
// the backend.
func TestResilientPassesCallerErrors(t *testing.T) {
	f := newFlaky()
	var buf bytes.Buffer
	l := ratelimit.NewResilient(f, resilientOptions(f, true, &buf))
	defer l.Close()
	if _, _, err := l.Acquire(context.Background(), at(0), []ratelimit.Request{{Scope: ""}}); !errors.Is(err, ratelimit.ErrInvalid) {
		t.Errorf("invalid request: %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2 * outage.DefaultTrip {
		if _, _, err := l.Acquire(ctx, at(0), []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 1}}}); !errors.Is(err, context.Canceled) {
			t.Errorf("canceled: %v, want context.Canceled", err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("caller errors logged as an incident:\n%s", buf.String())
	}
	if d, _, err := l.Acquire(context.Background(), at(0), []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 1}}}); err != nil || !d.Allowed {
		t.Errorf("after caller errors: %+v, %v", d, err)
	}
}

func TestResilientSpend(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 14, 23, 59, 0, 0, time.UTC)
	budget := ratelimit.Budget{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}
	month := ratelimit.Budget{Scope: "key:k", LimitUSD: 1.5, Period: ratelimit.PeriodMonth}

	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprint("fail_open_", failOpen), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFlaky()
				var buf bytes.Buffer
				s := ratelimit.NewResilientSpend(f, resilientOptions(f, failOpen, &buf))
				defer s.Close()

				f.set("blackhole")
				ok, exhausted, err := s.Check(ctx, now, []ratelimit.Budget{budget})
				switch {
				case failOpen && (!ok || exhausted != nil || err != nil):
					t.Errorf("fail open Check: %v, %v, %v", ok, exhausted, err)
				case !failOpen && (ok || !errors.Is(err, ratelimit.ErrUnavailable)):
					t.Errorf("fail closed Check: %v, %v, want ErrUnavailable", ok, err)
				}
				// Kept while down, on both sides of midnight.
				if err := s.Seed(ctx, now, month, 0.5); err != nil {
					t.Fatal(err)
				}
				for _, sec := range []time.Duration{10, 59, 61} {
					if err := s.Add(ctx, now.Add(sec*time.Second), []string{"key:k", "tenant:t"}, 0.4); err != nil {
						t.Fatal(err)
					}
				}
				if !s.Stats().Open {
					t.Fatalf("breaker not open after %d failures: %+v", 5, s.Stats())
				}

				// The probe replays what was kept, the seed first.
				f.set("")
				time.Sleep(ratelimit.ProbeInterval)
				synctest.Wait()
				after := now.Add(2 * time.Minute)
				for _, c := range []struct {
					b    ratelimit.Budget
					want bool
				}{
					{ratelimit.Budget{Scope: "key:k", LimitUSD: 0.4, Period: ratelimit.PeriodDay}, false},
					{ratelimit.Budget{Scope: "key:k", LimitUSD: 0.400001, Period: ratelimit.PeriodDay}, true},
					{ratelimit.Budget{Scope: "key:k", LimitUSD: 1.7, Period: ratelimit.PeriodMonth}, false},
					{ratelimit.Budget{Scope: "key:k", LimitUSD: 1.700001, Period: ratelimit.PeriodMonth}, true},
					{ratelimit.Budget{Scope: "tenant:t", LimitUSD: 1.2, Period: ratelimit.PeriodLifetime}, false},
				} {
					if ok, _, err := s.Check(ctx, after, []ratelimit.Budget{c.b}); err != nil || ok != c.want {
						t.Errorf("Check(%+v) after replay: %v, %v; want %v", c.b, ok, err, c.want)
					}
				}
				want := []string{
					"ERROR budget counters unavailable; failing " + map[bool]string{true: "open", false: "closed"}[failOpen] + " until it answers again",
					"INFO budget counters: replayed spend kept during an outage",
					"INFO budget counters available again",
				}
				if diff := cmp.Diff(want, logged(&buf)); diff != "" {
					t.Errorf("log (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestResilientSpendShortFailure: spend kept by a failure too short to open
// the breaker is replayed by the next call that succeeds.
func TestResilientSpendShortFailure(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	f := newFlaky()
	var buf bytes.Buffer
	s := ratelimit.NewResilientSpend(f, resilientOptions(f, true, &buf))
	defer s.Close()
	f.set("refuse")
	if err := s.Add(ctx, now, []string{"key:k"}, 2); err != nil {
		t.Fatal(err)
	}
	f.set("")
	b := ratelimit.Budget{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}
	if ok, _, err := s.Check(ctx, now, []ratelimit.Budget{b}); err != nil || !ok {
		t.Fatalf("first check after the failure: %v, %v", ok, err)
	}
	if ok, _, err := s.Check(ctx, now, []ratelimit.Budget{b}); err != nil || ok {
		t.Errorf("spend kept by a short failure was not replayed: %v, %v", ok, err)
	}
}

// Spend kept during an outage is bounded; what does not fit is reported at
// recovery, never dropped silently.
func TestResilientSpendBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
		f := newFlaky()
		var buf bytes.Buffer
		s := ratelimit.NewResilientSpend(f, resilientOptions(f, true, &buf))
		defer s.Close()
		f.set("refuse")
		for i := range 5000 {
			if err := s.Add(ctx, now, []string{fmt.Sprint("key:", i)}, 0.001); err != nil {
				t.Fatal(err)
			}
		}
		f.set("")
		time.Sleep(ratelimit.ProbeInterval)
		synctest.Wait()
		got := logged(&buf)
		if len(got) != 4 || got[2] != "ERROR budget counters: spend made during an outage was not counted: too many scopes to keep" {
			t.Errorf("log: %q", got)
		}
		if !strings.Contains(buf.String(), "usd=0.904") {
			t.Errorf("lost amount not logged (904 scopes of 0.001):\n%s", buf.String())
		}
	})
}
