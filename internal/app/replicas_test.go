package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/syncbuf"
)

// replica is a gateway running in a process of its own.
type replica struct {
	cmd   *exec.Cmd
	addr  string
	admin string
	logs  *syncbuf.Buffer
	done  chan error
}

func (r *replica) signal(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("replica did not stop after %v", sig)
		return nil
	}
}

// startReplica runs `switchyard serve` in a child process and waits until
// it answers.
func startReplica(t *testing.T, cfgTemplate string, env []string) *replica {
	t.Helper()
	r := &replica{addr: freeAddr(), admin: freeAddr(), logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cfg := strings.NewReplacer("@LISTEN@", r.addr, "@ADMIN@", r.admin).Replace(cfgTemplate)
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.serve(t, path, env)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not ready; logs:\n%s", r.logs.String())
		}
		select {
		case err := <-r.done:
			t.Fatalf("replica exited: %v\n%s", err, r.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// serve runs `switchyard serve -config path` as a child process (the test
// binary itself, see TestMain) with env added, its output in r.logs; it
// is killed when t ends if still running.
func (r *replica) serve(t *testing.T, path string, env []string) {
	t.Helper()
	r.cmd = exec.Command(os.Args[0], "-test.run=^$")
	r.cmd.Env = append(os.Environ(), append(env, subprocessEnv+"=serve\x1f-config\x1f"+path)...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

// chatOnce sends one chat request and returns the status (0 when no
// response arrived).
func chatOnce(base, key, prompt string) int {
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + prompt + `"}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0
	}
	return resp.StatusCode
}

// replicaConfig gives the store and Redis generous deadlines: these tests
// prove that limits, budgets and keys hold exactly across replicas, which a
// deadline missed on a loaded machine (the gateway then takes its outage
// mode) would blur. The outage tests prove the short deadlines.
const replicaConfig = `
listen: @LISTEN@
admin: {listen: @ADMIN@, token_env: TEST_ADMIN_TOKEN}
store: {driver: @DRIVER@, dsn_env: TEST_STORE_DSN, timeout: 5s}
limits: {backend: @BACKEND@, redis_url: @REDIS_URL@, timeout: 5s}
providers:
  - {name: azure-sim, type: azure, base_url: @FAKECLOUD@/azure, api_key_env: TEST_SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings: [{provider: azure-sim, upstream_model: mini, price: {input_per_mtok: 100000, output_per_mtok: 100000}}]
`

type cluster struct {
	dsn   string
	cloud *fakecloud.Server
	cfg   string
	env   []string
	svc   *admin.Service
	st    *sqlstore.Store
}

// newCluster prepares a shared store and limits backend; replicas are
// started by the test.
func newCluster(t *testing.T, driver, backend string) *cluster {
	t.Helper()
	redisURL := os.Getenv("SWITCHYARD_TEST_REDIS_URL")
	if backend == "redis" && redisURL == "" {
		t.Skip("skipping: SWITCHYARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	dsn := sqlstore.TestDSN(t, driver)
	cloud, ln, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	st, err := sqlstore.Open(context.Background(), driver, dsn) // migrates before the replicas race to
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &cluster{dsn: dsn, cloud: cloud, st: st, svc: &admin.Service{Store: st}}
	c.cfg = strings.NewReplacer("@DRIVER@", driver, "@BACKEND@", backend, "@REDIS_URL@", redisURL,
		"@FAKECLOUD@", "http://"+ln.Addr().String()).Replace(replicaConfig)
	if backend == "memory" {
		c.cfg = strings.Replace(c.cfg, "redis_url: "+redisURL, "redis_url: \"\"", 1)
	}
	c.env = []string{"TEST_STORE_DSN=" + dsn, "TEST_SIM_KEY=" + fakecloud.DefaultKey, "TEST_ADMIN_TOKEN=admin-token"}
	return c
}

func (c *cluster) key(t *testing.T, spec admin.KeySpec) string {
	t.Helper()
	spec.Tenant, spec.CreateTenant = "acme", true
	iss, err := c.svc.IssueKey(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return iss.Secret
}

func (c *cluster) ledgerRows(t *testing.T) int64 {
	t.Helper()
	sums, err := c.st.SumUsage(context.Background(), store.UsageFilter{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) == 0 {
		return 0
	}
	return sums[0].Requests
}

// TestReplicas_SharedGovernance runs two gateway processes on one Postgres
// and one Redis: an RPM limit, a budget and a revocation hold across both.
func TestReplicas_SharedGovernance(t *testing.T) {
	c := newCluster(t, sqlstore.DriverPostgres, "redis")
	a, b := startReplica(t, c.cfg, c.env), startReplica(t, c.cfg, c.env)
	replicas := []*replica{a, b}

	t.Run("rpm_across_replicas", func(t *testing.T) {
		const limit = 20
		key := c.key(t, admin.KeySpec{Limits: admin.Limits{RPM: limit}})
		var ok, limited atomic.Int64
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				switch chatOnce(replicas[i%2].addr, key, fmt.Sprintf("rpm %d", i)) {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				}
			})
		}
		wg.Wait()
		if got := ok.Load(); got < limit || got > limit+1 || ok.Load()+limited.Load() != 60 {
			t.Errorf("admitted %d, limited %d across two replicas; want %d (±1) admitted", got, limited.Load(), limit)
		}
	})

	t.Run("budget_across_replicas", func(t *testing.T) {
		// Each request costs about $1 at these prices; the budget is $5.
		key := c.key(t, admin.KeySpec{Limits: admin.Limits{BudgetUSD: 5, BudgetPeriod: "day"}})
		var ok atomic.Int64
		const concurrency = 4
		var wg sync.WaitGroup
		for w := range concurrency {
			wg.Go(func() {
				for i := range 10 {
					if chatOnce(replicas[w%2].addr, key, fmt.Sprintf("budget %d %d", w, i)) == 200 {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		var spent float64
		waitFor(t, 5*time.Second, func() bool {
			sums, err := c.st.SumUsage(context.Background(), store.UsageFilter{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), KeyID: keyID(t, c, key)}, "")
			if err != nil || len(sums) == 0 {
				return false
			}
			spent = sums[0].CostUSD
			return sums[0].Requests == 40
		})
		perRequest := spent / float64(ok.Load())
		// Overspend is bounded by the requests already running when the
		// budget ran out: at most one per concurrent client.
		if spent < 5 || spent > 5+concurrency*perRequest {
			t.Errorf("spent $%.2f on a $5 budget with %d clients ($%.2f a request, %d admitted)", spent, concurrency, perRequest, ok.Load())
		}
		if chatOnce(a.addr, key, "after") != 429 || chatOnce(b.addr, key, "after") != 429 {
			t.Error("budget not enforced after it ran out")
		}
	})

	t.Run("revocation_within_a_second", func(t *testing.T) {
		key := c.key(t, admin.KeySpec{})
		if chatOnce(b.addr, key, "warm the cache") != 200 {
			t.Fatal("key refused before revocation")
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.admin+"/admin/v1/keys/"+key+"/revoke", nil)
		req.Header.Set("Authorization", "Bearer admin-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke through replica a: %v %v", err, resp)
		}
		resp.Body.Close()
		revoked := time.Now()
		waitFor(t, 3*time.Second, func() bool { return chatOnce(b.addr, key, "after revoke") == 401 })
		if took := time.Since(revoked); took > 1500*time.Millisecond {
			t.Errorf("replica b refused the revoked key after %v, want within about a second", took)
		}
	})

	for _, r := range replicas {
		if err := r.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("replica exit: %v\n%s", err, r.logs.String())
		}
		if strings.Contains(r.logs.String(), "sk-sy-") || strings.Contains(r.logs.String(), fakecloud.DefaultKey) {
			t.Errorf("replica logs contain a secret:\n%s", r.logs.String())
		}
	}
}

func keyID(t *testing.T, c *cluster, secret string) string {
	t.Helper()
	k, err := c.svc.FindKey(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplica_NoUsageLost proves every answered request has its ledger
// row when the gateway is stopped with SIGTERM under load, and bounds
// what SIGKILL can lose: nothing older than the writer's flush interval.
func TestReplica_NoUsageLost(t *testing.T) {
	c := newCluster(t, sqlstore.DriverSQLite, "memory")
	key := c.key(t, admin.KeySpec{})

	t.Run("sigterm_under_load", func(t *testing.T) {
		r := startReplica(t, c.cfg, c.env)
		c.cloud.SetFaults("", fakecloud.Faults{Latency: 20 * time.Millisecond})
		defer c.cloud.SetFaults("", fakecloud.Faults{})
		before := c.ledgerRows(t)
		var answered atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if chatOnce(r.addr, key, fmt.Sprintf("load %d %d", w, i)) != 0 {
						answered.Add(1)
					}
				}
			})
		}
		time.Sleep(500 * time.Millisecond)
		if err := r.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("exit: %v\n%s", err, r.logs.String())
		}
		close(stop)
		wg.Wait()
		if got := c.ledgerRows(t) - before; got != answered.Load() || got == 0 {
			t.Errorf("ledger rows %d, answered requests %d", got, answered.Load())
		}
	})

	t.Run("sigkill_loses_at_most_the_last_flush_interval", func(t *testing.T) {
		r := startReplica(t, c.cfg, c.env)
		before := c.ledgerRows(t)
		const n = 25
		for i := range n {
			if chatOnce(r.addr, key, fmt.Sprintf("kill %d", i)) != 200 {
				t.Fatal("request failed")
			}
		}
		// The writer flushes at least every second: after two, everything
		// answered is durable even if the process dies without warning.
		time.Sleep(2 * time.Second)
		if err := r.signal(t, syscall.SIGKILL); err == nil {
			t.Error("SIGKILL reported a clean exit")
		}
		if got := c.ledgerRows(t) - before; got != n {
			t.Errorf("after SIGKILL: %d ledger rows, want %d", got, n)
		}
	})
}

// TestReplica_SIGKILLUnderLoad kills a gateway without warning while it
// is answering requests and checks the bound README.md documents: the
// ledger misses at most the rows of the last flush interval, counted as
// the requests the clients saw answered in the interval before the kill.
func TestReplica_SIGKILLUnderLoad(t *testing.T) {
	c := newCluster(t, sqlstore.DriverSQLite, "memory")
	key := c.key(t, admin.KeySpec{})
	r := startReplica(t, c.cfg, c.env)
	// About 200 requests a second: fewer than a batch (256) per flush
	// interval, so the interval, not the batch size, decides when rows
	// are written.
	c.cloud.SetFaults("", fakecloud.Faults{Latency: 20 * time.Millisecond})
	defer c.cloud.SetFaults("", fakecloud.Faults{})
	before := c.ledgerRows(t)
	start := time.Now()

	const workers = 4
	var (
		mu       sync.Mutex
		answered []time.Time // when each 200 was fully read
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if chatOnce(r.addr, key, fmt.Sprintf("kill load %d %d", w, i)) == 200 {
					at := time.Now()
					mu.Lock()
					answered = append(answered, at)
					mu.Unlock()
				}
			}
		})
	}
	// Kill only once the writer has flushed under this load, and after
	// more than two flush intervals of it, so that the last interval is a
	// part of what was answered.
	waitFor(t, 20*time.Second, func() bool { return c.ledgerRows(t) > before })
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	killAt := time.Now()
	if err := r.signal(t, syscall.SIGKILL); err == nil {
		t.Error("SIGKILL reported a clean exit")
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	recent := 0
	for _, at := range answered {
		if !at.Before(killAt.Add(-1 * time.Second)) { // usage.DefaultFlushInterval
			recent++
		}
	}
	rows := c.ledgerRows(t) - before
	missing := int64(len(answered)) - rows
	t.Logf("answered %d, %d of them in the last flush interval; %d ledger rows, %d missing", len(answered), recent, rows, missing)
	if missing > int64(recent) {
		t.Errorf("after SIGKILL under load: %d answered requests have no ledger row, more than the %d answered in the last flush interval",
			missing, recent)
	}
	// Rows the clients never saw answered can only be requests in flight
	// at the kill: at most one per worker.
	if missing < -workers {
		t.Errorf("after SIGKILL: %d ledger rows for %d answered requests", rows, len(answered))
	}
}

// TestLimitsBackendDown: with Redis unreachable the gateway fails open or
// closed as configured, and says so in its log once per incident.
func TestLimitsBackendDown(t *testing.T) {
	dead := freeAddr() // nothing listens here
	for _, tc := range []struct {
		policy string
		want   int
	}{{"open", 200}, {"closed", 503}} {
		t.Run(tc.policy, func(t *testing.T) {
			g := startGateway(t, strings.Replace(twoCloudConfig, "store:", "limits: {backend: redis, redis_url: \"redis://"+dead+"/0\", rate_limits_fail: "+tc.policy+"}\nstore:", 1))
			iss, err := g.inst.admin.IssueKey(context.Background(), admin.KeySpec{Tenant: "acme", Limits: admin.Limits{RPM: 100}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if got := chatOnce(g.inst.Addr(), iss.Secret, fmt.Sprintf("down %d", i)); got != tc.want {
					t.Fatalf("request %d: status %d, want %d", i, got, tc.want)
				}
			}
			// One line per backend: the rate limiter and the budget
			// counters (every request adds spend).
			if n := strings.Count(g.logs.String(), "unavailable; failing"); n < 1 || n > 2 {
				t.Errorf("outage logged %d times in:\n%s", n, g.logs.String())
			}
		})
	}
}
