package admin_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// TestService_UsageByDay checks the daily series against the hourly one
// folded into days, for a tenant named in the query, over a window whose
// edges fall inside days, and that a grouping is refused.
func TestService_UsageByDay(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	svc := &admin.Service{Store: st}
	ctx := t.Context()
	acme, err := svc.CreateTenant(ctx, admin.TenantSpec{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 17, 23, 0, 0, time.UTC)
	var recs []store.UsageRecord
	for i := range 300 {
		tenant := acme.ID
		if i%3 == 0 {
			tenant = "ten_other"
		}
		recs = append(recs, store.UsageRecord{RequestID: fmt.Sprintf("r%d", i), TenantID: tenant, KeyID: "k", Model: "m",
			Provider: "p", Status: 200, InputTokens: int64(i), CostUSD: float64(i%7) * 0.001, CreatedAt: start.Add(time.Duration(i) * 17 * time.Minute)})
	}
	if err := st.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rollup(ctx, start.Add(60*time.Hour)); err != nil {
		t.Fatal(err)
	}
	q := admin.UsageQuery{Tenant: "acme", Since: start.Add(5 * time.Hour).Format(time.RFC3339), Until: start.Add(80 * time.Hour).Format(time.RFC3339)}
	days, err := svc.UsageByDay(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	hours, err := svc.UsageByHour(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := map[time.Time]admin.UsageRow{}
	for _, h := range hours {
		d := h.Hour.Truncate(24 * time.Hour)
		w := want[d]
		w.Requests += h.Requests
		w.InputTokens += h.InputTokens
		want[d] = w
	}
	if len(days) != len(want) || len(days) < 3 {
		t.Fatalf("%d days, want %d (at least 3)", len(days), len(want))
	}
	for i, d := range days {
		if i > 0 && !d.Day.After(days[i-1].Day) {
			t.Errorf("day %v follows %v", d.Day, days[i-1].Day)
		}
		if w := want[d.Day]; d.Requests != w.Requests || d.InputTokens != w.InputTokens {
			t.Errorf("%v: %d requests, %d input tokens; want %d, %d", d.Day, d.Requests, d.InputTokens, w.Requests, w.InputTokens)
		}
	}
	var fe *admin.FieldError
	if _, err := svc.UsageByDay(ctx, admin.UsageQuery{By: "tenant"}); !errors.As(err, &fe) {
		t.Errorf("UsageByDay by tenant: err = %v, want a FieldError", err)
	}
}
