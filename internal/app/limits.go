package app

import (
	"context"
	"fmt"
	"log/slog"

	"switchyard/internal/config"
	"switchyard/internal/ratelimit"
)

// buildLimits chooses the rate-limit and spend backends: in memory for one
// replica, Redis when several share limits. Either is wrapped so that a
// backend outage fails open or closed as configured.
func buildLimits(ctx context.Context, cfg *config.Config, log *slog.Logger) (ratelimit.Limiter, ratelimit.Spend, func() error, error) {
	var limiter ratelimit.Limiter
	var spend ratelimit.Spend
	closer := func() error { return nil }
	switch cfg.Limits.Backend {
	case "memory":
		limiter, spend = ratelimit.NewMemory(), ratelimit.NewMemorySpend()
	default:
		return nil, nil, nil, fmt.Errorf("limits backend %q is not available", cfg.Limits.Backend)
	}
	limiter = ratelimit.Resilient(limiter, cfg.Limits.RateLimitsFail == "open", log)
	spend = ratelimit.ResilientSpend(spend, cfg.Limits.BudgetsFail == "open", log)
	return limiter, spend, closer, nil
}
