package ratelimit_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/ratelimit"
)

func TestDecide(t *testing.T) {
	now := at(100)
	tok := func(scope string, tpm int, est int64) ratelimit.Request {
		return ratelimit.Request{Scope: scope, Limits: ratelimit.Limits{TPM: tpm}, EstTokens: est}
	}
	for _, c := range []struct {
		name   string
		reqs   []ratelimit.Request
		states []ratelimit.ScopeState
		want   ratelimit.Decision
	}{
		{
			name:   "running_requests_block_after_settled_ones_leave",
			reqs:   []ratelimit.Request{tok("key:a", 100, 50)},
			states: []ratelimit.ScopeState{{Tokens: 90, InFlight: 80, SettledNewest: at(50)}},
			want: ratelimit.Decision{Limit: ratelimit.LimitTokens, Scope: "key:a", RetryAfter: 10 * time.Second,
				TokensLimit: 100, TokensRemaining: 10, TokensReset: time.Minute},
		},
		{
			name:   "running_requests_block_at_least_the_hint",
			reqs:   []ratelimit.Request{tok("key:a", 100, 50)},
			states: []ratelimit.ScopeState{{Tokens: 90, InFlight: 80, SettledNewest: at(40.5)}},
			want: ratelimit.Decision{Limit: ratelimit.LimitTokens, Scope: "key:a", RetryAfter: ratelimit.RetryHint,
				TokensLimit: 100, TokensRemaining: 10, TokensReset: time.Minute},
		},
		{
			name: "equal_remaining_reports_the_later_reset",
			reqs: []ratelimit.Request{
				{Scope: "key:a", Limits: ratelimit.Limits{RPM: 10}},
				{Scope: "tenant:t", Limits: ratelimit.Limits{RPM: 20}},
				{Scope: "tenant:u", Limits: ratelimit.Limits{RPM: 10}},
			},
			states: []ratelimit.ScopeState{
				{Requests: 10, RequestsNewest: at(90), RequestsFree: at(150)},
				{Requests: 20, RequestsNewest: at(99), RequestsFree: at(145)},
				{Requests: 3, RequestsNewest: at(95)},
			},
			want: ratelimit.Decision{Limit: ratelimit.LimitRequests, Scope: "key:a", RetryAfter: 50 * time.Second,
				RequestsLimit: 20, RequestsRemaining: 0, RequestsReset: 59 * time.Second},
		},
		{
			name:   "record_from_a_clock_ahead",
			reqs:   []ratelimit.Request{{Scope: "key:a", Limits: ratelimit.Limits{RPM: 10}}},
			states: []ratelimit.ScopeState{{Requests: 1, RequestsNewest: at(102)}},
			want:   ratelimit.Decision{Allowed: true, RequestsLimit: 10, RequestsRemaining: 8, RequestsReset: 62 * time.Second},
		},
		{
			name: "streams_and_requests_refuse_the_longer_wait_wins",
			reqs: []ratelimit.Request{
				{Scope: "key:a", Limits: ratelimit.Limits{MaxStreams: 1}, Stream: true},
				{Scope: "tenant:t", Limits: ratelimit.Limits{RPM: 1}},
			},
			states: []ratelimit.ScopeState{
				{Streams: 1},
				{Requests: 1, RequestsNewest: at(99.5), RequestsFree: at(159.5)},
			},
			want: ratelimit.Decision{Limit: ratelimit.LimitRequests, Scope: "tenant:t", RetryAfter: 59500 * time.Millisecond,
				RequestsLimit: 1, RequestsReset: 59500 * time.Millisecond},
		},
		{
			name: "equal_waits_name_the_first",
			reqs: []ratelimit.Request{
				{Scope: "key:a", Limits: ratelimit.Limits{MaxStreams: 1}, Stream: true},
				{Scope: "tenant:t", Limits: ratelimit.Limits{MaxStreams: 2}, Stream: true},
			},
			states: []ratelimit.ScopeState{{Streams: 1}, {Streams: 2}},
			want:   ratelimit.Decision{Limit: ratelimit.LimitStreams, Scope: "key:a", RetryAfter: ratelimit.RetryHint},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, ratelimit.Decide(now, c.reqs, c.states)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
