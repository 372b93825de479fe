package route

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Router. Only Catalog is required.
type Options struct {
	Catalog *Catalog
	// Contracts restrict (exclusivity, residency) and steer (commitments)
	// the plans. New copies them.
	Contracts []Contract
	// Breaker tunes the per-channel circuit breakers.
	Breaker BreakerOptions
	// Exploration is the fraction of least_latency plans that put a
	// random other channel first. Zero means 0.05; negative disables
	// exploration.
	Exploration float64
	// LatencyDecay is the weight (0..1] of a new sample in the latency
	// averages. Default: 0.2.
	LatencyDecay float64
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Rand returns uniform numbers in [0, 1) for the weighted strategy and
	// exploration. It is called from many goroutines at once. Default:
	// math/rand/v2's Float64.
	Rand func() float64
}

// Router plans requests over a catalog within the contracts, and keeps
// each channel's health, latency averages, cool-downs and spend. It is
// safe for concurrent use: the catalog and contracts are read-only after
// New, and each channel's state sits behind its own small mutex.
type Router struct {
	catalog   *Catalog
	contracts []Contract
	now       func() time.Time
	rand      func() float64
	bo        BreakerOptions
	explore   float64
	decay     float64

	channels map[string]*channel // read-only map; the values are mutable
	plans    []modelPlan         // parallel to catalog.models
	scratch  sync.Pool           // of *scratch
}

// modelPlan is what New works out once per model so that Plan only checks
// the per-request parts.
type modelPlan struct {
	channels []*channel // parallel to the model's offerings
	excl     []exclusive
	commits  []committed
	// budgetText is the Removed text of offerings beyond the budget.
	budgetText string
}

// exclusive is an exclusivity contract whose model globs select a model.
type exclusive struct {
	contract *Contract
	allowed  []bool   // parallel to the model's offerings
	names    []string // {contract.Name}, shared by candidates it removes
	removed  string   // a candidate's Removed text
	why      string   // the decision's explanation
	quoted   string   // the contract's name, quoted
	removes  bool     // allowed has a false
}

// committed is a commitment whose channel offers a model.
type committed struct {
	contract  *Contract
	channel   *channel
	offerings []int // the model's offerings on the committed channel
	// The fixed parts of the explanation: "commitment "x": p spent "
	// $spent " of " $due tail, or aside when the channel was set aside.
	head, tail, aside string
}

func newCommitted(ct *Contract, c *channel, m *Model) committed {
	cm := ct.Commitment
	cd := committed{contract: ct, channel: c}
	for j, off := range m.Offerings {
		if off.Provider == cm.Provider {
			cd.offerings = append(cd.offerings, j)
		}
	}
	lead := "commitment " + strconv.Quote(ct.Name) + ": " + cm.Provider
	cd.head = lead + " spent "
	cd.tail = " due so far this " + string(cm.Period) + " (" + formatCents(cm.AmountUSD) + " committed)"
	cd.aside = lead + " was set aside: the commitment does not apply"
	return cd
}

// NewRouter returns a router over c without contracts, with default
// health settings. now is the clock (time.Now when nil).
func NewRouter(c *Catalog, now func() time.Time) *Router {
	r, err := New(Options{Catalog: c, Now: now})
	if err != nil {
		// Without contracts only a nil catalog is rejected: a
		// programming error.
		panic(err)
	}
	return r
}

// New returns a router. It rejects invalid or duplicate contracts,
// reporting every problem.
func New(o Options) (*Router, error) {
	if o.Catalog == nil {
		return nil, errors.New("creating router: no catalog")
	}
	r := &Router{
		catalog:  o.Catalog,
		now:      o.Now,
		rand:     o.Rand,
		bo:       o.Breaker.withDefaults(),
		explore:  o.Exploration,
		decay:    o.LatencyDecay,
		channels: map[string]*channel{},
		scratch:  sync.Pool{New: func() any { return new(scratch) }},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	switch {
	case r.explore == 0:
		r.explore = 0.05
	case r.explore < 0:
		r.explore = 0
	case r.explore > 1:
		r.explore = 1
	}
	if r.decay <= 0 || r.decay > 1 {
		r.decay = 0.2
	}

	var errs []error
	seen := map[string]bool{}
	for _, c := range o.Contracts {
		if err := c.check(); err != nil {
			errs = append(errs, err)
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("contract %q: defined twice", c.Name))
		}
		seen[c.Name] = true
		r.contracts = append(r.contracts, c.clone())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("creating router: %w", err)
	}

	chans := func(name string) *channel {
		c := r.channels[name]
		if c == nil {
			c = &channel{name: name}
			r.channels[name] = c
		}
		return c
	}
	for i := range r.contracts {
		if cm := r.contracts[i].Commitment; cm != nil {
			c := chans(cm.Provider)
			if !slices.ContainsFunc(c.periods, func(b periodBounds) bool { return b.period == cm.Period }) {
				c.periods = append(c.periods, periodBounds{period: cm.Period})
			}
		}
	}
	r.plans = make([]modelPlan, len(r.catalog.models))
	for mi, m := range r.catalog.models {
		mp := &r.plans[mi]
		mp.budgetText = "beyond the attempt budget of " + strconv.Itoa(m.maxAttempts())
		for _, off := range m.Offerings {
			mp.channels = append(mp.channels, chans(off.Provider))
		}
		for i := range r.contracts {
			ct := &r.contracts[i]
			if !ct.Match.matchesModel(m) {
				continue
			}
			if ct.Allow != nil {
				mp.excl = append(mp.excl, newExclusive(ct, m))
			}
			if cm := ct.Commitment; cm != nil {
				if cd := newCommitted(ct, r.channels[cm.Provider], m); len(cd.offerings) > 0 {
					mp.commits = append(mp.commits, cd)
				}
			}
		}
	}
	return r, nil
}

