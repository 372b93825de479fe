package app

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/outage"
)

// TestBlackholedDependenciesUnderLoad blackholes Redis and Postgres at
// once under a steady load of four clients (rate limits and budgets fail
// open, cached keys): every request is still answered 200, a stored
// Responses call gets its 503 with Retry-After, each breaker let at most a
// few calls wait out their deadline, and after healing the gateway serves
// with limits again by itself. The latencies seen are logged (-v), never
// asserted.
func TestBlackholedDependenciesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping a load test in -short mode")
	}
	redisURL, redisProxy := proxiedRedisURL(t)
	dsn, pgProxy := proxiedPostgresDSN(t)
	g := startGateway(t, strings.NewReplacer("PGDSN", dsn, "REDISURL", redisURL).Replace(`
listen: 127.0.0.1:0
store: {driver: postgres, dsn: "PGDSN", outage: cached}
limits: {backend: redis, redis_url: "REDISURL", rate_limits_fail: open, budgets_fail: open}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: openai-sim, price: {input_per_mtok: 1, output_per_mtok: 2}}
`))
	iss, err := g.inst.admin.IssueKey(context.Background(), admin.KeySpec{Tenant: "acme", Name: "load",
		Limits: admin.Limits{RPM: 1 << 20, BudgetUSD: 1e6, BudgetPeriod: "day"}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) (*http.Response, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+iss.Secret)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, time.Since(start)
	}
	// load sends n chat requests from four clients, each pausing 10ms
	// between requests, and returns the statuses seen.
	load := func(phase string, n int) map[int]int {
		var (
			mu    sync.Mutex
			lat   []time.Duration
			codes = map[int]int{}
			wg    sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				for range n / 4 {
					resp, d := post("/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
					mu.Lock()
					lat, codes[resp.StatusCode] = append(lat, d), codes[resp.StatusCode]+1
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(100 * time.Microsecond) }
		t.Logf("%s: %d requests, statuses %v, p50 %v, p99 %v, max %v", phase, len(lat), codes, q(0.5), q(0.99), q(1))
		return codes
	}

	if codes := load("healthy", 200); codes[200] != 200 {
		t.Fatalf("healthy: statuses %v", codes)
	}
	redisProxy.setBlackhole(true)
	pgProxy.setBlackhole(true)
	time.Sleep(1100 * time.Millisecond) // the key's one-second cache entry expires
	if codes := load("blackholed", 400); codes[200] != 400 {
		t.Errorf("blackholed: statuses %v, want 200 for all (cached key, limits and budgets failing open)", codes)
	}
	resp, _ := post("/v1/responses", `{"model":"gpt-4o-mini","input":"remember this","store":true}`)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("stored response while blackholed: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, what := range []string{"store", "rate limiter", "budget counters"} {
		st := g.inst.breakers[what]()
		t.Logf("%s breaker while blackholed: %+v", what, st)
		// Four clients: up to four calls in flight when a breaker opens,
		// besides a request's settlement running after its answer.
		if !st.Open || st.TimedOut > outage.DefaultTrip+5 {
			t.Errorf("%s breaker: %+v, want open after at most %d calls waited their deadline", what, st, outage.DefaultTrip+5)
		}
	}
	redisProxy.setBlackhole(false)
	pgProxy.setBlackhole(false)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		open := false
		for _, stats := range g.inst.breakers {
			open = open || stats().Open
		}
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breakers still open after healing: %v", g.logs.String())
		}
	}
	if codes := load("healed", 200); codes[200] != 200 {
		t.Errorf("healed: statuses %v", codes)
	}
}
