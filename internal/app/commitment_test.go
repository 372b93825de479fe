package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"switchyard/internal/config"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/usage"
)

const pacedConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY, region: eastus}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY, region: us}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-sim, upstream_model: mini-deployment}
      - {provider: openai-sim, upstream_model: gpt-4o-mini}
contracts:
  - name: openai-commitment
    commitment: {provider: openai-sim, amount_usd: 1000000, period: day}
`

// spentBy reads the commitment report and returns each contract's spend.
func spentBy(t *testing.T, g *testGateway) map[string]float64 {
	t.Helper()
	status, body := adminCall(t, g, "GET", "/admin/v1/usage?by=commitment", "")
	var states []route.CommitmentState
	if status != 200 || json.Unmarshal([]byte(body), &states) != nil {
		t.Fatalf("commitment report: %d %s", status, body)
	}
	out := map[string]float64{}
	for _, s := range states {
		out[s.Contract] = s.SpentUSD
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// TestReload_SeedsCommitments: a commitment that a reload adds, or moves
// to another period, starts from the ledger's spend, not from zero.
func TestReload_SeedsCommitments(t *testing.T) {
	g, _, write := startFromFile(t, pacedConfig)
	ctx := context.Background()
	now := time.Now().UTC()
	yearStart, _ := route.PeriodYear.Bounds(now)
	// Spend the ledger holds from other replicas (or before a restart):
	// on openai-sim early in the year and a minute ago, on azure-sim a
	// minute ago.
	rows := []store.UsageRecord{
		{RequestID: "early-openai", Provider: "openai-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: 2, CreatedAt: yearStart.Add(time.Minute)},
		{RequestID: "recent-openai", Provider: "openai-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: 3, CreatedAt: now.Add(-time.Minute)},
		{RequestID: "recent-azure", Provider: "azure-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: 7, CreatedAt: now.Add(-time.Minute)},
	}
	if err := g.inst.Store().InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	write(strings.Replace(pacedConfig, "amount_usd: 1000000, period: day}", `amount_usd: 1000000, period: year}
  - name: azure-commitment
    commitment: {provider: azure-sim, amount_usd: 1000000, period: month}`, 1))
	if status, body := adminCall(t, g, "POST", "/admin/v1/reload", ""); status != 200 {
		t.Fatalf("reload: %d %s", status, body)
	}
	got := spentBy(t, g)
	if !near(got["openai-commitment"], 5) || !near(got["azure-commitment"], 7) || len(got) != 2 {
		t.Errorf("spend after reload %v; want openai-commitment 5 (the year's) and azure-commitment 7", got)
	}
}

// TestCommitments_ConvergeAcrossReplicas runs two routers, each with its
// own store handle and ledger writer on one shared database, as two
// replicas do. Each counts only its own traffic until a refresh reads the
// shared ledger; then both see the whole spend, and each keeps counting
// its own traffic exactly until the next refresh.
func TestCommitments_ConvergeAcrossReplicas(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			dsn := sqlstore.TestDSN(t, driver)
			cfg, err := config.Parse([]byte(strings.NewReplacer("DIR/test.db", "unused", "FAKECLOUD", "http://127.0.0.1:1").Replace(pacedConfig)))
			if err != nil {
				t.Fatal(err)
			}
			type replica struct {
				router *route.Router
				writer *usage.Writer
				cr     *commitmentRefresher
			}
			ctx := context.Background()
			var reps []*replica
			for range 2 {
				st, err := sqlstore.Open(ctx, driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				r, err := buildRouter(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := seedCommitments(ctx, st, r, time.Now()); err != nil {
					t.Fatal(err)
				}
				w := usage.NewWriter(st, usage.WriterOptions{FlushInterval: time.Hour})
				t.Cleanup(func() { _ = w.Close(ctx) })
				rep := &replica{router: r, writer: w}
				rep.cr = &commitmentRefresher{ledger: st, flush: w.Flush, router: func() *route.Router { return r }, every: 10 * time.Second}
				reps = append(reps, rep)
			}
			n := 0
			serve := func(rep *replica, usd float64) {
				n++
				rep.router.Observe("openai-sim", route.Outcome{Success: true, CostUSD: usd})
				rep.writer.Record(store.UsageRecord{RequestID: fmt.Sprintf("req-%d", n),
					Provider: "openai-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: usd, CreatedAt: time.Now()})
			}
			spent := func(rep *replica) float64 {
				return rep.router.CommitmentStatus(time.Now())[0].SpentUSD
			}
			for range 3 {
				serve(reps[0], 1)
			}
			for range 2 {
				serve(reps[1], 10)
			}
			// Before a refresh each replica sees only its own spend (and
			// the writers have not flushed).
			if a, b := spent(reps[0]), spent(reps[1]); !near(a, 3) || !near(b, 20) {
				t.Fatalf("before refresh: %v and %v, want 3 and 20", a, b)
			}
			// Replica b refreshes first: a's rows are not yet in the
			// ledger, so b sees its own.
			if err := reps[1].cr.once(ctx); err != nil {
				t.Fatal(err)
			}
			if b := spent(reps[1]); !near(b, 20) {
				t.Errorf("b after its refresh %v, want 20", b)
			}
			// a's refresh flushes a's rows, then reads b's too.
			if err := reps[0].cr.once(ctx); err != nil {
				t.Fatal(err)
			}
			if a := spent(reps[0]); !near(a, 23) {
				t.Errorf("a after its refresh %v, want 23", a)
			}
			if err := reps[1].cr.once(ctx); err != nil {
				t.Fatal(err)
			}
			if b := spent(reps[1]); !near(b, 23) {
				t.Errorf("b after the second refresh %v, want 23", b)
			}
			// Between refreshes a replica counts its own traffic at once,
			// and a refresh counts nothing twice.
			serve(reps[0], 100)
			if a := spent(reps[0]); !near(a, 123) {
				t.Errorf("a after serving $100: %v, want 123", a)
			}
			for _, rep := range reps {
				if err := rep.cr.once(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i, rep := range reps {
				if err := rep.cr.once(ctx); err != nil {
					t.Fatal(err)
				}
				if got := spent(rep); !near(got, 123) {
					t.Errorf("replica %d after refreshes: %v, want 123", i, got)
				}
			}
		})
	}
}
