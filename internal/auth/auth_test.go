package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
)

// fakeKeys is an in-memory KeyStore that counts lookups.
type fakeKeys struct {
	mu       sync.Mutex
	keys     map[string]*store.Key // by ID
	tenants  map[string]*store.Tenant
	err      error         // returned by every lookup when set
	block    chan struct{} // when set, lookups wait for it to close
	lookups  atomic.Int64
	started  chan struct{} // when set, receives one value per lookup start
	tenantRd atomic.Int64
}

func newFakeKeys() *fakeKeys {
	return &fakeKeys{keys: map[string]*store.Key{}, tenants: map[string]*store.Tenant{}}
}

func (f *fakeKeys) wait(ctx context.Context) error {
	f.lookups.Add(1)
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeKeys) KeyByHash(ctx context.Context, hash []byte) (*store.Key, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if string(k.Hash) == string(hash) || (k.Previous != nil && string(k.Previous.Hash) == string(hash)) {
			c := *k
			return &c, nil
		}
	}
	return nil, fmt.Errorf("key: %w", store.ErrNotFound)
}

func (f *fakeKeys) KeyByAccessKeyID(ctx context.Context, akid string) (*store.Key, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.AWSAccessKeyID == akid || (k.Previous != nil && k.Previous.AWSAccessKeyID == akid) {
			c := *k
			return &c, nil
		}
	}
	return nil, fmt.Errorf("key: %w", store.ErrNotFound)
}

func (f *fakeKeys) TenantByID(_ context.Context, id string) (*store.Tenant, error) {
	f.tenantRd.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[id]
	if !ok {
		return nil, fmt.Errorf("tenant: %w", store.ErrNotFound)
	}
	c := *t
	return &c, nil
}

func (f *fakeKeys) update(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture holds a store with one tenant and one key, and the key's secret.
type fixture struct {
	t      testing.TB
	ks     *fakeKeys
	clock  *clock
	secret string
	key    *store.Key
	tenant *store.Tenant
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	secret, hash, prefix, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ks: newFakeKeys(), clock: &clock{now: t0}, secret: secret}
	f.tenant = &store.Tenant{ID: "ten_1", Name: "acme"}
	f.key = &store.Key{ID: "key_1", TenantID: "ten_1", Hash: hash, Prefix: prefix, AllowedModels: []string{"gpt-*"}}
	f.ks.tenants["ten_1"] = f.tenant
	f.ks.keys["key_1"] = f.key
	return f
}

func (f *fixture) auth(opts AuthOptions) *Authenticator {
	opts.Now = f.clock.Now
	a := NewAuthenticator(f.ks, opts)
	f.t.Cleanup(func() { a.Close() })
	return a
}

