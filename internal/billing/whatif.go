// Package billing answers the money questions the usage ledger can
// answer and a running gateway does not ask itself. WhatIf replays the
// ledger's real traffic through a proposed configuration's router,
// contracts and prices, without calling any channel, and sets what would
// have happened beside what did. ForecastBudget and ForecastCommitment
// project a period's spend from its recent run rate.
//
// It reads the ledger and never writes it; the price catalogue and the
// cost arithmetic stay in package usage, the routing decisions in package
// route, so a replay decides exactly as the gateway would.
package billing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/usage"
)

// HourSource streams the ledger summed per hour, tenant, model, channel,
// traffic class and contract list, in time order (sqlstore.Store).
type HourSource interface {
	ScanUsageHours(ctx context.Context, since, until time.Time, fn func(*store.UsageHour) error) error
}

// MaxWhatIfWindow bounds the window of a replay, and with it the report's
// per-period commitment rows.
const MaxWhatIfWindow = 731 * 24 * time.Hour

// WhatIfOptions describe a replay.
type WhatIfOptions struct {
	// Proposed configures the proposed router: its catalog (with each
	// offering's configured price), contracts and breaker settings, built
	// from the proposed configuration as serve builds them. WhatIf sets
	// its clock, randomness and exploration itself.
	Proposed route.Options
	// Book prices offerings at list price (the catalogue files) for the
	// list-price comparison. Nil leaves list prices out.
	Book *usage.PriceBook
	// Tenants maps tenant IDs to names: contracts match tenants by name.
	// A tenant missing from it is matched (and reported) by its ID.
	Tenants map[string]string
	// Since and Until bound the replay; they are widened to whole hours,
	// the grain of the ledger's rollup.
	Since, Until time.Time
}

// WhatIfReport sets the proposal beside what happened.
type WhatIfReport struct {
	// Since and Until are the replayed window, widened to whole hours.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Groups counts the hourly groups of the ledger the replay read.
	Groups int64 `json:"groups"`
	// Actual is what happened; Proposed what the proposal would have
	// placed and cost; Unplaced what it could not place. Actual.Requests
	// always equals Proposed.Requests + Unplaced.Requests: no request is
	// dropped.
	Actual   Totals `json:"actual"`
	Proposed Totals `json:"proposed"`
	Unplaced Totals `json:"unplaced"`
	// DeltaUSD is Proposed.CostUSD - Actual.CostUSD over the placed and
	// unplaced requests alike (unplaced ones cost nothing proposed).
	DeltaUSD float64 `json:"delta_usd"`

	ByChannel  []Comparison `json:"by_channel"`
	ByModel    []ModelRow   `json:"by_model"`
	ByTenant   []Comparison `json:"by_tenant"`
	ByContract []Comparison `json:"by_contract"`
	// Unplaceable counts the requests the proposal could not place, by
	// reason and model.
	Unplaceable []Unplaceable `json:"unplaceable"`
	// Commitments is each proposed commitment's pace, per period the
	// window touches.
	Commitments []CommitmentPace `json:"commitments"`

	// Exact is true when every proposed figure is exact; Notes say which
	// figures are estimated and why, and what every replay assumes.
	Exact bool     `json:"exact"`
	Notes []string `json:"notes"`
}

// Totals counts requests and their cost.
type Totals struct {
	Requests int64   `json:"requests"`
	CostUSD  float64 `json:"cost_usd"`
}

// Comparison is one channel, tenant or contract under both: what it
// carried and cost, and what it would under the proposal.
type Comparison struct {
	Name             string  `json:"name"`
	ActualRequests   int64   `json:"actual_requests"`
	ActualUSD        float64 `json:"actual_usd"`
	ProposedRequests int64   `json:"proposed_requests"`
	ProposedUSD      float64 `json:"proposed_usd"`
	DeltaUSD         float64 `json:"delta_usd"`
}

