package alert

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchyard/internal/store"
)

// Outbox is what the dispatcher needs from the store: the alert outbox,
// whose writes to a pending alert take effect only for its lease's owner
// (see sqlstore).
type Outbox interface {
	InsertAlert(ctx context.Context, a *store.Alert, owner string, leaseUntil time.Time) (bool, error)
	ClaimAlerts(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]store.Alert, error)
	RenewAlert(ctx context.Context, id, owner string, leaseUntil time.Time, attempts int, lastErr string) (bool, error)
	ReleaseAlert(ctx context.Context, id, owner string, attempts int, lastErr string) error
	AlertDelivered(ctx context.Context, id, owner string, at time.Time, attempts int) error
	AlertGaveUp(ctx context.Context, id, owner string, at time.Time, attempts int, lastErr string) error
}

// Options configure a Dispatcher. Zero values take the defaults named.
type Options struct {
	Outbox    Outbox
	Endpoints []Endpoint
	// Client sends deliveries; it must not follow redirects (a POST
	// redirected is not delivered). Default: a client that does not.
	Client *http.Client
	// Timeout bounds one attempt. Default: 10s.
	Timeout time.Duration
	// MaxAttempts bounds the attempts per alert and endpoint. Default: 8.
	MaxAttempts int
	// MaxElapsed bounds the time from an alert's first attempt to its
	// last. Default: 1h.
	MaxElapsed time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from MinBackoff with jitter (a Retry-After the endpoint
	// sends is honoured up to MaxBackoff). Defaults: 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// Concurrency is the number of deliveries in flight. Default: 4.
	Concurrency int
	// Queue bounds the deliveries waiting for a worker, and the events
	// Notify holds before they are recorded. Default: 256.
	Queue int
	// SweepEvery is how often pending alerts whose lease lapsed (a
	// replica stopped or died before delivering them) are claimed.
	// Default: 1m.
	SweepEvery time.Duration
	// LeaseMargin is added to every lease beyond the attempt (or wait) it
	// covers: how long after a replica dies its deliveries are taken
	// over. Default: 30s.
	LeaseMargin time.Duration
	// StoreTimeout bounds each outbox call. Default: 5s.
	StoreTimeout time.Duration
	Logger       *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&o.Timeout, 10*time.Second)
	dur(&o.MaxElapsed, time.Hour)
	dur(&o.MinBackoff, time.Second)
	dur(&o.MaxBackoff, 5*time.Minute)
	dur(&o.SweepEvery, time.Minute)
	dur(&o.LeaseMargin, 30*time.Second)
	dur(&o.StoreTimeout, 5*time.Second)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// maxSeen bounds the alert keys a dispatcher remembers having recorded;
// past it the memory is dropped and the store's unique key answers.
const maxSeen = 1 << 16

// Dispatcher records events in the outbox and delivers the alerts it
// holds the lease of. It is safe for concurrent use.
type Dispatcher struct {
	o         Options
	endpoints map[string]*Endpoint
	// owner names this dispatcher's leases: random, so that a restarted
	// gateway does not mistake its predecessor's leases for its own.
	owner string

	notes chan Event
	queue chan store.Alert
	// stop ends the workers, the recorder and the sweeper; ctx, canceled
	// with it, bounds the recording and claiming they do.
	stop   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// closeOnce makes Close idempotent.
	closeOnce sync.Once

	mu   sync.Mutex
	seen map[string]struct{}
	// dropped counts events Notify dropped with its buffer full since the
	// last one was logged.
	dropped int
}

// New returns a dispatcher; Start starts it.
func New(o Options) *Dispatcher {
	o = o.withDefaults()
	d := &Dispatcher{o: o, endpoints: map[string]*Endpoint{}, owner: "dsp_" + strings.ToLower(rand.Text()),
		notes: make(chan Event, o.Queue), queue: make(chan store.Alert, o.Queue), stop: make(chan struct{}),
		seen: map[string]struct{}{}}
	for i := range o.Endpoints {
		d.endpoints[o.Endpoints[i].Name] = &o.Endpoints[i]
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Start starts the delivery workers, the recorder of Notify's events and
// the sweeper, which claims at once the alerts a previous run left
// undelivered.
func (d *Dispatcher) Start() {
	for range d.o.Concurrency {
		d.wg.Go(d.work)
	}
	d.wg.Go(d.record)
	d.wg.Go(d.sweepLoop)
}

// Close stops the dispatcher: attempts in flight are finished (each
// within Timeout), and every alert it still holds, queued or waiting to
// be retried, is released so that any replica (or this gateway once
// restarted) delivers it. Calls after the
// first do nothing.
func (d *Dispatcher) Close() error {
	d.closeOnce.Do(d.shutdown)
	return nil
}

func (d *Dispatcher) shutdown() {
	close(d.stop)
	d.cancel()
	d.wg.Wait()
	for {
		select {
		case a := <-d.queue:
			d.release(a, a.Attempts, a.LastError)
		default:
			return
		}
	}
}

// Notify records ev in the background: it never blocks, for callers on a
// request's path (a breaker opening). An event that finds the buffer full
// is dropped and counted in the log; a condition that lasts is raised
// again by the next check.
func (d *Dispatcher) Notify(ev Event) {
	select {
	case d.notes <- ev:
	default:
		d.mu.Lock()
		d.dropped++
		d.mu.Unlock()
	}
}

func (d *Dispatcher) record() {
	for {
		select {
		case <-d.stop:
			return
		case ev := <-d.notes:
			d.mu.Lock()
			dropped := d.dropped
			d.dropped = 0
			d.mu.Unlock()
			if dropped > 0 {
				d.o.Logger.Warn("alerts dropped: too many at once", "dropped", dropped)
			}
			if err := d.Raise(d.ctx, ev); err != nil && d.ctx.Err() == nil {
				d.o.Logger.Warn("recording an alert", "kind", ev.Kind, "subject", ev.Subject, "err", err)
			}
		}
	}
}

// Raise records ev in the outbox for each endpoint that takes its kind,
// unless it is recorded already, and queues the deliveries whose insert
// won. Without endpoints the event is only logged, once per process.
func (d *Dispatcher) Raise(ctx context.Context, ev Event) error {
	if ev.At.IsZero() {
		ev.At = d.o.Now()
	}
	if len(d.o.Endpoints) == 0 {
		if d.remember(ev.key("")) {
			d.o.Logger.Info("alert (no endpoint configured)", "kind", ev.Kind, "subject", ev.Subject,
				"threshold", ev.Threshold, "period", ev.Period, "summary", ev.Summary)
		}
		return nil
	}
	body, err := encode(&ev)
	if err != nil {
		return err
	}
	var errs []error
	for i := range d.o.Endpoints {
		ep := &d.o.Endpoints[i]
		if !ep.wants(ev.Kind) {
			continue
		}
		k := ev.key(ep.Name)
		if d.known(k) {
			continue
		}
		now := d.o.Now()
		a := store.Alert{Key: k, Endpoint: ep.Name, Kind: string(ev.Kind), Subject: ev.Subject, Body: body, CreatedAt: now}
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		won, err := d.o.Outbox.InsertAlert(sctx, &a, d.owner, now.Add(d.o.Timeout+d.o.LeaseMargin))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("endpoint %q: %w", ep.Name, err))
			continue
		}
		d.remember(k)
		if won {
			d.o.Logger.Info("alert raised", "kind", ev.Kind, "subject", ev.Subject, "threshold", ev.Threshold,
				"period", ev.Period, "endpoint", ep.Name, "id", a.ID)
			d.enqueue(a)
		}
	}
	return errors.Join(errs...)
}

func (d *Dispatcher) known(k string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[k]
	return ok
}

// remember notes k as recorded; it reports whether k was new.
func (d *Dispatcher) remember(k string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[k]; ok {
		return false
	}
	if len(d.seen) >= maxSeen {
		clear(d.seen)
	}
	d.seen[k] = struct{}{}
	return true
}

// enqueue hands a leased alert to the workers, or releases it when the
// queue is full: a later sweep claims it.
func (d *Dispatcher) enqueue(a store.Alert) {
	select {
	case d.queue <- a:
	default:
		d.o.Logger.Warn("alert delivery queue full; the alert waits for the next sweep", "id", a.ID, "endpoint", a.Endpoint)
		d.release(a, a.Attempts, a.LastError)
	}
}

func (d *Dispatcher) sweepLoop() {
	t := time.NewTicker(d.o.SweepEvery)
	defer t.Stop()
	for {
		if err := d.Sweep(d.ctx); err != nil && d.ctx.Err() == nil {
			d.o.Logger.Warn("claiming pending alerts", "err", err)
		}
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// Sweep claims pending alerts whose lease lapsed or was released, as many
// as the queue has room for, and queues them.
func (d *Dispatcher) Sweep(ctx context.Context) error {
	room := cap(d.queue) - len(d.queue)
	if room <= 0 || len(d.o.Endpoints) == 0 {
		return nil
	}
	now := d.o.Now()
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	claimed, err := d.o.Outbox.ClaimAlerts(sctx, d.owner, now, now.Add(d.o.Timeout+d.o.LeaseMargin), room)
	for _, a := range claimed {
		d.o.Logger.Info("alert taken over for delivery", "id", a.ID, "kind", a.Kind, "subject", a.Subject, "endpoint", a.Endpoint,
			"attempts", a.Attempts)
		d.enqueue(a)
	}
	return err
}

func (d *Dispatcher) work() {
	for {
		select {
		case <-d.stop:
			return
		case a := <-d.queue:
			d.deliver(a)
		}
	}
}

// deliver attempts a until it is delivered, given up, or the dispatcher
// stops (then it is released). Before each attempt and each wait the
// lease is extended to cover it; a lease lost meanwhile (it lapsed and
// another replica took the alert) ends this delivery.
func (d *Dispatcher) deliver(a store.Alert) {
	log := d.o.Logger.With("id", a.ID, "kind", a.Kind, "subject", a.Subject, "endpoint", a.Endpoint)
	ep, ok := d.endpoints[a.Endpoint]
	if !ok {
		d.giveUp(log, a, a.Attempts, "endpoint no longer configured")
		return
	}
	attempts, lastErr := a.Attempts, a.LastError
	start := d.o.Now()
	for {
		if attempts >= d.o.MaxAttempts {
			d.giveUp(log, a, attempts, lastErr)
			return
		}
		if !d.renew(log, a, d.o.Timeout, attempts, lastErr) {
			return
		}
		attempts++
		retryAfter, err := d.attempt(ep, a)
		if err == nil {
			d.settle(log, func(ctx context.Context) error {
				return d.o.Outbox.AlertDelivered(ctx, a.ID, d.owner, d.o.Now(), attempts)
			})
			log.Info("alert delivered", "attempts", attempts)
			return
		}
		lastErr = err.Error()
		var perm *permanentError
		if errors.As(err, &perm) {
			d.giveUp(log, a, attempts, lastErr)
			return
		}
		wait := max(d.backoff(attempts), min(retryAfter, d.o.MaxBackoff))
		if d.o.Now().Add(wait).Sub(start) > d.o.MaxElapsed || attempts >= d.o.MaxAttempts {
			d.giveUp(log, a, attempts, lastErr)
			return
		}
		log.Warn("alert delivery failed; retrying", "attempt", attempts, "err", lastErr, "retry_in", wait)
		if !d.renew(log, a, wait+d.o.Timeout, attempts, lastErr) {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-d.stop:
			t.Stop()
			d.release(a, attempts, lastErr)
			return
		case <-t.C:
		}
	}
}

// renew extends the lease of a by span plus the margin; false when the
// lease is no longer this dispatcher's (or the store failed: the lease
// then lapses and a sweep retries).
func (d *Dispatcher) renew(log *slog.Logger, a store.Alert, span time.Duration, attempts int, lastErr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.StoreTimeout)
	defer cancel()
	held, err := d.o.Outbox.RenewAlert(ctx, a.ID, d.owner, d.o.Now().Add(span+d.o.LeaseMargin), attempts, lastErr)
	if err != nil {
		log.Warn("extending an alert's lease; a later sweep retries it", "err", err)
		return false
	}
	if !held {
		log.Info("alert lease lost; another replica delivers it")
	}
	return held
}

func (d *Dispatcher) giveUp(log *slog.Logger, a store.Alert, attempts int, lastErr string) {
	d.settle(log, func(ctx context.Context) error {
		return d.o.Outbox.AlertGaveUp(ctx, a.ID, d.owner, d.o.Now(), attempts, lastErr)
	})
	log.Error("alert delivery given up", "attempts", attempts, "err", lastErr)
}

// release gives a's lease back. It runs while stopping too, so its
// context is not the dispatcher's.
func (d *Dispatcher) release(a store.Alert, attempts int, lastErr string) {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.StoreTimeout)
	defer cancel()
	if err := d.o.Outbox.ReleaseAlert(ctx, a.ID, d.owner, attempts, lastErr); err != nil {
		d.o.Logger.Warn("releasing an alert; it is retried once its lease lapses", "id", a.ID, "err", err)
	}
}

// settle records an outcome, even while stopping: a delivered alert must
// not be delivered again.
func (d *Dispatcher) settle(log *slog.Logger, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.StoreTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		log.Warn("recording an alert's delivery", "err", err)
	}
}