func newExclusive(ct *Contract, m *Model) exclusive {
	x := exclusive{contract: ct, allowed: make([]bool, len(m.Offerings)), names: []string{ct.Name}, quoted: strconv.Quote(ct.Name)}
	var out []string
	for j := range m.Offerings {
		x.allowed[j] = ct.Allow.Allows(&m.Offerings[j])
		if !x.allowed[j] {
			out = append(out, m.Offerings[j].Provider)
		}
	}
	x.removes = len(out) > 0
	x.removed = "not allowed by contract " + strconv.Quote(ct.Name) + " (allows " + ct.Allow.describe() + ")"
	x.why = "contract " + strconv.Quote(ct.Name) + " allows " + ct.Allow.describe() + ": "
	if x.removes {
		x.why += "removed " + strings.Join(out, ", ")
	} else {
		x.why += "every offering qualifies"
	}
	return x
}

func (c Contract) clone() Contract {
	c.Match.Models = slices.Clone(c.Match.Models)
	c.Match.Tenants = slices.Clone(c.Match.Tenants)
	if c.Allow != nil {
		a := *c.Allow
		a.Providers = slices.Clone(a.Providers)
		a.ProviderTypes = slices.Clone(a.ProviderTypes)
		a.Regions = slices.Clone(a.Regions)
		c.Allow = &a
	}
	if c.Commitment != nil {
		cm := *c.Commitment
		c.Commitment = &cm
	}
	return c
}

// Catalog returns the router's catalog.
func (r *Router) Catalog() *Catalog { return r.catalog }

// Contracts returns a copy of the router's contracts, in configured order.
func (r *Router) Contracts() []Contract {
	out := make([]Contract, len(r.contracts))
	for i, c := range r.contracts {
		out[i] = c.clone()
	}
	return out
}

// Observe records the outcome of one attempt on channel: its health, its
// latency averages (successes only), a Retry-After cool-down and its
// spend. The gateway calls it after every attempt, and with an empty
// Outcome carrying the Probe for every probe the request did not use.
// Unknown channels are ignored.
func (r *Router) Observe(channel string, o Outcome) {
	c := r.channels[channel]
	if c == nil {
		return
	}
	now := r.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.Success {
		c.ttfb.add(o.TTFB, r.decay)
		c.total.add(o.Latency, r.decay)
	}
	rest := o.RetryAfter
	if o.RateLimited && rest <= 0 {
		rest = r.bo.RateLimitCoolDown
	}
	if rest > 0 {
		if until := now.Add(rest); until.After(c.coolUntil) {
			c.coolUntil = until
		}
	}
	if o.CostUSD > 0 && len(c.periods) > 0 {
		c.addSpend(now, o.CostUSD)
	}
	c.record(now, &o, &r.bo)
}

// Answered reports that the attempt made with probe p has begun to
// answer: a stream delivered its first event. The half-open breaker closes
// at once instead of when the stream ends, which may be minutes later; the
// attempt's Observe still follows when it ends, and then counts as any
// other outcome. A probe of an earlier half-open spell, or the zero Probe,
// changes nothing.
func (r *Router) Answered(p Probe) {
	c := r.channels[p.Channel]
	if c == nil || p == (Probe{}) {
		return
	}
	now := r.now()
	c.mu.Lock()
	c.answered(now, p)
	c.mu.Unlock()
}

// CoolDown keeps channel out of plans until now+d, as an upstream's
// Retry-After asks. It is Observe with only RetryAfter, without counting
// an outcome.
func (r *Router) CoolDown(channel string, d time.Duration) {
	c := r.channels[channel]
	if c == nil || d <= 0 {
		return
	}
	until := r.now().Add(d)
	c.mu.Lock()
	if until.After(c.coolUntil) {
		c.coolUntil = until
	}
	c.mu.Unlock()
}

// Health reports every channel's state, sorted by channel name.
func (r *Router) Health() []ChannelHealth {
	now := r.now()
	out := make([]ChannelHealth, 0, len(r.channels))
	for _, c := range r.channels {
		out = append(out, c.health(now, &r.bo))
	}
	slices.SortFunc(out, func(a, b ChannelHealth) int { return strings.Compare(a.Channel, b.Channel) })
	return out
}

// OnBreakerOpen sets BreakerOptions.OnOpen. Call it before the router
// serves.
func (r *Router) OnBreakerOpen(fn func(channel string, at time.Time)) { r.bo.OnOpen = fn }

