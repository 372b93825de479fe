package auth

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"switchyard/internal/store"
)

// rotate gives the fixture's key a new secret, keeping the old one as its
// previous secret until graceUntil, as the store's RotateKeySecret does.
func (f *fixture) rotate(graceUntil time.Time) (newSecret string) {
	f.t.Helper()
	secret, hash, prefix, err := NewKey()
	if err != nil {
		f.t.Fatal(err)
	}
	f.ks.update(func() {
		k := f.ks.keys[f.key.ID]
		k.Previous = &store.PreviousSecret{Hash: k.Hash, Prefix: k.Prefix, AWSAccessKeyID: k.AWSAccessKeyID,
			AWSSecretSealed: k.AWSSecretSealed, Until: graceUntil}
		k.Hash, k.Prefix = hash, prefix
	})
	return secret
}

func TestAuthenticate_RotationGrace(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{})
	old := f.secret
	if _, err := a.Authenticate(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	next := f.rotate(t0.Add(24 * time.Hour))
	f.clock.Advance(2 * time.Second) // past the cache
	for name, secret := range map[string]string{"old": old, "new": next} {
		p, err := a.Authenticate(t.Context(), secret)
		if err != nil || p.Key.ID != f.key.ID {
			t.Errorf("%s secret within the grace window: %v, %v; want key %s", name, p, err, f.key.ID)
		}
	}
	// The injected clock reaches the end of the window: the old secret is
	// refused, from the cache as from the store, and the new one works.
	f.clock.Advance(24*time.Hour - 2*time.Second)
	if _, err := a.Authenticate(t.Context(), old); !errors.Is(err, ErrRotated) {
		t.Errorf("old secret at the end of the grace window: %v, want ErrRotated", err)
	}
	f.clock.Advance(time.Hour)
	if _, err := a.Authenticate(t.Context(), old); !errors.Is(err, ErrRotated) {
		t.Errorf("old secret after the grace window: %v, want ErrRotated", err)
	}
	if p, err := a.Authenticate(t.Context(), next); err != nil || p.Key.ID != f.key.ID {
		t.Errorf("new secret after the grace window: %v", err)
	}
}

// TestAuthenticate_RotationGraceEndsDuringOutage: in the cached outage
// mode a stale entry for the old secret stops working at the end of its
// grace window, though the store cannot be asked.
func TestAuthenticate_RotationGraceEndsDuringOutage(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{Outage: OutageCached, MaxStale: time.Hour})
	old := f.secret
	f.rotate(t0.Add(time.Minute))
	if _, err := a.Authenticate(t.Context(), old); err != nil {
		t.Fatalf("old secret in its window: %v", err)
	}
	f.ks.update(func() { f.ks.err = errors.New("dial tcp: connection refused") })
	f.clock.Advance(30 * time.Second)
	if _, err := a.Authenticate(t.Context(), old); err != nil {
		t.Fatalf("old secret from the stale cache within its window: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := a.Authenticate(t.Context(), old); !errors.Is(err, ErrRotated) {
		t.Errorf("old secret from the stale cache past its window: %v, want ErrRotated", err)
	}
}

func TestAWSSecret_RotationGrace(t *testing.T) {
	f := newFixture(t)
	sealer := testSealer(t)
	oldAKID, oldSecret, _ := NewAWSKeyPair()
	sealed, _ := sealer.Seal([]byte(oldSecret))
	f.key.AWSAccessKeyID, f.key.AWSSecretSealed = oldAKID, sealed
	a := f.auth(AuthOptions{Sealer: sealer})
	f.rotate(t0.Add(time.Hour))
	newAKID, newSecret, _ := NewAWSKeyPair()
	newSealed, _ := sealer.Seal([]byte(newSecret))
	f.ks.update(func() { f.key.AWSAccessKeyID, f.key.AWSSecretSealed = newAKID, newSealed })
	for akid, want := range map[string]string{oldAKID: oldSecret, newAKID: newSecret} {
		got, p, err := a.AWSSecret(t.Context(), akid)
		if err != nil || got != want || p.Key.ID != f.key.ID {
			t.Errorf("AWSSecret(%s) within the window = %q, %v; want its own secret", akid, got, err)
		}
	}
	f.clock.Advance(time.Hour)
	if _, _, err := a.AWSSecret(t.Context(), oldAKID); !errors.Is(err, ErrRotated) {
		t.Errorf("old access key past the window: %v, want ErrRotated", err)
	}
	if got, _, err := a.AWSSecret(t.Context(), newAKID); err != nil || got != newSecret {
		t.Errorf("new access key past the window: %v", err)
	}
}

