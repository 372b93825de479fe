// Package overload owns the gateway's admission control: how many client
// requests it works on at once, how long one may wait for a turn, and how
// many streams may be open. Past those bounds a request is refused at once,
// so that overload is answered with a fast 503 rather than queued into
// seconds of latency and unbounded memory.
//
// Unary requests share an adaptive in-flight limit. The signal that moves
// it is the gateway's own added delay, never the channels' latency: an LLM
// call that waits a minute on its channel costs the gateway almost
// nothing, so the limit may climb to thousands of slow calls. Two
// measures of that delay are judged, the greater wins: a request's time
// in the gateway minus the time it spent in attempts on channels (median
// over a window), and the time the gateway's goroutines waited for a CPU
// (the Go scheduler's latency), because a request's own work rarely
// blocks except on the network, so when the gateway is short of CPU the
// wait mostly lands in what looks like upstream time. Over the target the
// limit shrinks in proportion; under it, while requests queue, it grows.
//
// A request holds its unary slot only while the gateway works on it.
// While one of its attempts waits on a channel (from sending the upstream
// request until the answer is in hand, or a stream's first event), the
// request is parked (Ticket.Park): its slot goes back to the limiter and
// to the next waiter, and it is taken back afterwards (Ticket.Resume)
// without a queue or a refusal, so that an answer whose upstream call was
// made is never refused. Parked time is not the gateway's own delay. A
// burst of slow LLM calls thus needs slots only for the milliseconds the
// gateway spends on each; what bounds them is a cap on the unary requests
// admitted at once, working or parked: MaxRequests while the CPU keeps up,
// falling with the CPU delay when it does not, since against a fast
// channel requests park only briefly but in numbers, and each one admitted
// then adds to the others' wait (see Limiter.moveCap).
//
// Requests over the limit wait in a short FIFO queue with a deadline. The
// queue is CoDel-like: once it has not been empty for a whole interval, the
// deadline of new waiters drops to a few milliseconds, so sustained
// overload is refused rather than queued. Under sustained overload the
// queue is also bounded by what it drains within that deadline (the rate
// requests were admitted over the last interval, when that deadline is
// no longer than the interval): a request that would time out in the
// queue is refused at once instead, as queue_full. A
// refusal is then a few microseconds of the gateway's CPU rather than a
// timer, a parked goroutine and a wake-up each, which under overload is
// CPU taken from the requests being served.
//
// Streams have their own limit, sized for memory rather than CPU. A
// request is admitted as unary (its body, which says whether it streams,
// is not read yet), and once it is known to be a stream (Ticket.Stream)
// it gives its unary slot back and holds only its stream slot: its set-up
// (routing, the wait for its first upstream event) and its life are
// bounded by MaxStreams, not by the adaptive unary limit or cap. So a
// burst of stream openings, each holding a unary slot only while its body
// is read, is not refused because the CPU is busy with the streams
// already open, while a flood of unary requests is refused as before (and
// with it stream requests, which are not told apart before admission).
//
// This is not the per-key rate limits and budgets, which live in
// internal/gateway and stay 429s.
package overload

