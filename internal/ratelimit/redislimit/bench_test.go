package redislimit

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/internal/ratelimit"
)

// roundTrips counts what a client sends: one round trip per command or
// pipeline, and the commands in them.
type roundTrips struct{ trips, cmds atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (h *roundTrips) reset() (trips, cmds int64) { return h.trips.Swap(0), h.cmds.Swap(0) }

// gatewayRequest is what the gateway asks of the limits and budgets for
// one request of a key with RPM and TPM limits and a budget, under a
// tenant with the same: a budget check with the acquire, and the spend add
// with the settle (or, separately, each its own call).
type gatewayRequest struct {
	l    *Limiter
	s    *Spend
	reqs []ratelimit.Request
	bs   []ratelimit.Budget
}

func newGatewayRequest(t testing.TB, url string) (*gatewayRequest, *roundTrips) {
	prefix := testPrefix(t, url)
	g := &gatewayRequest{l: newLimiter(t, url, Options{Prefix: prefix}), s: newSpend(t, url, Options{Prefix: prefix})}
	h := &roundTrips{}
	g.l.c.AddHook(h)
	g.s.c.AddHook(h)
	lim := ratelimit.Limits{RPM: 1 << 30, TPM: 1 << 40}
	g.reqs = []ratelimit.Request{
		{Scope: "key:bench", Limits: lim, EstTokens: 100},
		{Scope: "tenant:bench", Limits: lim, EstTokens: 100},
	}
	g.bs = []ratelimit.Budget{
		{Scope: "key:bench", LimitUSD: 1e6, Period: ratelimit.PeriodMonth},
		{Scope: "tenant:bench", LimitUSD: 1e6, Period: ratelimit.PeriodMonth},
	}
	return g, h
}

// checkAcquire is the admission half of a request.
func (g *gatewayRequest) checkAcquire(tb testing.TB, now time.Time) ratelimit.SpendReservation {
	d, exhausted, res, err := g.l.AcquireBudgets(context.Background(), now, g.reqs, g.bs)
	if err != nil || !d.Allowed || exhausted != nil {
		tb.Fatalf("AcquireBudgets = %+v, %+v, %v", d, exhausted, err)
	}
	return res.(ratelimit.SpendReservation)
}

// settle is the other half, once the request has finished.
func (g *gatewayRequest) settle(tb testing.TB, now time.Time, res ratelimit.SpendReservation) {
	if err := res.DoneSpend(context.Background(), 120, now, []string{"key:bench", "tenant:bench"}, 0.00042); err != nil {
		tb.Fatal(err)
	}
}

// separately is a request made as a Limiter and a Spend that know nothing
// of each other make it: four calls.
func (g *gatewayRequest) separately(tb testing.TB, now time.Time) {
	ctx := context.Background()
	ok, _, err := g.s.Check(ctx, now, g.bs)
	if err != nil || !ok {
		tb.Fatalf("Check = %v, %v", ok, err)
	}
	d, res, err := g.l.Acquire(ctx, now, g.reqs)
	if err != nil || !d.Allowed {
		tb.Fatalf("Acquire = %+v, %v", d, err)
	}
	if err := res.Done(ctx, 120); err != nil {
		tb.Fatal(err)
	}
	if err := g.s.Add(ctx, now, []string{"key:bench", "tenant:bench"}, 0.00042); err != nil {
		tb.Fatal(err)
	}
}

// resilient is the request as the gateway makes it in production: through
// ratelimit.ResilientBudgets and ResilientSpend, with their deadlines and
// breakers.
func (g *gatewayRequest) resilient(tb testing.TB) func(tb testing.TB, now time.Time) {
	spend := ratelimit.NewResilientSpend(g.s, ratelimit.ResilientOptions{Timeout: suiteTimeout, Probe: g.s.Ping})
	lim := ratelimit.NewResilientBudgets(g.l, spend, ratelimit.ResilientOptions{Timeout: suiteTimeout, Probe: g.l.Ping})
	tb.Cleanup(func() { lim.Close(); spend.Close() })
	return func(tb testing.TB, now time.Time) {
		ctx := context.Background()
		d, exhausted, res, err := lim.AcquireBudgets(ctx, now, g.reqs, g.bs)
		if err != nil || !d.Allowed || exhausted != nil {
			tb.Fatalf("AcquireBudgets = %+v, %+v, %v", d, exhausted, err)
		}
		if err := res.(ratelimit.SpendReservation).DoneSpend(ctx, 120, now, []string{"key:bench", "tenant:bench"}, 0.00042); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestRoundTrips counts what one gateway request costs in Redis once the
// scripts are loaded: one round trip to check the budgets and acquire
// every scope's limits, and one to settle them and add the spend to every
// scope and period, each a single command.
func TestRoundTrips(t *testing.T) {
	g, h := newGatewayRequest(t, redisURL(t))
	g.settle(t, base, g.checkAcquire(t, base)) // loads the scripts
	h.reset()
	now := base.Add(time.Second)
	res := g.checkAcquire(t, now)
	if trips, cmds := h.reset(); trips != 1 || cmds != 1 {
		t.Errorf("budget check and acquire: %d round trips, %d commands; want 1, 1", trips, cmds)
	}
	g.settle(t, now, res)
	if trips, cmds := h.reset(); trips != 1 || cmds != 1 {
		t.Errorf("settle and spend add: %d round trips, %d commands; want 1, 1", trips, cmds)
	}
	// Each half took effect: the spend is counted, the tokens settled.
	if ok, _, err := g.s.Check(context.Background(), now, []ratelimit.Budget{{Scope: "tenant:bench", LimitUSD: 0.00084, Period: ratelimit.PeriodDay}}); err != nil || ok {
		t.Errorf("two requests' spend of $0.00042 against a $0.00084 budget: room=%v, %v; want none", ok, err)
	}
	d, res2, err := g.l.Acquire(context.Background(), now, []ratelimit.Request{{Scope: "key:bench", Limits: ratelimit.Limits{TPM: 1000}}})
	if err != nil || !d.Allowed || d.TokensRemaining != 1000-2*120 {
		t.Errorf("after two requests settled at 120 tokens, a TPM of 1000 = %+v, %v; want 760 remaining", d, err)
	}
	res2.Done(context.Background(), 0)

	// The deadlines and breakers around the calls add none.
	request := g.resilient(t)
	h.reset()
	request(t, now.Add(time.Second))
	if trips, cmds := h.reset(); trips != 2 || cmds != 2 {
		t.Errorf("through ResilientBudgets: %d round trips, %d commands; want 2, 2", trips, cmds)
	}
}

// BenchmarkGatewayRequest measures the Redis work of one gateway request
// (see gatewayRequest) from 16 goroutines, and counts its round trips and
// commands: the limits alone (acquire and settle), the budgets alone
// (check and add), both as the gateway asks for them (two calls), the same
// through ratelimit.ResilientBudgets, and both in four separate calls.
func BenchmarkGatewayRequest(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		run  func(b *testing.B, g *gatewayRequest, now time.Time)
	}{
		{"limits", func(b *testing.B, g *gatewayRequest, now time.Time) {
			d, res, err := g.l.Acquire(ctx, now, g.reqs)
			if err != nil || !d.Allowed {
				b.Fatalf("Acquire = %+v, %v", d, err)
			}
			if err := res.Done(ctx, 120); err != nil {
				b.Fatal(err)
			}
		}},
		{"budgets", func(b *testing.B, g *gatewayRequest, now time.Time) {
			if ok, _, err := g.s.Check(ctx, now, g.bs); err != nil || !ok {
				b.Fatalf("Check = %v, %v", ok, err)
			}
			if err := g.s.Add(ctx, now, []string{"key:bench", "tenant:bench"}, 0.00042); err != nil {
				b.Fatal(err)
			}
		}},
		{"both", func(b *testing.B, g *gatewayRequest, now time.Time) {
			g.settle(b, now, g.checkAcquire(b, now))
		}},
		{"both-separately", func(b *testing.B, g *gatewayRequest, now time.Time) {
			g.separately(b, now)
		}},
		{"both-resilient", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, h := newGatewayRequest(b, redisURL(b))
			g.settle(b, base, g.checkAcquire(b, base)) // loads the scripts
			run := bc.run
			if run == nil {
				request := g.resilient(b)
				run = func(b *testing.B, _ *gatewayRequest, now time.Time) { request(b, now) }
			}
			h.reset()
			var clock atomic.Int64
			cpu0 := processCPU(b)
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					run(b, g, base.Add(time.Duration(clock.Add(1))*time.Microsecond))
				}
			})
			cpu := processCPU(b) - cpu0
			trips, cmds := h.reset()
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/req")
			b.ReportMetric(float64(trips)/float64(b.N), "round-trips/req")
			b.ReportMetric(float64(cmds)/float64(b.N), "commands/req")
		})
	}
}

// processCPU returns the CPU time (user and system) the process has used:
// the client's share of the work, which is the gateway's.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
