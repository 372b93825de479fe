package auth

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"switchyard/internal/outage"
	"switchyard/internal/syncbuf"
)

// TestAuthenticate_Outage: with the store refusing, a known key is served
// from the cache (cached mode) or refused (closed mode), an unknown key is
// refused; the background probe finds the store back; the outage is logged
// once each way, naming the mode.
func TestAuthenticate_Outage(t *testing.T) {
	for _, tc := range []struct {
		mode string
		// knownServed says whether a key looked up before the outage is
		// still authenticated once its cache entry has expired.
		knownServed bool
	}{
		{OutageCached, true},
		{OutageClosed, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				logs := &syncbuf.Buffer{}
				a := f.auth(AuthOptions{Outage: tc.mode, MaxStale: time.Minute,
					Logger: slog.New(slog.NewTextHandler(logs, nil))})
				if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
					t.Fatal(err)
				}
				f.ks.update(func() { f.ks.err = errors.New("dial tcp: connection refused") })
				for i := range 5 {
					f.clock.Advance(2 * time.Second) // past the one-second cache
					p, err := a.Authenticate(t.Context(), f.secret)
					if tc.knownServed {
						if err != nil || p.Key.ID != f.key.ID {
							t.Fatalf("request %d during the outage: %v, want the cached key", i, err)
						}
					} else if !errors.Is(err, ErrStoreUnavailable) {
						t.Fatalf("request %d during the outage: %v, want ErrStoreUnavailable", i, err)
					}
					if _, err := a.Authenticate(t.Context(), "sk-sy-never-seen"); !errors.Is(err, ErrStoreUnavailable) {
						t.Fatalf("unknown key during the outage: %v, want ErrStoreUnavailable", err)
					}
				}
				if tc.knownServed {
					// Past MaxStale even a known key is refused.
					f.clock.Advance(time.Minute)
					if _, err := a.Authenticate(t.Context(), f.secret); !errors.Is(err, ErrStoreUnavailable) {
						t.Errorf("past MaxStale: %v, want ErrStoreUnavailable", err)
					}
				}
				f.ks.update(func() { f.ks.err = nil })
				time.Sleep(outage.DefaultProbeInterval)
				synctest.Wait()
				if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
					t.Fatalf("after the store returned: %v", err)
				}
				if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
					t.Fatal(err)
				}
				out := logs.String()
				if n := strings.Count(out, "key store unavailable"); n != 1 {
					t.Errorf("%d outage lines, want 1:\n%s", n, out)
				}
				if n := strings.Count(out, "key store available again"); n != 1 {
					t.Errorf("%d recovery lines, want 1:\n%s", n, out)
				}
				if !strings.Contains(out, "store.outage: "+tc.mode) {
					t.Errorf("outage line does not name the mode:\n%s", out)
				}
				if strings.Contains(out, f.secret) {
					t.Errorf("logs contain the key's secret:\n%s", out)
				}
			})
		})
	}
}

// TestAuthenticate_OutageNoRequestWaits: while the store swallows every
// lookup, a known key in cached mode waits one deadline for the first
// outage.DefaultTrip lookups only; after that the breaker is open and no
// request waits, not even while a probe is hanging in the background.
func TestAuthenticate_OutageNoRequestWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		a := f.auth(AuthOptions{})
		if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
			t.Fatal(err)
		}
		f.ks.block = make(chan struct{}) // never closed: every lookup hangs
		f.clock.Advance(2 * time.Second)
		waited := 0
		for range 100 {
			start := time.Now()
			if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 0 {
				waited++
			}
			time.Sleep(30 * time.Millisecond) // 100 requests over three seconds: probes run meanwhile
		}
		if waited != outage.DefaultTrip {
			t.Errorf("%d requests waited for the store, want %d", waited, outage.DefaultTrip)
		}
		if st := a.breaker.Stats(); !st.Open || st.Probes == 0 {
			t.Errorf("breaker: %+v, want open and probing", st)
		}
	})
}

// TestAuthenticate_OutageTimeout checks that a store that hangs counts as
// down once LookupTimeout passes, rather than holding requests.
func TestAuthenticate_OutageTimeout(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{LookupTimeout: 20 * time.Millisecond})
	if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	f.ks.block = make(chan struct{}) // never closed: every lookup hangs
	f.clock.Advance(2 * time.Second)
	p, err := a.Authenticate(t.Context(), f.secret)
	if err != nil || p.Key.ID != f.key.ID {
		t.Errorf("hanging store: %v, want the cached key", err)
	}
	if _, err := a.Authenticate(t.Context(), "sk-sy-never-seen"); !errors.Is(err, ErrStoreUnavailable) {
		t.Errorf("unknown key with a hanging store: %v, want ErrStoreUnavailable", err)
	}
}

func TestAuthenticate_OutageAWS(t *testing.T) {
	f := newFixture(t)
	sealer, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealer.Seal([]byte("aws-secret"))
	if err != nil {
		t.Fatal(err)
	}
	f.key.AWSAccessKeyID, f.key.AWSSecretSealed = "ASYTESTTESTTESTTEST1", sealed
	a := f.auth(AuthOptions{Sealer: sealer})
	if _, _, err := a.AWSSecret(t.Context(), f.key.AWSAccessKeyID); err != nil {
		t.Fatal(err)
	}
	f.ks.update(func() { f.ks.err = errors.New("down") })
	f.clock.Advance(5 * time.Minute)
	secret, p, err := a.AWSSecret(t.Context(), f.key.AWSAccessKeyID)
	if err != nil || secret != "aws-secret" || p.Key.ID != f.key.ID {
		t.Errorf("during the outage: %q %v, want the cached key", secret, err)
	}
}