import (
	"container/list"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds the gateway's concurrency. Zero fields take the defaults
// below.
type Config struct {
	// MinInFlight is the floor of the adaptive unary limit.
	MinInFlight int
	// MaxInFlight is the ceiling of the adaptive unary limit, and the
	// fixed limit when Adaptive is false.
	MaxInFlight int
	// MaxRequests bounds the unary requests admitted at once, those
	// working (under the adaptive limit) and those parked while they wait
	// on a channel: past it a request waits in the queue like one over
	// the limit. It bounds memory; when Adaptive, the bound in force
	// falls below it while the CPU is short (Limiter.moveCap).
	MaxRequests int
	// MaxStreams bounds open streams.
	MaxStreams int
	// Queue bounds the requests waiting for a unary slot; 0 takes the
	// default, negative means no queue.
	Queue int
	// QueueTimeout bounds a wait for a unary slot while the queue is
	// fresh; under sustained overload the wait is cut to SustainedTimeout.
	QueueTimeout time.Duration
	// SustainedTimeout bounds a wait for a unary slot once the queue has
	// not been empty for an Interval (or QueueTimeout if shorter).
	// Default: DefaultSustainedTimeout.
	SustainedTimeout time.Duration
	// Adaptive moves the unary limit between MinInFlight and MaxInFlight
	// by the gateway's own added delay.
	Adaptive bool
	// TargetDelay is the gateway's own added delay (median over a window)
	// the adaptive limit keeps requests under.
	TargetDelay time.Duration
	// CPUDelay, when set, reports the time the gateway's goroutines waited
	// for a CPU since its previous call (SchedLatency): the adaptive limit
	// keeps the greater of it and the requests' own delay under
	// TargetDelay. Nil: requests' own delay only.
	CPUDelay func() time.Duration
}

// Defaults.
const (
	DefaultMinInFlight  = 32
	DefaultMaxInFlight  = 4096
	DefaultMaxRequests  = 4096
	DefaultMaxStreams   = 10000
	DefaultQueue        = 512
	DefaultQueueTimeout = 50 * time.Millisecond
	DefaultTargetDelay  = 5 * time.Millisecond
)

// CoDel: once the queue has not been empty for Interval, new waiters get
// Config.SustainedTimeout (or QueueTimeout if shorter).
const (
	Interval                = 100 * time.Millisecond
	DefaultSustainedTimeout = 5 * time.Millisecond
)

// Adaptation: the limit is reconsidered once per window of at least
// window and minSamples completions (or at once, with no completions, when
// requests queued all window long).
const (
	window     = 100 * time.Millisecond
	minSamples = 16
	maxSamples = 256
	maxWindows = 4
)

// WithDefaults returns c with its zero fields set.
func (c Config) WithDefaults() Config {
	if c.MinInFlight <= 0 {
		c.MinInFlight = DefaultMinInFlight
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MinInFlight > c.MaxInFlight {
		c.MinInFlight = c.MaxInFlight
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	switch {
	case c.Queue == 0:
		c.Queue = DefaultQueue
	case c.Queue < 0:
		c.Queue = 0
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.SustainedTimeout <= 0 {
		c.SustainedTimeout = DefaultSustainedTimeout
	}
	if c.TargetDelay <= 0 {
		c.TargetDelay = DefaultTargetDelay
	}
	return c
}

// Reason says why a request was refused; the values are metric labels.
type Reason string

const (
	// QueueFull: every unary slot was taken and the queue was full, or
	// under sustained overload held as many waiters as it drains within
	// the deadline.
	QueueFull Reason = "queue_full"
	// QueueTimeout: no unary slot came free within the queue deadline.
	QueueTimeout Reason = "queue_timeout"
	// StreamsFull: every stream slot was taken.
	StreamsFull Reason = "streams_full"
)

// Reasons lists every Reason, for metrics.
var Reasons = []Reason{QueueFull, QueueTimeout, StreamsFull}

// Error is a refusal. The request did no work and can be retried.
type Error struct{ Reason Reason }

func (e *Error) Error() string { return "overloaded: " + string(e.Reason) }

// ErrOverloaded matches every *Error with errors.Is.
var ErrOverloaded = errors.New("overloaded")

// Is makes errors.Is(err, ErrOverloaded) true for a refusal.
func (e *Error) Is(target error) bool { return target == ErrOverloaded }

// Stats is a snapshot of the limiter, for metrics and benchmarks.
type Stats struct {
	// Limit is the current unary limit.
	Limit int
	// RequestLimit is the current cap on requests admitted at once,
	// working or parked: MaxRequests while the CPU keeps up, less while
	// it is short.
	RequestLimit int
	// InFlight counts unary slots held (requests the gateway works on).
	InFlight int
	// Parked counts admitted requests waiting on a channel, their unary
	// slot given back.
	Parked int
	// Queued counts requests waiting for a unary slot.
	Queued int
	// Streams counts stream slots held; MaxStreams is their limit.
	Streams, MaxStreams int
	// Refused counts refusals by reason since the limiter started.
	Refused map[Reason]uint64
	// Admitted counts unary slots granted since the limiter started.
	Admitted uint64
	// Delay is the delay the adaptive limit last judged (the greater of
	// the requests' own delay and the CPU delay over a window).
	Delay time.Duration
}

// Limiter admits requests. It is safe for concurrent use.
type Limiter struct {
	cfg Config
	now func() time.Time

	mu    sync.Mutex
	limit int
	// admitCap is the adaptive cap on requests admitted at once, working
	// or parked, between MinInFlight and MaxRequests (see moveCap).
	admitCap int
	inFlight int
	parked   int
	queue    list.List // of *waiter, oldest first
	// nonEmptySince is when the queue last became non-empty; zero when
	// it is empty.
	nonEmptySince time.Time
	// sustainedUntil keeps the short deadline on for an Interval after
	// overload was last seen (the queue non-empty for an Interval, or a
	// waiter timed out), so that a queue that drains for a moment
	// between refusals does not bring the long deadline back.
	sustainedUntil time.Time
	// The admission rate, which under sustained overload is the rate the
	// queue drains: drainRate is admissions per second over the last
	// whole Interval, counted from drainFrom (admitted at drainStart);
	// negative when unknown (no recent window).
	drainStart time.Time
	drainFrom  uint64
	drainRate  float64
	// The current adaptation window.
	winStart  time.Time
	samples   []time.Duration
	saturated bool          // a request queued or was refused in this window
	delay     time.Duration // last judged

	streams  atomic.Int64
	admitted atomic.Uint64
	refused  [3]atomic.Uint64 // by index in Reasons
}

type waiter struct {
	ready   chan struct{}
	granted bool // under Limiter.mu
}

// New returns a limiter. now is the clock (time.Now when nil); tests
// drive it with testing/synctest, since queue deadlines use real timers.
func New(cfg Config, now func() time.Time) *Limiter {
	cfg = cfg.WithDefaults()
	if now == nil {
		now = time.Now
	}
	l := &Limiter{cfg: cfg, now: now, limit: cfg.MaxInFlight, admitCap: cfg.MaxRequests}
	if cfg.Adaptive {
		// Start low and grow with demand: a burst against a cold gateway
		// is met by a limit that is too small for a few windows, never
		// by thousands of requests sharing two cores.
		l.limit = min(cfg.MaxInFlight, max(cfg.MinInFlight, 4*cfg.MinInFlight))
	}
	l.samples = make([]time.Duration, 0, maxSamples)
	l.winStart = now()
	l.drainStart, l.drainRate = l.winStart, -1
	return l
}

// Config returns the limiter's configuration, defaults applied.
func (l *Limiter) Config() Config { return l.cfg }

// Stats returns a snapshot.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	s := Stats{Limit: l.limit, RequestLimit: l.admitCap, InFlight: l.inFlight, Parked: l.parked, Queued: l.queue.Len(), Delay: l.delay}
	l.mu.Unlock()
	s.Streams, s.MaxStreams = int(l.streams.Load()), l.cfg.MaxStreams
	s.Admitted = l.admitted.Load()
	s.Refused = make(map[Reason]uint64, len(Reasons))
	for i, r := range Reasons {
		s.Refused[r] = l.refused[i].Load()
	}
	return s
}

func (l *Limiter) refuse(r Reason) error {
	l.refused[slices.Index(Reasons, r)].Add(1)
	return &Error{Reason: r}
}

// Acquire takes a unary slot, waiting in the queue if every slot is held
// or the cap on admitted requests is reached.
// It returns a *Error when the queue is full or its deadline passes, and
// ctx's error if ctx ends first. The ticket must be released exactly once
// (Release or Abandon; further calls do nothing).
func (l *Limiter) Acquire(ctx context.Context) (*Ticket, error) {
	l.mu.Lock()
	now := l.now()
	l.adapt(now)
	l.measureDrain(now)
	if l.free() && l.queue.Len() == 0 {
		l.inFlight++
		l.mu.Unlock()
		l.admitted.Add(1)
		return &Ticket{l: l, start: now, unary: true}, nil
	}
	l.saturated = true
	if l.queue.Len() >= l.cfg.Queue {
		l.mu.Unlock()
		return nil, l.refuse(QueueFull)
	}
	timeout := l.cfg.QueueTimeout
	if l.queue.Len() > 0 && now.Sub(l.nonEmptySince) >= Interval {
		l.sustainedUntil = now.Add(Interval)
	}
	if now.Before(l.sustainedUntil) {
		timeout = min(timeout, l.cfg.SustainedTimeout)
		// The queue drains at about the admission rate: a waiter that
		// would not reach its turn within the deadline is refused now,
		// without a timer and a wake-up. The rate, measured over an
		// Interval, says nothing of a longer deadline (a configured one),
		// nor when it is unknown (negative).
		if timeout <= Interval && l.drainRate >= 0 && float64(l.queue.Len()+1) > l.drainRate*timeout.Seconds() {
			l.mu.Unlock()
			return nil, l.refuse(QueueFull)
		}
	}
	if l.queue.Len() == 0 {
		l.nonEmptySince = now
	}
	w := &waiter{ready: make(chan struct{})}
	el := l.queue.PushBack(w)
	l.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
	case <-t.C:
		err = l.refuse(QueueTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		l.mu.Lock()
		if !w.granted {
			if reasonOf(err) == QueueTimeout {
				l.sustainedUntil = l.now().Add(Interval)
			}
			l.queue.Remove(el)
			if l.queue.Len() == 0 {
				l.nonEmptySince = time.Time{}
			}
			l.mu.Unlock()
			return nil, err
		}
		// The slot was handed over as the deadline passed: take it.
		l.mu.Unlock()
	}
	l.admitted.Add(1)
	// Time spent queued is not the gateway's work: the sample starts now.
	return &Ticket{l: l, start: l.now(), unary: true}, nil
}

// measureDrain closes the admission-rate window once it has lasted an
// Interval. A window that lasted much longer (no request came to close
// it) spans a lull, not the load now: the rate is unknown until the next
// one. Called with mu held.
func (l *Limiter) measureDrain(now time.Time) {
	elapsed := now.Sub(l.drainStart)
	if elapsed < Interval {
		return
	}
	n := l.admitted.Load()
	l.drainRate = float64(n-l.drainFrom) / elapsed.Seconds()
	if elapsed > 2*Interval {
		l.drainRate = -1
	}
	l.drainStart, l.drainFrom = now, n
}

// free reports whether a request may be admitted: a unary slot is free
// and the admitted requests, working or parked, are under the admission
// cap (MaxRequests, or less while the CPU is short). Called with mu held.
func (l *Limiter) free() bool {
	return l.inFlight < l.limit && l.inFlight+l.parked < l.admitCap
}

// release frees a unary slot (a parked request's place when parked),
// handing it to the oldest waiter if any, and records a sample of own
// delay (negative: none).
func (l *Limiter) release(own time.Duration, parked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if own >= 0 && len(l.samples) < maxSamples {
		l.samples = append(l.samples, own)
	}
	l.adapt(now)
	if parked {
		l.parked--
	} else {
		l.inFlight--
	}
	l.grant()
}

// park moves a request from its unary slot to the parked ones, handing
// the slot to the oldest waiter if any.
func (l *Limiter) park() {
	l.mu.Lock()
	l.inFlight--
	l.parked++
	l.grant()
	l.mu.Unlock()
}

// resume takes a unary slot back for a parked request, even past the
// limit: its upstream call is made, so it is never refused. The admitted
// total is unchanged.
func (l *Limiter) resume() {
	l.mu.Lock()
	l.parked--
	l.inFlight++
	l.mu.Unlock()
}

// grant hands free slots to waiters, oldest first. Called with mu held.
func (l *Limiter) grant() {
	for l.free() && l.queue.Len() > 0 {
		w := l.queue.Remove(l.queue.Front()).(*waiter)
		w.granted = true
		l.inFlight++
		close(w.ready)
	}
	if l.queue.Len() == 0 {
		l.nonEmptySince = time.Time{}
	}
}

// adapt closes the adaptation window when it is due and moves the limit.
// Called with mu held.
//
// A window is judged once it has lasted window and holds minSamples
// completions, or once it has lasted maxWindows windows with fewer. A
// window in which nothing completed while requests queued means those in
// flight are waiting on something other than the gateway's CPU (a slow
// client, say; waits on channels are parked): it has room for more.
func (l *Limiter) adapt(now time.Time) {
	if !l.cfg.Adaptive {
		return
	}
	elapsed, n := now.Sub(l.winStart), len(l.samples)
	switch {
	case elapsed < window:
		return
	case n == 0 && !l.saturated:
		l.winStart = now // idle: nothing to judge but the CPU
		if l.cfg.CPUDelay != nil {
			l.delay = l.cfg.CPUDelay()
			l.moveCap(l.delay)
		}
		return
	case n < minSamples && elapsed < maxWindows*window && !(n == 0 && l.saturated):
		return
	}
	old := l.limit
	var delay time.Duration
	if n > 0 {
		slices.Sort(l.samples)
		delay = l.samples[n/2]
	}
	oldCap := l.admitCap
	if l.cfg.CPUDelay != nil {
		cpu := l.cfg.CPUDelay()
		l.moveCap(cpu)
		delay = max(delay, cpu)
	}
	l.delay = delay
	target := l.cfg.TargetDelay
	switch {
	case delay > target:
		// Multiplicative decrease in proportion to the excess, by at
		// most a quarter per window: the CPU delay is noisy, and a
		// limit that halves on one GC pause starves the gateway.
		l.limit = int(float64(l.limit) * max(0.75, float64(target)/float64(delay)))
	case n == 0:
		// Requests queued all window and none completed: those in
		// flight wait on something other than the CPU, which has room.
		l.limit = grow(l.limit, 0.5)
	case l.saturated:
		// Grow faster the further under the target, by at most a
		// quarter per window, no faster than the limit falls: the limit
		// then hovers near the target rather than swinging across it.
		l.limit = grow(l.limit, 0.25*(1-float64(delay)/float64(target)))
	}
	l.limit = min(max(l.limit, l.cfg.MinInFlight), l.cfg.MaxInFlight)
	l.samples = l.samples[:0]
	l.saturated = false
	l.winStart = now
	if l.limit > old || l.admitCap > oldCap {
		l.grant()
	}
}

// moveCap moves the cap on admitted requests, working or parked, by the
// CPU delay alone. Parked requests cost the gateway nothing while their
// channels think, so while the CPU keeps up the cap stays at (or climbs
// back to, by half per window) MaxRequests, and a burst of slow LLM calls
// is admitted whole. When the CPU is short, requests park only briefly
// (a fast channel's answer is back at once) but there are many of them,
// and every one admitted adds to the wait of the others: the cap then
// falls in proportion to the excess, by at most a quarter per window,
// down to MinInFlight, so new requests are refused at once instead of
// piling up behind the parked ones. Called with mu held.
func (l *Limiter) moveCap(cpu time.Duration) {
	target := l.cfg.TargetDelay
	if cpu > target {
		// From the requests admitted now, not a cap far above them: a
		// cap that must first fall through thousands of unused places
		// would bind only after many windows.
		c := min(l.admitCap, l.inFlight+l.parked)
		l.admitCap = int(float64(c) * max(0.75, float64(target)/float64(cpu)))
	} else {
		l.admitCap = grow(l.admitCap, 0.5)
	}
	l.admitCap = min(max(l.admitCap, l.cfg.MinInFlight), l.cfg.MaxRequests)
}

// grow raises limit by the fraction f, and by at least one.
func grow(limit int, f float64) int { return limit + max(1, int(float64(limit)*f)) }

// Ticket is an admitted request's hold on the limiter. It is used by the
// request's goroutine only.
type Ticket struct {
	l      *Limiter
	start  time.Time
	unary  bool // holds a unary slot (given back while parked)
	stream bool // holds a stream slot
	// parkedAt is when the request was parked; zero while it works.
	parkedAt time.Time
	// parkedFor sums the time the request spent parked.
	parkedFor time.Duration
}

// Park gives the request's unary slot back while it waits on a channel:
// the slot goes to the next waiter. Resume takes it back. Park does
// nothing for a request that holds no unary slot (an open stream) or is
// parked already.
func (t *Ticket) Park() {
	if !t.unary || !t.parkedAt.IsZero() {
		return
	}
	t.parkedAt = t.l.now()
	t.l.park()
}

// Resume takes back the unary slot of a parked request, at once and past
// the limit if need be: once a request's upstream call is made, its
// answer is never refused. It does nothing for a request not parked.
func (t *Ticket) Resume() {
	if t.parkedAt.IsZero() {
		return
	}
	t.parkedFor += t.l.now().Sub(t.parkedAt)
	t.parkedAt = time.Time{}
	t.l.resume()
}

// own is the gateway's own delay of the request so far: its time since
// admission less the time it spent parked or, if more, upstream (the
// time its attempts spent on channels, as the caller measured it).
func (t *Ticket) own(upstream time.Duration) time.Duration {
	parked := t.parkedFor
	if !t.parkedAt.IsZero() {
		parked += t.l.now().Sub(t.parkedAt)
	}
	return max(0, t.l.now().Sub(t.start)-max(upstream, parked))
}

// Stream takes a stream slot for the request, refusing with a *Error when
// every one is held. Taken, it frees the request's unary slot, with a
// sample of the gateway's own delay so far: from here the stream is
// bounded by the stream limit alone (see the package doc).
func (t *Ticket) Stream() error {
	if t.stream {
		return nil
	}
	l := t.l
	if l.streams.Add(1) > int64(l.cfg.MaxStreams) {
		l.streams.Add(-1)
		return l.refuse(StreamsFull)
	}
	t.stream = true
	t.Opened(0)
	return nil
}

// Opened reports that the request's stream is open (its first upstream
// event is in hand) after upstream of waiting on channels: the unary slot,
// if the request still holds one, is released, with a sample of the
// gateway's own delay, and the stream slot kept.
func (t *Ticket) Opened(upstream time.Duration) {
	if !t.unary {
		return
	}
	own, parked := t.own(upstream), !t.parkedAt.IsZero()
	t.unary, t.parkedAt = false, time.Time{}
	t.l.release(own, parked)
}

// Release ends the request after upstream of waiting on channels: every
// slot it holds is freed, and the gateway's own delay sampled.
func (t *Ticket) Release(upstream time.Duration) { t.end(upstream, true) }

// Abandon frees every slot without a sample: for a request whose time
// says nothing about the gateway (a client that went away, a panic).
func (t *Ticket) Abandon() { t.end(0, false) }

func (t *Ticket) end(upstream time.Duration, sample bool) {
	if t.stream {
		t.stream = false
		t.l.streams.Add(-1)
	}
	if !t.unary {
		return
	}
	own := time.Duration(-1)
	if sample {
		own = t.own(upstream)
	}
	parked := !t.parkedAt.IsZero()
	t.unary, t.parkedAt = false, time.Time{}
	t.l.release(own, parked)
}

func reasonOf(err error) Reason {
	if e, ok := err.(*Error); ok {
		return e.Reason
	}
	return ""
}
