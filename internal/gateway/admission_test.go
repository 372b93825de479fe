package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backend is how a test's gateway meets its limits and budgets: a Limiter
// and a Spend called one after the other, or a ratelimit.BudgetLimiter
// whose calls check the budgets and add the spend too. The gateway's
// answers must not depend on which.
type backend struct {
	name     string
	combined bool
}

// eachBackend runs test with each backend.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range []backend{{"separate", false}, {"combined", true}} {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

func limitedGateway(t *testing.T, clk *clock, seed func(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error)) (*Gateway, *memLedger, *fakeProvider) {
	return backend{}.gateway(t, clk, seed)
}

func (b backend) gateway(t *testing.T, clk *clock, seed func(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error)) (*Gateway, *memLedger, *fakeProvider) {
	t.Helper()
	var lim ratelimit.Limiter = ratelimit.NewMemory()
	spend := ratelimit.NewMemorySpend()
	if b.combined {
		lim = &budgetLimiter{lim: lim, spend: spend}
	}
	p := &fakeProvider{name: "a"}
	reg := provider.NewRegistry()
	_ = reg.Add(p)
	cat, _ := route.NewCatalog([]route.Model{{Name: "m", Offerings: []route.Offering{{Provider: "a", UpstreamModel: "up",
		Price: route.Price{InputPerMTok: 100000, OutputPerMTok: 100000}}}}}) // $0.10 a token: budgets run out fast
	led := &memLedger{}
	g := New(Options{Runtime: Runtime{Router: route.NewRouter(cat, clk.now), Providers: reg}, Ledger: led,
		Cost: func(u llm.Usage, p route.Price) float64 {
			return (float64(u.InputTokens)*p.InputPerMTok + float64(u.OutputTokens)*p.OutputPerMTok) / 1e6
		},
		Limiter: lim, Spend: spend, SpendSince: seed, Now: clk.now})
	return g, led, p
}

func TestAdmit_RPM(t *testing.T) { eachBackend(t, testAdmitRPM) }

func testAdmitRPM(t *testing.T, b backend) {
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	g, led, p := b.gateway(t, clk, nil)
	call := &Call{Model: "m", KeyID: "k1", TenantID: "t1", KeyQuota: Quota{RPM: 3}}
	for i := range 3 {
		if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, res, err := g.Chat(context.Background(), call, chatReq())
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrRateLimited || StatusOf(err) != 429 || ge.RetryAfter <= 0 {
		t.Fatalf("4th request: %v", err)
	}
	if res.Limits == nil || res.Limits.RequestsLimit != 3 || res.Limits.RequestsRemaining != 0 {
		t.Errorf("limit headers: %+v", res.Limits)
	}
	if p.calls != 3 {
		t.Errorf("upstream calls %d: a refused request must not reach the channel", p.calls)
	}
	if n := len(led.recs); n != 4 || led.recs[3].Status != 429 {
		t.Errorf("ledger: %d rows, last %+v", n, led.recs[n-1])
	}
	// The window slides: a minute later the key may call again.
	clk.add(61 * time.Second)
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Errorf("after the window: %v", err)
	}
	// Another key of the same tenant is not limited by this key's RPM.
	if _, _, err := g.Chat(context.Background(), &Call{Model: "m", KeyID: "k2", TenantID: "t1"}, chatReq()); err != nil {
		t.Errorf("other key: %v", err)
	}
}

func TestAdmit_TenantRPMSharedByKeys(t *testing.T) { eachBackend(t, testAdmitTenantRPMSharedByKeys) }

func testAdmitTenantRPMSharedByKeys(t *testing.T, b backend) {
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	g, _, _ := b.gateway(t, clk, nil)
	ok := 0
	for i := range 6 {
		call := &Call{Model: "m", KeyID: []string{"k1", "k2"}[i%2], TenantID: "t1", TenantQuota: Quota{RPM: 4}}
		if _, _, err := g.Chat(context.Background(), call, chatReq()); err == nil {
			ok++
		}
	}
	if ok != 4 {
		t.Errorf("%d admitted, want the tenant's 4", ok)
	}
}

func TestAdmit_ConcurrentStreams(t *testing.T) { eachBackend(t, testAdmitConcurrentStreams) }

func testAdmitConcurrentStreams(t *testing.T, b backend) {
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	g, _, _ := b.gateway(t, clk, nil)
	call := &Call{Model: "m", KeyID: "k1", TenantID: "t1", KeyQuota: Quota{MaxStreams: 1}}
	s1, _, err := g.ChatStream(context.Background(), call, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.ChatStream(context.Background(), call, chatReq()); StatusOf(err) != 429 {
		t.Errorf("second concurrent stream: %v", err)
	}
	s1.Close()
	s2, _, err := g.ChatStream(context.Background(), call, chatReq())
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s2.Close()
}

func TestAdmit_Budget(t *testing.T) { eachBackend(t, testAdmitBudget) }

func testAdmitBudget(t *testing.T, b backend) {
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	var seeds atomic.Int32
	g, _, p := b.gateway(t, clk, func(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error) {
		if seeds.Add(1) == 1 && !since.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("seeded since %v, want the month's start", since)
		}
		return 0.5, nil // already spent this month, per the ledger
	})
	// Each request costs 12 tokens × $0.10 = $1.20; the budget is $2.
	call := &Call{Model: "m", KeyID: "k1", TenantID: "t1", KeyQuota: Quota{BudgetUSD: 2, BudgetPeriod: "month"}}
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Fatal(err) // $0.50 spent: room
	}
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Fatal(err) // $1.70 spent: still room, overspends by at most this request
	}
	_, _, err := g.Chat(context.Background(), call, chatReq())
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrBudgetExceeded || StatusOf(err) != 429 {
		t.Fatalf("over budget: %v", err)
	}
	if want := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Sub(clk.now()); ge.RetryAfter != want {
		t.Errorf("retry after %v, want the month's end %v", ge.RetryAfter, want)
	}
	if p.calls != 2 || seeds.Load() != 1 {
		t.Errorf("upstream calls %d, seeds %d", p.calls, seeds.Load())
	}
	// A new month renews it.
	clk.add(8 * 24 * time.Hour)
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Errorf("next month: %v", err)
	}
}

