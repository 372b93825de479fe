package app

import (
	"context"
	"fmt"
	"time"

	"switchyard/internal/billing"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// CommitmentForecast is a commitment's progress in its current period
// and where its run rate takes it by the period's end.
type CommitmentForecast struct {
	route.CommitmentState
	// BilledThrough, on a commitment that burns down on billed amounts,
	// is the end of the last day of the period a saved bill covers:
	// SpentUSD is billed before it and the ledger's estimate after it.
	BilledThrough *time.Time       `json:"billed_through,omitempty"`
	Forecast      billing.Forecast `json:"forecast"`
}

// commitmentForecasts projects every commitment of r at now. A
// commitment's run rate is its channel's spend in the ledger over the
// run-rate window; the projection starts from the larger of the router's
// tally (which counts this replica's traffic not yet in the ledger) and
// the ledger's sum for the period (which counts other replicas' traffic
// the router has not refreshed yet).
func commitmentForecasts(ctx context.Context, st *sqlstore.Store, r *route.Router, now time.Time) ([]CommitmentForecast, error) {
	states := r.CommitmentStatus(now)
	out := make([]CommitmentForecast, 0, len(states))
	bySince := map[time.Time]map[string]float64{}
	spendSince := func(since time.Time) (map[string]float64, error) {
		spend, ok := bySince[since]
		if !ok {
			var err error
			if spend, err = st.SpendByProvider(ctx, since); err != nil {
				return nil, err
			}
			bySince[since] = spend
		}
		return spend, nil
	}
	for _, c := range states {
		recent, err := spendSince(billing.RunRateSince(c.PeriodStart, now))
		if err != nil {
			return nil, err
		}
		period, err := spendSince(c.PeriodStart)
		if err != nil {
			return nil, err
		}
		// The reported spend is the one projected: the greater of the
		// router's tally and the ledger's sum, or the billed basis.
		c.SpentUSD = max(c.SpentUSD, period[c.Provider])
		var through *time.Time
		if c.BurnDown == "billed" {
			if c.SpentUSD, through, err = billedSpend(ctx, st, c.Provider, c.PeriodStart, now); err != nil {
				return nil, err
			}
		}
		spent := c.SpentUSD
		out = append(out, CommitmentForecast{CommitmentState: c, BilledThrough: through,
			Forecast: billing.ForecastCommitment(c.AmountUSD, spent, recent[c.Provider], c.PeriodStart, c.PeriodEnd, now)})
	}
	return out, nil
}

// billedSpend is a channel's spend in [since, now) on billed amounts: the
// saved bills' days (reconcile -save) at their billed amount, every other
// day at the ledger's. through is the end of the last billed day, nil when
// no bill covers the period yet.
func billedSpend(ctx context.Context, st *sqlstore.Store, channel string, since, now time.Time) (spent float64, through *time.Time, err error) {
	days, err := st.BilledDays(ctx, channel, since.UTC().Truncate(24*time.Hour), now)
	if err != nil {
		return 0, nil, err
	}
	billed := make(map[time.Time]bool, len(days))
	for _, d := range days {
		// A day that straddles the period's start (a period in another
		// zone than UTC) counts only if it starts within the period.
		if d.Day.Before(since) {
			continue
		}
		billed[d.Day] = true
		spent += d.CostUSD
		end := d.Day.Add(24 * time.Hour)
		through = &end
	}
	err = st.ScanUsageHours(ctx, since, now, func(h *store.UsageHour) error {
		if h.Provider == channel && !billed[h.Hour.UTC().Truncate(24*time.Hour)] {
			spent += h.CostUSD
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("summing a commitment's spend: %w", err)
	}
	return spent, through, nil
}

// BudgetForecast is a tenant's or key's budget in its current period and
// where its run rate takes it.
type BudgetForecast struct {
	// Scope is "tenant" or "key"; Tenant names a key's tenant.
	Scope  string `json:"scope"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Tenant string `json:"tenant,omitempty"`
	// Period is "day", "month" or "" (never resets); PeriodEnd is absent
	// for the last.
	Period      string           `json:"period"`
	PeriodStart time.Time        `json:"period_start"`
	PeriodEnd   *time.Time       `json:"period_end,omitempty"`
	BudgetUSD   float64          `json:"budget_usd"`
	SpentUSD    float64          `json:"spent_usd"`
	Forecast    billing.Forecast `json:"forecast"`
}

// budgetForecasts projects every budget in force at now: those of enabled
// tenants and of their keys that are neither revoked nor expired. The ledger
// is summed once per grouping (tenant, key) and distinct start (the
// periods' and the run-rate windows'), not once per budget.
func budgetForecasts(ctx context.Context, st *sqlstore.Store, now time.Time) ([]BudgetForecast, error) {
	tenants, err := st.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := st.ListKeys(ctx, "")
	if err != nil {
		return nil, err
	}
	sums := map[string]map[time.Time]map[string]float64{store.GroupTenant: {}, store.GroupKey: {}}
	spentSince := func(group, id string, since time.Time) (float64, error) {
		by, ok := sums[group][since]
		if !ok {
			rows, err := st.SumUsage(ctx, store.UsageFilter{Since: since}, group)
			if err != nil {
				return 0, err
			}
			by = make(map[string]float64, len(rows))
			for _, r := range rows {
				by[r.Group] = r.CostUSD
			}
			sums[group][since] = by
		}
		return by[id], nil
	}
	names := make(map[string]string, len(tenants))
	disabled := map[string]bool{}
	for _, t := range tenants {
		names[t.ID] = t.Name
		disabled[t.ID] = t.Disabled
	}
	out := []BudgetForecast{}
	add := func(scope, id, name, tenant, period string, budget float64) error {
		if budget <= 0 {
			return nil
		}
		start, err := store.PeriodStart(period, now)
		if err != nil {
			return nil // a period the store would not have accepted
		}
		var end time.Time
		switch period {
		case store.PeriodDay:
			end = start.AddDate(0, 0, 1)
		case store.PeriodMonth:
			end = start.AddDate(0, 1, 0)
		}
		spent, err := spentSince(scope, id, start)
		if err != nil {
			return err
		}
		recent, err := spentSince(scope, id, billing.RunRateSince(start, now))
		if err != nil {
			return err
		}
		b := BudgetForecast{Scope: scope, ID: id, Name: name, Tenant: tenant, Period: period, PeriodStart: start,
			BudgetUSD: budget, SpentUSD: spent, Forecast: billing.ForecastBudget(budget, spent, recent, start, end, now)}
		if !end.IsZero() {
			b.PeriodEnd = &end
		}
		out = append(out, b)
		return nil
	}
	for _, t := range tenants {
		if t.Disabled {
			continue
		}
		if err := add(store.GroupTenant, t.ID, t.Name, "", t.BudgetPeriod, t.BudgetUSD); err != nil {
			return nil, err
		}
	}
	for _, k := range keys {
		if k.Revoked(now) || k.Expired(now) || disabled[k.TenantID] {
			continue
		}
		if err := add(store.GroupKey, k.ID, k.Name, names[k.TenantID], k.BudgetPeriod, k.BudgetUSD); err != nil {
			return nil, err
		}
	}
	return out, nil
}
