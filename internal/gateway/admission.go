package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/ratelimit"
)

// admission is what an admitted request holds: its rate-limit reservation
// and the scopes its spend is added to.
type admission struct {
	g        *Gateway
	res      ratelimit.Reservation
	scopes   []string
	decision *ratelimit.Decision
	// The arrays back admit's slices for the usual key and tenant: one
	// allocation for the admission instead of two or three a slice as it
	// grows.
	scopesBuf  [2]string
	budgetsBuf [2]ratelimit.Budget
	reqsBuf    [2]ratelimit.Request
	// decisionBuf backs decision, in the same allocation.
	decisionBuf ratelimit.Decision
}

// done settles the reservation with the tokens actually used and adds the
// cost to the budgets' spend. It runs off the request's context: a client
// that went away still used what it used.
func (a *admission) done(u llm.Usage, cost float64) {
	spend := a.g.spend != nil && cost > 0 && len(a.scopes) > 0
	// A deadline (a timer and a context, about 270 bytes a request) only
	// for a limiter or spend that may wait on a backend.
	ctx := context.Background()
	if !ratelimit.IsInProcess(a.res) || spend && !ratelimit.IsInProcess(a.g.spend) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, settleTimeout)
		defer cancel()
	}
	if sr, ok := a.res.(ratelimit.SpendReservation); ok && spend {
		// One call settles and adds the spend.
		if err := sr.DoneSpend(ctx, u.Total(), a.g.now(), a.scopes, cost); err != nil {
			a.g.log.Warn("settling rate-limit reservation and adding spend", "err", err)
		}
		return
	}
	if a.res != nil {
		if err := a.res.Done(ctx, u.Total()); err != nil {
			a.g.log.Warn("settling rate-limit reservation", "err", err)
		}
	}
	if spend {
		if err := a.g.spend.Add(ctx, a.g.now(), a.scopes, cost); err != nil {
			a.g.log.Warn("adding spend", "err", err)
		}
	}
}

// settleTimeout bounds settling a request's reservation and spend.
const settleTimeout = 5 * time.Second

// seededSet remembers which budget counters this process has seeded from
// the ledger.
type seededSet struct {
	// mu is read-locked by every request with a budget and write-locked
	// only when a counter is seeded (once a period): under many
	// concurrent requests, readers do not queue behind one another.
	mu sync.RWMutex
	m  map[seedKey]time.Time // → period start
}

// seedKey is a budget counter: a scope's spend over one kind of period.
// The two strings key the map as they are, where joining them would
// allocate on every request.
type seedKey struct{ scope, period string }

func (s *seededSet) needs(key seedKey, start time.Time) bool {
	s.mu.RLock()
	seeded := s.m[key].Equal(start)
	s.mu.RUnlock()
	if seeded {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[seedKey]time.Time{}
	}
	if s.m[key].Equal(start) {
		return false
	}
	s.m[key] = start
	return true
}

