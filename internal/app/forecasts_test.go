package app

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store"
)

// TestForecasts reads the commitment and budget reports of a gateway
// whose ledger holds recent spend, and checks each projection against
// the stated method computed here by hand.
func TestForecasts(t *testing.T) {
	g, _, _ := startFromFile(t, pacedConfig)
	ctx := context.Background()
	svc := g.inst.admin
	budgeted, err := svc.CreateTenant(ctx, admin.TenantSpec{Name: "budgeted", Limits: admin.Limits{BudgetUSD: 10, BudgetPeriod: "month"}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "budgeted", Name: "ci", Limits: admin.Limits{BudgetUSD: 5, BudgetPeriod: "day"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	recent := now.Add(-time.Minute)
	rows := []store.UsageRecord{
		// This period's spend on the committed channel and the budgets.
		{RequestID: "a", TenantID: budgeted.ID, KeyID: iss.Key.ID, Provider: "openai-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: 1, CreatedAt: recent},
		{RequestID: "b", TenantID: budgeted.ID, Provider: "openai-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: 7, CreatedAt: recent},
		// Eight days ago: outside every period and run-rate window.
		{RequestID: "c", TenantID: budgeted.ID, KeyID: iss.Key.ID, Provider: "azure-sim", Model: "gpt-4o-mini", Status: 200, CostUSD: 2,
			CreatedAt: now.Add(-8 * 24 * time.Hour)},
	}
	if err := g.inst.Store().InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	days := func(d time.Duration) float64 { return d.Hours() / 24 }

	// The commitment: $1,000,000 a day on openai-sim, $8 of it spent
	// since midnight, all within the window (the day so far).
	status, body := adminCall(t, g, "GET", "/admin/v1/usage?by=commitment", "")
	var cs []CommitmentForecast
	if status != 200 || json.Unmarshal([]byte(body), &cs) != nil || len(cs) != 1 {
		t.Fatalf("commitment report: %d %s", status, body)
	}
	c := cs[0]
	dayStart := now.Truncate(24 * time.Hour)
	rate := 8 / days(now.Sub(dayStart))
	// The router has not refreshed its tally from the ledger yet: the
	// projection starts from the ledger's $8.
	if f := c.Forecast; far(f.RunRateUSDPerDay, rate) || !f.EndsShort || f.Method == "" ||
		far(f.ProjectedUSD, 8+rate*days(dayStart.Add(24*time.Hour).Sub(now))) {
		t.Errorf("commitment %+v: want $8 spent at $%.2f/day, ending short", c, rate)
	}

	status, body = adminCall(t, g, "GET", "/admin/v1/usage?by=budget", "")
	var bs []BudgetForecast
	if status != 200 || json.Unmarshal([]byte(body), &bs) != nil {
		t.Fatalf("budget report: %d %s", status, body)
	}
	got := map[string]BudgetForecast{}
	for _, b := range bs {
		got[b.Scope+"/"+b.Name] = b
	}
	if len(got) != 2 {
		t.Fatalf("budgets %+v: want the tenant's and the key's", bs)
	}
	// The tenant's monthly $10: $8 spent this month, all of it recent.
	tb := got["tenant/budgeted"]
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	window := min(now.Sub(monthStart), 7*24*time.Hour)
	rate = 8 / days(window)
	left := days(monthStart.AddDate(0, 1, 0).Sub(now))
	runsOut := 2/rate < left
	if f := tb.Forecast; !near(tb.SpentUSD, 8) || far(f.RunRateUSDPerDay, rate) || f.RunsOut != runsOut || (f.ExhaustsAt != nil) != runsOut {
		t.Errorf("tenant budget %+v: want $8 spent at $%.2f/day, runs out %v", tb, rate, runsOut)
	}
	// The key's $5 a day: $1 spent today, all of it recent.
	kb := got["key/ci"]
	rate = 1 / days(now.Sub(dayStart))
	left = days(dayStart.Add(24 * time.Hour).Sub(now))
	runsOut = 4/rate < left
	if f := kb.Forecast; !near(kb.SpentUSD, 1) || far(f.RunRateUSDPerDay, rate) || f.RunsOut != runsOut || kb.PeriodEnd == nil ||
		kb.Tenant != "budgeted" || far(f.ProjectedUSD, 1+rate*left) {
		t.Errorf("key budget %+v: want $1 spent at $%.2f/day, runs out %v", kb, rate, runsOut)
	}
}

// far reports whether a and b differ by more than a part in a thousand:
// the report's clock ran a little after the test's.
func far(a, b float64) bool { return a < b*0.999 || a > b*1.001 }