// ModelRow compares one client-facing model, and its list prices.
type ModelRow struct {
	Comparison
	// ProposedListUSD is what the proposal's placements would cost at the
	// catalogue's list price; ListDeltaUSD is what the same placements
	// cost at the configured prices minus it (negative: the configured
	// prices beat list).
	ProposedListUSD float64 `json:"proposed_list_usd"`
	ListDeltaUSD    float64 `json:"list_delta_usd"`
	// ActualListUSD is what the traffic as served would cost at list
	// price on the channels that served it. Requests the list figures
	// leave out (their channel does not offer the model in the proposal,
	// or the catalogue does not list it there) are counted in
	// UnlistedActual and UnlistedProposed.
	ActualListUSD    float64 `json:"actual_list_usd"`
	UnlistedActual   int64   `json:"unlisted_actual_requests,omitempty"`
	UnlistedProposed int64   `json:"unlisted_proposed_requests,omitempty"`
	// Strategy is the proposed routing strategy; Basis is "exact" or says
	// why the proposed figures are estimated.
	Strategy string `json:"strategy,omitempty"`
	Basis    string `json:"basis"`

	// listed is the configured cost of the placements ProposedListUSD
	// prices.
	listed float64
}

// Unplaceable is a kind of request the proposal could not place.
type Unplaceable struct {
	// Reason is "unknown_model" (the proposal does not offer the model)
	// or "contract" (its contracts leave no channel); Detail says it in
	// words.
	Reason       string   `json:"reason"`
	Detail       string   `json:"detail"`
	Model        string   `json:"model"`
	Contracts    []string `json:"contracts,omitempty"`
	Requests     int64    `json:"requests"`
	InputTokens  int64    `json:"input_tokens"`
	OutputTokens int64    `json:"output_tokens"`
	// ActualUSD is what these requests cost as served.
	ActualUSD float64 `json:"actual_usd"`
}

// CommitmentPace is a proposed commitment in one period.
type CommitmentPace struct {
	Contract    string       `json:"contract"`
	Provider    string       `json:"provider"`
	Period      route.Period `json:"period"`
	PeriodStart time.Time    `json:"period_start"`
	PeriodEnd   time.Time    `json:"period_end"`
	AmountUSD   float64      `json:"amount_usd"`
	// Covered is the fraction of the period inside the window.
	Covered float64 `json:"covered"`
	// ProposedUSD and ActualUSD are the spend on the committed channel in
	// the window's part of the period, under the proposal and as it
	// happened.
	ProposedUSD float64 `json:"proposed_usd"`
	ActualUSD   float64 `json:"actual_usd"`
	// ProjectedUSD extrapolates ProposedUSD linearly to the whole period;
	// Short is true when it falls below AmountUSD.
	ProjectedUSD float64 `json:"projected_usd"`
	Short        bool    `json:"short"`
}

// Basis texts of ModelRow.
const (
	basisExact      = "exact"
	basisWeighted   = "estimated: weighted split by expected share"
	basisLatency    = "estimated: least_latency ranked on the ledger's latencies"
	basisLowestCost = "estimated: lowest_cost ranked on each hour's mean tokens per request"
	basisCommitment = "estimated: a commitment steered placements (paced hour by hour)"
)

// The notes every report carries.
const (
	noteHealth = "every proposed channel is assumed healthy: the real traffic's failures, breakers, cool-downs and " +
		"fallbacks are not replayed, and each request is placed on the first channel of its plan"
	noteHours = "the window is widened to whole hours, the grain of the ledger's rollup"
	noteSeed  = "commitment tallies start at zero at the window's start: a period already under way counts only its " +
		"part inside the window"
)