// backoff is the wait after the n-th failed attempt: MinBackoff doubled
// n-1 times, capped at MaxBackoff, less up to half at random.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.o.MinBackoff
	for i := 1; i < n && w < d.o.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.o.MaxBackoff)
	return w - time.Duration(mrand.Int64N(int64(w/2)+1))
}

// permanentError is a refusal no retry changes: a client error other
// than timeouts and rate limits, or a redirect.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// attempt makes one delivery; retryAfter is the endpoint's Retry-After
// (seconds) on a failure that has one.
func (d *Dispatcher) attempt(ep *Endpoint, a store.Alert) (retryAfter time.Duration, err error) {
	req, err := ep.request(a.ID, a.Body, d.o.Now())
	if err != nil {
		return 0, &permanentError{msg: err.Error()}
	}
	// Not canceled by Close: an attempt under way is finished (within
	// Timeout), so that a delivery the endpoint took is recorded as such
	// and not sent again after a restart.
	ctx, cancel := context.WithTimeout(context.Background(), d.o.Timeout)
	defer cancel()
	resp, err := d.o.Client.Do(req.WithContext(ctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the *url.Error repeats the URL, which may be a secret
		}
		return 0, fmt.Errorf("posting: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return 0, nil
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			retryAfter = time.Duration(secs) * time.Second
		}
		return retryAfter, errors.New("endpoint answered " + resp.Status)
	default:
		return 0, &permanentError{msg: "endpoint answered " + resp.Status}
	}
}
