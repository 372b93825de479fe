package route

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownModel is returned for a model name the catalog does not have.
var ErrUnknownModel = errors.New("unknown model")

// ErrNoChannel is returned when no offering of a model may serve a
// request. The error Plan returns is a *NoChannelError that wraps it.
var ErrNoChannel = errors.New("no channel available")

// Traffic classes.
const (
	// Stateless traffic carries its whole context.
	Stateless = "stateless"
	// Stateful traffic uses state kept by the gateway (stored responses,
	// conversations).
	Stateful = "stateful"
)

// Input is what routing knows about a request.
type Input struct {
	// Model is the name the client asked for (a name or an alias).
	Model string
	// Tenant is the tenant's name, for contracts.
	Tenant string
	// Traffic is Stateless or Stateful; empty means Stateless.
	Traffic string
	// EstInputTokens and EstOutputTokens are the expected token counts,
	// used by the lowest_cost strategy. When both are zero, offerings are
	// compared on the price of a million tokens each way.
	EstInputTokens, EstOutputTokens int64
}

// Reason classifies why a candidate was removed from a plan.
type Reason string

// Removal reasons.
const (
	// ReasonContract: an exclusivity contract that matches the request
	// does not allow the offering.
	ReasonContract Reason = "contract"
	// ReasonBreakerOpen: the channel's circuit breaker is open.
	ReasonBreakerOpen Reason = "breaker_open"
	// ReasonProbeBusy: the breaker is half-open and its probes are already
	// in flight.
	ReasonProbeBusy Reason = "probe_in_flight"
	// ReasonCoolingDown: the channel asked to be left alone (Retry-After).
	ReasonCoolingDown Reason = "cooling_down"
	// ReasonAttemptBudget: the offering comes after the model's last
	// allowed attempt.
	ReasonAttemptBudget Reason = "attempt_budget"
)

// Candidate is one offering considered for a request, with the reason it
// was removed if it was.
type Candidate struct {
	Offering
	// Health is the channel's breaker state when the plan was made.
	Health string `json:"health"`
	// Reason classifies the removal; empty when the candidate is in the
	// order.
	Reason Reason `json:"reason,omitempty"`
	// Removed says why the candidate cannot serve the request, for people
	// (for example "cooling down until ..."); empty when it can.
	Removed string `json:"removed,omitempty"`
	// Contracts names the exclusivity contracts that removed the
	// candidate.
	Contracts []string `json:"contracts,omitempty"`
}

// Decision is the routing plan for one request: the candidates in the
// order they will be tried, and why.
type Decision struct {
	// Model is the canonical client-facing model name.
	Model   string `json:"model"`
	Tenant  string `json:"tenant,omitempty"`
	Traffic string `json:"traffic"`
	// Strategy is the model's strategy.
	Strategy string `json:"strategy"`
	// MaxAttempts is the number of offerings the gateway may try; it never
	// exceeds len(Order).
	MaxAttempts int `json:"max_attempts"`
	// PerAttemptTimeout bounds one attempt; zero leaves it to the channel.
	PerAttemptTimeout time.Duration `json:"per_attempt_timeout_ns,omitempty"`
	// Order holds the offerings to try, best first.
	Order []Offering `json:"order"`
	// Candidates holds every offering in configured order, with the
	// reason for removal of those not in Order.
	Candidates []Candidate `json:"candidates"`
	// Contracts names the contracts that shaped the decision: exclusivity
	// contracts that matched the request, then commitments that put their
	// channel first.
	Contracts []string `json:"contracts,omitempty"`
	// Why explains each step that shaped the order, in the order the
	// steps were taken.
	Why []string `json:"why"`
	// Probes are the half-open breakers' leaves Plan granted this request,
	// one per probed offering in Order. The gateway hands each back (see
	// Probe); Explain grants none.
	Probes []Probe `json:"-"`
}

// Header renders the decision compactly for x-switchyard-route, given the
// channels actually attempted.
func (d *Decision) Header(attempted []string) string {
	// Sized first so that the header is one allocation: it is written on
	// every answer and every ledger row.
	n := len("strategy=") + len(d.Strategy)
	if len(attempted) > 0 {
		n += len("; attempts=") + len(attempted) - 1
		for _, a := range attempted {
			n += len(a)
		}
	}
	if len(d.Contracts) > 0 {
		n += len("; contracts=") + len(d.Contracts) - 1
		for _, c := range d.Contracts {
			n += len(c)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("strategy=")
	b.WriteString(d.Strategy)
	list := func(prefix string, names []string) {
		for i, s := range names {
			if i == 0 {
				b.WriteString(prefix)
			} else {
				b.WriteByte(',')
			}
			b.WriteString(s)
		}
	}
	list("; attempts=", attempted)
	list("; contracts=", d.Contracts)
	return b.String()
}

// ParseHeader reads back what Header wrote: the channels attempted and
// the contracts named, each nil when the header lists none.
func ParseHeader(h string) (attempted, contracts []string) {
	for field := range strings.SplitSeq(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || v == "" {
			continue
		}
		switch k {
		case "attempts":
			attempted = strings.Split(v, ",")
		case "contracts":
			contracts = strings.Split(v, ",")
		}
	}
	return attempted, contracts
}

// NoChannelError reports that no offering may serve a request. It wraps
// ErrNoChannel, so errors.Is(err, ErrNoChannel) holds.
type NoChannelError struct {
	// Model is the canonical model name.
	Model string
	// Contracts names the exclusivity contracts that left nothing (or
	// nothing healthy).
	Contracts []string
	// Unhealthy is true when the contracts allowed channels but every one
	// of them has an open circuit breaker.
	Unhealthy bool
	// RetryAfter is, when Unhealthy, how long until one of those breakers
	// may let a request through as a probe.
	RetryAfter time.Duration
}

// Error names the model and the contracts, for example `no channel allowed
// by contract "stateless-on-azure" serves model "gpt-5"`.
func (e *NoChannelError) Error() string {
	var b strings.Builder
	switch {
	case len(e.Contracts) == 0:
		b.WriteString("no channel available for model ")
		b.WriteString(strconv.Quote(e.Model))
		if e.Unhealthy {
			b.WriteString(": every channel is unhealthy")
		}
		return b.String()
	case e.Unhealthy:
		b.WriteString("every channel allowed by ")
		writeContracts(&b, e.Contracts)
		b.WriteString(" for model ")
		b.WriteString(strconv.Quote(e.Model))
		b.WriteString(" is unhealthy (circuit breaker open)")
	default:
		b.WriteString("no channel allowed by ")
		writeContracts(&b, e.Contracts)
		b.WriteString(" serves model ")
		b.WriteString(strconv.Quote(e.Model))
	}
	return b.String()
}

// Unwrap returns ErrNoChannel.
func (e *NoChannelError) Unwrap() error { return ErrNoChannel }

// writeContracts writes `contract "a"` or `contracts "a" and "b"`.
func writeContracts(b *strings.Builder, names []string) {
	if len(names) == 1 {
		b.WriteString("contract ")
	} else {
		b.WriteString("contracts ")
	}
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
}