// WhatIf replays the ledger from src through the proposal. It reads the
// ledger once, as hourly groups in time order, and keeps only the
// report's rows in memory, so its cost grows with the groups (hours ×
// tenants × models × channels), not with the requests.
//
// Each group is planned as one request of its model, tenant and traffic
// class at the middle of its hour. Priority routing is then exact: every
// request of the group goes where the plan says. A weighted model's
// group is split across its channels in proportion to their weights; a
// least_latency model learns each channel's latency from the ledger as
// the replay goes; a lowest_cost model ranks on the group's mean tokens
// per request; commitments pace on the proposed spend replayed so far.
// Those figures are estimates, and the report says which.
func WhatIf(ctx context.Context, src HourSource, o WhatIfOptions) (*WhatIfReport, error) {
	if o.Proposed.Catalog == nil {
		return nil, errors.New("what-if: no proposed catalog")
	}
	if !o.Since.Before(o.Until) {
		return nil, fmt.Errorf("what-if: empty window %s .. %s", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339))
	}
	if o.Until.Sub(o.Since) > MaxWhatIfWindow {
		return nil, fmt.Errorf("what-if: window %s .. %s is longer than %d days", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339),
			MaxWhatIfWindow/(24*time.Hour))
	}
	rp := &replay{o: o, clock: o.Since, list: map[listKey]listed{}, basis: map[string]string{},
		channels: map[string]*Comparison{}, models: map[string]*ModelRow{}, tenants: map[string]*Comparison{},
		contracts: map[string]*Comparison{}, unplaced: map[string]*Unplaceable{}, paces: map[paceKey]*CommitmentPace{}}
	opts := o.Proposed
	opts.Now = func() time.Time { return rp.clock }
	opts.Rand = func() float64 { return rp.draw }
	opts.Exploration = -1
	r, err := route.New(opts)
	if err != nil {
		return nil, fmt.Errorf("what-if: %w", err)
	}
	rp.router = r
	for _, ct := range r.Contracts() {
		if ct.Commitment != nil {
			rp.commits = append(rp.commits, ct)
		}
	}
	from, to := o.Since.UTC().Truncate(time.Hour), o.Until.UTC().Truncate(time.Hour)
	if !to.Equal(o.Until.UTC()) {
		to = to.Add(time.Hour)
	}
	rp.rep = &WhatIfReport{Since: from, Until: to}
	if err := src.ScanUsageHours(ctx, from, to, rp.group); err != nil {
		return nil, fmt.Errorf("what-if: %w", err)
	}
	return rp.finish(from, to), nil
}

// replay is the state of one WhatIf.
type replay struct {
	o       WhatIfOptions
	router  *route.Router
	commits []route.Contract
	// clock is the router's now; draw what its Rand returns.
	clock time.Time
	draw  float64
	rep   *WhatIfReport
	list  map[listKey]listed
	basis map[string]string // model → the first reason its figures are estimated

	channels, tenants, contracts map[string]*Comparison
	models                       map[string]*ModelRow
	unplaced                     map[string]*Unplaceable
	paces                        map[paceKey]*CommitmentPace
}

type listKey struct{ model, provider string }

// listed is a cached list price: ok is false when there is none.
type listed struct {
	price usage.Price
	ok    bool
}

type paceKey struct {
	contract string
	start    time.Time
}

// placement is a share of a group placed on one offering: frac of its
// tokens (the expected share, for cost) and a whole number of its
// requests (apportioned, so that no request is lost to rounding).
type placement struct {
	off      route.Offering
	requests int64
	frac     float64
}

