// Package outage owns the breaker that stands between the request path and
// one dependency (Redis, the store): every call gets a deadline in
// milliseconds, a few misses in a row open the breaker, and while it is open
// callers answer by their documented outage mode at once, without calling
// and without waiting. A probe goroutine owned by the breaker, with its own
// deadline, checks the dependency once a probe interval and closes the
// breaker when it answers; no client request is ever used as the probe.
// Each outage is logged once when it starts and once when it ends.
//
// The breaker does not know what the outage mode is (fail open, fail
// closed, serve from a cache, answer 503): its callers do, and branch on
// ErrUnavailable.
package outage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is wrapped by every error Do returns for a dependency
// that failed, missed its deadline or is known to be down (the breaker is
// open). Callers answer it with their outage mode.
var ErrUnavailable = errors.New("dependency unavailable")

// Defaults for Options.
const (
	DefaultTimeout       = 100 * time.Millisecond
	DefaultTrip          = 3
	DefaultProbeInterval = time.Second
	DefaultProbeTimeout  = time.Second
)

// Options configure a Breaker. Probe is required; zero fields take
// defaults.
type Options struct {
	// Name names the dependency in logs and errors ("rate limiter",
	// "store").
	Name string
	// Mode says what callers do while the breaker is open, for the log
	// line ("failing open"); optional.
	Mode string
	// Timeout is the deadline of one call made while a client request
	// waits. Default: DefaultTimeout.
	Timeout time.Duration
	// Trip is how many calls in a row must fail or miss their deadline
	// to open the breaker. Default: DefaultTrip.
	Trip int
	// Probe asks the dependency whether it answers (a PING, a trivial
	// query). It runs on the breaker's own goroutine while the breaker is
	// open, never on a client's request.
	Probe func(ctx context.Context) error
	// ProbeInterval is the time between probes while the breaker is
	// open. Default: DefaultProbeInterval.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe. Default: DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Logger receives the start and the end of each outage. Default:
	// discard.
	Logger *slog.Logger
}

// Stats are a breaker's counters since it was made.
type Stats struct {
	// Open reports whether the breaker is open now.
	Open bool
	// Outages counts the times it opened.
	Outages int64
	// Calls counts the calls made to the dependency through Do.
	Calls int64
	// Failed counts the calls that failed, including TimedOut.
	Failed int64
	// TimedOut counts the calls that waited out their whole deadline.
	TimedOut int64
	// Skipped counts the calls answered by ErrUnavailable without calling,
	// because the breaker was open.
	Skipped int64
	// Probes counts the probes made.
	Probes int64
}

// Breaker guards one dependency. It is safe for concurrent use. Close it
// to stop its probe.
type Breaker struct {
	name, mode    string
	timeout       time.Duration
	trip          int64
	probe         func(context.Context) error
	interval      time.Duration
	probeTimeout  time.Duration
	log           *slog.Logger
	errOpen       error
	stopCtx       context.Context
	stop          context.CancelFunc
	probing       sync.WaitGroup
	open          atomic.Bool
	misses        atomic.Int64 // in a row, while closed
	calls, failed atomic.Int64
	timedOut      atomic.Int64
	skipped       atomic.Int64
	probes        atomic.Int64
	outages       atomic.Int64

	mu       sync.Mutex
	closed   bool
	since    time.Time // when the current outage began
	skipped0 int64     // skipped when it began
}

