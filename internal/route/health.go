package route

import (
	"sync"
	"time"
)

// Breaker states, as reported by Health and in decisions.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half_open"
)

// BreakerOptions tune the per-channel circuit breakers. Zero fields take
// the defaults.
//
// A breaker opens on a failure ratio, not on a run of failures, so that a
// flaky channel stays in service: a channel failing 20% of its requests
// meets a run of five failures about once in 4,000 requests, which is why
// a short run must not trip it. A dead channel still trips fast: at any
// traffic above MinRequests per Window its ratio is 100% on the
// MinRequests-th failure, and at lower traffic ConsecutiveFailures (the
// same count by default) trips it regardless of how far apart the
// failures are. That run is out of a flaky channel's reach: 0.2^20 is
// about 10^-14, once in some 4,000 years at a thousand requests a second;
// even a channel failing half its requests meets it only about once in two
// million requests.
//
// Every open breaker half-opens after its cool-off and lets probes
// through, whatever contracts restrict the traffic: the probe's verdict
// closes it or opens it again for twice as long.
type BreakerOptions struct {
	// ErrorRate opens the breaker when at least this fraction of the
	// requests in Window failed, once there were MinRequests of them.
	// Default: 0.5.
	ErrorRate float64
	// MinRequests is the number of requests in Window below which the
	// error rate is not trusted. Default: 20. A channel failing 20% of its
	// requests reaches a 50% ratio in a window of exactly 20 requests with
	// a chance of 0.26%, in one of 40 with 0.002%: raise it where a channel
	// sees about MinRequests a Window and a false trip matters.
	MinRequests int
	// Window is the span the error rate is measured over. Default: 30s.
	Window time.Duration
	// ConsecutiveFailures opens the breaker after this many retryable
	// failures in a row, however far apart: the trip of a dead channel
	// whose traffic is too thin to fill MinRequests in a Window. Default:
	// 20.
	ConsecutiveFailures int
	// CoolOff is how long a breaker stays open after its first trip; it
	// doubles on each repeated trip (a failed probe, or a trip soon after
	// closing) up to MaxCoolOff. Defaults: 10s and 5m.
	CoolOff    time.Duration
	MaxCoolOff time.Duration
	// Probes is the number of requests a half-open breaker lets through at
	// once. Default: 1.
	Probes int
	// ProbeTimeout is how long a probe may go without a verdict before
	// the half-open breaker lets another request through as a probe, so
	// that a slow answer, a hung attempt or a lost outcome does not keep
	// a channel that may have recovered out of service. Default: CoolOff.
	ProbeTimeout time.Duration
	// RateLimitCoolDown keeps a channel out of plans after a rate-limited
	// answer (429) that did not say for how long (no Retry-After). Default:
	// 1s.
	RateLimitCoolDown time.Duration
	// OnOpen, when set, is told each time a channel's breaker opens (a
	// trip from closed, or a failed probe). It is called on the request's
	// path with the channel's lock held: it must return at once and must
	// not call the router.
	OnOpen func(channel string, at time.Time)
}

func (o BreakerOptions) withDefaults() BreakerOptions {
	if o.ConsecutiveFailures <= 0 {
		o.ConsecutiveFailures = 20
	}
	if o.ErrorRate <= 0 || o.ErrorRate > 1 {
		o.ErrorRate = 0.5
	}
	if o.MinRequests <= 0 {
		o.MinRequests = 20
	}
	if o.Window < windowBuckets {
		o.Window = 30 * time.Second
	}
	if o.CoolOff <= 0 {
		o.CoolOff = 10 * time.Second
	}
	if o.MaxCoolOff <= 0 {
		o.MaxCoolOff = 5 * time.Minute
	}
	o.MaxCoolOff = max(o.MaxCoolOff, o.CoolOff)
	if o.Probes <= 0 {
		o.Probes = 1
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = o.CoolOff
	}
	if o.RateLimitCoolDown <= 0 {
		o.RateLimitCoolDown = time.Second
	}
	return o
}

