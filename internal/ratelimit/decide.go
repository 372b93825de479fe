package ratelimit

import "time"

// ScopeState is what a backend knows about one scope at the moment of a
// decision, before the request is counted. It is for Limiter
// implementations: they fill one per Request and pass them to Decide, so
// that every backend admits, refuses and reports alike. Times are the
// backend's records; the zero Time means there is no such record.
type ScopeState struct {
	// Requests is the number of requests counted in the window.
	Requests int
	// RequestsNewest is when the newest of them was admitted.
	RequestsNewest time.Time
	// RequestsFree is when enough requests will have left the window for
	// the count to drop below the request's RPM. Only read when Requests
	// has reached a non-zero RPM.
	RequestsFree time.Time

	// Tokens is the sum of the tokens settled in the window and of the
	// estimates of running requests.
	Tokens int64
	// InFlight is the part of Tokens held by running requests' estimates.
	InFlight int64
	// SettledNewest is when the newest settled tokens in the window were
	// settled.
	SettledNewest time.Time
	// TokensFree is when enough settled tokens will have left the window
	// for the request's estimate to fit, or zero when the settled tokens
	// alone cannot make enough room. Only read when the estimate does not
	// fit.
	TokensFree time.Time

	// Streams is the number of running streams.
	Streams int
}

// Decide turns the states of reqs' scopes (states[i] belongs to reqs[i]) at
// now into a Decision: the request is allowed only if every scope has room
// in every dimension that limits it. A refused Decision names the scope and
// dimension that will take longest to free up, since a retry needs all of
// them. Decide is for Limiter implementations; a backend records the
// request only if the Decision allows it.
func Decide(now time.Time, reqs []Request, states []ScopeState) Decision {
	now = micro(now)
	d := Decision{Allowed: true}
	refuse := func(scope, limit string, retry time.Duration, tooLarge bool) {
		switch {
		case d.TooLarge:
			return // final: nothing else matters
		case tooLarge:
			retry = 0
		case !d.Allowed && retry <= d.RetryAfter:
			return
		}
		d.Allowed, d.Scope, d.Limit, d.RetryAfter, d.TooLarge = false, scope, limit, max(retry, 0), tooLarge
	}
	for i, r := range reqs {
		s, l := &states[i], r.Limits
		if l.RPM > 0 && s.Requests >= l.RPM {
			refuse(r.Scope, LimitRequests, s.RequestsFree.Sub(now), false)
		}
		if tpm := int64(l.TPM); tpm > 0 {
			switch {
			case r.EstTokens > tpm:
				refuse(r.Scope, LimitTokens, 0, true)
			case s.Tokens+r.EstTokens > tpm:
				retry := RetryHint
				if !s.TokensFree.IsZero() {
					retry = s.TokensFree.Sub(now)
				} else if !s.SettledNewest.IsZero() {
					// Every settled token must leave, and a running
					// request must finish too.
					retry = max(s.SettledNewest.Add(Window).Sub(now), RetryHint)
				}
				refuse(r.Scope, LimitTokens, retry, false)
			}
		}
		if r.Stream && l.MaxStreams > 0 && s.Streams >= l.MaxStreams {
			refuse(r.Scope, LimitStreams, RetryHint, false)
		}
	}

	for i, r := range reqs {
		s, l := &states[i], r.Limits
		if l.RPM > 0 {
			used, newest := s.Requests, s.RequestsNewest
			if d.Allowed {
				used++
				if newest.Before(now) {
					newest = now
				}
			}
			remaining := max(l.RPM-used, 0)
			var reset time.Duration
			if used > 0 && !newest.IsZero() {
				reset = max(newest.Add(Window).Sub(now), 0)
			}
			if d.RequestsLimit == 0 || remaining < d.RequestsRemaining ||
				remaining == d.RequestsRemaining && reset > d.RequestsReset {
				d.RequestsLimit, d.RequestsRemaining, d.RequestsReset = l.RPM, remaining, reset
			}
		}
		if tpm := int64(l.TPM); tpm > 0 {
			used, inFlight := s.Tokens, s.InFlight
			if d.Allowed {
				used += r.EstTokens
				inFlight += r.EstTokens
			}
			remaining := max(tpm-used, 0)
			var reset time.Duration
			if !s.SettledNewest.IsZero() {
				reset = max(s.SettledNewest.Add(Window).Sub(now), 0)
			}
			if inFlight > 0 {
				// Running requests settle no earlier than now.
				reset = max(reset, Window)
			}
			if d.TokensLimit == 0 || remaining < d.TokensRemaining ||
				remaining == d.TokensRemaining && reset > d.TokensReset {
				d.TokensLimit, d.TokensRemaining, d.TokensReset = tpm, remaining, reset
			}
		}
	}
	return d
}

// micro truncates t to the microsecond precision every backend keeps.
func micro(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()) }
