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
// replica, Redis when several share limits. Redis is wrapped so that each
// call has a deadline of limits.timeout and an outage (refused or silent)
// fails open or closed as configured, without waiting, until a background
// probe sees Redis again; each request makes two calls to Redis (see
// ratelimit.ResilientBudgets). The closer stops the probes and the
// clients.
func buildLimits(ctx context.Context, cfg *config.Config, getenv func(string) string, log *slog.Logger) (ratelimit.Limiter, ratelimit.Spend, func() error, error) {
	switch cfg.Limits.Backend {
	case "memory":
		return ratelimit.NewMemory(), ratelimit.NewMemorySpend(), func() error { return nil }, nil
	case "redis":
	default:
		return nil, nil, nil, fmt.Errorf("limits backend %q is not available", cfg.Limits.Backend)
	}
	redisURL, err := redisURL(cfg.Limits, getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	timeout := cfg.Limits.Timeout.Std()
	rl, err := redislimit.New(redisURL, redislimit.Options{Timeout: timeout})
	if err != nil {
		return nil, nil, nil, err
	}
	rs, err := redislimit.NewSpend(redisURL, redislimit.Options{Timeout: timeout})
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
	spend := ratelimit.NewResilientSpend(rs, ratelimit.ResilientOptions{FailOpen: cfg.Limits.BudgetsFail == "open",
		Timeout: timeout, Probe: rs.Ping, Logger: log})
	// rl and rs share one prefix, so rl reads and adds to rs's counters: a
	// request checks its budgets in the call that acquires its limits, and
	// adds its spend in the call that settles them.
	limiter := ratelimit.NewResilientBudgets(rl, spend, ratelimit.ResilientOptions{FailOpen: cfg.Limits.RateLimitsFail == "open",
		Timeout: timeout, Probe: rl.Ping, Logger: log})
	closer := func() error {
		return errors.Join(limiter.Close(), spend.Close(), rl.Close(), rs.Close())
	}
	return limiter, spend, closer, nil
}

// redisURL is the limits backend's Redis URL: from the file that
// limits.redis_url_file names or the variable that limits.redis_url_env
// names when set, else limits.redis_url.
func redisURL(l config.Limits, getenv func(string) string) (string, error) {
	if l.RedisURLEnv == "" && l.RedisURLFile == "" {
		return l.RedisURL, nil
	}
	u, err := secret(getenv, "limits.redis_url", l.RedisURLEnv, l.RedisURLFile)
	if err != nil {
		return "", err
	}
	if l.RedisURLFile != "" {
		if err := config.CheckRedisURL(u); err != nil {
			return "", fmt.Errorf("limits.redis_url_file: %s %v", l.RedisURLFile, err)
		}
		return u, nil
	}
	if u == "" {
		return "", fmt.Errorf("limits.redis_url_env: $%s is not set", l.RedisURLEnv)
	}
	if err := config.CheckRedisURL(u); err != nil {
		return "", fmt.Errorf("limits.redis_url_env: $%s %v", l.RedisURLEnv, err)
	}
	return u, nil
}