func TestAuthenticate_Success(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{})
	p, err := a.Authenticate(t.Context(), f.secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := &Principal{Tenant: *f.tenant, Key: *f.key}
	if diff := cmp.Diff(want, p, cmpopts.IgnoreUnexported(Principal{})); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

func TestAuthenticate_Refusals(t *testing.T) {
	sentinels := []error{ErrUnauthenticated, ErrRevoked, ErrExpired, ErrTenantDisabled}
	for _, tc := range []struct {
		name   string
		setup  func(f *fixture)
		secret func(f *fixture) string
		want   error
	}{
		{"unknown_key", nil, func(*fixture) string { return "sk-sy-unknown" }, ErrUnauthenticated},
		{"empty_secret", nil, func(*fixture) string { return "" }, ErrUnauthenticated},
		{"oversized_secret", nil, func(*fixture) string { return string(make([]byte, maxSecretLen+1)) }, ErrUnauthenticated},
		{"revoked", func(f *fixture) { f.key.RevokedAt = new(t0.Add(-time.Minute)) }, nil, ErrRevoked},
		{"revoked_at_now", func(f *fixture) { f.key.RevokedAt = new(t0) }, nil, ErrRevoked},
		{"expired", func(f *fixture) { f.key.ExpiresAt = new(t0.Add(-time.Second)) }, nil, ErrExpired},
		{"expires_now", func(f *fixture) { f.key.ExpiresAt = new(t0) }, nil, ErrExpired},
		{"tenant_disabled", func(f *fixture) { f.tenant.Disabled = true }, nil, ErrTenantDisabled},
		{"tenant_missing", func(f *fixture) { delete(f.ks.tenants, "ten_1") }, nil, ErrUnauthenticated},
		{"revoked_beats_expired", func(f *fixture) {
			f.key.RevokedAt = new(t0.Add(-time.Minute))
			f.key.ExpiresAt = new(t0.Add(-time.Minute))
		}, nil, ErrRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			secret := f.secret
			if tc.secret != nil {
				secret = tc.secret(f)
			}
			p, err := f.auth(AuthOptions{}).Authenticate(t.Context(), secret)
			if p != nil {
				t.Errorf("principal = %+v, want nil", p)
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == tc.want; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
}

func TestAuthenticate_NotYetExpired(t *testing.T) {
	f := newFixture(t)
	f.key.ExpiresAt = new(t0.Add(time.Second))
	a := f.auth(AuthOptions{CacheTTL: time.Hour})
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	// Expiry is checked on every call, even when the key is cached.
	f.clock.Advance(time.Second)
	if _, err := a.Authenticate(t.Context(), f.secret); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: error = %v, want ErrExpired", err)
	}
}

func TestAuthenticate_CachesWithinTTL(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{CacheTTL: time.Second})
	for range 5 {
		if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.ks.lookups.Load(); n != 1 {
		t.Errorf("store lookups within TTL = %d, want 1", n)
	}
	f.clock.Advance(time.Second)
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	if n := f.ks.lookups.Load(); n != 2 {
		t.Errorf("store lookups after TTL = %d, want 2", n)
	}
}

func TestAuthenticate_RevokedElsewhereRefusedAfterTTL(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{}) // default TTL: one second
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	f.ks.update(func() { f.ks.keys["key_1"].RevokedAt = new(t0) })
	f.clock.Advance(999 * time.Millisecond)
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Errorf("within the TTL the cached key still works: %v", err)
	}
	f.clock.Advance(time.Millisecond)
	if _, err := a.Authenticate(t.Context(), f.secret); !errors.Is(err, ErrRevoked) {
		t.Errorf("after the TTL: error = %v, want ErrRevoked", err)
	}
	// Disabling the tenant is seen the same way.
	g := newFixture(t)
	b := g.auth(AuthOptions{})
	if _, err := b.Authenticate(t.Context(), g.secret); err != nil {
		t.Fatal(err)
	}
	g.ks.update(func() { g.ks.tenants["ten_1"].Disabled = true })
	g.clock.Advance(time.Second)
	if _, err := b.Authenticate(t.Context(), g.secret); !errors.Is(err, ErrTenantDisabled) {
		t.Errorf("after the TTL: error = %v, want ErrTenantDisabled", err)
	}
}

func TestAuthenticate_NegativeCache(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{})
	for range 10 {
		if _, err := a.Authenticate(t.Context(), "sk-sy-bogus"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("error = %v, want ErrUnauthenticated", err)
		}
	}
	if n := f.ks.lookups.Load(); n != 1 {
		t.Errorf("store lookups for a repeated bad key = %d, want 1", n)
	}
	// A key created after a miss works once the miss expires.
	f.clock.Advance(time.Second)
	if _, err := a.Authenticate(t.Context(), "sk-sy-bogus"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	if n := f.ks.lookups.Load(); n != 2 {
		t.Errorf("store lookups after the miss expired = %d, want 2", n)
	}
}

func TestAuthenticate_StoreErrorNotCached(t *testing.T) {
	f := newFixture(t)
	down := errors.New("connection refused")
	f.ks.err = down
	a := f.auth(AuthOptions{})
	_, err := a.Authenticate(t.Context(), f.secret)
	if !errors.Is(err, down) {
		t.Errorf("error = %v, want the store's", err)
	}
	if errors.Is(err, ErrUnauthenticated) || !errors.Is(err, ErrStoreUnavailable) {
		t.Errorf("a failing store must not look like an unknown key: %v", err)
	}
	f.ks.update(func() { f.ks.err = nil })
	// One failure does not open the breaker: the next lookup asks again.
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil || f.ks.lookups.Load() != 2 {
		t.Errorf("after the store recovered: %v, %d lookups, want 2", err, f.ks.lookups.Load())
	}
}

func TestAuthenticate_ConcurrentMissesShareOneLookup(t *testing.T) {
	f := newFixture(t)
	f.ks.block = make(chan struct{})
	f.ks.started = make(chan struct{}, 100)
	a := f.auth(AuthOptions{})
	const callers = 50
	var wg sync.WaitGroup
	errs := make([]error, callers)
	wg.Go(func() { _, errs[0] = a.Authenticate(context.Background(), f.secret) })
	<-f.ks.started // the leader is inside the store
	for i := 1; i < callers; i++ {
		wg.Go(func() { _, errs[i] = a.Authenticate(context.Background(), f.secret) })
	}
	// Give the followers time to reach the store if they were going to:
	// a follower that arrives late finds the result cached, so the wait
	// only decides how strongly this test checks, never whether it passes.
	time.Sleep(20 * time.Millisecond)
	close(f.ks.block)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := f.ks.lookups.Load(); n != 1 {
		t.Errorf("store lookups for %d concurrent callers = %d, want 1", callers, n)
	}
}

func TestAuthenticate_LeaderCancelledFollowerRetries(t *testing.T) {
	f := newFixture(t)
	f.ks.block = make(chan struct{})
	f.ks.started = make(chan struct{}, 10)
	a := f.auth(AuthOptions{})
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(leaderCtx, f.secret)
		leaderErr <- err
	}()
	<-f.ks.started
	followerErr := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), f.secret)
		followerErr <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the follower join the flight
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader error = %v, want context.Canceled", err)
	}
	<-f.ks.started // the follower looks up on its own
	close(f.ks.block)
	if err := <-followerErr; err != nil {
		t.Errorf("follower error = %v, want success", err)
	}
}

