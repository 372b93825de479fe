package auth

import (
	"errors"
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
	DefaultLookupTimeout = 250 * time.Millisecond
)

// ErrStoreUnavailable marks a lookup that could not be answered because
// the key store failed, did not answer in time or is known to be down; the
// caller should answer 503 and the client retry. Authenticate's errors
// wrap it in that case.
var ErrStoreUnavailable = errors.New("key store unavailable")

// OutageMode says, for the log line that starts a store outage, what
// happens to keys meanwhile in outage mode (OutageCached or OutageClosed).
func OutageMode(mode string, maxStale time.Duration) string {
	if mode == OutageClosed {
		return "keys not in the cache get 503 (store.outage: closed)"
	}
	return "keys looked up successfully in the last " + maxStale.String() +
		" keep working from the cache, others get 503 (store.outage: cached)"
}
