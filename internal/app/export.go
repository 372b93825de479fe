package app

import (
	"context"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/billing"
	"switchyard/internal/config"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// export builds chargeback exports from st's ledger, priced by the
// configuration current() returns, for the admin API and usage export.
func export(st *sqlstore.Store, current func() *config.Config) func(ctx context.Context, label string, since, until time.Time) (admin.Exported, error) {
	return func(ctx context.Context, label string, since, until time.Time) (admin.Exported, error) {
		cfg := current()
		book, err := priceBook(cfg)
		if err != nil {
			return nil, err
		}
		type line struct{ model, channel string }
		prices := map[line]billing.Pricing{}
		for _, m := range cfg.Models {
			for _, o := range m.Offerings {
				p := offeringPricing(book, cfg, m, o)
				bp := billing.Pricing{List: p.List, Listed: p.Listed, Configured: p.Configured, DiscountPct: p.DiscountPct}
				for _, name := range append([]string{m.Name}, m.Aliases...) {
					prices[line{name, o.Provider}] = bp
				}
			}
		}
		tenants, err := st.ListTenants(ctx)
		if err != nil {
			return nil, err
		}
		keys, err := st.ListKeys(ctx, "")
		if err != nil {
			return nil, err
		}
		tenantLabel := make(map[string]string, len(tenants))
		for _, t := range tenants {
			tenantLabel[t.ID] = t.Metadata[label]
		}
		keyLabel := map[string]string{}
		for _, k := range keys {
			if v, ok := k.Metadata[label]; ok && v != "" {
				keyLabel[k.ID] = v
			}
		}
		sums, err := st.SumUsage(ctx, store.UsageFilter{Since: since, Until: until}, store.GroupLine)
		if err != nil {
			return nil, err
		}
		return billing.BuildChargeback(sums, billing.ChargebackOptions{
			Label: label, Since: since, Until: until,
			LabelOf: func(tenantID, keyID string) string {
				if v, ok := keyLabel[keyID]; ok {
					return v
				}
				return tenantLabel[tenantID]
			},
			Price: func(model, channel string) (billing.Pricing, bool) {
				p, ok := prices[line{model, channel}]
				return p, ok
			},
		}), nil
	}
}
