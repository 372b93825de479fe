package route

import (
	"fmt"
	"slices"
	"time"
)

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

// probeBusy is the Removed text of a half-open channel without a free
// probe slot.
const probeBusy = "half-open: its probe is already in flight"

// decisionRoom is a decision with room for the candidates, the order and
// the Why lines of a model with a few offerings, so that planning for it
// allocates once rather than once for each. Each slice is capped at what
// it holds, as its own allocation would be.
type decisionRoom struct {
	d     Decision
	cands [roomN]Candidate
	order [roomN]Offering
	why   [roomN]string
}

// roomN is the most offerings a decisionRoom has room for.
const roomN = 2

// scratch holds the working buffers of one plan. Plans take them from a
// pool: none of them is referenced by the decision, and what they hold
// (indices, fixed texts, contract names) keeps nothing else alive.
type scratch struct {
	snaps                     [smallN]snapshot
	why                       [12]piece
	rem                       [smallN]piece
	contracts                 [8]string
	matched                   [8]*exclusive
	good, cooling, sick, left [smallN]int
	// buf backs the plan's text; kept between plans unless a rare plan
	// grew it past maxTextBuf.
	buf []byte
}

// maxTextBuf bounds the text buffer a scratch keeps in the pool.
const maxTextBuf = 16 << 10

// planning is the state of one plan.
type planning struct {
	d     *Decision
	m     *Model
	mp    *modelPlan
	in    Input
	now   time.Time
	t     text
	snaps []snapshot
	// contracts collects Decision.Contracts; matched the exclusivity
	// contracts that apply.
	contracts []string
	matched   []*exclusive
	// why is room for the decision's Why lines, when it has some.
	why []string
}

func (r *Router) plan(in Input, admit bool) (*Decision, error) {
	mi, ok := r.catalog.index(in.Model)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownModel, in.Model)
	}
	if in.Traffic == "" {
		in.Traffic = Stateless
	}
	m, mp := r.catalog.models[mi], &r.plans[mi]
	n := len(m.Offerings)
	var room *decisionRoom
	var d *Decision
	if n <= roomN {
		room = new(decisionRoom)
		d = &room.d
		d.Candidates = room.cands[:n:n]
	} else {
		d = &Decision{Candidates: make([]Candidate, n)}
	}
	d.Model, d.Tenant, d.Traffic, d.Strategy = m.Name, in.Tenant, in.Traffic, m.strategy()
	d.PerAttemptTimeout = m.PerAttemptTimeout
	d.Order = []Offering{}
	for i := range m.Offerings {
		d.Candidates[i].Offering = m.Offerings[i]
	}
	sc := r.scratch.Get().(*scratch)
	p := &planning{d: d, m: m, mp: mp, in: in, now: r.now(),
		snaps: sized(sc.snaps[:], n), contracts: sc.contracts[:0], matched: sc.matched[:0]}
	defer func() {
		if cap(p.t.b) <= maxTextBuf {
			sc.buf = p.t.b[:0]
		}
		r.scratch.Put(sc)
	}()
	p.t.init(sc.buf, sc.why[:0], sized(sc.rem[:], n))
	if room != nil {
		p.why = room.why[:0]
	}

	p.exclude()

	// Health: a snapshot of each channel.
	good, cooling, sick := sc.good[:0], sc.cooling[:0], sc.sick[:0]
	for i := range d.Candidates {
		c := &d.Candidates[i]
		s := mp.channels[i].snapshot(p.now, &r.bo)
		p.snaps[i] = s
		c.Health = s.state.String()
		switch {
		case c.Reason != "":
		case s.state == open || s.state == halfOpen && !s.probeFree:
			sick = append(sick, i)
		case p.now.Before(s.coolUntil):
			cooling = append(cooling, i)
		default:
			good = append(good, i)
		}
	}
	if len(good)+len(cooling)+len(sick) == 0 {
		p.finish()
		return d, &NoChannelError{Model: m.Name, Contracts: p.removing()}
	}
	forced := false
	switch {
	case len(good) > 0:
		p.setAside(sick, "health: set aside ")
		p.setAside(cooling, "cooling down: set aside ")
	case len(cooling) > 0:
		// A cool-down is advice, not a contract: when every healthy
		// channel is cooling, try them anyway rather than refuse.
		p.setAside(sick, "health: set aside ")
		p.t.whyLit("every healthy channel is cooling down after a rate limit: trying them anyway")
		good = cooling
	case len(p.matched) > 0:
		// Never fall back to a channel the contracts exclude. Every
		// allowed breaker is open or busy probing: the first to half-open
		// or free its probe slot lets the next request through as a probe.
		p.setAside(sick, "every allowed channel is unhealthy: ")
		p.finish()
		return d, &NoChannelError{Model: m.Name, Contracts: d.Contracts, Unhealthy: true, RetryAfter: p.soonest(sick)}
	default:
		// Every channel is down and no contract restricts the choice:
		// probe the least bad rather than refuse outright.
		forced = true
		good = sick
		snaps := p.snaps
		insertionSort(good, func(a, b int) bool {
			sa, sb := &snaps[a], &snaps[b]
			if (sa.state == halfOpen) != (sb.state == halfOpen) {
				return sa.state == halfOpen
			}
			return sa.openUntil.Before(sb.openUntil)
		})
		p.t.whyLit("every channel is unhealthy: probing the least bad first (half-open, then the soonest to half-open)")
	}

	if !forced {
		r.orderBy(&p.t, d.Strategy, m, &in, good, p.snaps)
		p.commit(good)
	}

	// Admission and the attempt budget.
	budget := m.maxAttempts()
	if k := min(budget, len(good)); room != nil {
		d.Order = room.order[:0:k]
	} else {
		d.Order = make([]Offering, 0, k)
	}
	left := sc.left[:0]
	for _, i := range good {
		c := &d.Candidates[i]
		if len(d.Order) == budget {
			c.Reason = ReasonAttemptBudget
			p.t.removedLit(i, mp.budgetText)
			left = append(left, i)
			continue
		}
		probe := forced || p.snaps[i].state != closed
		if probe && admit {
			pr, ok := mp.channels[i].admit(p.now, &r.bo, forced)
			if !ok {
				c.Reason = ReasonProbeBusy
				p.t.removedLit(i, probeBusy)
				continue
			}
			if pr != (Probe{}) {
				d.Probes = append(d.Probes, pr)
			}
		}
		if probe {
			p.probing(c)
		}
		d.Order = append(d.Order, c.Offering)
	}
	if len(left) > 0 {
		p.t.open()
		p.t.str("attempt budget ")
		p.t.int(int64(budget))
		p.t.str(": left out ")
		p.t.list(m, left)
		p.t.closeWhy()
	}
	if len(d.Order) == 0 {
		// Another request took the last probe slot since the snapshot.
		if len(p.matched) > 0 {
			p.finish()
			return d, &NoChannelError{Model: m.Name, Contracts: d.Contracts, Unhealthy: true, RetryAfter: p.soonest(good)}
		}
		i := good[0]
		if admit {
			if pr, _ := mp.channels[i].admit(p.now, &r.bo, true); pr != (Probe{}) {
				d.Probes = append(d.Probes, pr)
			}
		}
		c := &d.Candidates[i]
		c.Reason, p.t.rem[i] = "", piece{}
		p.probing(c)
		d.Order = append(d.Order, c.Offering)
	}
	d.MaxAttempts = len(d.Order)
	p.finish()
	return d, nil
}

