package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultLastUsedInterval is how often LastUsed writes what it gathered:
// a key's last-used time is at most this stale in the store, and the
// store sees at most one write per key per interval.
const DefaultLastUsedInterval = time.Minute

// KeyToucher records keys' last use; sqlstore.Store implements it.
type KeyToucher interface {
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}

// LastUsed gathers the last use of each key in memory and writes it to
// the store in batches, so that authenticating a request never waits on
// (or costs) a store write. It is safe for concurrent use.
type LastUsed struct {
	store   KeyToucher
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	pending map[string]time.Time
}

// NewLastUsed returns a LastUsed writing to st, each write bounded by
// timeout. log receives failed writes (nil: discard).
func NewLastUsed(st KeyToucher, timeout time.Duration, log *slog.Logger) *LastUsed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LastUsed{store: st, timeout: timeout, log: log, pending: make(map[string]time.Time)}
}

// Record notes that the key was used at at.
func (u *LastUsed) Record(keyID string, at time.Time) {
	u.mu.Lock()
	if prev, ok := u.pending[keyID]; !ok || at.After(prev) {
		u.pending[keyID] = at
	}
	u.mu.Unlock()
}

// Flush writes what was gathered since the last flush, in one store
// transaction within the timeout. On failure the times are kept for the
// next flush (unless a later use replaced them).
func (u *LastUsed) Flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	if len(batch) == 0 {
		u.mu.Unlock()
		return nil
	}
	u.pending = make(map[string]time.Time, len(batch))
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	err := u.store.TouchKeys(ctx, batch)
	if err != nil {
		for id, at := range batch {
			u.Record(id, at)
		}
	}
	return err
}

// Run flushes every interval until ctx ends, then once more with a fresh
// deadline so that uses seen before shutdown are kept.
func (u *LastUsed) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultLastUsedInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := u.Flush(ctx); err != nil {
				u.log.Warn("recording keys' last use", "err", err)
			}
		case <-ctx.Done():
			if err := u.Flush(context.WithoutCancel(ctx)); err != nil {
				u.log.Warn("recording keys' last use at shutdown", "err", err)
			}
			return
		}
	}
}
