package route

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
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
}

// modelPlan is what New works out once per model so that Plan only checks
// the per-request parts.
type modelPlan struct {
	channels []*channel // parallel to the model's offerings
	excl     []exclusive
	commits  []committed
}

// exclusive is an exclusivity contract whose model globs select a model.
type exclusive struct {
	contract *Contract
	allowed  []bool   // parallel to the model's offerings
	names    []string // {contract.Name}, shared by candidates it removes
	removed  string   // a candidate's Removed text
	why      string   // the decision's explanation
	removes  bool     // allowed has a false
}

// committed is a commitment whose channel offers a model.
type committed struct {
	contract  *Contract
	channel   *channel
	offerings []int // the model's offerings on the committed channel
}

// NewRouter returns a router over c without contracts, with default
// health settings. now is the clock (time.Now when nil).
func NewRouter(c *Catalog, now func() time.Time) *Router {
	r, err := New(Options{Catalog: c, Now: now})
	if err != nil {
		// Unreachable: without contracts there is nothing to reject.
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
			if !slices.Contains(c.periods, cm.Period) {
				c.periods = append(c.periods, cm.Period)
			}
		}
	}
	r.plans = make([]modelPlan, len(r.catalog.models))
	for mi, m := range r.catalog.models {
		mp := &r.plans[mi]
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
				cd := committed{contract: ct, channel: r.channels[cm.Provider]}
				for j, off := range m.Offerings {
					if off.Provider == cm.Provider {
						cd.offerings = append(cd.offerings, j)
					}
				}
				if len(cd.offerings) > 0 {
					mp.commits = append(mp.commits, cd)
				}
			}
		}
	}
	return r, nil
}

