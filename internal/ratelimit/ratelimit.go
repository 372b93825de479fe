// Package ratelimit admits requests against per-scope limits (requests per
// minute, tokens per minute, concurrent streams) and keeps the shared spend
// counters that USD budgets are checked against.
//
// A scope is any string naming what a limit applies to, usually a client key
// ("key:<id>") or a tenant ("tenant:<id>"); see KeyScope and TenantScope.
// The gateway calls Limiter.Acquire before each upstream call with one
// Request per scope, and Reservation.Done when the request has finished,
// with the tokens it actually used.
//
// Both rate windows slide: a request or a settled token count is counted for
// exactly Window after the moment it was recorded, so no interval of length
// Window ever admits more than the limit (a fixed per-minute window would let
// twice the limit through around the minute boundary).
//
// Limiters never read a clock: every time comes from the caller (now), which
// keeps them deterministic under test. Backends shared by several replicas
// therefore assume the replicas' clocks agree (NTP is enough). Times are
// handled at microsecond precision.
//
// Memory and MemorySpend keep their state in the process; the redislimit
// package keeps it in Redis so that every replica sees the same limits and
// budgets, and checks budgets and adds spend in the calls of its limits (see
// BudgetLimiter). Resilient, ResilientSpend and ResilientBudgets give every
// call to such a shared backend a deadline of milliseconds and decide what
// happens while it is unreachable or silent; they are the only part of the
// package that keeps time of its own (a background probe, see package
// outage).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Window is the length of the sliding window of both RPM and TPM limits.
const Window = time.Minute

// Values of Decision.Limit: the dimension that refused a request.
const (
	LimitRequests = "requests"
	LimitTokens   = "tokens"
	LimitStreams  = "streams"
	// LimitUnavailable means the limiter's backend could not be reached and
	// it is configured to fail closed (see Resilient).
	LimitUnavailable = "unavailable"
)

// RetryHint is the RetryAfter given when the time a retry could succeed
// depends on requests still running (a stream slot, or a token estimate
// that will only be settled by Done), which no limiter can know.
const RetryHint = time.Second

// ErrInvalid is returned for arguments that break the API's rules (an empty
// scope, a negative limit or token count, a scope given twice, an unknown
// budget period). It marks a caller bug, never a backend failure, so
// Resilient passes it through instead of failing open or closed.
var ErrInvalid = errors.New("invalid rate limit argument")

// ErrUnavailable is returned by ResilientSpend's Check when the budget
// counters cannot be reached and it is configured to fail closed.
var ErrUnavailable = errors.New("rate limit backend unavailable")

// KeyScope is the scope of a client key's own limits and budget.
func KeyScope(keyID string) string { return "key:" + keyID }

// TenantScope is the scope of a tenant's limits and budget, shared by all
// its keys.
func TenantScope(tenantID string) string { return "tenant:" + tenantID }

// Limits are the rate limits of one scope. Zero means unlimited for that
// dimension.
type Limits struct {
	// RPM is the number of requests admitted in any sliding window.
	RPM int
	// TPM is the number of tokens admitted in any sliding window: tokens
	// settled by finished requests plus the estimates of running ones.
	TPM int
	// MaxStreams is the number of streaming requests that may run at once.
	MaxStreams int
}

// Request asks admission of one request for one scope.
type Request struct {
	// Scope names what the limits apply to, e.g. "key:<id>" or
	// "tenant:<id>". Each scope is limited independently.
	Scope  string
	Limits Limits
	// EstTokens is reserved against TPM while the request runs and replaced
	// by the actual count when its Reservation is done.
	EstTokens int64
	// Stream makes the request occupy one of MaxStreams slots until its
	// Reservation is done.
	Stream bool
}

// Decision is the outcome of Limiter.Acquire.
type Decision struct {
	Allowed bool
	// Limit is the dimension that refused the request (LimitRequests,
	// LimitTokens, LimitStreams or LimitUnavailable); empty when allowed.
	Limit string
	// Scope is the scope whose limit refused the request; empty when
	// allowed.
	Scope string
	// RetryAfter is how long until a retry could be admitted: exact when
	// the refusing limit frees up by requests or settled tokens leaving the
	// window, RetryHint when it waits on running requests, and zero when
	// TooLarge (no retry can succeed).
	RetryAfter time.Duration
	// TooLarge reports that the request's token estimate alone exceeds the
	// TPM limit of Scope, so it can never be admitted as it is.
	TooLarge bool

	// The x-ratelimit-* values of the tightest scope for requests and for
	// tokens: the one with the fewest remaining. A zero limit means no
	// scope limits that dimension (send no header). Remaining counts this
	// request if it was admitted. Reset is how long until the window holds
	// nothing of what it holds now (the limit is fully replenished).
	RequestsLimit, RequestsRemaining int
	RequestsReset                    time.Duration
	TokensLimit, TokensRemaining     int64
	TokensReset                      time.Duration
}

