// Package auth authenticates clients: it makes and hashes client keys
// ("sk-sy-…") and AWS-style SigV4 credentials, seals the SigV4 secrets at
// rest with a master key, and resolves a presented secret or access key ID
// to the key and tenant behind it through a short-lived, bounded cache.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchyard/internal/outage"
	"switchyard/internal/store"
)

// Authentication failures. Each is distinct so that callers can tell the
// client why (and count each cause); all of them mean "refuse the
// request".
var (
	// ErrUnauthenticated: no key matches the presented secret or access
	// key ID.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrRevoked: the key has been revoked.
	ErrRevoked = errors.New("key revoked")
	// ErrExpired: the key is past its expiry time.
	ErrExpired = errors.New("key expired")
	// ErrTenantDisabled: the key's tenant is disabled.
	ErrTenantDisabled = errors.New("tenant disabled")
	// ErrRotated: the secret presented is one the key's rotation replaced,
	// and its grace window has ended.
	ErrRotated = errors.New("key secret rotated")
	// ErrSourceNotAllowed: the key or its tenant has an IP allow-list and
	// the request's source address is not on it (see
	// Principal.CheckSource).
	ErrSourceNotAllowed = errors.New("source address not allowed")
)

// maxSecretLen bounds what Authenticate hashes; real secrets are 49 bytes.
const maxSecretLen = 512

// More defaults for AuthOptions.
const (
	DefaultCacheTTL  = time.Second
	DefaultCacheSize = 10000
)

// Principal is an authenticated caller: the key it presented and the
// key's tenant. Callers treat it as read-only: it is shared with the
// cache, and with every request the same cache entry serves.
type Principal struct {
	Tenant store.Tenant
	Key    store.Key
	// allow is the key's and tenant's allow-lists, parsed once per store
	// read; nil for a Principal made elsewhere (CheckSource then parses).
	allow *allowLists
}

// KeyStore is what the Authenticator reads; sqlstore.Store implements it.
// Lookups of unknown keys return an error wrapping store.ErrNotFound.
type KeyStore interface {
	KeyByHash(ctx context.Context, hash []byte) (*store.Key, error)
	KeyByAccessKeyID(ctx context.Context, akid string) (*store.Key, error)
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
}

// AuthOptions configures an Authenticator. Zero fields take defaults.
type AuthOptions struct {
	// CacheTTL is how long a lookup, found or not, is remembered. It is
	// also the longest a key revoked, rotated, expired or limited anew, or
	// a tenant disabled, by another replica keeps its old standing here
	// (a change made through this process holds from its next request:
	// see Invalidate). A key in use is looked up again in the background
	// once its entry is half this old, so its requests do not wait for
	// the store. Default: DefaultCacheTTL (1s).
	CacheTTL time.Duration
	// CacheSize bounds the remembered keys, and separately the remembered
	// unknown keys. Default: DefaultCacheSize.
	CacheSize int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Sealer opens stored SigV4 secrets; AWSSecret fails without one.
	Sealer *Sealer
	// Outage is OutageCached (default) or OutageClosed: whether a key
	// resolved by a successful lookup within MaxStale keeps working while
	// the store cannot be reached.
	Outage string
	// MaxStale bounds the age of a lookup that OutageCached falls back on.
	// Default: DefaultMaxStale (10m).
	MaxStale time.Duration
	// Breaker guards the store: each lookup gets its deadline, and while
	// it is open no lookup is made at all (the outage mode answers at
	// once) until its background probe sees the store again. Give the one
	// breaker the store's other request-path users share. Default: one of
	// the Authenticator's own, named "key store", with LookupTimeout as
	// its deadline, probing with a lookup of a key that does not exist;
	// Close stops it.
	Breaker *outage.Breaker
	// LookupTimeout is the deadline of the Authenticator's own breaker
	// (unused with Breaker). Default: DefaultLookupTimeout.
	LookupTimeout time.Duration
	// Logger receives the start and end of each store outage seen by the
	// Authenticator's own breaker. Default: discard.
	Logger *slog.Logger
	// LastUsed, when set, is told of every key that authenticates, to
	// record its last use. Default: none.
	LastUsed *LastUsed
}

// Authenticator resolves client credentials to principals. It is safe for
// concurrent use.
//
// Only the SHA-256 of a presented secret reaches the cache and the store.
// Looking that hash up is not constant-time, and need not be: an attacker
// cannot choose hash values, so timing reveals nothing about any real
// key's secret. The stored hash is still compared in constant time as a
// last check.
//
// While the store cannot be reached, lookups fail with an error wrapping
// ErrStoreUnavailable, except that in OutageCached mode a key resolved by
// a successful lookup within MaxStale is still authenticated from the
// cache (its revocation, expiry and tenant are checked as last read).
// Once the breaker has opened, no lookup waits for the store.
type Authenticator struct {
	ks       KeyStore
	now      func() time.Time
	sealer   *Sealer
	maxStale time.Duration   // 0 in OutageClosed mode
	breaker  *outage.Breaker // guards every lookup
	own      bool            // breaker is the Authenticator's own
	byHash   *lookupCache[[32]byte, *resolved]
	byAKID   *lookupCache[string, *resolved]
	used     *LastUsed // nil: not recorded
}