// New returns a closed breaker. It starts no goroutine until it opens.
func New(o Options) *Breaker {
	if o.Probe == nil {
		panic("outage.New: Options.Probe is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Trip <= 0 {
		o.Trip = DefaultTrip
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Breaker{
		name: o.Name, mode: o.Mode, timeout: o.Timeout, trip: int64(o.Trip), probe: o.Probe,
		interval: o.ProbeInterval, probeTimeout: o.ProbeTimeout, log: o.Logger,
		errOpen: fmt.Errorf("%w: %s is down (waiting for it to answer a probe)", ErrUnavailable, o.Name),
		stopCtx: ctx, stop: stop,
	}
}

// Timeout is the deadline Do gives each call.
func (b *Breaker) Timeout() time.Duration { return b.timeout }

// Open reports whether the dependency is known to be down: Do then
// returns ErrUnavailable at once.
func (b *Breaker) Open() bool { return b.open.Load() }

// Check returns an error wrapping ErrUnavailable when the breaker is open,
// and nil otherwise, without calling the dependency: for work that is only
// worth starting if the dependency can be asked at its end.
func (b *Breaker) Check() error {
	if b.open.Load() {
		b.skipped.Add(1)
		return b.errOpen
	}
	return nil
}

// Do calls the dependency through call, with ctx bounded by the breaker's
// Timeout, unless the breaker is open: then it returns an error wrapping
// ErrUnavailable at once. call returns nil when the dependency answered,
// including answers such as "not found" that the caller keeps for itself,
// and an error when it failed. A failure or a missed deadline comes back
// wrapping ErrUnavailable and counts towards opening the breaker; an error
// while ctx itself is done is the caller's and is returned as it is.
func (b *Breaker) Do(ctx context.Context, call func(ctx context.Context) error) error {
	if b.open.Load() {
		b.skipped.Add(1)
		return b.errOpen
	}
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	err := call(cctx)
	// A client that sets its socket deadline from cctx's can report the
	// timeout a moment before cctx itself is done.
	missed := err != nil && (cctx.Err() != nil || timedOut(err))
	cancel()
	return b.record(ctx, err, missed)
}

// Observe counts err, the outcome of a call to the dependency made on
// b's behalf by another wrapper (one call serving two breakers), as
// Do(ctx, func(context.Context) error { return err }) would: an error
// wrapping ErrUnavailable at once when b is open, else nil for nil and
// err wrapping ErrUnavailable for a failure, which counts towards opening
// b. There is no call to bound, so unlike Do it starts no deadline: no
// context, no timer.
func (b *Breaker) Observe(ctx context.Context, err error) error {
	if b.open.Load() {
		b.skipped.Add(1)
		return b.errOpen
	}
	return b.record(ctx, err, err != nil && timedOut(err))
}

// timedOut reports whether err says a deadline passed.
func timedOut(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}

// record counts the outcome err of a call made under ctx, missed when it
// ran out of its deadline, and returns what Do returns for it.
func (b *Breaker) record(ctx context.Context, err error, missed bool) error {
	b.calls.Add(1)
	if err == nil {
		b.misses.Store(0)
		return nil
	}
	if ctx.Err() != nil {
		return err // the caller gave up or ran out of its own time
	}
	b.failed.Add(1)
	if missed {
		b.timedOut.Add(1)
		err = fmt.Errorf("%w: %s: no answer within %v", ErrUnavailable, b.name, b.timeout)
	} else {
		err = fmt.Errorf("%w: %s: %w", ErrUnavailable, b.name, err)
	}
	if b.misses.Add(1) >= b.trip {
		b.openUp(err)
	}
	return err
}

// openUp opens the breaker, unless it is already, and starts its probe.
func (b *Breaker) openUp(cause error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open.Load() {
		return
	}
	b.open.Store(true)
	b.outages.Add(1)
	b.since, b.skipped0 = time.Now(), b.skipped.Load()
	msg := b.name + " unavailable"
	if b.mode != "" {
		msg += "; " + b.mode + " until it answers again"
	}
	b.log.Error(msg, "err", cause)
	if !b.closed {
		b.probing.Go(b.probeUntilBack)
	}
}

// probeUntilBack probes once an interval until the dependency answers,
// then closes the breaker; or until the breaker is closed for good.
func (b *Breaker) probeUntilBack() {
	t := time.NewTimer(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stopCtx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(b.stopCtx, b.probeTimeout)
		err := b.probe(ctx)
		cancel()
		b.probes.Add(1)
		if err == nil {
			b.recovered()
			return
		}
		t.Reset(b.interval)
	}
}

func (b *Breaker) recovered() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.misses.Store(0)
	b.open.Store(false)
	b.log.Info(b.name+" available again", "outage", time.Since(b.since).Round(time.Millisecond).String(),
		"answered_without_calling", b.skipped.Load()-b.skipped0)
}

// Stats returns the breaker's counters.
func (b *Breaker) Stats() Stats {
	return Stats{Open: b.open.Load(), Outages: b.outages.Load(), Calls: b.calls.Load(), Failed: b.failed.Load(),
		TimedOut: b.timedOut.Load(), Skipped: b.skipped.Load(), Probes: b.probes.Load()}
}

// Close stops the probe and waits for it. An open breaker stays open.
// Close is safe to call more than once.
func (b *Breaker) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.probing.Wait()
	return nil
}
