package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/outage"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/usage"
)

// proxiedPostgresDSN returns a DSN for a fresh Postgres schema of the
// test's own, reached through a faultProxy.
func proxiedPostgresDSN(t *testing.T) (string, *faultProxy) {
	t.Helper()
	dsn := sqlstore.TestDSN(t, sqlstore.DriverPostgres) // skips without SWITCHYARD_TEST_POSTGRES_DSN
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("SWITCHYARD_TEST_POSTGRES_DSN must be a postgres:// URL with a host for this test")
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := startFaultProxy(t, target)
	u.Host = p.Addr()
	return u.String(), p
}

const outageConfig = `
listen: 127.0.0.1:0
store: {driver: postgres, dsn: "PGDSN", outage: MODE}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: openai-sim, price: {input_per_mtok: 1, output_per_mtok: 2}}
`

// TestStoreOutage cuts the link to Postgres under a running gateway, or
// blackholes it (connections accepted and held, nothing answered), and
// restores it: in cached mode a key seen before the outage keeps being
// served and every answered request reaches the ledger once the store is
// back; in closed mode the key is refused with 503 until then. Both
// modes refuse unknown keys with 503 and a stored Responses call with 503
// and Retry-After, log the outage once when it starts and once when it
// ends, and recover without help. Blackholed, at most a few store calls
// wait out their deadline (store.timeout): after that the breaker is open
// and every request is answered without waiting for the store.
func TestStoreOutage(t *testing.T) {
	for _, tc := range []struct{ mode, fault string }{
		{"cached", "cut"}, {"closed", "cut"}, {"cached", "blackhole"}, {"closed", "blackhole"},
	} {
		mode := tc.mode
		t.Run(tc.mode+"_"+tc.fault, func(t *testing.T) {
			dsn, proxy := proxiedPostgresDSN(t)
			fail := func(on bool) {
				if tc.fault == "cut" {
					proxy.setCut(on)
				} else {
					proxy.setBlackhole(on)
				}
			}
			g := startGateway(t, strings.NewReplacer("PGDSN", dsn, "MODE", mode).Replace(outageConfig))
			ctx := context.Background()
			answered := 0
			chat := func(key string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode == 200 && key == g.key {
					answered++
				}
				return resp.StatusCode, string(b)
			}
			if status, body := chat(g.key); status != 200 {
				t.Fatalf("before the outage: %d %s", status, body)
			}
			// A second key, seen once before the outage, for the stateful call.
			other, err := g.inst.admin.IssueKey(ctx, admin.KeySpec{Tenant: "acme", Name: "stateful"})
			if err != nil {
				t.Fatal(err)
			}
			if status, body := chat(other.Secret); status != 200 {
				t.Fatalf("before the outage: %d %s", status, body)
			}

			fail(true)
			time.Sleep(1500 * time.Millisecond) // let the key's one-second cache entry expire
			const during = 20
			for i := range during {
				status, body := chat(g.key)
				want := 200
				if mode == "closed" {
					want = 503
				}
				if status != want {
					t.Fatalf("known key, request %d of the outage: %d %s, want %d", i, status, body, want)
				}
				if status == 503 && !strings.Contains(body, `"error"`) {
					t.Errorf("503 is not an OpenAI error: %s", body)
				}
			}
			if status, body := chat("sk-sy-never-seen-before"); status != 503 {
				t.Errorf("unknown key during the outage: %d %s, want 503", status, body)
			}
			// A stateful call needs the store: it fails, in the OpenAI shape.
			req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/responses",
				strings.NewReader(`{"model":"gpt-4o-mini","input":"remember this","store":true}`))
			req.Header.Set("Authorization", "Bearer "+other.Secret)
			if resp, err := http.DefaultClient.Do(req); err != nil {
				t.Error(err)
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 503 || !strings.Contains(string(b), `"error"`) || resp.Header.Get("Retry-After") == "" {
					t.Errorf("stored response during the outage: %d %s, want 503 with Retry-After", resp.StatusCode, b)
				}
			}

			st := g.inst.breakers["store"]()
			if !st.Open || st.Skipped == 0 {
				t.Errorf("store breaker during the outage: %+v, want open and answering without calling", st)
			}
			// Requests are sent one at a time; a usage-free lookup and a
			// budget-free chat make at most one store call each, so at
			// most a trip's worth of calls (and one more in flight when it
			// opened) waited out their deadline.
			if st.TimedOut > outage.DefaultTrip+1 {
				t.Errorf("%d store calls waited out their deadline during the outage, want at most %d", st.TimedOut, outage.DefaultTrip+1)
			}
			if tc.fault == "blackhole" && st.TimedOut == 0 {
				t.Errorf("no store call waited out its deadline: the blackhole refused instead of swallowing (%+v)", st)
			}
			if mode == "cached" {
				// The usage of the requests answered meanwhile is due
				// after a flush interval: let the ledger try to write it
				// into the outage, so that it sees the outage too. Its
				// write waits out the ledger's own (longer) deadline
				// first, so wait for the line rather than a set time.
				seen := time.Now().Add(30*time.Second + usage.DefaultFlushInterval)
				for !strings.Contains(g.logs.String(), "usage store unavailable") {
					if time.Now().After(seen) {
						t.Fatal("the ledger never saw the outage")
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			fail(false)
			// An unknown key gets 401 again once the store answers lookups.
			deadline := time.Now().Add(30 * time.Second)
			for {
				status, _ := chat("sk-sy-never-seen-before")
				if status == 401 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the gateway did not recover after the store returned: unknown key still gets %d", status)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if status, body := chat(g.key); status != 200 {
				t.Errorf("known key after the outage: %d %s", status, body)
			}

			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := g.inst.ledger.Flush(fctx); err != nil {
				t.Fatal(err)
			}
			// Every answered chat request has its row (the stateful call
			// used another key).
			k, err := g.inst.Store().KeyByHash(ctx, auth.HashKey(g.key))
			if err != nil {
				t.Fatal(err)
			}
			f := usageFilterAll()
			f.KeyID = k.ID
			sums, err := g.inst.Store().SumUsage(ctx, f, "")
			if err != nil {
				t.Fatal(err)
			}
			var rows int64
			for _, s := range sums {
				rows += s.Requests
			}
			if rows != int64(answered) {
				t.Errorf("ledger has %d rows, want %d (one per answered request)", rows, answered)
			}
			if g.inst.ledger.Dropped() != 0 {
				t.Errorf("ledger dropped %d rows", g.inst.ledger.Dropped())
			}

			logs := g.logs.String()
			for _, line := range []string{`"msg":"store unavailable; ` + auth.OutageMode(mode, 10*time.Minute), `"msg":"store available again"`} {
				if n := strings.Count(logs, line); n != 1 {
					t.Errorf("%d log lines with %q, want 1", n, line)
				}
			}
			if mode == "cached" {
				for _, line := range []string{"usage store unavailable", "usage store available again"} {
					if n := strings.Count(logs, line); n != 1 {
						t.Errorf("%d log lines with %q, want 1", n, line)
					}
				}
			}
			if t.Failed() {
				t.Logf("logs:\n%s", logs)
			}
		})
	}
}
