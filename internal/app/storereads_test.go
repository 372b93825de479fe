package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
)

// countingReads counts what client requests read of the store.
type countingReads struct {
	requestStore
	keys, tenants, spend atomic.Int64
}

func (c *countingReads) KeyByHash(ctx context.Context, hash []byte) (*store.Key, error) {
	c.keys.Add(1)
	return c.requestStore.KeyByHash(ctx, hash)
}

func (c *countingReads) KeyByAccessKeyID(ctx context.Context, akid string) (*store.Key, error) {
	c.keys.Add(1)
	return c.requestStore.KeyByAccessKeyID(ctx, akid)
}

func (c *countingReads) TenantByID(ctx context.Context, id string) (*store.Tenant, error) {
	c.tenants.Add(1)
	return c.requestStore.TenantByID(ctx, id)
}

func (c *countingReads) SpendSince(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error) {
	c.spend.Add(1)
	return c.requestStore.SpendSince(ctx, tenantID, keyID, since)
}

func (c *countingReads) total() int64 { return c.keys.Load() + c.tenants.Load() + c.spend.Load() }

const storeReadsConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
`

// startCounted starts a gateway whose request-path store reads are
// counted, and issues a key with limits and a budget (so every check a
// request can make is made).
func startCounted(t *testing.T) (*Instance, *countingReads, *admin.Issued) {
	t.Helper()
	_, cloudLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloudLn.Close() })
	yaml := strings.NewReplacer("FAKECLOUD", "http://"+cloudLn.Addr().String(), "DIR", t.TempDir()).Replace(storeReadsConfig)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Getenv: func(k string) string {
		if k == "SIM_KEY" {
			return fakecloud.DefaultKey
		}
		return ""
	}, Stdout: io.Discard, Stderr: io.Discard}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingReads{}
	inst, err := Start(context.Background(), cfg, env, StartOptions{Listener: ln, AdminListener: adminLn,
		requestStore: func(rs requestStore) requestStore { counted.requestStore = rs; return counted }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	iss, err := inst.admin.IssueKey(context.Background(), admin.KeySpec{Tenant: "acme", CreateTenant: true,
		Limits: admin.Limits{RPM: 1_000_000, TPM: 1_000_000_000, BudgetUSD: 1000, BudgetPeriod: "month"}})
	if err != nil {
		t.Fatal(err)
	}
	return inst, counted, iss
}

// callGateway sends one chat request, streamed or not, and returns its
// status once the whole answer is read.
func callGateway(t *testing.T, addr, key string, stream bool) int {
	t.Helper()
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`
	if stream {
		body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello"}]}`
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// TestStoreReads_NotPerRequest: once its key is warm, a client's requests
// read nothing from the store themselves: the key and tenant are
// refreshed in the background about once per half cache TTL (so reads
// are bounded by time, however many requests), and a budget's spend is
// read once per process and period. (That no request waits for those
// refreshes is proved in internal/auth.)
func TestStoreReads_NotPerRequest(t *testing.T) {
	inst, counted, iss := startCounted(t)
	for _, stream := range []bool{false, true} {
		if got := callGateway(t, inst.Addr(), iss.Secret, stream); got != http.StatusOK {
			t.Fatalf("warm-up: status %d", got)
		}
	}
	if n := counted.spend.Load(); n != 1 {
		t.Errorf("budget reads of the ledger while warming up = %d, want 1", n)
	}
	before := counted.total()
	start := time.Now()
	const requests = 200
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range requests / 4 {
				if got := callGateway(t, inst.Addr(), iss.Secret, (w+i)%2 == 0); got != http.StatusOK {
					t.Errorf("status %d", got)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	reads := counted.total() - before
	// A key read and a tenant read per background refresh, at most one
	// per half TTL, plus one refresh's worth of slack.
	bound := 2 * (int64(elapsed/(500*time.Millisecond)) + 2)
	t.Logf("%d requests in %v made %d store reads (bound %d)", requests, elapsed, reads, bound)
	if reads > bound {
		t.Errorf("%d requests in %v made %d store reads, want at most %d (none per request)", requests, elapsed, reads, bound)
	}
	if n := counted.spend.Load(); n != 1 {
		t.Errorf("budget reads of the ledger = %d, want 1 per process and period", n)
	}
}

// TestStoreReads_ChangesHoldAtOnce: a key revoked, rotated or limited, or
// a tenant disabled, through this gateway's admin service holds from the
// very next request, although the key's lookup is cached.
func TestStoreReads_ChangesHoldAtOnce(t *testing.T) {
	inst, _, iss := startCounted(t)
	ctx := context.Background()
	warm := func(key string) {
		t.Helper()
		if got := callGateway(t, inst.Addr(), key, false); got != http.StatusOK {
			t.Fatalf("warm-up: status %d", got)
		}
	}
	warm(iss.Secret)
	models := []string{"claude-*"}
	if _, err := inst.admin.UpdateKey(ctx, iss.Key.ID, admin.KeyUpdate{AllowedModels: &models}); err != nil {
		t.Fatal(err)
	}
	if got := callGateway(t, inst.Addr(), iss.Secret, false); got != http.StatusForbidden {
		t.Errorf("after the key's models were narrowed: status %d, want 403", got)
	}
	all := []string{}
	if _, err := inst.admin.UpdateKey(ctx, iss.Key.ID, admin.KeyUpdate{AllowedModels: &all}); err != nil {
		t.Fatal(err)
	}
	warm(iss.Secret)

	rotated, err := inst.admin.RotateKey(ctx, iss.Key.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := callGateway(t, inst.Addr(), iss.Secret, true); got != http.StatusUnauthorized {
		t.Errorf("old secret after a rotation without grace: status %d, want 401", got)
	}
	warm(rotated.Secret)

	disabled, enabled := true, false
	if _, err := inst.admin.UpdateTenant(ctx, "acme", admin.TenantUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if got := callGateway(t, inst.Addr(), rotated.Secret, false); got == http.StatusOK {
		t.Errorf("tenant disabled: status %d, want a refusal", got)
	}
	if _, err := inst.admin.UpdateTenant(ctx, "acme", admin.TenantUpdate{Disabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	warm(rotated.Secret)

	if _, err := inst.admin.RevokeKey(ctx, iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	if got := callGateway(t, inst.Addr(), rotated.Secret, true); got != http.StatusUnauthorized {
		t.Errorf("revoked key: status %d, want 401", got)
	}
}