// exclude applies the exclusivity contracts that match the request: an
// offering stays only if every one of them allows it.
func (p *planning) exclude() {
	for k := range p.mp.excl {
		x := &p.mp.excl[k]
		if x.contract.Match.matchesRequest(p.in.Tenant, p.in.Traffic) {
			p.matched = append(p.matched, x)
			p.contracts = append(p.contracts, x.contract.Name)
			p.t.whyLit(x.why)
		}
	}
	if len(p.matched) == 0 {
		return
	}
	var names []string // backs the lists of candidates removed by several contracts
	for i := range p.d.Candidates {
		var by *exclusive
		count := 0
		for _, x := range p.matched {
			if !x.allowed[i] {
				by = x
				count++
			}
		}
		c := &p.d.Candidates[i]
		switch count {
		case 0:
			continue
		case 1:
			c.Reason, c.Contracts = ReasonContract, by.names[:1:1]
			p.t.removedLit(i, by.removed)
			continue
		}
		if names == nil {
			names = make([]string, 0, len(p.d.Candidates)*len(p.matched))
		}
		lo := len(names)
		for _, x := range p.matched {
			if !x.allowed[i] {
				names = append(names, x.contract.Name)
			}
		}
		c.Reason, c.Contracts = ReasonContract, names[lo:len(names):len(names)]
		p.t.open()
		p.t.str("not allowed by contracts ")
		k := 0
		for _, x := range p.matched {
			if x.allowed[i] {
				continue
			}
			switch {
			case k == 0:
			case k == count-1:
				p.t.str(" and ")
			default:
				p.t.str(", ")
			}
			p.t.str(x.quoted)
			k++
		}
		p.t.closeRemoved(i)
	}
}