func TestAuthenticate_CacheBounded(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{CacheSize: 16, CacheTTL: time.Hour})
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := a.Authenticate(t.Context(), fmt.Sprintf("sk-sy-flood-%d", i)); !errors.Is(err, ErrUnauthenticated) {
			t.Fatal(err)
		}
	}
	hits, misses := a.byHash.len()
	if misses > 16 {
		t.Errorf("remembered misses = %d, want at most 16", misses)
	}
	if hits != 1 {
		t.Errorf("remembered hits = %d, want 1: a flood of bad keys must not evict good ones", hits)
	}
	before := f.ks.lookups.Load()
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	if f.ks.lookups.Load() != before {
		t.Error("the known key was looked up again after the flood")
	}
}

func TestLookupCache_EvictsExpiredFirst(t *testing.T) {
	c := newLookupCache[int, int](time.Second, 4)
	load := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	never := func(error) bool { return false }
	for i := range 3 {
		c.get(t.Context(), i, t0, load(i), never)
	}
	later := t0.Add(time.Second)
	c.get(t.Context(), 3, later, load(3), never) // fills the cache
	c.get(t.Context(), 4, later, load(4), never) // evicts the three expired entries
	if hits, _ := c.len(); hits != 2 {
		t.Errorf("entries = %d, want 2 (3 and 4)", hits)
	}
	calls := 0
	v, _ := c.get(t.Context(), 3, later, func(context.Context) (int, error) { calls++; return 0, nil }, never)
	if v != 3 || calls != 0 {
		t.Errorf("get(3) = %d with %d loads, want the cached 3", v, calls)
	}
}

