package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchyard/internal/config"
	"switchyard/internal/ratelimit"
	"switchyard/internal/ratelimit/redislimit"
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
	case "redis":
		rl, err := redislimit.New(cfg.Limits.RedisURL, redislimit.Options{})
		if err != nil {
			return nil, nil, nil, err
		}
		rs, err := redislimit.NewSpend(cfg.Limits.RedisURL, redislimit.Options{})
		if err != nil {
			rl.Close()
			return nil, nil, nil, err
		}
		// An unreachable Redis at start is an outage like any other: the
		// resilient wrappers fail open or closed and recover by themselves.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := rl.Ping(pctx); err != nil {
			log.Warn("redis limits backend not reachable at start", "err", err)
		}
		cancel()
		limiter, spend = rl, rs
		closer = func() error { return errors.Join(rl.Close(), rs.Close()) }
	default:
		return nil, nil, nil, fmt.Errorf("limits backend %q is not available", cfg.Limits.Backend)
	}
	limiter = ratelimit.Resilient(limiter, cfg.Limits.RateLimitsFail == "open", log)
	spend = ratelimit.ResilientSpend(spend, cfg.Limits.BudgetsFail == "open", log)
	return limiter, spend, closer, nil
}
