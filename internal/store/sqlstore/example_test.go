package sqlstore_test

import (
	"context"
	"fmt"
	"time"

	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

func Example() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, ":memory:")
	if err != nil {
		panic(err)
	}
	defer s.Close()

	tenant := &store.Tenant{Name: "acme", BudgetUSD: 100, BudgetPeriod: store.PeriodMonth}
	if err := s.CreateTenant(ctx, tenant); err != nil {
		panic(err)
	}
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	err = s.InsertUsage(ctx, []store.UsageRecord{
		{RequestID: "req-1", TenantID: tenant.ID, Model: "gpt-5", CostUSD: 0.25, CreatedAt: now},
		{RequestID: "req-2", TenantID: tenant.ID, Model: "gpt-5", CostUSD: 0.50, CreatedAt: now},
	})
	if err != nil {
		panic(err)
	}
	since, _ := store.PeriodStart(tenant.BudgetPeriod, now)
	spent, err := s.SpendSince(ctx, tenant.ID, "", since)
	if err != nil {
		panic(err)
	}
	fmt.Printf("spent $%.2f of $%.2f\n", spent, tenant.BudgetUSD)
	// Output: spent $0.75 of $100.00
}