// ResetBreaker closes channel's breaker at once, as an operator does when
// the outage behind it is known to be over: the breaker forgets its run of
// failures, its error-rate window, its trips (the next trip cools off for
// the base time again) and any Retry-After cool-down, and probes granted
// before the reset no longer count. It reports whether the channel exists.
func (r *Router) ResetBreaker(channel string) bool {
	c := r.channels[channel]
	if c == nil {
		return false
	}
	now := r.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.close(now)
	c.freeProbes()
	c.gen++
	c.trips = 0
	c.openUntil = time.Time{}
	c.coolUntil = time.Time{}
	return true
}

// SeedSpend records usd as spent on channel since periodStart, typically
// loaded from the usage ledger at start-up or on a reload, before the
// router serves. It replaces an earlier seed for the same start; costs
// observed through Observe add to it. Only the start of a period in
// progress of one of the channel's commitments is kept; other seeds have
// nothing to inform and are ignored.
func (r *Router) SeedSpend(channel string, periodStart time.Time, usd float64) {
	c := r.channels[channel]
	if c == nil {
		return
	}
	now := r.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.startTally(periodStart, now); t != nil {
		t.seeded = usd
	}
}

// SpendMark is the spend a router observed on a commitment's channel in
// one period, as of MarkSpend.
type SpendMark struct {
	Channel     string
	PeriodStart time.Time
	observed    float64
}

// MarkSpend returns a mark for every commitment channel and period in
// progress, sorted by channel. It is the first step of reconciling the
// spend with a ledger that other replicas write too: take the marks, make
// sure everything this router observed so far is in the ledger (flush its
// writer), read the ledger's spend per channel since each mark's start,
// and pass each sum to RefreshSpend.
func (r *Router) MarkSpend() []SpendMark {
	now := r.now()
	var out []SpendMark
	for name, c := range r.channels {
		c.mu.Lock()
		for _, b := range c.periods {
			start, _ := c.current(b.period, now)
			out = append(out, SpendMark{Channel: name, PeriodStart: start, observed: c.observedSince(start)})
		}
		c.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b SpendMark) int {
		if n := strings.Compare(a.Channel, b.Channel); n != 0 {
			return n
		}
		return a.PeriodStart.Compare(b.PeriodStart)
	})
	return out
}

// RefreshSpend sets the spend of m's channel in m's period to usd, read
// from the shared ledger after m was taken. The spend this router observed
// before the mark is in usd and is not counted again; what it observed
// since is added to usd, so the count stays exact between refreshes. A
// mark of a period no longer in progress is ignored.
func (r *Router) RefreshSpend(m SpendMark, usd float64) {
	c := r.channels[m.Channel]
	if c == nil {
		return
	}
	now := r.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.startTally(m.PeriodStart, now); t != nil {
		t.seeded = usd
		t.observed = max(t.observed-m.observed, 0)
	}
}

// CommitmentState is a commitment's progress in its current period.
type CommitmentState struct {
	Contract    string    `json:"contract"`
	Provider    string    `json:"provider"`
	Period      Period    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	AmountUSD   float64   `json:"amount_usd"`
	SpentUSD    float64   `json:"spent_usd"`
	// PacingUSD is the spend due by now under even pacing.
	PacingUSD float64 `json:"pacing_usd"`
	// Behind is true while SpentUSD < PacingUSD: the channel is preferred.
	Behind bool `json:"behind"`
	// BurnDown is the configured basis of reported progress: "ledger" or
	// "billed".
	BurnDown string `json:"burn_down"`
}

// CommitmentStatus reports every commitment's progress at now, in
// contract order.
func (r *Router) CommitmentStatus(now time.Time) []CommitmentState {
	var out []CommitmentState
	for i := range r.contracts {
		ct := &r.contracts[i]
		cm := ct.Commitment
		if cm == nil {
			continue
		}
		c := r.channels[cm.Provider]
		c.mu.Lock()
		start, end := c.current(cm.Period, now)
		spent := c.spent(start)
		c.mu.Unlock()
		due := cm.due(start, end, now)
		out = append(out, CommitmentState{
			Contract: ct.Name, Provider: cm.Provider, Period: cm.Period, PeriodStart: start, PeriodEnd: end,
			AmountUSD: cm.AmountUSD, SpentUSD: spent, PacingUSD: due, Behind: spent < due,
			BurnDown: cmp.Or(cm.BurnDown, "ledger"),
		})
	}
	return out
}

// Adopt carries the per-channel state of old (health, latency averages,
// cool-downs, spend tallies) into r for the channels both know, when the
// configuration is reloaded. Call it before r serves any request. A tally
// of old replaces r's tally of the same period; r keeps the tallies (seeds)
// of periods old did not track, such as a commitment the reload added or
// moved to another period.
func (r *Router) Adopt(old *Router) {
	if old == nil || old == r {
		return
	}
	now := r.now()
	for name, c := range r.channels {
		if oc := old.channels[name]; oc != nil {
			c.adopt(oc, now)
		}
	}
}