func testSealer(t *testing.T) *Sealer {
	t.Helper()
	s, err := NewSealer(make([]byte, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrincipal_CheckSource(t *testing.T) {
	for _, tc := range []struct {
		name        string
		key, tenant []string
		addr        string
		wantRefusal bool
	}{
		{"no_lists", nil, nil, "203.0.113.9", false},
		{"no_lists_no_address", nil, nil, "", false},
		{"key_v4_in", []string{"10.0.0.0/8"}, nil, "10.1.2.3", false},
		{"key_v4_out", []string{"10.0.0.0/8"}, nil, "11.1.2.3", true},
		{"key_v4_mapped_in", []string{"10.0.0.0/8"}, nil, "::ffff:10.1.2.3", false},
		{"key_v6_in", []string{"2001:db8::/32"}, nil, "2001:db8:1::1", false},
		{"key_v6_out", []string{"2001:db8::/32"}, nil, "2001:db9::1", true},
		{"v4_list_v6_addr", []string{"10.0.0.0/8"}, nil, "2001:db8::1", true},
		{"tenant_out", nil, []string{"192.0.2.0/24"}, "198.51.100.1", true},
		{"tenant_in", nil, []string{"192.0.2.0/24"}, "192.0.2.77", false},
		{"both_in", []string{"192.0.2.0/28"}, []string{"192.0.2.0/24"}, "192.0.2.7", false},
		{"key_in_tenant_out", []string{"198.51.100.0/24"}, []string{"192.0.2.0/24"}, "198.51.100.1", true},
		{"no_address_with_list", []string{"10.0.0.0/8"}, nil, "", true},
		{"host_prefix", []string{"10.9.8.7/32"}, nil, "10.9.8.7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.key.AllowedCIDRs, f.tenant.AllowedCIDRs = tc.key, tc.tenant
			var addr netip.Addr
			if tc.addr != "" {
				addr = netip.MustParseAddr(tc.addr)
			}
			p, err := f.auth(AuthOptions{}).Authenticate(t.Context(), f.secret)
			if err != nil {
				t.Fatal(err)
			}
			// Through the Authenticator (lists parsed once) and as a
			// Principal made elsewhere (parsed on the call).
			for _, p := range []*Principal{p, {Key: p.Key, Tenant: p.Tenant}} {
				err := p.CheckSource(addr)
				if got := errors.Is(err, ErrSourceNotAllowed); got != tc.wantRefusal {
					t.Errorf("CheckSource(%q) = %v, want refusal %v", tc.addr, err, tc.wantRefusal)
				}
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	if _, err := ParseCIDRs([]string{"10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0", "::/0"}); err != nil {
		t.Errorf("valid list: %v", err)
	}
	for _, bad := range []string{"10.0.0.0", "10.0.0.0/33", "2001:db8::/129", "10.1.2.3/8", "example.com/8", "", " 10.0.0.0/8"} {
		if _, err := ParseCIDRs([]string{bad}); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
}

// touches is a KeyToucher that records each batch.
type touches struct {
	mu      sync.Mutex
	batches []map[string]time.Time
	err     error
}

func (s *touches) TouchKeys(_ context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, used)
	return nil
}

func TestLastUsed_CoalescesPerFlush(t *testing.T) {
	f := newFixture(t)
	st := &touches{}
	lu := NewLastUsed(st, time.Second, nil)
	a := f.auth(AuthOptions{LastUsed: lu})
	for range 100 {
		if _, err := a.Authenticate(t.Context(), f.secret); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(100 * time.Millisecond)
	}
	if len(st.batches) != 0 {
		t.Fatalf("%d store writes before a flush, want none", len(st.batches))
	}
	if err := lu.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	// One write for a hundred uses, carrying the last one.
	if len(st.batches) != 1 || len(st.batches[0]) != 1 || !st.batches[0][f.key.ID].Equal(t0.Add(99*100*time.Millisecond)) {
		t.Fatalf("batches = %v, want one with key_1 at the last use", st.batches)
	}
	if err := lu.Flush(t.Context()); err != nil || len(st.batches) != 1 {
		t.Errorf("a flush with nothing new wrote: %v, %d batches", err, len(st.batches))
	}
	// A failed flush keeps the times for the next one.
	lu.Record("key_2", t0)
	st.err = errors.New("store down")
	if err := lu.Flush(t.Context()); err == nil {
		t.Fatal("flush with the store down succeeded")
	}
	st.err = nil
	if err := lu.Flush(t.Context()); err != nil || len(st.batches) != 2 || !st.batches[1]["key_2"].Equal(t0) {
		t.Errorf("retry after a failed flush: %v, %v", err, st.batches)
	}
}

func TestLastUsed_RefusedKeyNotRecorded(t *testing.T) {
	f := newFixture(t)
	f.key.RevokedAt = new(t0.Add(-time.Minute))
	st := &touches{}
	lu := NewLastUsed(st, time.Second, nil)
	if _, err := f.auth(AuthOptions{LastUsed: lu}).Authenticate(t.Context(), f.secret); !errors.Is(err, ErrRevoked) {
		t.Fatal(err)
	}
	if err := lu.Flush(t.Context()); err != nil || len(st.batches) != 0 {
		t.Errorf("a refused key was recorded as used: %v", st.batches)
	}
}

// FuzzParseCIDRs: any list parses or is refused, never panics, and what
// parses is a list of masked prefixes CheckSource can use.
func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "2001:db8::/32", "10.1.2.3/8", "::ffff:10.0.0.0/104", "0.0.0.0/0", "1.2.3.4", "/", "%"} {
		f.Add(s, "192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, cidr, addr string) {
		ps, err := ParseCIDRs([]string{cidr})
		if err != nil {
			return
		}
		for _, p := range ps {
			if p != p.Masked() {
				t.Errorf("ParseCIDRs(%q) kept host bits: %v", cidr, p)
			}
		}
		a, _ := netip.ParseAddr(addr)
		p := &Principal{Key: store.Key{AllowedCIDRs: []string{cidr}}}
		_ = p.CheckSource(a)
	})
}
