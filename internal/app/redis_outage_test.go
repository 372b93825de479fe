package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/outage"
	"switchyard/internal/ratelimit"
)

// proxiedRedisURL returns SWITCHYARD_TEST_REDIS_URL rewritten to reach
// Redis through a faultProxy. The tests share that Redis with other packages
// run in parallel; the gateway has no key prefix setting, so isolation
// comes from the scopes: every key and tenant id is freshly random.
func proxiedRedisURL(t *testing.T) (string, *faultProxy) {
	t.Helper()
	raw := os.Getenv("SWITCHYARD_TEST_REDIS_URL")
	if raw == "" {
		t.Skip("skipping: SWITCHYARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Skipf("SWITCHYARD_TEST_REDIS_URL must be a redis:// URL with a host for this test")
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "6379")
	}
	p := startFaultProxy(t, target)
	u.Host = p.Addr()
	return u.String(), p
}

// At $0.1 a token every answered request costs well over a dollar, so one
// request spends the "spent" key's budget.
const redisOutageConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
limits: {backend: redis, redis_url: "REDISURL", rate_limits_fail: RATEFAIL, budgets_fail: BUDGETFAIL}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: openai-sim, price: {input_per_mtok: 100000, output_per_mtok: 100000}}
`

// outageReply is what a test needs to know of one answer.
type outageReply struct {
	status     int
	code       string // the OpenAI error's code, if any
	retryAfter string
	body       string
}

func (r outageReply) String() string {
	return fmt.Sprintf("%d (retry-after %q) %s", r.status, r.retryAfter, r.body)
}

// TestRedisOutage cuts the link to Redis under a running gateway, or
// blackholes it (connections accepted and held, nothing answered), and
// restores it. Three keys: "limited" (RPM 3, used up before the outage),
// "spent" (a budget used up before the outage) and "funded" (a budget with
// room). During the outage rate limits and budgets fail open or closed as
// configured (closed is a 503 with Retry-After), across more than one
// probe; each of the two backends logs the outage once and the recovery
// once; after the link returns the gateway enforces both again by itself.
// Blackholed, each backend lets at most a few calls wait out their
// deadline (limits.timeout) before its breaker opens; from then on no
// request waits for Redis.
func TestRedisOutage(t *testing.T) {
	t.Parallel() // waits on its own gateways, in parallel with the other waiting tests
	const rpm = 3
	for _, tc := range []struct {
		name                  string
		fault                 string // cut or blackhole
		rateFail, budgetsFail string
		during                map[string]int // status per key while Redis is cut
	}{
		{"cut_rate_limits_open_budgets_closed", "cut", "open", "closed", map[string]int{"limited": 200, "spent": 503, "funded": 503}},
		{"cut_rate_limits_closed_budgets_open", "cut", "closed", "open", map[string]int{"limited": 503, "spent": 200, "funded": 200}},
		{"blackhole_rate_limits_open_budgets_closed", "blackhole", "open", "closed", map[string]int{"limited": 200, "spent": 503, "funded": 503}},
		{"blackhole_rate_limits_closed_budgets_open", "blackhole", "closed", "open", map[string]int{"limited": 503, "spent": 200, "funded": 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has its own proxy, gateway and scope, and spends
			// its time waiting out deadlines and probes.
			t.Parallel()
			redisURL, proxy := proxiedRedisURL(t)
			fail := func(on bool) {
				if tc.fault == "cut" {
					proxy.setCut(on)
				} else {
					proxy.setBlackhole(on)
				}
			}
			g := startGateway(t, strings.NewReplacer("REDISURL", redisURL, "RATEFAIL", tc.rateFail,
				"BUDGETFAIL", tc.budgetsFail).Replace(redisOutageConfig))
			ctx := context.Background()
			keys := map[string]string{}
			for name, l := range map[string]admin.Limits{
				"limited": {RPM: rpm},
				"spent":   {BudgetUSD: 0.5, BudgetPeriod: "day"},
				"funded":  {BudgetUSD: 1e6, BudgetPeriod: "day"},
			} {
				iss, err := g.inst.admin.IssueKey(ctx, admin.KeySpec{Tenant: "acme", Name: name, Limits: l})
				if err != nil {
					t.Fatal(err)
				}
				keys[name] = iss.Secret
			}
			chat := func(key string) outageReply {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Authorization", "Bearer "+keys[key])
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				r := outageReply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
				var e struct {
					Error struct {
						Code *string `json:"code"`
					} `json:"error"`
				}
				if json.Unmarshal(b, &e) == nil && e.Error.Code != nil {
					r.code = *e.Error.Code
				}
				return r
			}
			// settled reports whether every key gets the answer of a
			// working Redis after the requests made before the outage.
			settled := func() (bool, map[string]outageReply) {
				got := map[string]outageReply{}
				for _, k := range []string{"limited", "spent", "funded"} {
					got[k] = chat(k)
				}
				return got["limited"].status == 429 && got["limited"].code == "rate_limit_exceeded" &&
					got["spent"].status == 429 && got["spent"].code == "budget_exceeded" &&
					got["funded"].status == 200, got
			}

			// Before the outage: the RPM limit and the budget are enforced.
			for i := range rpm {
				if r := chat("limited"); r.status != 200 {
					t.Fatalf("limited, request %d of %d: %v", i+1, rpm, r)
				}
			}
			if r := chat("spent"); r.status != 200 {
				t.Fatalf("spent, first request: %v", r)
			}
			// The spend is added once the answer is out: the budget is
			// refused from the next request on, or one later.
			deadline := time.Now().Add(10 * time.Second)
			for {
				ok, got := settled()
				if ok {
					break
				}
				if got["limited"].status != 429 || got["funded"].status != 200 || time.Now().After(deadline) {
					t.Fatalf("before the outage: %v", got)
				}
				time.Sleep(50 * time.Millisecond)
			}

			fail(true)
			unavailable := map[string]string{
				"rate limiter":    "rate limiter unavailable; failing " + tc.rateFail + " until it answers again",
				"budget counters": "budget counters unavailable; failing " + tc.budgetsFail + " until it answers again",
			}
			available := map[string]string{
				"rate limiter":    "rate limiter available again",
				"budget counters": "budget counters available again",
			}
			// Two rounds a probe interval apart, so that calls answered
			// by the fail mode and at least one failed probe each are
			// seen: neither logs again.
			for round := range 2 {
				if round > 0 {
					time.Sleep(ratelimit.ProbeInterval + 200*time.Millisecond)
				}
				for i := range 2 * rpm {
					for _, k := range []string{"limited", "spent", "funded"} {
						r := chat(k)
						if r.status != tc.during[k] {
							t.Fatalf("%s, round %d, request %d of the outage: %v, want %d", k, round, i, r, tc.during[k])
						}
						if r.status == 503 && (r.retryAfter == "" || !strings.Contains(r.body, `"error"`)) {
							t.Errorf("%s: 503 without Retry-After or not an OpenAI error: %q %s", k, r.retryAfter, r.body)
						}
					}
				}
			}
			logs := g.logs.String()
			for what, line := range unavailable {
				if n := strings.Count(logs, line); n != 1 {
					t.Errorf("during the outage: %d log lines with %q, want 1", n, line)
				}
				if n := strings.Count(logs, available[what]); n != 0 {
					t.Errorf("during the outage: %d log lines with %q, want 0", n, available[what])
				}
			}

			for _, what := range []string{"rate limiter", "budget counters"} {
				st := g.inst.breakers[what]()
				if !st.Open || st.Skipped == 0 {
					t.Errorf("%s breaker during the outage: %+v, want open and answering without calling", what, st)
				}
				// One request at a time, but a request's settlement or
				// spend runs after its answer, so two calls may be in
				// flight when the breaker opens.
				if st.TimedOut > outage.DefaultTrip+1 {
					t.Errorf("%s: %d calls waited out their deadline during the outage, want at most %d", what, st.TimedOut, outage.DefaultTrip+1)
				}
				if tc.fault == "blackhole" && st.TimedOut == 0 {
					t.Errorf("%s: no call waited out its deadline: the blackhole refused instead of swallowing (%+v)", what, st)
				}
			}
			fail(false)
			// The gateway finds out by itself: it probes once a
			// ProbeInterval. The requests of before the outage are still
			// in the RPM window and the spent budget is still spent.
			deadline = time.Now().Add(10 * time.Second)
			for {
				ok, got := settled()
				logs = g.logs.String()
				if ok && strings.Contains(logs, available["rate limiter"]) && strings.Contains(logs, available["budget counters"]) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the gateway did not recover after Redis returned: %v\nlogs:\n%s", got, logs)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for what, line := range unavailable {
				for _, l := range []string{line, available[what]} {
					if n := strings.Count(logs, l); n != 1 {
						t.Errorf("after the outage: %d log lines with %q, want 1", n, l)
					}
				}
			}
			if t.Failed() {
				t.Logf("logs:\n%s", logs)
			}
		})
	}
}
