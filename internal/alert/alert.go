// Package alert owns the gateway's alerts: the events worth telling an
// operator about (a budget crossing a threshold, a commitment off its
// pace, a channel's breaker opening, a compliance violation, a key about
// to expire), recording each exactly once in the store's outbox, and
// delivering them to webhooks in the Standard Webhooks format or a
// Slack-compatible one.
//
// An event is identified by its kind, subject, threshold and period: the
// same event raised again (by the next check, by another replica, after a
// restart) is the same outbox row, so it is delivered once. The replica
// whose insert stores the row holds its lease and delivers it; a row left
// pending (its replica stopped or died) is taken over by any replica once
// its lease lapses. Delivery runs on a bounded pool of workers with a
// bounded queue, retries with exponential backoff and jitter, and gives up
// after a number of attempts or a total time; nothing here ever runs while
// a client request waits.
package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kind is what an alert is about.
type Kind string

// The kinds of alert. Each is a webhook's event type.
const (
	// BudgetThreshold: a tenant's or key's spend crossed a percentage of
	// its budget in the current budget period.
	BudgetThreshold Kind = "budget_threshold"
	// CommitmentBehind and CommitmentAhead: a commitment's spend is
	// below or above its pace.
	CommitmentBehind Kind = "commitment_behind"
	CommitmentAhead  Kind = "commitment_ahead"
	// BreakerOpen: a channel's circuit breaker opened.
	BreakerOpen Kind = "breaker_open"
	// ComplianceViolation: a channel carried a request that an
	// exclusivity contract does not allow.
	ComplianceViolation Kind = "compliance_violation"
	// KeyExpiring: a client key expires soon.
	KeyExpiring Kind = "key_expiring"
	// BudgetRunsOut: a budget's run rate spends it before its period
	// ends.
	BudgetRunsOut Kind = "budget_runs_out"
	// CommitmentEndsShort: a commitment's run rate ends its period below
	// the committed amount.
	CommitmentEndsShort Kind = "commitment_ends_short"
	// BillDrift: a reconciliation found a cloud's bill and the ledger
	// apart beyond its thresholds on a day, channel and model.
	BillDrift Kind = "bill_drift"
)

// Kinds lists every kind.
var Kinds = []Kind{BudgetThreshold, CommitmentBehind, CommitmentAhead, BreakerOpen, ComplianceViolation, KeyExpiring,
	BudgetRunsOut, CommitmentEndsShort, BillDrift}

// Event is one alert. Kind, Subject, Threshold and Period identify it:
// raising an event with the same four again is a no-op.
type Event struct {
	Kind Kind `json:"kind"`
	// Subject is what the event is about, as "scope:id" (tenant:ten_…,
	// key:key_…, channel:name, commitment:contract/channel,
	// contract:name/channel).
	Subject string `json:"subject"`
	// Threshold distinguishes events of one subject and period (a budget's
	// percentage); empty when the kind has none.
	Threshold string `json:"threshold,omitempty"`
	// Period is the span the event is once per (a budget period's start,
	// a day, a breaker window, a key's expiry time).
	Period string `json:"period"`
	// Summary is one line for people.
	Summary string `json:"summary"`
	// Details are the event's figures (spend, budget, pace, request id,
	// ...), flat values only.
	Details map[string]any `json:"details,omitempty"`
	// At is when the event was detected.
	At time.Time `json:"at"`
}

// key is the event's identity for one endpoint. Its parts are joined by
// the ASCII unit separator, which no ID or name the gateway accepts
// contains.
func (e *Event) key(endpoint string) string {
	return strings.Join([]string{string(e.Kind), e.Subject, e.Threshold, e.Period, endpoint}, "\x1f")
}

// payload is the Standard Webhooks body: type, timestamp and data.
type payload struct {
	Type      Kind      `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Event     `json:"data"`
}

// encode renders e as the body sent to a standard endpoint, which the
// outbox keeps; a Slack body is rendered from it at delivery.
func encode(e *Event) (string, error) {
	b, err := json.Marshal(payload{Type: e.Kind, Timestamp: e.At.UTC(), Data: *e})
	if err != nil {
		return "", fmt.Errorf("encoding alert: %w", err)
	}
	return string(b), nil
}

// maxBody bounds a stored body decode reads: bodies this package writes
// are a few hundred bytes.
const maxBody = 64 << 10

// decode reads a body written by encode back into its event.
func decode(body string) (*Event, error) {
	if len(body) > maxBody {
		return nil, fmt.Errorf("decoding alert: body of %d bytes is over %d", len(body), maxBody)
	}
	var p payload
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return nil, fmt.Errorf("decoding alert: %w", err)
	}
	if p.Type == "" || p.Data.Kind != p.Type {
		return nil, fmt.Errorf("decoding alert: type %q does not match kind %q", p.Type, p.Data.Kind)
	}
	return &p.Data, nil
}