// resolved is a key and its tenant as last read from the store, and
// which of the key's secrets was presented. Every request the entry
// serves gets the same Principal, read-only.
type resolved struct {
	p Principal
	// previousUntil is set when the secret presented is the key's
	// previous one: the end of its grace window.
	previousUntil *time.Time
}

// NewAuthenticator returns an Authenticator reading from ks.
func NewAuthenticator(ks KeyStore, opts AuthOptions) *Authenticator {
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Outage == "" {
		opts.Outage = OutageCached
	}
	if opts.MaxStale <= 0 {
		opts.MaxStale = DefaultMaxStale
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = DefaultLookupTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{
		ks:      ks,
		now:     opts.Now,
		sealer:  opts.Sealer,
		breaker: opts.Breaker,
		used:    opts.LastUsed,
		byHash:  newLookupCache[[32]byte, *resolved](opts.CacheTTL, opts.CacheSize),
		byAKID:  newLookupCache[string, *resolved](opts.CacheTTL, opts.CacheSize),
	}
	if a.breaker == nil {
		a.own = true
		a.breaker = outage.New(outage.Options{Name: "key store", Mode: OutageMode(opts.Outage, opts.MaxStale),
			Timeout: opts.LookupTimeout, Logger: opts.Logger, Probe: func(ctx context.Context) error {
				_, err := ks.KeyByHash(ctx, probeHash[:])
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				return err
			}})
	}
	if opts.Outage == OutageCached {
		a.maxStale = max(opts.MaxStale, opts.CacheTTL)
		a.byHash.keep, a.byAKID.keep = a.maxStale, a.maxStale
	}
	return a
}

// Invalidate expires every cached lookup, and forgets every lookup in
// progress, so that a key or tenant changed in the store through this
// process (a revocation, a rotation, new limits or allow-lists, a
// disabled tenant) is read anew by its next request. The admin service
// calls it after each such change. What OutageCached falls back on is
// kept: a store outage right after a change leaves known keys working as
// last read, as it would after their entries' expiry.
func (a *Authenticator) Invalidate() {
	a.byHash.flush()
	a.byAKID.flush()
}

// probeHash is the hash the Authenticator's own breaker looks up to probe
// the store: no key has it, so a store that answers says "not found".
var probeHash = sha256.Sum256([]byte("switchyard key store probe"))

// Close stops the Authenticator's own breaker, if it has one.
func (a *Authenticator) Close() error {
	if a.own {
		return a.breaker.Close()
	}
	return nil
}

// resolve looks k up through c, asking the store through load (guarded by
// the breaker) when the cache has no fresh answer, and falls back on a
// stale answer (in OutageCached mode) when the store cannot answer.
func resolve[K comparable](ctx context.Context, a *Authenticator, c *lookupCache[K, *resolved], k K, now time.Time,
	load func(ctx context.Context) (*resolved, error)) (*resolved, error) {
	r, err := c.get(ctx, k, now, func(ctx context.Context) (*resolved, error) {
		var (
			r   *resolved
			err error
		)
		berr := a.breaker.Do(ctx, func(ctx context.Context) error {
			r, err = load(ctx)
			if err == nil || isUnauthenticated(err) {
				return nil // the store answered
			}
			return err
		})
		switch {
		case errors.Is(berr, outage.ErrUnavailable):
			// Not a context error, so that callers sharing this lookup
			// take it as the store's answer.
			return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, berr)
		case berr != nil:
			return nil, berr // the caller gave up; that says nothing about the store
		}
		return r, err
	}, isUnauthenticated)
	if !errors.Is(err, ErrStoreUnavailable) {
		return r, err
	}
	if a.maxStale > 0 {
		if r, ok := c.stale(k, now, a.maxStale); ok {
			return r, nil
		}
	}
	return nil, err
}

// Authenticate resolves a client key secret: the key's current secret,
// or the previous one a rotation replaced until its grace window ends.
// It fails with an error wrapping ErrUnauthenticated, ErrRevoked,
// ErrRotated, ErrExpired or ErrTenantDisabled,
// or with one wrapping ErrStoreUnavailable (not cached) when the lookup
// itself failed.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > maxSecretLen {
		return nil, ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(secret)) // HashKey, on the stack
	now := a.now()
	r, err := resolve(ctx, a, a.byHash, h, now, func(ctx context.Context) (*resolved, error) {
		k, err := a.ks.KeyByHash(ctx, h[:])
		if err != nil {
			return nil, notFoundAs(err, "looking up key")
		}
		var until *time.Time
		switch {
		case subtle.ConstantTimeCompare(k.Hash, h[:]) == 1:
		case k.Previous != nil && subtle.ConstantTimeCompare(k.Previous.Hash, h[:]) == 1:
			until = &k.Previous.Until
		default:
			return nil, ErrUnauthenticated
		}
		return a.withTenant(ctx, k, until)
	})
	if err != nil {
		return nil, err
	}
	return a.principal(r, now)
}

