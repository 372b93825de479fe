package redislimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/internal/ratelimit"
)

// lifetimeTTL is how long a lifetime spend counter outlives its last write.
// A counter forgotten after that long idle is seeded again from the ledger
// at the next start.
const lifetimeTTL = 400 * 24 * time.Hour

// Spend is a ratelimit.Spend backed by Redis, safe for concurrent use: one
// integer counter of nano-USD per scope and period, which INCRBY keeps exact
// across replicas. A period's counter expires a day after the period ends.
// Close it when done.
type Spend struct {
	c      *redis.Client
	prefix string
}

var _ ratelimit.Spend = (*Spend)(nil)

// NewSpend returns a Spend for the Redis at url (see New). It does not
// connect: see Ping.
func NewSpend(url string, opts Options) (*Spend, error) {
	opts = opts.withDefaults()
	c, err := newClient(url, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("creating redis spend counters: %w", err)
	}
	return &Spend{c: c, prefix: opts.Prefix}, nil
}

// Ping checks that Redis answers.
func (s *Spend) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

// Close closes the connections.
func (s *Spend) Close() error { return s.c.Close() }

// key names the counter of scope in the period holding now.
func (s *Spend) key(now time.Time, scope, period string) string {
	return spendKey(s.prefix, now, scope, period)
}

// spendKey names the counter of scope in the period holding now, under
// prefix. The period tag has no colon, so a key maps back to exactly one
// scope. Limiter.AcquireBudgets and DoneSpend use the same keys.
func spendKey(prefix string, now time.Time, scope, period string) string {
	tag := "all"
	switch period {
	case ratelimit.PeriodDay:
		tag = "d" + ratelimit.PeriodStart(now, period).Format("20060102")
	case ratelimit.PeriodMonth:
		tag = "m" + ratelimit.PeriodStart(now, period).Format("200601")
	}
	return prefix + "spend:" + tag + ":" + scope
}

// periods lists the periods whose counters an amount of spend is added to.
var periods = [...]string{ratelimit.PeriodDay, ratelimit.PeriodMonth, ratelimit.PeriodLifetime}

// ttl keeps a counter a day past its period's end (the callers' clocks may
// disagree a little), or lifetimeTTL past its last write.
func ttl(now time.Time, period string) time.Duration {
	end := ratelimit.PeriodEnd(now, period)
	if end.IsZero() {
		return lifetimeTTL
	}
	return end.Sub(now) + 24*time.Hour
}

// Check implements ratelimit.Spend.
func (s *Spend) Check(ctx context.Context, now time.Time, budgets []ratelimit.Budget) (bool, *ratelimit.Budget, error) {
	if len(budgets) == 0 {
		return true, nil, nil
	}
	keys := make([]string, len(budgets))
	for i, b := range budgets {
		if err := b.Validate(); err != nil {
			return false, nil, err
		}
		keys[i] = s.key(now, b.Scope, b.Period)
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return false, nil, fmt.Errorf("reading spend counters: %w", err)
	}
	spent := make([]int64, len(budgets))
	for i, v := range vals {
		if v == nil {
			continue // nothing spent in the period yet
		}
		str, ok := v.(string)
		if !ok {
			return false, nil, fmt.Errorf("reading spend counter %s: unexpected %T", keys[i], v)
		}
		if spent[i], err = strconv.ParseInt(str, 10, 64); err != nil {
			return false, nil, fmt.Errorf("reading spend counter %s: %w", keys[i], err)
		}
	}
	if b := ratelimit.Tightest(now, budgets, spent); b != nil {
		return false, b, nil
	}
	return true, nil, nil
}

// Add implements ratelimit.Spend: one script call, atomic like a
// transaction, for every scope and period. It sends one command where a
// MULTI/EXEC block sent two per counter and two more.
func (s *Spend) Add(ctx context.Context, now time.Time, scopes []string, usd float64) error {
	n, err := ratelimit.NanoUSD(usd)
	if err != nil {
		return err
	}
	if err := ratelimit.ValidateScopes(scopes); err != nil {
		return err
	}
	if n == 0 || len(scopes) == 0 {
		return nil
	}
	keys := make([]any, 0, len(scopes)*len(periods))
	args := make([]any, 1, 1+len(scopes)*len(periods))
	args[0] = n
	for _, scope := range scopes {
		for _, period := range periods {
			keys = append(keys, s.key(now, scope, period))
			args = append(args, ttl(now, period).Milliseconds())
		}
	}
	return addSpend(ctx, s.c, keys, args)
}

// addSpend runs the add script: args are the amount, then a TTL per key.
func addSpend(ctx context.Context, c *redis.Client, keys, args []any) error {
	cmd := addScript.command(len(keys), len(keys)+len(args))
	cmd = append(cmd, keys...)
	cmd = append(cmd, args...)
	if err := addScript.run(ctx, c, cmd).Err(); err != nil {
		return fmt.Errorf("adding spend: %w", err)
	}
	return nil
}

// Seed implements ratelimit.Spend with SET NX: the first replica to seed a
// period's counter, or to add to it, wins.
func (s *Spend) Seed(ctx context.Context, now time.Time, b ratelimit.Budget, usd float64) error {
	if err := b.Validate(); err != nil {
		return err
	}
	n, err := ratelimit.NanoUSD(usd)
	if err != nil {
		return err
	}
	if err := s.c.SetNX(ctx, s.key(now, b.Scope, b.Period), n, ttl(now, b.Period)).Err(); err != nil {
		return fmt.Errorf("seeding spend: %w", err)
	}
	return nil
}
