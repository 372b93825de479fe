package route

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrUnknownModel is returned for a model name the catalog does not have.
var ErrUnknownModel = errors.New("unknown model")

// ErrNoChannel is returned when every offering of a model was removed.
var ErrNoChannel = errors.New("no channel available")

// Traffic classes.
const (
	Stateless = "stateless"
	Stateful  = "stateful"
)

// Input is what routing knows about a request.
type Input struct {
	Model   string
	Tenant  string
	Traffic string
}

// Candidate is one offering considered for a request, with the reason it
// was removed if it was.
type Candidate struct {
	Offering
	// Removed says why the candidate cannot serve the request (for example
	// "cooling down until ..."); empty when it can.
	Removed string `json:",omitempty"`
}

// Decision is the routing plan for one request: the candidates in the
// order they will be tried.
type Decision struct {
	Model       string
	Strategy    string
	MaxAttempts int
	// Order holds the usable offerings, best first.
	Order []Offering
	// Candidates holds every offering with the reason for removal, for
	// explanations.
	Candidates []Candidate
	// Contracts names the contracts that shaped the decision.
	Contracts []string
}

// Header renders the decision compactly for x-switchyard-route, given the
// channels actually attempted.
func (d *Decision) Header(attempted []string) string {
	var b strings.Builder
	b.WriteString("strategy=")
	b.WriteString(d.Strategy)
	if len(attempted) > 0 {
		b.WriteString("; attempts=")
		b.WriteString(strings.Join(attempted, ","))
	}
	if len(d.Contracts) > 0 {
		b.WriteString("; contracts=")
		b.WriteString(strings.Join(d.Contracts, ","))
	}
	return b.String()
}

// Router plans requests over a catalog and remembers per-channel state.
// It is safe for concurrent use.
type Router struct {
	catalog *Catalog
	now     func() time.Time

	mu      sync.Mutex
	coolOff map[string]time.Time // channel → until
}

// NewRouter returns a router over c. now is the clock (time.Now when nil).
func NewRouter(c *Catalog, now func() time.Time) *Router {
	if now == nil {
		now = time.Now
	}
	return &Router{catalog: c, now: now, coolOff: map[string]time.Time{}}
}

// Catalog returns the router's catalog.
func (r *Router) Catalog() *Catalog { return r.catalog }

// Plan orders the offerings of in.Model for one request.
func (r *Router) Plan(in Input) (*Decision, error) {
	m, ok := r.catalog.Lookup(in.Model)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownModel, in.Model)
	}
	d := &Decision{Model: m.Name, Strategy: m.Strategy, MaxAttempts: m.MaxAttempts}
	now := r.now()
	var cooling []Offering
	r.mu.Lock()
	for _, o := range m.Offerings {
		c := Candidate{Offering: o}
		if until, ok := r.coolOff[o.Provider]; ok && now.Before(until) {
			c.Removed = "cooling down after a rate limit until " + until.UTC().Format(time.RFC3339)
			cooling = append(cooling, o)
		} else {
			d.Order = append(d.Order, o)
		}
		d.Candidates = append(d.Candidates, c)
	}
	r.mu.Unlock()
	// A cool-down is advice, not a contract: when every channel is
	// cooling, try them anyway rather than refuse outright.
	if len(d.Order) == 0 {
		d.Order = cooling
	}
	if len(d.Order) == 0 {
		return d, fmt.Errorf("%w for model %q", ErrNoChannel, m.Name)
	}
	if d.MaxAttempts <= 0 || d.MaxAttempts > len(d.Order) {
		d.MaxAttempts = len(d.Order)
	}
	return d, nil
}

// CoolDown keeps channel out of plans until now+d, as an upstream's
// Retry-After asks.
func (r *Router) CoolDown(channel string, d time.Duration) {
	if d <= 0 {
		return
	}
	until := r.now().Add(d)
	r.mu.Lock()
	if until.After(r.coolOff[channel]) {
		r.coolOff[channel] = until
	}
	r.mu.Unlock()
}