// Probe is a half-open breaker's leave for one request to try its channel,
// granted by Plan (Decision.Probes). The gateway hands it back: in the
// Outcome of the attempt it made with it, through Answered when a stream
// started answering, or in an empty Outcome when the request never tried
// the channel (an earlier one served it), so that the breaker frees the
// slot at once instead of after ProbeTimeout. Only a probe of the current
// half-open spell decides the breaker; the zero Probe is no probe.
type Probe struct {
	// Channel is the probed channel.
	Channel string
	gen     uint64 // the half-open spell
	seq     uint64 // the probe's number on its channel
}

// Outcome is what happened on one attempt, reported by the gateway through
// Router.Observe once the attempt is over: for a stream, when it ends, so
// that its total latency and cost are known (a stream cut after its first
// byte is a failure).
type Outcome struct {
	// Success is true when the channel answered (for a stream: delivered
	// its first event).
	Success bool
	// Retryable marks a failure that counts against the channel's health
	// (overloaded, timeout, unavailable, a broken answer). Failures that
	// are not retryable (a bad request, a client that went away) leave
	// health alone.
	Retryable bool
	// RateLimited marks an upstream's refusal for its rate limits (429).
	// It cools the channel for RetryAfter (RateLimitCoolDown when the
	// upstream did not say) but is neither a success nor a failure for the
	// breaker: a channel that enforces its quota is not a dead one.
	RateLimited bool
	// TTFB and Latency are the time to the first byte and the total time
	// of a successful attempt; zero when unknown.
	TTFB, Latency time.Duration
	// CostUSD is what the attempt cost, tallied against commitments.
	CostUSD float64
	// RetryAfter keeps the channel out of plans for this long, as the
	// upstream asked.
	RetryAfter time.Duration
	// Probe is the probe the attempt was made with, from the decision;
	// zero when the attempt was not a probe.
	Probe Probe
}

