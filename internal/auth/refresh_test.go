package auth

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"switchyard/internal/store"
)

// gatedKeys is a KeyStore whose key lookups each wait for a token on
// gate (or for their context to end).
type gatedKeys struct {
	*fakeKeys
	gate chan struct{}
}

func (g *gatedKeys) KeyByHash(ctx context.Context, hash []byte) (*store.Key, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.fakeKeys.KeyByHash(ctx, hash)
}

// TestAuthenticate_WarmKeyNeverWaitsForTheStore: a key in steady use is
// refreshed in the background before its entry expires, so none of its
// requests waits for the store, while the store is still read about once
// per half TTL (what bounds staleness across replicas).
func TestAuthenticate_WarmKeyNeverWaitsForTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ks := &gatedKeys{fakeKeys: f.ks, gate: make(chan struct{})}
		a := NewAuthenticator(ks, AuthOptions{CacheTTL: time.Second, Now: f.clock.Now})
		defer a.Close()
		go func() { ks.gate <- struct{}{} }() // the first request's lookup
		if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
			t.Fatal(err)
		}
		refreshes := 0
		for i := range 100 { // ten seconds of requests, one per 100ms
			f.clock.Advance(100 * time.Millisecond)
			start := time.Now() // the bubble's clock moves only if everything waits
			if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if waited := time.Since(start); waited != 0 {
				t.Fatalf("request %d waited %v for the store", i, waited)
			}
			synctest.Wait() // a refresh this request started is at the gate
			select {
			case ks.gate <- struct{}{}:
				refreshes++
				synctest.Wait()
			default:
			}
		}
		if refreshes < 18 || refreshes > 21 {
			t.Errorf("%d background refreshes over 10s with a 1s TTL, want about 20", refreshes)
		}
		if n := f.ks.lookups.Load(); n != int64(1+refreshes) {
			t.Errorf("store lookups = %d, want %d (the first request's and the refreshes)", n, 1+refreshes)
		}
	})
}

// TestAuthenticate_FailedRefreshDoesNotExtend: a background refresh that
// fails leaves the entry to expire on time; in closed mode the key is
// then refused while the store cannot answer.
func TestAuthenticate_FailedRefreshDoesNotExtend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		a := f.auth(AuthOptions{CacheTTL: time.Second, Outage: OutageClosed})
		if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
			t.Fatal(err)
		}
		f.ks.update(func() { f.ks.err = errors.New("connection refused") })
		f.clock.Advance(600 * time.Millisecond)
		if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
			t.Fatalf("within the TTL: %v", err)
		}
		synctest.Wait() // the refresh failed
		f.clock.Advance(400 * time.Millisecond)
		if _, err := a.Authenticate(t.Context(), f.secret); !errors.Is(err, ErrStoreUnavailable) {
			t.Errorf("at the TTL with the store down: %v, want ErrStoreUnavailable", err)
		}
	})
}

// TestAuthenticate_InvalidateTakesEffectAtOnce: a change made through
// this process (the admin service calls Invalidate) holds from the next
// request, without waiting for the TTL.
func TestAuthenticate_InvalidateTakesEffectAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *fixture)
		want   error
	}{
		{"revoke", func(f *fixture) { f.ks.keys["key_1"].RevokedAt = new(t0) }, ErrRevoked},
		{"disable tenant", func(f *fixture) { f.ks.tenants["ten_1"].Disabled = true }, ErrTenantDisabled},
		{"rotate", func(f *fixture) {
			_, hash, _, _ := NewKey()
			k := f.ks.keys["key_1"]
			k.Previous = &store.PreviousSecret{Hash: k.Hash, Until: t0}
			k.Hash = hash
		}, ErrRotated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			a := f.auth(AuthOptions{CacheTTL: time.Minute})
			if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
				t.Fatal(err)
			}
			f.ks.update(func() { tc.change(f) })
			if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
				t.Fatalf("before Invalidate the cached answer stands: %v", err)
			}
			a.Invalidate()
			if _, err := a.Authenticate(t.Context(), f.secret); !errors.Is(err, tc.want) {
				t.Errorf("after Invalidate: %v, want %v", err, tc.want)
			}
		})
	}
	// New limits are read at once too.
	f := newFixture(t)
	a := f.auth(AuthOptions{CacheTTL: time.Minute})
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	f.ks.update(func() { f.ks.keys["key_1"].RPM = 7 })
	a.Invalidate()
	if p, err := a.Authenticate(t.Context(), f.secret); err != nil || p.Key.RPM != 7 {
		t.Errorf("after Invalidate: %v, RPM %d, want 7", err, p.Key.RPM)
	}
}

// TestLookupCache_FlushDropsLookupInProgress: a lookup that began before
// a flush (reading the record as it was) is not cached, and a get after
// the flush does not share it.
func TestLookupCache_FlushDropsLookupInProgress(t *testing.T) {
	c := newLookupCache[string, string](time.Minute, 10)
	release := make(chan struct{})
	started := make(chan struct{})
	never := func(error) bool { return false }
	done := make(chan string)
	go func() {
		v, _ := c.get(context.Background(), "k", t0, func(context.Context) (string, error) {
			close(started)
			<-release
			return "before", nil
		}, never)
		done <- v
	}()
	<-started
	c.flush()
	loads := 0
	v, err := c.get(context.Background(), "k", t0, func(context.Context) (string, error) {
		loads++
		return "after", nil
	}, never)
	if err != nil || v != "after" || loads != 1 {
		t.Fatalf("get after flush = %q, %v (%d loads), want a fresh load", v, err, loads)
	}
	close(release)
	if v := <-done; v != "before" {
		t.Errorf("the earlier caller got %q, want its own lookup's answer", v)
	}
	v, _ = c.get(context.Background(), "k", t0, func(context.Context) (string, error) { return "reloaded", nil }, never)
	if v != "after" {
		t.Errorf("cached = %q, want the lookup made after the flush", v)
	}
}

// TestAuthenticate_InvalidateKeepsOutageFallback: a change made through
// this process right before a store outage does not cost the keys known
// before it their outage fallback.
func TestAuthenticate_InvalidateKeepsOutageFallback(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{CacheTTL: time.Second, Outage: OutageCached, MaxStale: time.Minute})
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	a.Invalidate() // another key was issued, say
	f.ks.update(func() { f.ks.err = errors.New("connection refused") })
	if p, err := a.Authenticate(t.Context(), f.secret); err != nil || p.Key.ID != f.key.ID {
		t.Errorf("known key in the outage after Invalidate: %v, want it served as last read", err)
	}
	if f.ks.lookups.Load() != 2 {
		t.Errorf("store lookups = %d, want 2 (Invalidate makes the next request ask)", f.ks.lookups.Load())
	}
}