// removing names the matched contracts that removed an offering; when
// the contracts left nothing these are to blame.
func (p *planning) removing() []string {
	var out []string
	for _, x := range p.matched {
		if x.removes {
			out = append(out, x.contract.Name)
		}
	}
	if len(out) == 0 {
		return p.d.Contracts
	}
	return out
}

// setAside marks unhealthy or cooling candidates as removed and explains
// it in a line that starts with prefix.
func (p *planning) setAside(idx []int, prefix string) {
	if len(idx) == 0 {
		return
	}
	for _, i := range idx {
		c, s := &p.d.Candidates[i], &p.snaps[i]
		switch {
		case s.state == open:
			c.Reason = ReasonBreakerOpen
			p.t.open()
			p.t.str("circuit breaker open until ")
			p.t.time(s.openUntil)
			p.t.closeRemoved(i)
		case s.state == halfOpen && !s.probeFree:
			c.Reason = ReasonProbeBusy
			p.t.removedLit(i, probeBusy)
		default:
			c.Reason = ReasonCoolingDown
			p.t.open()
			p.t.str("cooling down after a rate limit until ")
			p.t.time(s.coolUntil)
			p.t.closeRemoved(i)
		}
	}
	p.t.open()
	p.t.str(prefix)
	p.t.list(p.m, idx)
	p.t.closeWhy()
}

// soonest returns how long until one of the unhealthy candidates idx may
// take a request: the end of the shortest cool-off, or of a probe's
// ProbeTimeout (at most a second: a probe's verdict usually comes sooner).
func (p *planning) soonest(idx []int) time.Duration {
	var d time.Duration
	for k, i := range idx {
		s := &p.snaps[i]
		w := s.openUntil.Sub(p.now)
		if s.state == halfOpen {
			w = min(s.probeExpiry.Sub(p.now), time.Second)
		}
		if k == 0 || w < d {
			d = w
		}
	}
	return max(d, time.Millisecond)
}

// probing notes that the request is a probe of c's channel.
func (p *planning) probing(c *Candidate) {
	p.t.open()
	p.t.str(c.Provider)
	if c.Health == StateOpen {
		p.t.str("'s circuit breaker is open: this request is a probe")
	} else {
		p.t.str("'s circuit breaker is half-open: this request is a probe")
	}
	p.t.closeWhy()
}

// commit moves the channels of commitments that are behind pace to the
// front of order, most behind first. Commitments never bring back a
// removed offering.
func (p *planning) commit(order []int) {
	type behind struct {
		cd  *committed
		gap float64 // (due - spent) / amount
	}
	var buf [8]behind
	pref := buf[:0]
	for k := range p.mp.commits {
		cd := &p.mp.commits[k]
		ct := cd.contract
		if !ct.Match.matchesRequest(p.in.Tenant, p.in.Traffic) {
			continue
		}
		cm := ct.Commitment
		inOrder := false
		for _, i := range order {
			inOrder = inOrder || slices.Contains(cd.offerings, i)
		}
		if !inOrder {
			p.t.whyLit(cd.aside)
			continue
		}
		cd.channel.mu.Lock()
		start, end := cd.channel.current(cm.Period, p.now)
		spent := cd.channel.spent(start)
		cd.channel.mu.Unlock()
		due := cm.due(start, end, p.now)

		t := &p.t
		t.open()
		t.str(cd.head)
		t.cents(spent)
		t.str(" of ")
		t.cents(due)
		t.str(cd.tail)
		if spent >= due {
			t.str(": ahead of pace, not preferred")
		} else {
			t.str(": behind pace, preferred")
			pref = append(pref, behind{cd, (due - spent) / cm.AmountUSD})
		}
		t.closeWhy()
	}
	for i := 1; i < len(pref); i++ {
		for j := i; j > 0 && pref[j].gap > pref[j-1].gap; j-- {
			pref[j], pref[j-1] = pref[j-1], pref[j]
		}
	}
	// Move the preferred channels' offerings first, most behind first,
	// keeping the strategy's order within each.
	front := 0
	for _, b := range pref {
		p.contracts = append(p.contracts, b.cd.contract.Name)
		for k := front; k < len(order); k++ {
			if slices.Contains(b.cd.offerings, order[k]) {
				moveToFront(order[front:], k-front)
				front++
			}
		}
	}
}

// finish stores the texts and contracts in the decision.
func (p *planning) finish() {
	if len(p.contracts) > 0 {
		p.d.Contracts = slices.Clone(p.contracts)
	}
	p.t.finish(p.d, p.why)
}

// sized returns buf[:n], or a new slice when buf is too small.
func sized[T any](buf []T, n int) []T {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]T, n)
}