func TestAuthenticate_ConcurrentUse(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{CacheSize: 8})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if i%3 == 0 {
					f.clock.Advance(time.Millisecond)
				}
				if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				if _, err := a.Authenticate(t.Context(), fmt.Sprintf("bad-%d-%d", g, i)); !errors.Is(err, ErrUnauthenticated) {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// awsFixture adds SigV4 credentials sealed under a fresh master key.
func awsFixture(t *testing.T) (*fixture, *Sealer, string, string) {
	t.Helper()
	f := newFixture(t)
	sealer, err := NewSealer(make([]byte, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	akid, secret, err := NewAWSKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealer.Seal([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	f.key.AWSAccessKeyID, f.key.AWSSecretSealed = akid, sealed
	return f, sealer, akid, secret
}

func TestAWSSecret(t *testing.T) {
	f, sealer, akid, secret := awsFixture(t)
	a := f.auth(AuthOptions{Sealer: sealer})
	got, p, err := a.AWSSecret(t.Context(), akid)
	if err != nil {
		t.Fatalf("AWSSecret: %v", err)
	}
	if got != secret {
		t.Errorf("secret = %q, want %q", got, secret)
	}
	if p.Key.ID != "key_1" || p.Tenant.ID != "ten_1" {
		t.Errorf("principal = %s/%s, want key_1/ten_1", p.Key.ID, p.Tenant.ID)
	}
	if _, _, err := a.AWSSecret(t.Context(), akid); err != nil {
		t.Fatal(err)
	}
	if n := f.ks.lookups.Load(); n != 1 {
		t.Errorf("store lookups = %d, want 1 (cached)", n)
	}
}

func TestAWSSecret_Refusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fixture)
		akid  string
		want  error
	}{
		{name: "unknown", akid: "ASYUNKNOWNUNKNOWNUNK", want: ErrUnauthenticated},
		{name: "empty", akid: "", want: ErrUnauthenticated},
		{name: "revoked", setup: func(f *fixture) { f.key.RevokedAt = new(t0) }, want: ErrRevoked},
		{name: "expired", setup: func(f *fixture) { f.key.ExpiresAt = new(t0) }, want: ErrExpired},
		{name: "tenant_disabled", setup: func(f *fixture) { f.tenant.Disabled = true }, want: ErrTenantDisabled},
		{name: "no_sealed_secret", setup: func(f *fixture) { f.key.AWSSecretSealed = nil }, want: ErrUnauthenticated},
		{name: "tampered_secret", setup: func(f *fixture) { f.key.AWSSecretSealed[len(f.key.AWSSecretSealed)-1] ^= 1 }, want: ErrSealedInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, sealer, akid, _ := awsFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			if tc.akid != "" || tc.name == "empty" {
				akid = tc.akid
			}
			secret, p, err := f.auth(AuthOptions{Sealer: sealer}).AWSSecret(t.Context(), akid)
			if !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			if secret != "" || p != nil {
				t.Errorf("got secret %q and principal %v on failure", secret, p)
			}
		})
	}
}

func TestAWSSecret_NoSealer(t *testing.T) {
	f, _, akid, _ := awsFixture(t)
	if _, _, err := f.auth(AuthOptions{}).AWSSecret(t.Context(), akid); err == nil {
		t.Error("AWSSecret without a sealer succeeded")
	}
	if n := f.ks.lookups.Load(); n != 0 {
		t.Errorf("store lookups = %d, want 0", n)
	}
}

// BenchmarkAuthenticate measures a request's key check when its key is
// cached, as nearly every request's is.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b)
	a := f.auth(AuthOptions{CacheTTL: time.Hour})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, f.secret); err != nil {
			b.Fatal(err)
		}
	}
}
