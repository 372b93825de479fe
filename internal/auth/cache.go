package auth

import (
	"context"
	"errors"
	"sync"
	"time"
)

// lookupCache remembers the results of an expensive lookup for a short
// time. Successes and cacheable failures are kept in separate maps of
// bounded size, so that a flood of unknown keys can neither grow memory
// nor push known keys out. Concurrent misses for the same key share one
// lookup. It is safe for concurrent use.
//
// A success in use is refreshed ahead of its expiry: the first get that
// finds it older than refresh starts a lookup in the background and is
// answered from the cache, so a key in steady use never waits for the
// source. The answer served is still never older than ttl: an entry is
// dated by the start of the lookup that read it, and expires ttl after.
type lookupCache[K comparable, V any] struct {
	ttl time.Duration
	max int
	// keep is how long after its lookup a success stays available to
	// stale, and in the cache at all; never less than ttl.
	keep time.Duration
	// refresh is the age from which a get of a success refreshes it in
	// the background; 0 never does.
	refresh time.Duration

	mu      sync.Mutex
	hits    map[K]cached[V]
	misses  map[K]cached[V]
	flights map[K]*flight[V]
	// gen counts flushes: a lookup that began before the latest one does
	// not cache its result.
	gen uint64
}

type cached[V any] struct {
	v       V
	err     error
	fetched time.Time
	expires time.Time
}

// flight is one lookup in progress; done is closed when v and err are set.
type flight[V any] struct {
	done chan struct{}
	v    V
	err  error
	gen  uint64 // c.gen when it began
}

func newLookupCache[K comparable, V any](ttl time.Duration, max int) *lookupCache[K, V] {
	return &lookupCache[K, V]{
		ttl:     ttl,
		max:     max,
		keep:    ttl,
		refresh: ttl / 2,
		hits:    make(map[K]cached[V]),
		misses:  make(map[K]cached[V]),
		flights: make(map[K]*flight[V]),
	}
}

// get returns the cached result for k, or runs load and caches its result:
// always on success, and on failure when remember(err) is true. now is the
// current time by the caller's clock. A success older than c.refresh is
// returned at once and refreshed by load in the background, on a context
// of its own (load is expected to bound its own wait).
func (c *lookupCache[K, V]) get(ctx context.Context, k K, now time.Time, load func(context.Context) (V, error), remember func(error) bool) (V, error) {
	for {
		c.mu.Lock()
		if e, ok := c.hits[k]; ok && now.Before(e.expires) {
			if c.refresh > 0 && !now.Before(e.fetched.Add(c.refresh)) && c.flights[k] == nil {
				f := c.start(k)
				go c.run(context.WithoutCancel(ctx), k, f, now, load, remember)
			}
			c.mu.Unlock()
			return e.v, nil
		}
		if e, ok := c.misses[k]; ok && now.Before(e.expires) {
			c.mu.Unlock()
			return e.v, e.err
		}
		if f, ok := c.flights[k]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
			// The leader's own deadline or cancellation says nothing about
			// the key: look again rather than share it.
			if isContextErr(f.err) && ctx.Err() == nil {
				continue
			}
			return f.v, f.err
		}
		f := c.start(k)
		c.mu.Unlock()
		c.run(ctx, k, f, now, load, remember)
		return f.v, f.err
	}
}

// start registers a lookup of k in progress. c.mu must be held.
func (c *lookupCache[K, V]) start(k K) *flight[V] {
	f := &flight[V]{done: make(chan struct{}), gen: c.gen}
	c.flights[k] = f
	return f
}

// run runs the lookup f of k, caches its result as get says unless the
// cache was flushed meanwhile, and releases those waiting on it. A
// failure that is not remembered leaves a cached success in place, to
// expire on time (or serve stale).
func (c *lookupCache[K, V]) run(ctx context.Context, k K, f *flight[V], now time.Time, load func(context.Context) (V, error), remember func(error) bool) {
	f.v, f.err = load(ctx)
	c.mu.Lock()
	if c.flights[k] == f {
		delete(c.flights, k)
	}
	if f.gen == c.gen {
		switch {
		case f.err == nil:
			c.put(c.hits, k, cached[V]{v: f.v, fetched: now, expires: now.Add(c.ttl)}, now)
		case remember(f.err):
			delete(c.hits, k)
			c.put(c.misses, k, cached[V]{v: f.v, err: f.err, fetched: now, expires: now.Add(c.ttl)}, now)
		}
	}
	c.mu.Unlock()
	close(f.done)
}

// flush expires every cached result and forgets every lookup in
// progress: a get after flush returns reads the source anew, and lookups
// that began before it are not cached. Successes stay available to stale,
// as last read: a source that fails right after a flush leaves the keys
// it knew working in outage mode, as it would after their expiry.
func (c *lookupCache[K, V]) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.hits {
		e.expires = time.Time{}
		c.hits[k] = e
	}
	clear(c.misses)
	clear(c.flights)
}

// stale returns the last success cached for k when it was fetched less
// than maxAge before now, even if it has expired: the answer to fall back
// on while the source cannot be asked.
func (c *lookupCache[K, V]) stale(k K, now time.Time, maxAge time.Duration) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.hits[k]
	if !ok || !now.Before(e.fetched.Add(min(maxAge, c.keep))) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores e in m, making room first when m is full: entries past use
// go (expired failures, successes older than keep), then, if that was not
// enough, an arbitrary eighth of the rest. Evicting in batches keeps the
// cost of a full cache amortized constant per insert. c.mu must be held.
func (c *lookupCache[K, V]) put(m map[K]cached[V], k K, e cached[V], now time.Time) {
	if _, ok := m[k]; !ok && len(m) >= c.max {
		for mk, me := range m {
			if (me.err != nil && !now.Before(me.expires)) || !now.Before(me.fetched.Add(c.keep)) {
				delete(m, mk)
			}
		}
		for mk := range m {
			if len(m) <= c.max-max(1, c.max/8) {
				break
			}
			delete(m, mk)
		}
	}
	m[k] = e
}

// len returns the number of cached successes and failures.
func (c *lookupCache[K, V]) len() (hits, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.hits), len(c.misses)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