func (rp *replay) group(h *store.UsageHour) error {
	rp.rep.Groups++
	rp.clock = h.Hour.Add(30 * time.Minute)
	tenant := h.TenantID
	if n, ok := rp.o.Tenants[h.TenantID]; ok {
		tenant = n
	}
	u := llm.Usage{InputTokens: h.InputTokens, OutputTokens: h.OutputTokens, CachedInputTokens: h.CachedInputTokens,
		CacheWriteTokens: h.CacheWriteTokens, ReasoningTokens: h.ReasoningTokens}

	// What happened.
	rp.rep.Actual.Requests += h.Requests
	rp.rep.Actual.CostUSD += h.CostUSD
	m, known := rp.router.Catalog().Lookup(h.Model)
	modelName := h.Model
	if known {
		modelName = m.Name
	}
	add(rp.channels, h.Provider).actual(h.Requests, h.CostUSD)
	add(rp.tenants, tenant).actual(h.Requests, h.CostUSD)
	for _, c := range orNone(h.Contracts) {
		add(rp.contracts, c).actual(h.Requests, h.CostUSD)
	}
	mr := rp.model(modelName)
	mr.actual(h.Requests, h.CostUSD)
	if known {
		if p, ok := rp.listPrice(m, h.Provider); ok {
			mr.ActualListUSD += usage.Cost(u, p)
		} else {
			mr.UnlistedActual += h.Requests
		}
	} else {
		mr.UnlistedActual += h.Requests
	}
	rp.actualPace(h)
	if ok := h.Requests - h.Errors; ok > 0 && h.Latency > 0 {
		// The channels' real latencies, for least_latency models.
		rp.router.Observe(h.Provider, route.Outcome{Success: true, Latency: h.Latency / time.Duration(h.Requests)})
	}

	// What the proposal does.
	in := route.Input{Model: h.Model, Tenant: tenant, Traffic: h.Traffic}
	if h.Requests > 0 {
		in.EstInputTokens, in.EstOutputTokens = h.InputTokens/h.Requests, h.OutputTokens/h.Requests
	}
	places, d, err := rp.place(in, m)
	if err != nil {
		rp.unplace(h, modelName, err)
		return nil
	}
	if known {
		mr.Strategy = cmp.Or(m.Strategy, route.StrategyPriority)
	}
	if why := rp.estimated(m, d); why != "" && rp.basis[modelName] == "" {
		rp.basis[modelName] = why
	}
	fracs := make([]float64, len(places))
	for i, pl := range places {
		fracs[i] = pl.frac
	}
	for i, n := range apportion(h.Requests, fracs) {
		places[i].requests = n
	}
	for _, pl := range places {
		cost := usage.Cost(u, usage.Price(pl.off.Price)) * pl.frac
		rp.rep.Proposed.Requests += pl.requests
		rp.rep.Proposed.CostUSD += cost
		add(rp.channels, pl.off.Provider).proposed(pl.requests, cost)
		add(rp.tenants, tenant).proposed(pl.requests, cost)
		for _, c := range orNone(d.Contracts) {
			add(rp.contracts, c).proposed(pl.requests, cost)
		}
		mr.proposed(pl.requests, cost)
		if p, ok := rp.listPrice(m, pl.off.Provider); ok {
			mr.ProposedListUSD += usage.Cost(u, p) * pl.frac
			mr.listed += cost
		} else {
			mr.UnlistedProposed += pl.requests
		}
		rp.router.Observe(pl.off.Provider, route.Outcome{CostUSD: cost})
		rp.proposedPace(pl.off.Provider, cost)
	}
	return nil
}

// place plans one group. A weighted model's group is split: one plan per
// channel its draw could put first, each for that channel's share.
func (rp *replay) place(in route.Input, m *route.Model) ([]placement, *route.Decision, error) {
	rp.draw = 0
	d, err := rp.router.Explain(in)
	if err != nil {
		return nil, d, err
	}
	if d.Strategy != route.StrategyWeighted {
		return []placement{{off: d.Order[0], frac: 1}}, d, nil
	}
	// The draw runs over the candidates the contracts leave, in
	// configured order (every channel is healthy in a replay).
	var (
		good  []int
		total float64
	)
	for i, c := range d.Candidates {
		if c.Reason != route.ReasonContract {
			good = append(good, i)
			total += weightOf(c.Offering)
		}
	}
	places := make([]placement, 0, len(good))
	var cum float64
	for _, i := range good {
		w := weightOf(d.Candidates[i].Offering)
		rp.draw = (cum + w/2) / total
		cum += w
		dj, err := rp.router.Explain(in)
		if err != nil {
			return nil, d, err
		}
		if len(dj.Contracts) > len(d.Contracts) {
			d = dj // a commitment stepped in: report its contracts
		}
		places = append(places, placement{off: dj.Order[0], frac: w / total})
	}
	return places, d, nil
}

func weightOf(o route.Offering) float64 {
	if o.Weight == 0 {
		return 1
	}
	return o.Weight
}