func newExclusive(ct *Contract, m *Model) exclusive {
	x := exclusive{contract: ct, allowed: make([]bool, len(m.Offerings)), names: []string{ct.Name}}
	var out []string
	for j := range m.Offerings {
		x.allowed[j] = ct.Allow.allows(&m.Offerings[j])
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

// Plan orders the offerings of in.Model for one request: exclusivity
// contracts remove what they do not allow, unhealthy and cooling channels
// are set aside, the model's strategy orders the rest, behind-pace
// commitments move their channel first, and the attempt budget cuts the
// tail. A half-open channel that makes the order is admitted as a probe.
//
// The error is ErrUnknownModel (wrapped) for a name the catalog lacks, or
// a *NoChannelError when the contracts leave nothing, or nothing healthy;
// the decision is returned with it for explanation.
func (r *Router) Plan(in Input) (*Decision, error) { return r.plan(in, true) }

// Explain is Plan without side effects: it reserves no half-open probe,
// so it can answer "where would this request go" at any time. Weighted
// and exploratory choices are drawn as Plan would draw them.
func (r *Router) Explain(in Input) (*Decision, error) { return r.plan(in, false) }

// smallN sizes the stack buffers of a plan; models with more offerings
// allocate.
const smallN = 16

func (r *Router) plan(in Input, admit bool) (*Decision, error) {
	mi, ok := r.catalog.index(in.Model)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownModel, in.Model)
	}
	m, mp := r.catalog.models[mi], &r.plans[mi]
	if in.Traffic == "" {
		in.Traffic = Stateless
	}
	now := r.now()
	n := len(m.Offerings)
	d := &Decision{
		Model: m.Name, Tenant: in.Tenant, Traffic: in.Traffic, Strategy: m.strategy(),
		PerAttemptTimeout: m.PerAttemptTimeout,
		Order:             []Offering{},
		Candidates:        make([]Candidate, n),
		Why:               make([]string, 0, 4),
	}
	for i := range m.Offerings {
		d.Candidates[i].Offering = m.Offerings[i]
	}

	// Exclusivity: every matching contract must allow an offering.
	matched := 0
	for k := range mp.excl {
		x := &mp.excl[k]
		if !x.contract.Match.matchesRequest(in.Tenant, in.Traffic) {
			continue
		}
		matched++
		d.Contracts = append(d.Contracts, x.contract.Name)
		d.Why = append(d.Why, x.why)
		if !x.removes {
			continue
		}
		for i := range d.Candidates {
			if x.allowed[i] {
				continue
			}
			c := &d.Candidates[i]
			if c.Reason == "" {
				c.Reason, c.Removed, c.Contracts = ReasonContract, x.removed, x.names[:1:1]
			} else {
				c.Contracts = append(c.Contracts, x.contract.Name)
				c.Removed = "not allowed by " + contractList(c.Contracts)
			}
		}
	}

	// Health: a snapshot of each allowed channel.
	var snapBuf [smallN]snapshot
	var goodBuf, coolBuf, sickBuf [smallN]int
	snaps := sized(snapBuf[:], n)
	good, cooling, sick := goodBuf[:0], coolBuf[:0], sickBuf[:0]
	for i := range d.Candidates {
		c := &d.Candidates[i]
		s := mp.channels[i].snapshot(now, &r.bo)
		snaps[i] = s
		c.Health = s.state.String()
		switch {
		case c.Reason != "":
		case s.state == open || s.state == halfOpen && !s.probeFree:
			sick = append(sick, i)
		case now.Before(s.coolUntil):
			cooling = append(cooling, i)
		default:
			good = append(good, i)
		}
	}
	if len(good)+len(cooling)+len(sick) == 0 {
		return d, &NoChannelError{Model: m.Name, Contracts: removingContracts(mp, d.Contracts)}
	}
	forced := false
	switch {
	case len(good) > 0:
		r.setAside(d, sick, snaps, "health: set aside ")
		r.setAside(d, cooling, snaps, "cooling down: set aside ")
	case len(cooling) > 0:
		// A cool-down is advice, not a contract: when every healthy
		// channel is cooling, try them anyway rather than refuse.
		r.setAside(d, sick, snaps, "health: set aside ")
		d.Why = append(d.Why, "every healthy channel is cooling down after a rate limit: trying them anyway")
		good = cooling
	case matched > 0:
		// Never fall back to a channel the contracts exclude.
		r.setAside(d, sick, snaps, "every allowed channel is unhealthy: ")
		return d, &NoChannelError{Model: m.Name, Contracts: d.Contracts, Unhealthy: true}
	default:
		// Every channel is down and no contract restricts the choice:
		// probe the least bad rather than refuse outright.
		forced = true
		good = sick
		insertionSort(good, func(a, b int) bool {
			sa, sb := &snaps[a], &snaps[b]
			if (sa.state == halfOpen) != (sb.state == halfOpen) {
				return sa.state == halfOpen
			}
			return sa.openUntil.Before(sb.openUntil)
		})
		d.Why = append(d.Why, "every channel is unhealthy: probing the least bad first (half-open, then the soonest to half-open)")
	}

	if !forced {
		d.Why = append(d.Why, r.orderBy(d.Strategy, m, &in, good, snaps))
		r.applyCommitments(d, mp, &in, good, now)
	}

	// Admission and the attempt budget.
	budget := m.maxAttempts()
	d.Order = make([]Offering, 0, min(budget, len(good)))
	var left []int
	for _, i := range good {
		c := &d.Candidates[i]
		if len(d.Order) == budget {
			c.Reason, c.Removed = ReasonAttemptBudget, "beyond the attempt budget of "+strconv.Itoa(budget)
			left = append(left, i)
			continue
		}
		probe := forced || snaps[i].state != closed
		if probe && admit && !mp.channels[i].admit(now, &r.bo, forced) {
			c.Reason, c.Removed = ReasonProbeBusy, probeBusy
			continue
		}
		if probe {
			d.Why = append(d.Why, c.Provider+"'s circuit breaker is "+strings.ReplaceAll(c.Health, "_", "-")+": this request is a probe")
		}
		d.Order = append(d.Order, c.Offering)
	}
	if len(left) > 0 {
		var b strings.Builder
		b.WriteString("attempt budget ")
		b.WriteString(strconv.Itoa(budget))
		b.WriteString(": left out ")
		writeProviders(&b, m, left)
		d.Why = append(d.Why, b.String())
	}
	if len(d.Order) == 0 {
		// Another request took the last probe slot since the snapshot.
		if matched > 0 {
			return d, &NoChannelError{Model: m.Name, Contracts: d.Contracts, Unhealthy: true}
		}
		i := good[0]
		if admit {
			mp.channels[i].admit(now, &r.bo, true)
		}
		c := &d.Candidates[i]
		c.Reason, c.Removed = "", ""
		d.Order = append(d.Order, c.Offering)
		d.Why = append(d.Why, c.Provider+" is the least bad: trying it beyond its probe limit")
	}
	d.MaxAttempts = len(d.Order)
	return d, nil
}

// sized returns buf[:n], or a new slice when buf is too small.
func sized[T any](buf []T, n int) []T {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]T, n)
}

// setAside marks unhealthy or cooling candidates as removed and explains
// it, the explanation starting with prefix.
func (r *Router) setAside(d *Decision, idx []int, snaps []snapshot, prefix string) {
	if len(idx) == 0 {
		return
	}
	for _, i := range idx {
		c, s := &d.Candidates[i], &snaps[i]
		switch {
		case s.state == open:
			c.Reason, c.Removed = ReasonBreakerOpen, "circuit breaker open until "+s.openUntil.UTC().Format(time.RFC3339)
		case s.state == halfOpen && !s.probeFree:
			c.Reason, c.Removed = ReasonProbeBusy, probeBusy
		default:
			c.Reason, c.Removed = ReasonCoolingDown, "cooling down after a rate limit until "+s.coolUntil.UTC().Format(time.RFC3339)
		}
	}
	d.Why = append(d.Why, prefix+candidateList(d, idx))
}

// probeBusy is the Removed text of a half-open channel without a free
// probe slot.
const probeBusy = "half-open: its probe is already in flight"

