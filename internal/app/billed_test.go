package app

import (
	"context"
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