// ChannelHealth is one channel's state, for metrics and explanations.
type ChannelHealth struct {
	Channel string `json:"channel"`
	// State is StateClosed, StateOpen or StateHalfOpen.
	State               string `json:"state"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// ErrorRate is the fraction of failures among the WindowRequests
	// outcomes of the error-rate window.
	ErrorRate      float64 `json:"error_rate"`
	WindowRequests int     `json:"window_requests"`
	// Trips counts the breaker's recent consecutive trips; the cool-off
	// doubles with each.
	Trips     int       `json:"trips,omitempty"`
	OpenUntil time.Time `json:"open_until,omitzero"`
	// CoolingUntil is the end of a Retry-After cool-down.
	CoolingUntil time.Time `json:"cooling_until,omitzero"`
	// LatencyEWMA and TTFBEWMA are decaying averages over successful
	// attempts; zero without samples.
	LatencyEWMA time.Duration `json:"latency_ewma_ns,omitempty"`
	TTFBEWMA    time.Duration `json:"ttfb_ewma_ns,omitempty"`
}

type breakerState uint8

const (
	closed breakerState = iota
	open
	halfOpen
)

// String returns the state's name as Health reports it.
func (s breakerState) String() string {
	switch s {
	case open:
		return StateOpen
	case halfOpen:
		return StateHalfOpen
	}
	return StateClosed
}

// windowBuckets is the resolution of the error-rate window.
const windowBuckets = 10

// bucket counts outcomes in one slice of the window.
type bucket struct {
	id        int64 // time / bucket width; identifies the slice
	ok, fails int
}

// ewma is a decaying average of durations in nanoseconds.
type ewma struct {
	v float64
	n int64
}

func (e *ewma) add(d time.Duration, alpha float64) {
	if d <= 0 {
		return
	}
	if e.n == 0 {
		e.v = float64(d)
	} else {
		e.v += alpha * (float64(d) - e.v)
	}
	e.n++
}

func (e ewma) duration() time.Duration { return time.Duration(e.v) }

// tally is a channel's spend since start: seeded from the ledger, plus
// what was observed since.
type tally struct {
	start            time.Time
	seeded, observed float64
}

// channel is the mutable state of one channel, shared by every model that
// offers it. The mutex is held only for short, allocation-free updates.
type channel struct {
	name string

	mu sync.Mutex
	// periods are the commitment periods on this channel (the list is
	// fixed by New) and the bounds of each in progress, computed lazily.
	periods     []periodBounds
	state       breakerState
	consecutive int
	buckets     [windowBuckets]bucket
	openUntil   time.Time
	closedAt    time.Time
	trips       int
	probes      int       // half-open probes in flight
	probeExpiry time.Time // when the probes in flight stop holding their slots
	gen         uint64    // counts half-open spells; a Probe's gen names its spell
	probeSeq    uint64    // the number of the last probe granted
	freedSeq    uint64    // probes numbered up to this hold no slot any more
	coolUntil   time.Time
	ttfb, total ewma
	tallies     []tally
}

// snapshot is what a plan needs to know about a channel.
type snapshot struct {
	state       breakerState
	probeFree   bool
	openUntil   time.Time
	probeExpiry time.Time
	coolUntil   time.Time
	ttfb        ewma
	total       ewma
}

// advance moves an open breaker whose cool-off ended to half-open, and
// frees the slots of probes that have gone without a verdict for
// ProbeTimeout. The caller holds c.mu.
func (c *channel) advance(now time.Time) {
	if c.state == open && !now.Before(c.openUntil) {
		c.halfOpen()
	}
	if c.state == halfOpen && c.probes > 0 && !now.Before(c.probeExpiry) {
		c.freeProbes()
	}
}

// halfOpen starts a half-open spell. The caller holds c.mu.
func (c *channel) halfOpen() {
	c.state = halfOpen
	c.freeProbes()
	c.gen++
}

// freeProbes frees every probe slot; the probes granted so far no longer
// hold one, even when they are handed back later. The caller holds c.mu.
func (c *channel) freeProbes() {
	c.probes = 0
	c.freedSeq = c.probeSeq
}

func (c *channel) snapshot(now time.Time, bo *BreakerOptions) snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(now)
	return snapshot{
		state:       c.state,
		probeFree:   c.state == halfOpen && c.probes < bo.Probes,
		openUntil:   c.openUntil,
		probeExpiry: c.probeExpiry,
		coolUntil:   c.coolUntil,
		ttfb:        c.ttfb,
		total:       c.total,
	}
}

// admit reserves a slot for a request: always for a closed breaker, a
// probe slot for a half-open one. force admits an open or busy channel
// anyway (every channel is down and something must be tried): an open
// breaker then half-opens early so the outcome decides its state. The
// probe is the zero Probe when the breaker is closed.
func (c *channel) admit(now time.Time, bo *BreakerOptions, force bool) (Probe, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(now)
	switch c.state {
	case closed:
		return Probe{}, true
	case open:
		if !force {
			return Probe{}, false
		}
		c.halfOpen()
		c.openUntil = now
	}
	if c.probes >= bo.Probes && !force {
		return Probe{}, false
	}
	c.probes++
	c.probeSeq++
	c.probeExpiry = now.Add(bo.ProbeTimeout)
	return Probe{Channel: c.name, gen: c.gen, seq: c.probeSeq}, true
}

// inSpell reports whether p is a probe of the half-open spell in
// progress. The caller holds c.mu.
func (c *channel) inSpell(p Probe) bool {
	return c.state == halfOpen && p.gen != 0 && p.gen == c.gen
}

// record feeds one outcome to the breaker. The caller holds c.mu.
//
// While the breaker is open or half-open, only its probes' outcomes
// count: the others come from attempts planned before the trip and say
// nothing new (a long stream that ends now, say), so they neither trip it
// again nor close it.
func (c *channel) record(now time.Time, o *Outcome, bo *BreakerOptions) {
	c.advance(now)
	failed := !o.Success && o.Retryable && !o.RateLimited
	verdict := o.Success || failed
	if c.inSpell(o.Probe) {
		if o.Probe.seq > c.freedSeq && c.probes > 0 {
			c.probes--
		}
		switch {
		case failed:
			c.trip(now, bo)
		case o.Success:
			c.close(now)
		}
		return
	}
	if c.state != closed || !verdict {
		return
	}
	c.count(now, failed, bo)
	if !failed {
		c.consecutive = 0
		return
	}
	c.consecutive++
	if c.consecutive >= bo.ConsecutiveFailures {
		c.trip(now, bo)
		return
	}
	if n, fails := c.window(now, bo); n >= bo.MinRequests && float64(fails) >= bo.ErrorRate*float64(n) {
		c.trip(now, bo)
	}
}

// answered closes a half-open breaker whose probe p has begun to answer.
// The caller holds c.mu.
func (c *channel) answered(now time.Time, p Probe) {
	c.advance(now)
	if c.inSpell(p) {
		c.close(now)
	}
}

// count adds an outcome to the error-rate window.
func (c *channel) count(now time.Time, failed bool, bo *BreakerOptions) {
	id := now.UnixNano() / int64(bo.Window/windowBuckets)
	b := &c.buckets[int(id%windowBuckets+windowBuckets)%windowBuckets]
	if b.id != id {
		*b = bucket{id: id}
	}
	if failed {
		b.fails++
	} else {
		b.ok++
	}
}

// window sums the outcomes of the last Window.
func (c *channel) window(now time.Time, bo *BreakerOptions) (n, fails int) {
	id := now.UnixNano() / int64(bo.Window/windowBuckets)
	for i := range c.buckets {
		b := &c.buckets[i]
		if b.id > id-windowBuckets && b.id <= id {
			n += b.ok + b.fails
			fails += b.fails
		}
	}
	return n, fails
}

// trip opens the breaker. The cool-off doubles when the trip repeats one
// that has not been behind the channel for long: a failed probe, or a
// trip within MaxCoolOff of the breaker closing.
func (c *channel) trip(now time.Time, bo *BreakerOptions) {
	if c.state == halfOpen || c.trips > 0 && now.Sub(c.closedAt) < bo.MaxCoolOff {
		c.trips++
	} else {
		c.trips = 1
	}
	d := bo.CoolOff
	for i := 1; i < c.trips && d < bo.MaxCoolOff; i++ {
		d *= 2
	}
	c.state = open
	c.openUntil = now.Add(min(d, bo.MaxCoolOff))
	c.probes = 0
	c.consecutive = 0
	c.buckets = [windowBuckets]bucket{}
	if bo.OnOpen != nil {
		bo.OnOpen(c.name, now)
	}
}

// close closes the breaker after a successful probe.
func (c *channel) close(now time.Time) {
	c.state = closed
	c.closedAt = now
	c.probes = 0
	c.consecutive = 0
	c.buckets = [windowBuckets]bucket{}
}

// health reports the channel's state.
func (c *channel) health(now time.Time, bo *BreakerOptions) ChannelHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(now)
	n, fails := c.window(now, bo)
	h := ChannelHealth{
		Channel:             c.name,
		State:               c.state.String(),
		ConsecutiveFailures: c.consecutive,
		WindowRequests:      n,
		Trips:               c.trips,
		LatencyEWMA:         c.total.duration(),
		TTFBEWMA:            c.ttfb.duration(),
	}
	if n > 0 {
		h.ErrorRate = float64(fails) / float64(n)
	}
	if c.state == open {
		h.OpenUntil = c.openUntil
	}
	if now.Before(c.coolUntil) {
		h.CoolingUntil = c.coolUntil
	}
	return h
}

// periodBounds caches the period in progress, because working out
// calendar boundaries costs more than the rest of a plan's commitment
// step.
type periodBounds struct {
	period     Period
	start, end time.Time
}

// current returns the bounds of the period p in progress at now. The
// caller holds c.mu.
func (c *channel) current(p Period, now time.Time) (start, end time.Time) {
	for i := range c.periods {
		b := &c.periods[i]
		if b.period != p {
			continue
		}
		if now.Before(b.start) || !now.Before(b.end) {
			b.start, b.end = p.Bounds(now)
		}
		return b.start, b.end
	}
	return p.Bounds(now)
}

// addSpend adds cost to every tally of a period in progress, starting the
// tallies of periods that just began. The caller holds c.mu.
func (c *channel) addSpend(now time.Time, usd float64) {
	c.pruneTallies(now)
	for _, b := range c.periods {
		start, _ := c.current(b.period, now)
		if c.tally(start) == nil {
			c.tallies = append(c.tallies, tally{start: start})
		}
	}
	for i := range c.tallies {
		if !now.Before(c.tallies[i].start) {
			c.tallies[i].observed += usd
		}
	}
}

// pruneTallies drops the tallies of periods that ended. The caller holds
// c.mu.
func (c *channel) pruneTallies(now time.Time) {
	kept := c.tallies[:0]
	for _, t := range c.tallies {
		for _, b := range c.periods {
			if start, _ := c.current(b.period, now); start.Equal(t.start) {
				kept = append(kept, t)
				break
			}
		}
	}
	clear(c.tallies[len(kept):])
	c.tallies = kept
}

// tally finds the tally that starts at start. The caller holds c.mu.
func (c *channel) tally(start time.Time) *tally {
	for i := range c.tallies {
		if c.tallies[i].start.Equal(start) {
			return &c.tallies[i]
		}
	}
	return nil
}

// startTally returns the tally that starts at start, starting it when
// start is the start of one of the channel's periods in progress; nil
// otherwise. The caller holds c.mu.
func (c *channel) startTally(start, now time.Time) *tally {
	c.pruneTallies(now)
	if t := c.tally(start); t != nil {
		return t
	}
	for _, b := range c.periods {
		if cur, _ := c.current(b.period, now); cur.Equal(start) {
			c.tallies = append(c.tallies, tally{start: start})
			return &c.tallies[len(c.tallies)-1]
		}
	}
	return nil
}

// observedSince returns the spend observed since start's tally was seeded.
// The caller holds c.mu.
func (c *channel) observedSince(start time.Time) float64 {
	if t := c.tally(start); t != nil {
		return t.observed
	}
	return 0
}

// spent returns the spend since start. The caller holds c.mu.
func (c *channel) spent(start time.Time) float64 {
	if t := c.tally(start); t != nil {
		return t.seeded + t.observed
	}
	return 0
}

// adopt copies another channel's state into c, which is not yet in use.
func (c *channel) adopt(old *channel, now time.Time) {
	old.mu.Lock()
	c.mu.Lock()
	c.state, c.consecutive, c.buckets = old.state, old.consecutive, old.buckets
	c.openUntil, c.closedAt, c.trips = old.openUntil, old.closedAt, old.trips
	c.probes, c.probeExpiry, c.coolUntil, c.gen = old.probes, old.probeExpiry, old.coolUntil, old.gen
	c.probeSeq, c.freedSeq = old.probeSeq, old.freedSeq
	c.ttfb, c.total = old.ttfb, old.total
	for _, t := range old.tallies {
		if mine := c.tally(t.start); mine != nil {
			*mine = t
		} else {
			c.tallies = append(c.tallies, t)
		}
	}
	c.pruneTallies(now)
	c.mu.Unlock()
	old.mu.Unlock()
}