// TestAdmit_BudgetUnderConcurrency proves a budget is overspent by at most
// the requests already running when it ran out.
func TestAdmit_BudgetUnderConcurrency(t *testing.T) { eachBackend(t, testAdmitBudgetUnderConcurrency) }

func testAdmitBudgetUnderConcurrency(t *testing.T, b backend) {
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	g, led, _ := b.gateway(t, clk, nil)
	call := &Call{Model: "m", KeyID: "k1", TenantID: "t1", TenantQuota: Quota{BudgetUSD: 10, BudgetPeriod: "day"}}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() { _, _, _ = g.Chat(context.Background(), call, chatReq()) })
	}
	wg.Wait()
	var spent float64
	for _, r := range led.recs {
		spent += r.CostUSD
	}
	// 64 goroutines may all pass the check before any finishes; what is
	// bounded is the spend past the budget by requests admitted after it
	// ran out: none.
	if spent < 10 {
		t.Errorf("spent %.2f, want the budget used up", spent)
	}
	if _, _, err := g.Chat(context.Background(), call, chatReq()); StatusOf(err) != 429 {
		t.Errorf("after the budget ran out: %v", err)
	}
}

// budgetLimiter is a ratelimit.BudgetLimiter over a Limiter and the Spend
// the gateway is given: it counts its combined calls.
type budgetLimiter struct {
	lim             ratelimit.Limiter
	spend           ratelimit.Spend
	acquires, dones atomic.Int32
}

func (b *budgetLimiter) Acquire(ctx context.Context, now time.Time, reqs []ratelimit.Request) (ratelimit.Decision, ratelimit.Reservation, error) {
	return b.lim.Acquire(ctx, now, reqs)
}

func (b *budgetLimiter) AcquireBudgets(ctx context.Context, now time.Time, reqs []ratelimit.Request, budgets []ratelimit.Budget) (ratelimit.Decision, *ratelimit.Budget, ratelimit.Reservation, error) {
	b.acquires.Add(1)
	ok, exhausted, err := b.spend.Check(ctx, now, budgets)
	if err != nil || !ok {
		return ratelimit.Decision{}, exhausted, ratelimit.NopReservation{}, err
	}
	d, res, err := b.lim.Acquire(ctx, now, reqs)
	if err != nil || !d.Allowed {
		return d, nil, res, err
	}
	return d, nil, spendReservation{res, b}, nil
}

type spendReservation struct {
	ratelimit.Reservation
	b *budgetLimiter
}

func (r spendReservation) DoneSpend(ctx context.Context, actual int64, now time.Time, scopes []string, usd float64) error {
	r.b.dones.Add(1)
	return errors.Join(r.Done(ctx, actual), r.b.spend.Add(ctx, now, scopes, usd))
}

// With a BudgetLimiter, a request with limits and a budget makes one call
// to admit it and one to settle it and add its spend.
func TestAdmit_CombinedCalls(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	g, _, _ := backend{combined: true}.gateway(t, clk, nil)
	bl := g.limiter.(*budgetLimiter)
	call := &Call{Model: "m", KeyID: "k1", TenantID: "t1", KeyQuota: Quota{RPM: 10, TPM: 1000},
		TenantQuota: Quota{BudgetUSD: 2, BudgetPeriod: "day"}}
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Fatal(err)
	}
	if a, d := bl.acquires.Load(), bl.dones.Load(); a != 1 || d != 1 {
		t.Errorf("%d combined acquires, %d combined settlements; want 1, 1", a, d)
	}
	// $1.20 spent of $2: room for one more, then none.
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Chat(context.Background(), call, chatReq()); StatusOf(err) != 429 {
		t.Errorf("over budget: %v", err)
	}
	// Limits without a budget: the spend is still added, in the settling
	// call.
	bl.acquires.Store(0)
	bl.dones.Store(0)
	limited := &Call{Model: "m", KeyID: "k2", TenantID: "t2", KeyQuota: Quota{RPM: 10}}
	if _, _, err := g.Chat(context.Background(), limited, chatReq()); err != nil {
		t.Fatal(err)
	}
	if a, d := bl.acquires.Load(), bl.dones.Load(); a != 1 || d != 1 {
		t.Errorf("without a budget: %d combined acquires, %d combined settlements; want 1, 1", a, d)
	}
	budget := []ratelimit.Budget{{Scope: ratelimit.TenantScope("t2"), LimitUSD: 1.2, Period: "day"}}
	if ok, _, err := g.spend.Check(context.Background(), clk.now(), budget); err != nil || ok {
		t.Errorf("spend of a request without a budget not counted: room=%v, %v", ok, err)
	}
}