// estimated returns why a model's figures are estimates, or "". A plan
// with a single channel left is exact whatever ordered it.
func (rp *replay) estimated(m *route.Model, d *route.Decision) string {
	left := 0
	for _, c := range d.Candidates {
		if c.Reason != route.ReasonContract {
			left++
		}
	}
	if left <= 1 {
		return ""
	}
	for _, c := range d.Contracts {
		if slices.ContainsFunc(rp.commits, func(ct route.Contract) bool { return ct.Name == c }) {
			return basisCommitment
		}
	}
	switch m.Strategy {
	case route.StrategyWeighted:
		return basisWeighted
	case route.StrategyLeastLatency:
		return basisLatency
	case route.StrategyLowestCost:
		return basisLowestCost
	}
	return ""
}

func (rp *replay) unplace(h *store.UsageHour, model string, err error) {
	reason, detail := "contract", err.Error()
	var contracts []string
	var nc *route.NoChannelError
	switch {
	case errors.Is(err, route.ErrUnknownModel):
		reason, detail = "unknown_model", "the proposal does not offer model "+fmt.Sprintf("%q", h.Model)
	case errors.As(err, &nc):
		contracts = nc.Contracts
	}
	k := reason + "\x00" + detail + "\x00" + model
	x := rp.unplaced[k]
	if x == nil {
		x = &Unplaceable{Reason: reason, Detail: detail, Model: model, Contracts: contracts}
		rp.unplaced[k] = x
	}
	x.Requests += h.Requests
	x.InputTokens += h.InputTokens
	x.OutputTokens += h.OutputTokens
	x.ActualUSD += h.CostUSD
	rp.rep.Unplaced.Requests += h.Requests
	rp.rep.Unplaced.CostUSD += h.CostUSD
}

// listPrice is the catalogue's list price of a model's offering on
// provider.
func (rp *replay) listPrice(m *route.Model, provider string) (usage.Price, bool) {
	if rp.o.Book == nil || m == nil {
		return usage.Price{}, false
	}
	k := listKey{m.Name, provider}
	if l, ok := rp.list[k]; ok {
		return l.price, l.ok
	}
	var l listed
	for _, off := range m.Offerings {
		if off.Provider == provider {
			p, src := rp.o.Book.Resolve(usage.Price{}, false, off.ProviderType, off.Region, off.UpstreamModel, m.Name)
			l = listed{p, src.Kind != ""}
			break
		}
	}
	rp.list[k] = l
	return l.price, l.ok
}

func (rp *replay) pace(ct route.Contract) *CommitmentPace { return rp.paceAt(ct, rp.clock) }

// paceAt is the pace row of ct's period that contains t.
func (rp *replay) paceAt(ct route.Contract, t time.Time) *CommitmentPace {
	cm := ct.Commitment
	start, end := cm.Period.Bounds(t)
	k := paceKey{ct.Name, start}
	p := rp.paces[k]
	if p == nil {
		p = &CommitmentPace{Contract: ct.Name, Provider: cm.Provider, Period: cm.Period, PeriodStart: start, PeriodEnd: end,
			AmountUSD: cm.AmountUSD}
		rp.paces[k] = p
	}
	return p
}

func (rp *replay) actualPace(h *store.UsageHour) {
	for _, ct := range rp.commits {
		if ct.Commitment.Provider == h.Provider {
			rp.pace(ct).ActualUSD += h.CostUSD
		}
	}
}

func (rp *replay) proposedPace(provider string, cost float64) {
	for _, ct := range rp.commits {
		if ct.Commitment.Provider == provider {
			rp.pace(ct).ProposedUSD += cost
		}
	}
}

func (rp *replay) model(name string) *ModelRow {
	r := rp.models[name]
	if r == nil {
		r = &ModelRow{Comparison: Comparison{Name: name}}
		rp.models[name] = r
	}
	return r
}