// admit checks the call's budgets, then its rate limits, before any
// upstream call: in one call when the limiter is a
// ratelimit.BudgetLimiter, and then the admission's done settles and adds
// the spend in one call too. A refusal is a *Error the edge renders as 429.
func (g *Gateway) admit(ctx context.Context, call *Call, estTokens int64, stream bool) (*admission, error) {
	now := g.now()
	adm := &admission{g: g}
	type scoped struct {
		scope   string
		q       Quota
		tenant  bool
		keyID   string
		enabled bool
	}
	scopes := []scoped{
		{ratelimit.KeyScope(call.KeyID), call.KeyQuota, false, call.KeyID, call.KeyID != ""},
		{ratelimit.TenantScope(call.TenantID), call.TenantQuota, true, "", call.TenantID != ""},
	}
	adm.scopes = adm.scopesBuf[:0]
	budgets := adm.budgetsBuf[:0]
	if g.spend != nil {
		for _, s := range scopes {
			if !s.enabled {
				continue
			}
			adm.scopes = append(adm.scopes, s.scope)
			if s.q.BudgetUSD <= 0 {
				continue
			}
			b := ratelimit.Budget{Scope: s.scope, LimitUSD: s.q.BudgetUSD, Period: s.q.BudgetPeriod}
			if err := g.seed(ctx, now, b, call.TenantID, s.keyID); err != nil {
				g.log.Warn("seeding budget from the ledger", "scope", s.scope, "err", err)
			}
			budgets = append(budgets, b)
		}
	}
	reqs := adm.reqsBuf[:0]
	if g.limiter != nil {
		for _, s := range scopes {
			if !s.enabled || s.q.RPM == 0 && s.q.TPM == 0 && s.q.MaxStreams == 0 {
				continue
			}
			reqs = append(reqs, ratelimit.Request{Scope: s.scope, EstTokens: estTokens, Stream: stream,
				Limits: ratelimit.Limits{RPM: s.q.RPM, TPM: s.q.TPM, MaxStreams: s.q.MaxStreams}})
		}
	}
	budgetRefusal := func(exhausted *ratelimit.Budget) error {
		end := ratelimit.PeriodEnd(now, exhausted.Period)
		who := "this API key"
		if exhausted.Scope == ratelimit.TenantScope(call.TenantID) {
			who = "this tenant"
		}
		return &Error{Kind: ErrBudgetExceeded, RetryAfter: end.Sub(now),
			Message: fmt.Sprintf("The %s budget of $%.2f for %s is spent; it renews at %s.",
				exhausted.Period, exhausted.LimitUSD, who, end.UTC().Format(time.RFC3339))}
	}
	budgetsUnavailable := func(err error) error {
		return &Error{Kind: ErrLimitsUnavailable, Message: "Budgets cannot be checked right now; try again shortly.", RetryAfter: time.Second, Err: err}
	}

	var (
		d   ratelimit.Decision
		res ratelimit.Reservation
		err error
	)
	if bl, ok := g.limiter.(ratelimit.BudgetLimiter); ok && (len(budgets) > 0 || len(reqs) > 0) {
		// The budgets are checked in the call that acquires the limits,
		// and the reservation adds the spend (even without budgets).
		var exhausted *ratelimit.Budget
		d, exhausted, res, err = bl.AcquireBudgets(ctx, now, reqs, budgets)
		switch {
		case exhausted != nil:
			return nil, budgetRefusal(exhausted)
		case errors.Is(err, ratelimit.ErrUnavailable) || err != nil && len(reqs) == 0:
			return nil, budgetsUnavailable(err)
		case len(reqs) == 0:
			return adm, nil
		}
		return g.limited(adm, call, estTokens, d, res, err)
	}
	if len(budgets) > 0 {
		ok, exhausted, err := g.spend.Check(ctx, now, budgets)
		if err != nil && !ok {
			return nil, budgetsUnavailable(err)
		}
		if !ok && exhausted != nil {
			return nil, budgetRefusal(exhausted)
		}
	}
	if len(reqs) == 0 {
		return adm, nil
	}
	d, res, err = g.limiter.Acquire(ctx, now, reqs)
	return g.limited(adm, call, estTokens, d, res, err)
}

// limited turns the rate limiter's answer into an admission or a refusal.
func (g *Gateway) limited(adm *admission, call *Call, estTokens int64, d ratelimit.Decision, res ratelimit.Reservation, err error) (*admission, error) {
	if err != nil {
		if errors.Is(err, ratelimit.ErrUnavailable) || !d.Allowed {
			return nil, &Error{Kind: ErrLimitsUnavailable, Message: "Rate limits cannot be checked right now; try again shortly.", RetryAfter: time.Second, Err: err}
		}
		// The limiter chose to fail open.
		g.log.Warn("rate limiter error", "err", err)
	}
	adm.decisionBuf = d
	adm.decision = &adm.decisionBuf
	if !d.Allowed {
		if d.Limit == ratelimit.LimitUnavailable {
			return adm, &Error{Kind: ErrLimitsUnavailable, Message: "Rate limits cannot be checked right now; try again shortly.", RetryAfter: time.Second}
		}
		who := "this API key"
		if d.Scope == ratelimit.TenantScope(call.TenantID) {
			who = "this tenant"
		}
		msg := fmt.Sprintf("Rate limit reached for %s: %s per minute.", who, d.Limit)
		switch {
		case d.TooLarge:
			msg = fmt.Sprintf("This request's estimated %d tokens exceed the tokens-per-minute limit of %s; lower max_tokens or the input.", estTokens, who)
		case d.Limit == ratelimit.LimitStreams:
			msg = fmt.Sprintf("Too many concurrent streams for %s.", who)
		}
		return adm, &Error{Kind: ErrRateLimited, Message: msg, RetryAfter: d.RetryAfter, Limit: d.Limit}
	}
	adm.res = res
	return adm, nil
}

// seed loads a budget's spend for the current period from the ledger once
// per process and period, so a restart forgets nothing.
func (g *Gateway) seed(ctx context.Context, now time.Time, b ratelimit.Budget, tenantID, keyID string) error {
	if g.spendSince == nil {
		return nil
	}
	start := ratelimit.PeriodStart(now, b.Period)
	if !g.seeded.needs(seedKey{b.Scope, b.Period}, start) {
		return nil
	}
	usd, err := g.spendSince(ctx, tenantID, keyID, start)
	if err != nil {
		return err
	}
	return g.spend.Seed(ctx, now, b, usd)
}
