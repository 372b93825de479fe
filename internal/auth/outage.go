package auth

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Outage modes: what Authenticate does with a key whose cache entry has
// expired while the key store cannot be reached.
const (
	// OutageCached keeps accepting keys resolved by a successful lookup
	// within AuthOptions.MaxStale, and refuses unknown ones.
	OutageCached = "cached"
	// OutageClosed refuses every key whose cache entry has expired.
	OutageClosed = "closed"
)

// Defaults for AuthOptions.
const (
	DefaultMaxStale      = 10 * time.Minute
	DefaultLookupTimeout = 5 * time.Second
)

// probeInterval is how often, during an outage, one lookup is let through
// to the store to see whether it is back.
const probeInterval = time.Second

// ErrStoreUnavailable marks a lookup that could not be answered because
// the key store failed or is known to be down; the caller should answer
// 503 and the client retry. Authenticate's errors wrap it in that case.
var ErrStoreUnavailable = errors.New("key store unavailable")

// storeHealth tracks the key store's incidents: it logs the start and the
// end of each once, and while the store is down lets one lookup per
// probeInterval through so that recovery is noticed without a flood.
type storeHealth struct {
	mode     string
	maxStale time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	down      bool
	since     time.Time
	nextProbe time.Time
	stale     int // requests authenticated from the cache during the outage
	refused   int // requests refused during the outage
}

// pass reports whether a lookup at now should go to the store.
func (h *storeHealth) pass(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down || !now.Before(h.nextProbe) {
		h.nextProbe = now.Add(probeInterval)
		return true
	}
	return false
}

// fail records a failed lookup at now.
func (h *storeHealth) fail(now time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextProbe = now.Add(probeInterval)
	if h.down {
		return
	}
	h.down, h.since, h.stale, h.refused = true, now, 0, 0
	if h.mode == OutageCached {
		h.log.Error("key store unavailable; keys looked up successfully in the last "+h.maxStale.String()+
			" keep working from the cache, others get 503, until it answers again (store.outage: cached)", "err", err)
		return
	}
	h.log.Error("key store unavailable; keys not in the cache get 503 until it answers again (store.outage: closed)", "err", err)
}

// succeed records a lookup the store answered at now.
func (h *storeHealth) succeed(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return
	}
	h.down = false
	h.log.Info("key store available again", "outage", now.Sub(h.since).Round(time.Millisecond).String(),
		"served_from_cache", h.stale, "refused", h.refused)
}

// served counts the outcome of a lookup the store could not answer.
func (h *storeHealth) served(fromCache bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fromCache {
		h.stale++
	} else {
		h.refused++
	}
}