// finish apportions weighted splits' rounding, fills in the derived
// figures and sorts the rows.
func (rp *replay) finish(from, to time.Time) *WhatIfReport {
	rep := rp.rep
	rep.DeltaUSD = rep.Proposed.CostUSD - rep.Actual.CostUSD
	rep.ByChannel = sorted(rp.channels)
	rep.ByTenant = sorted(rp.tenants)
	rep.ByContract = sorted(rp.contracts)
	rep.ByModel = make([]ModelRow, 0, len(rp.models))
	rep.Exact = true
	for _, name := range slices.Sorted(maps.Keys(rp.models)) {
		r := rp.models[name]
		r.DeltaUSD = r.ProposedUSD - r.ActualUSD
		r.ListDeltaUSD = r.listed - r.ProposedListUSD
		r.Basis = cmp.Or(rp.basis[name], basisExact)
		if r.Basis != basisExact {
			rep.Exact = false
		}
		rep.ByModel = append(rep.ByModel, *r)
	}
	rep.Unplaceable = make([]Unplaceable, 0, len(rp.unplaced))
	for _, k := range slices.Sorted(maps.Keys(rp.unplaced)) {
		rep.Unplaceable = append(rep.Unplaceable, *rp.unplaced[k])
	}
	// Every period the window touches gets a row, spent in or not.
	for _, ct := range rp.commits {
		for t := from; t.Before(to); {
			_, t = ct.Commitment.Period.Bounds(t)
			rp.paceAt(ct, t.Add(-time.Nanosecond))
		}
	}
	rep.Commitments = make([]CommitmentPace, 0, len(rp.paces))
	for _, p := range rp.paces {
		lo, hi := p.PeriodStart, p.PeriodEnd
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		p.Covered = float64(hi.Sub(lo)) / float64(p.PeriodEnd.Sub(p.PeriodStart))
		if p.Covered > 0 {
			p.ProjectedUSD = p.ProposedUSD / p.Covered
		}
		p.Short = p.ProjectedUSD < p.AmountUSD
		rep.Commitments = append(rep.Commitments, *p)
	}
	slices.SortFunc(rep.Commitments, func(a, b CommitmentPace) int {
		return cmp.Or(strings.Compare(a.Contract, b.Contract), a.PeriodStart.Compare(b.PeriodStart))
	})
	rep.Notes = []string{noteHealth, noteHours}
	if len(rp.commits) > 0 {
		rep.Notes = append(rep.Notes, noteSeed)
	}
	for _, r := range rep.ByModel {
		if r.Basis != basisExact {
			rep.Notes = append(rep.Notes, fmt.Sprintf("model %q: %s", r.Name, r.Basis))
		}
	}
	return rep
}

func add(m map[string]*Comparison, name string) *Comparison {
	c := m[name]
	if c == nil {
		c = &Comparison{Name: name}
		m[name] = c
	}
	return c
}

func (c *Comparison) actual(n int64, usd float64) {
	c.ActualRequests += n
	c.ActualUSD += usd
}

func (c *Comparison) proposed(n int64, usd float64) {
	c.ProposedRequests += n
	c.ProposedUSD += usd
}

func sorted(m map[string]*Comparison) []Comparison {
	out := make([]Comparison, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		c := m[k]
		c.DeltaUSD = c.ProposedUSD - c.ActualUSD
		out = append(out, *c)
	}
	return out
}

// orNone lists "" for a request under no contract.
func orNone(cs []string) []string {
	if len(cs) == 0 {
		return []string{""}
	}
	return cs
}

// apportion splits n into integer parts proportional to fracs (summing
// to 1) by largest remainder, so the parts sum to n exactly.
func apportion(n int64, fracs []float64) []int64 {
	out := make([]int64, len(fracs))
	rest := n
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(fracs))
	for i, f := range fracs {
		exact := float64(n) * f
		out[i] = int64(math.Floor(exact))
		rest -= out[i]
		rems[i] = rem{i, exact - float64(out[i])}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for k := 0; rest > 0 && k < len(rems); k++ {
		out[rems[k].i]++
		rest--
	}
	return out
}