// AWSSecret resolves a SigV4 access key ID to its plaintext secret, for
// verifying a request's signature, and to the principal the signature will
// authenticate. It fails like Authenticate; a key without SigV4
// credentials is ErrUnauthenticated.
func (a *Authenticator) AWSSecret(ctx context.Context, accessKeyID string) (secret string, p *Principal, err error) {
	if a.sealer == nil {
		// Without a master key no key has SigV4 credentials: every access
		// key id is unknown here, which is the client's 403, not an outage.
		return "", nil, fmt.Errorf("resolving access key: no master key configured: %w", ErrUnauthenticated)
	}
	if accessKeyID == "" || len(accessKeyID) > maxSecretLen {
		return "", nil, ErrUnauthenticated
	}
	now := a.now()
	r, err := resolve(ctx, a, a.byAKID, accessKeyID, now, func(ctx context.Context) (*resolved, error) {
		k, err := a.ks.KeyByAccessKeyID(ctx, accessKeyID)
		if err != nil {
			return nil, notFoundAs(err, "looking up access key")
		}
		var until *time.Time
		switch {
		case subtle.ConstantTimeCompare([]byte(k.AWSAccessKeyID), []byte(accessKeyID)) == 1 && len(k.AWSSecretSealed) > 0:
		case k.Previous != nil && subtle.ConstantTimeCompare([]byte(k.Previous.AWSAccessKeyID), []byte(accessKeyID)) == 1 &&
			len(k.Previous.AWSSecretSealed) > 0:
			until = &k.Previous.Until
		default:
			return nil, ErrUnauthenticated
		}
		return a.withTenant(ctx, k, until)
	})
	if err != nil {
		return "", nil, err
	}
	p, err = a.principal(r, now)
	if err != nil {
		return "", nil, err
	}
	sealed := r.p.Key.AWSSecretSealed
	if r.previousUntil != nil {
		sealed = r.p.Key.Previous.AWSSecretSealed
	}
	plain, err := a.sealer.Open(sealed)
	if err != nil {
		return "", nil, fmt.Errorf("opening secret of key %s: %w", r.p.Key.ID, err)
	}
	return string(plain), p, nil
}

// withTenant completes a key with its tenant. previousUntil is set when
// the secret presented is the key's previous one.
func (a *Authenticator) withTenant(ctx context.Context, k *store.Key, previousUntil *time.Time) (*resolved, error) {
	t, err := a.ks.TenantByID(ctx, k.TenantID)
	if err != nil {
		return nil, notFoundAs(err, "looking up tenant of key "+k.ID)
	}
	allow, err := parseAllowLists(k.AllowedCIDRs, t.AllowedCIDRs)
	if err != nil {
		// The store validates every list it writes; a bad one is a broken
		// record, and refusing the key is the safe answer.
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	return &resolved{p: Principal{Key: *k, Tenant: *t, allow: allow}, previousUntil: previousUntil}, nil
}

// principal checks the key and tenant at now, and notes the key's use.
// The grace window of a previous secret is checked here, against the
// record as read, so that a cached or stale entry stops working at the
// window's end like the store's answer would.
func (a *Authenticator) principal(r *resolved, now time.Time) (*Principal, error) {
	switch {
	case r.p.Key.Revoked(now):
		return nil, fmt.Errorf("key %s: %w", r.p.Key.ID, ErrRevoked)
	case r.previousUntil != nil && !now.Before(*r.previousUntil):
		return nil, fmt.Errorf("key %s: grace window ended %s: %w", r.p.Key.ID, r.previousUntil.UTC().Format(time.RFC3339), ErrRotated)
	case r.p.Key.Expired(now):
		return nil, fmt.Errorf("key %s: %w", r.p.Key.ID, ErrExpired)
	case r.p.Tenant.Disabled:
		return nil, fmt.Errorf("key %s: tenant %s: %w", r.p.Key.ID, r.p.Tenant.ID, ErrTenantDisabled)
	}
	if a.used != nil {
		a.used.Record(r.p.Key.ID, now)
	}
	return &r.p, nil
}

// notFoundAs maps store.ErrNotFound to ErrUnauthenticated and wraps any
// other store error.
func notFoundAs(err error, doing string) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func isUnauthenticated(err error) bool { return errors.Is(err, ErrUnauthenticated) }
