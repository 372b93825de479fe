package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchyard/internal/config"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// TestCommitmentBurnsDownOnBilled: a commitment with burn_down: billed
// counts the days a saved bill covers at the billed amount and the days
// after at the ledger's; one on the ledger ignores the bill.
func TestCommitmentBurnsDownOnBilled(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	var rows []store.UsageRecord
	// The CUR testdata bills bedrock-us $4.20, $9.90 and $1.50 on
	// November 1-3; the ledger metered $4, $6 and $1.50, and $7 on the
	// 4th, which no bill covers yet.
	for i, r := range []struct {
		at  time.Time
		usd float64
	}{{day(1, 10), 4}, {day(2, 9), 6}, {day(3, 1), 1.5}, {day(4, 2), 7}} {
		rows = append(rows, store.UsageRecord{RequestID: fmt.Sprint("r", i), TenantID: "t", Model: "claude", Provider: "bedrock-us",
			Traffic: "stateless", Status: 200, CostUSD: r.usd, CreatedAt: r.at})
	}
	if err := st.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	st.Close()
	yaml := strings.ReplaceAll(reconcileConfig, "DIR", dir) + `contracts:
  - name: aws-billed
    commitment: {provider: bedrock-us, amount_usd: 100, period: month, burn_down: billed}
  - name: aws-metered
    commitment: {provider: bedrock-us, amount_usd: 100, period: month}
`
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	forecasts := func() map[string]CommitmentForecast {
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(dir, "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r, err := buildRouter(cfg)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := commitmentForecasts(ctx, st, r, day(5, 0))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]CommitmentForecast{}
		for _, f := range fs {
			out[f.Contract] = f
		}
		return out
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// No bill saved yet: both on the ledger.
	for name, f := range forecasts() {
		if !near(f.SpentUSD, 18.5) || f.BilledThrough != nil {
			t.Errorf("before the bill, %s: spent %v (billed through %v), want the ledger's 18.50", name, f.SpentUSD, f.BilledThrough)
		}
	}
	bill := filepath.Join("..", "billing", "testdata", "aws-cur2.csv")
	if out, err := runApp(t, "reconcile", "-provider", "aws", "-file", bill, "-config", path, "-save"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fs := forecasts()
	if f := fs["aws-billed"]; !near(f.SpentUSD, 4.2+9.9+1.5+7) || f.BilledThrough == nil || !f.BilledThrough.Equal(day(4, 0)) ||
		f.BurnDown != "billed" {
		t.Errorf("billed burn-down: spent %v through %v (%s), want 22.60 through November 4", f.SpentUSD, f.BilledThrough, f.BurnDown)
	}
	if f := fs["aws-metered"]; !near(f.SpentUSD, 18.5) || f.BilledThrough != nil {
		t.Errorf("ledger burn-down: spent %v, want 18.50 whatever the bill says", f.SpentUSD)
	}
	// A second save of the same bill replaces, never adds.
	if out, err := runApp(t, "reconcile", "-provider", "aws", "-file", bill, "-config", path, "-save"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if f := forecasts()["aws-billed"]; !near(f.SpentUSD, 22.6) {
		t.Errorf("after saving the bill twice: spent %v, want 22.60", f.SpentUSD)
	}
}

const reconcileAPIConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: bedrock-us, type: bedrock, base_url: FAKECLOUD/bedrock, region: us-east-1, access_key_id_env: SIM_AWS_ID, secret_access_key_env: SIM_AWS_SECRET}
models:
  - name: claude
    offerings: [{provider: bedrock-us, upstream_model: anthropic.claude-sonnet-4-5-20250929-v1:0, price: {input_per_mtok: 3, output_per_mtok: 15}}]
contracts:
  - name: aws-billed
    commitment: {provider: bedrock-us, amount_usd: 100, period: month, burn_down: billed}
`

// TestReconcileAPI: POST /admin/v1/reconcile takes the Parquet CUR as its
// body, names the planted discrepancy by day, channel and model, saves the
// billed days when asked (an audited action), and refuses bad input with
// the right status.
func TestReconcileAPI(t *testing.T) {
	g, _, _ := startFromFile(t, reconcileAPIConfig)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	var rows []store.UsageRecord
	for i, usd := range []float64{4.2, 6, 1.5} {
		rows = append(rows, store.UsageRecord{RequestID: fmt.Sprint("r", i), TenantID: "t", Model: "claude", Provider: "bedrock-us",
			Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: day(i + 1)})
	}
	if err := g.inst.store.InsertUsage(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(filepath.Join("..", "billing", "testdata", "aws-cur2.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	status, body := adminCall(t, g, "POST", "/admin/v1/reconcile?provider=aws&save=true", string(cur))
	var rec struct {
		Discrepancies []struct {
			Day            time.Time
			Channel, Model string
			DiffUSD        float64 `json:"diff_usd"`
		}
	}
	if status != 200 || json.Unmarshal([]byte(body), &rec) != nil {
		t.Fatalf("reconcile: %d %s", status, body)
	}
	if len(rec.Discrepancies) != 1 || rec.Discrepancies[0].Model != "claude" || rec.Discrepancies[0].Channel != "bedrock-us" ||
		!rec.Discrepancies[0].Day.Equal(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)) || math.Abs(rec.Discrepancies[0].DiffUSD-3.9) > 1e-9 {
		t.Errorf("discrepancies %+v, want claude on bedrock-us on November 2, $3.90", rec.Discrepancies)
	}
	days, err := g.inst.store.BilledDays(context.Background(), "bedrock-us", day(1).Truncate(24*time.Hour), day(4))
	if err != nil || len(days) != 3 {
		t.Errorf("saved billed days %+v (%v), want November 1-3", days, err)
	}
	if status, body := adminCall(t, g, "GET", "/admin/v1/audit?action=bills.reconcile", ""); status != 200 || !strings.Contains(body, `"bills.reconcile"`) {
		t.Errorf("the save is not in the audit log: %d %s", status, body)
	}
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/admin/v1/reconcile", string(cur), 400},                       // no provider
		{"/admin/v1/reconcile?provider=oracle", string(cur), 422},       // no such format
		{"/admin/v1/reconcile?provider=azure", string(cur), 422},        // Parquet is not Azure's CSV
		{"/admin/v1/reconcile?provider=aws", "", 400},                   // no body
		{"/admin/v1/reconcile?provider=aws&threshold_pct=-1", "x", 400}, // a bad threshold
		{"/admin/v1/reconcile?provider=aws", "PAR1 not really", 422},    // a corrupt file
	} {
		if status, body := adminCall(t, g, "POST", tc.path, tc.body); status != tc.want {
			t.Errorf("POST %s: %d %s, want %d", tc.path, status, body, tc.want)
		}
	}
}
