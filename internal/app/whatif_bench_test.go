package app

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchyard/internal/billing"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// whatIfRows sizes BenchmarkWhatIf's ledger. The default keeps the
// benchmark quick in CI; BENCHMARKS.md quotes -whatif.rows=1000000.
var whatIfRows = flag.Int("whatif.rows", 20_000, "ledger rows BenchmarkWhatIf replays")

// BenchmarkWhatIf replays a synthetic 30-day ledger of -whatif.rows rows
// (5 tenants, 3 models, 2 channels, 2 traffic classes, spread evenly)
// through whatIfProposal, on SQLite: "rolled" after the hourly rollup has
// run, as on a gateway that maintains its ledger, and "raw" before it,
// the worst case, where every record is summed from usage_records.
func BenchmarkWhatIf(b *testing.B) {
	for _, rolled := range []bool{true, false} {
		name := "raw"
		if rolled {
			name = "rolled"
		}
		b.Run(fmt.Sprintf("%s/rows=%d", name, *whatIfRows), func(b *testing.B) {
			dir := b.TempDir()
			st, err := sqlstore.Open(context.Background(), sqlstore.DriverSQLite, filepath.Join(dir, "ledger.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			start := end.Add(-30 * 24 * time.Hour)
			fillWhatIfLedger(b, st, *whatIfRows, start, end)
			if rolled {
				if _, err := st.Rollup(context.Background(), end); err != nil {
					b.Fatal(err)
				}
			}
			run := whatIf(st, nil)
			proposal := []byte(strings.ReplaceAll(whatIfProposal, "DIR", dir))
			b.ReportAllocs()
			var rep *billing.WhatIfReport
			for b.Loop() {
				out, err := run(context.Background(), proposal, start, end)
				if err != nil {
					b.Fatal(err)
				}
				rep = out.(*billing.WhatIfReport)
			}
			if rep.Actual.Requests != int64(*whatIfRows) {
				b.Fatalf("replayed %d requests, want %d", rep.Actual.Requests, *whatIfRows)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(*whatIfRows), "ns/row")
			b.ReportMetric(float64(rep.Groups), "groups")
		})
	}
}

func fillWhatIfLedger(b *testing.B, st *sqlstore.Store, n int, start, end time.Time) {
	b.Helper()
	ctx := context.Background()
	var tenants []string
	for i := range 5 {
		tn := &store.Tenant{Name: fmt.Sprint("tenant-", i)}
		if i == 4 {
			tn.Name = "acme-eu"
		}
		if err := st.CreateTenant(ctx, tn); err != nil {
			b.Fatal(err)
		}
		tenants = append(tenants, tn.ID)
	}
	step := end.Sub(start) / time.Duration(n)
	batch := make([]store.UsageRecord, 0, 1000)
	for i := range n {
		model, provider := []string{"gpt-4o-mini", "gpt-4o", "claude-retired"}[i%3], []string{"azure-east", "openai-us"}[i/3%2]
		batch = append(batch, store.UsageRecord{RequestID: fmt.Sprint("b", i), TenantID: tenants[i%5], KeyID: "k", Model: model,
			Provider: provider, Traffic: []string{"stateless", "stateful"}[i/6%2], Dialect: "openai", Endpoint: "chat", Status: 200,
			InputTokens: int64(200 + i%1000), OutputTokens: int64(50 + i%300), CostUSD: 0.0004, Latency: 300 * time.Millisecond,
			CreatedAt: start.Add(time.Duration(i) * step)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := st.InsertUsage(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkReconcile reconciles a bill against the same synthetic ledger
// of -whatif.rows rows, rolled up: the bill has a line per day, channel,
// model and token kind for 30 days (Azure meters naming the models), so
// every line goes through channel and model matching, and the ledger is
// read from the hourly rollup.
func BenchmarkReconcile(b *testing.B) {
	dir := b.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.DriverSQLite, filepath.Join(dir, "ledger.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-30 * 24 * time.Hour)
	fillWhatIfLedger(b, st, *whatIfRows, start, end)
	if _, err := st.Rollup(context.Background(), end); err != nil {
		b.Fatal(err)
	}
	bill := &billing.Bill{Provider: "azure"}
	meters := []string{"gpt-4o-mini-0718-%s-glbl 1K Tokens", "gpt-4o-0806-%s-glbl 1K Tokens",
		"claude-3-haiku %s tokens"}
	for day := start; day.Before(end); day = day.Add(24 * time.Hour) {
		for _, ch := range []string{"azure-east", "openai-us"} {
			for _, meter := range meters {
				for _, kind := range []string{"Inp", "Outp"} {
					bill.Lines = append(bill.Lines, billing.BillLine{Day: day, Resource: ch, Model: fmt.Sprintf(meter, kind), CostUSD: 1.5})
				}
			}
		}
	}
	offerings := []billing.Offering{{Model: "gpt-4o-mini", Upstream: "gpt-4o-mini"}, {Model: "gpt-4o", Upstream: "gpt-4o"},
		{Model: "claude-retired", Upstream: "claude-3-haiku-20240307"}}
	o := billing.ReconcileOptions{
		Match:     func(l billing.BillLine) (string, string, bool) { return l.Resource, "", true },
		Offerings: func(string) []billing.Offering { return offerings },
	}
	b.ReportAllocs()
	var rec *billing.Reconciliation
	for b.Loop() {
		if rec, err = billing.Reconcile(context.Background(), st, bill, o); err != nil {
			b.Fatal(err)
		}
	}
	if len(rec.Rows) != 30*2*3 {
		b.Fatalf("%d rows, want a row per day, channel and model", len(rec.Rows))
	}
	b.ReportMetric(float64(len(bill.Lines)), "bill-lines")
}
