package app

import (
	"context"
	"fmt"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/billing"
	"switchyard/internal/config"
	"switchyard/internal/route"
	"switchyard/internal/store/sqlstore"
)

// whatIf answers what-if replays over st's ledger, for the admin API and
// the whatif command alike: the proposal is loaded and validated as
// serve would load it, its router options (catalog, prices, contracts)
// built the same way, and no channel client is built.
//
// priceFiles, when set, returns the only prices.file a proposal may name
// besides none: a proposal posted to the admin API must not make the
// gateway read other files of its host.
func whatIf(st *sqlstore.Store, priceFiles func() string) func(ctx context.Context, proposed []byte, since, until time.Time) (any, error) {
	return func(ctx context.Context, proposed []byte, since, until time.Time) (any, error) {
		if until.Sub(since) > billing.MaxWhatIfWindow {
			return nil, &admin.FieldError{Field: "since", Problem: fmt.Sprintf("the window may span at most %d days",
				billing.MaxWhatIfWindow/(24*time.Hour))}
		}
		cfg, err := config.Parse(proposed)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", admin.ErrBadProposal, err)
		}
		if f := cfg.Prices.File; f != "" && priceFiles != nil && f != priceFiles() {
			return nil, fmt.Errorf("%w: prices.file: a proposal sent to the admin API may only name the gateway's own price file (%q), or none",
				admin.ErrBadProposal, priceFiles())
		}
		book, err := priceBook(cfg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", admin.ErrBadProposal, err)
		}
		opts, err := routerOptions(cfg, book)
		if err == nil {
			_, err = route.New(opts)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", admin.ErrBadProposal, err)
		}
		ts, err := st.ListTenants(ctx)
		if err != nil {
			return nil, err
		}
		names := make(map[string]string, len(ts))
		for _, t := range ts {
			names[t.ID] = t.Name
		}
		return billing.WhatIf(ctx, st, billing.WhatIfOptions{Proposed: opts, Book: book, Tenants: names, Since: since, Until: until})
	}
}