// applyCommitments moves the channels of commitments that are behind pace
// to the front of order, most behind first. Commitments never bring back
// a removed offering.
func (r *Router) applyCommitments(d *Decision, mp *modelPlan, in *Input, order []int, now time.Time) {
	type behind struct {
		cd  *committed
		gap float64 // (due - spent) / amount
	}
	var buf [4]behind
	pref := buf[:0]
	for k := range mp.commits {
		cd := &mp.commits[k]
		ct := cd.contract
		if !ct.Match.matchesRequest(in.Tenant, in.Traffic) {
			continue
		}
		cm := ct.Commitment
		inOrder := false
		for _, i := range order {
			inOrder = inOrder || slices.Contains(cd.offerings, i)
		}
		start, _, due := cm.pacing(now)
		cd.channel.mu.Lock()
		spent := cd.channel.spent(start)
		cd.channel.mu.Unlock()
		status := "commitment " + strconv.Quote(ct.Name) + ": " + cm.Provider + " spent " + formatUSD(spent) +
			" of " + formatUSD(due) + " due so far this " + string(cm.Period) + " (" + formatUSD(cm.AmountUSD) + " committed)"
		switch {
		case !inOrder:
			d.Why = append(d.Why, status+"; not applicable: the channel was set aside")
		case spent >= due:
			d.Why = append(d.Why, status+": ahead of pace, not preferred")
		default:
			d.Why = append(d.Why, status+": behind pace, preferred")
			pref = append(pref, behind{cd, (due - spent) / cm.AmountUSD})
		}
	}
	if len(pref) == 0 {
		return
	}
	for i := 1; i < len(pref); i++ {
		for j := i; j > 0 && pref[j].gap > pref[j-1].gap; j-- {
			pref[j], pref[j-1] = pref[j-1], pref[j]
		}
	}
	// Move the preferred channels' offerings first, most behind first,
	// keeping the strategy's order within each.
	front := 0
	for _, p := range pref {
		d.Contracts = append(d.Contracts, p.cd.contract.Name)
		for k := front; k < len(order); k++ {
			if slices.Contains(p.cd.offerings, order[k]) {
				moveToFront(order[front:], k-front)
				front++
			}
		}
	}
}

// removingContracts names the matched contracts that removed an
// offering; when the contracts left nothing these are to blame.
func removingContracts(mp *modelPlan, matched []string) []string {
	var out []string
	for k := range mp.excl {
		x := &mp.excl[k]
		if x.removes && slices.Contains(matched, x.contract.Name) {
			out = append(out, x.contract.Name)
		}
	}
	if len(out) == 0 {
		return matched
	}
	return out
}

// contractList renders `contract "a"` or `contracts "a" and "b"`.
func contractList(names []string) string {
	var b strings.Builder
	writeContracts(&b, names)
	return b.String()
}

// candidateList renders the providers of candidates with their reasons.
func candidateList(d *Decision, idx []int) string {
	var b strings.Builder
	for k, i := range idx {
		if k > 0 {
			b.WriteString(", ")
		}
		c := &d.Candidates[i]
		b.WriteString(c.Provider)
		if c.Removed != "" {
			b.WriteString(" (")
			b.WriteString(c.Removed)
			b.WriteString(")")
		}
	}
	return b.String()
}

// Observe records the outcome of one attempt on channel: its health, its
// latency averages (successes only), a Retry-After cool-down and its
// spend. The gateway calls it after every attempt. Unknown channels are
// ignored.
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
	if o.RetryAfter > 0 {
		if until := now.Add(o.RetryAfter); until.After(c.coolUntil) {
			c.coolUntil = until
		}
	}
	if o.CostUSD > 0 && len(c.periods) > 0 {
		c.addSpend(now, o.CostUSD)
	}
	c.record(now, &o, &r.bo)
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

// SeedSpend records usd as spent on channel since periodStart, typically
// loaded from the usage ledger at start-up, before the router serves. It
// replaces an earlier seed for the same start; costs observed through
// Observe add to it. Only the start of a period in progress of one of the
// channel's commitments is kept; other seeds have nothing to inform and
// are ignored.
func (r *Router) SeedSpend(channel string, periodStart time.Time, usd float64) {
	c := r.channels[channel]
	if c == nil {
		return
	}
	now := r.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneTallies(now)
	if t := c.tally(periodStart); t != nil {
		t.seeded = usd
		return
	}
	for _, p := range c.periods {
		if start, _ := p.Bounds(now); start.Equal(periodStart) {
			c.tallies = append(c.tallies, tally{start: start, seeded: usd})
			return
		}
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
		start, end, due := cm.pacing(now)
		c := r.channels[cm.Provider]
		c.mu.Lock()
		spent := c.spent(start)
		c.mu.Unlock()
		out = append(out, CommitmentState{
			Contract: ct.Name, Provider: cm.Provider, Period: cm.Period, PeriodStart: start, PeriodEnd: end,
			AmountUSD: cm.AmountUSD, SpentUSD: spent, PacingUSD: due, Behind: spent < due,
		})
	}
	return out
}

// Adopt carries the per-channel state of old (health, latency averages,
// cool-downs, spend tallies) into r for the channels both know, when the
// configuration is reloaded. Call it before r serves any request.
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