// Reservation is what an admitted request holds until it finishes: its
// token estimate and its stream slot. Every Reservation returned with a nil
// error must be done; one returned with a refused Decision holds nothing,
// and calling Done on it is harmless.
type Reservation interface {
	// Done settles the request: replaces its token estimate with
	// actualTokens (which may be larger or smaller) and releases its stream
	// slot. The actual tokens are counted in the TPM window from the latest
	// time the limiter has been given (the largest now passed to Acquire),
	// and never earlier than the request's own admission. Done settles
	// even when ctx is already canceled: a request whose client went away
	// still releases what it holds. Done may be called more than once;
	// calls after the first do nothing and return nil. Done is safe for
	// concurrent use.
	Done(ctx context.Context, actualTokens int64) error
}

// Limiter admits requests against per-scope limits. Implementations are
// safe for concurrent use.
type Limiter interface {
	// Acquire admits a request for all reqs at once, or for none: a request
	// refused by one scope consumes nothing of the others. An empty reqs
	// is admitted. On success the Reservation is never nil; the caller
	// calls its Done when the request has finished. An error means the
	// limiter could not decide (an ErrInvalid argument, a canceled ctx, an
	// unreachable backend).
	Acquire(ctx context.Context, now time.Time, reqs []Request) (Decision, Reservation, error)
}

// NopReservation is a Reservation that holds nothing.
type NopReservation struct{}

// Done does nothing.
func (NopReservation) Done(context.Context, int64) error { return nil }

// InProcess is implemented by the Reservations and Spends whose calls
// never leave the process (no network, no disk): they ignore their
// context, so a caller need not make one with a deadline for them. A
// wrapper over a backend that may be remote must not implement it.
type InProcess interface {
	InProcess()
}

// InProcess marks NopReservation as in-process.
func (NopReservation) InProcess() {}

// IsInProcess reports whether v (a Reservation or a Spend) is known to
// stay in the process; nil is, as it does nothing.
func IsInProcess(v any) bool {
	if v == nil {
		return true
	}
	_, ok := v.(InProcess)
	return ok
}

// ValidateRequests checks reqs against the API's rules; the error wraps
// ErrInvalid. It is for Limiter implementations.
func ValidateRequests(reqs []Request) error {
	for i, r := range reqs {
		switch {
		case r.Scope == "":
			return fmt.Errorf("%w: request %d has an empty scope", ErrInvalid, i)
		case r.Limits.RPM < 0 || r.Limits.TPM < 0 || r.Limits.MaxStreams < 0:
			return fmt.Errorf("%w: scope %q has a negative limit", ErrInvalid, r.Scope)
		case r.EstTokens < 0:
			return fmt.Errorf("%w: scope %q has a negative token estimate", ErrInvalid, r.Scope)
		}
		for _, p := range reqs[:i] {
			if p.Scope == r.Scope {
				return fmt.Errorf("%w: scope %q given twice", ErrInvalid, r.Scope)
			}
		}
	}
	return nil
}

// Tracked reports whether a backend must keep state for r: whether any of
// its limits applies to it. Untracked requests are always admitted and
// record nothing.
func (r Request) Tracked() bool {
	return r.Limits.RPM > 0 || r.Limits.TPM > 0 || (r.Stream && r.Limits.MaxStreams > 0)
}

// Holds reports whether r leaves something to release when its
// reservation is done: a token estimate counted against TPM, or a stream
// slot.
func (r Request) Holds() bool {
	return r.Limits.TPM > 0 || (r.Stream && r.Limits.MaxStreams > 0)
}

// BudgetLimiter is implemented by a Limiter whose backend keeps the budgets'
// spend counters too, so that one call can check the budgets and acquire
// the limits, and one call can settle a reservation and add the request's
// spend, where a Spend and a Limiter take two each. It is an optional
// capability: callers use it when present and otherwise call Spend.Check
// then Acquire, and Reservation.Done then Spend.Add, with the same outcome.
// Limiter and Spend stay small and independent (Memory and MemorySpend
// have no round trips to save and implement only those); a backend that
// keeps both in one place offers this on top.
type BudgetLimiter interface {
	Limiter
	// AcquireBudgets is Spend.Check of budgets followed, if every budget
	// has room, by Acquire of reqs, in one atomic call. When a budget is
	// spent, exhausted is the one Spend.Check would return, the Decision
	// is refused with an empty Limit, and nothing is acquired. Otherwise
	// it returns what Acquire returns; the Reservation of an admitted
	// request may implement SpendReservation.
	AcquireBudgets(ctx context.Context, now time.Time, reqs []Request, budgets []Budget) (d Decision, exhausted *Budget, res Reservation, err error)
}

// SpendReservation is implemented by the reservations of a BudgetLimiter
// that can add a request's spend in the call that settles it.
type SpendReservation interface {
	Reservation
	// DoneSpend is Done followed by Spend.Add(ctx, now, scopes, usd), in
	// one call. Its spend is added even when the reservation was done
	// already. A spend argument that breaks the API's rules is reported
	// (ErrInvalid) after the reservation is settled.
	DoneSpend(ctx context.Context, actualTokens int64, now time.Time, scopes []string, usd float64) error
}
