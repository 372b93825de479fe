package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/store"
	"switchyard/internal/usage"
)

// The store is what auth and usage read and write in production.
var (
	_ auth.KeyStore = (*Store)(nil)
	_ usage.Sink    = (*Store)(nil)
)

func TestAuthenticatorOverStore(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			tenant := &store.Tenant{Name: "acme"}
			if err := s.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			secret, hash, prefix, err := auth.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			sealer, err := auth.NewSealer(make([]byte, auth.MasterKeySize))
			if err != nil {
				t.Fatal(err)
			}
			akid, awsSecret, err := auth.NewAWSKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := sealer.Seal([]byte(awsSecret))
			if err != nil {
				t.Fatal(err)
			}
			key := &store.Key{TenantID: tenant.ID, Hash: hash, Prefix: prefix, AWSAccessKeyID: akid, AWSSecretSealed: sealed}
			if err := s.CreateKey(ctx, key); err != nil {
				t.Fatal(err)
			}
			clock := time.Now()
			var mu sync.Mutex
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			a := auth.NewAuthenticator(s, auth.AuthOptions{Now: now, Sealer: sealer})

			p, err := a.Authenticate(ctx, secret)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.Key.ID != key.ID || p.Tenant.ID != tenant.ID {
				t.Errorf("principal = %s/%s, want %s/%s", p.Key.ID, p.Tenant.ID, key.ID, tenant.ID)
			}
			got, _, err := a.AWSSecret(ctx, akid)
			if err != nil || got != awsSecret {
				t.Errorf("AWSSecret = %q, %v; want the generated secret", got, err)
			}
			if _, err := a.Authenticate(ctx, secret+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("wrong secret: error = %v, want ErrUnauthenticated", err)
			}

			if err := s.RevokeKey(ctx, key.ID, now()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			clock = clock.Add(auth.DefaultCacheTTL)
			mu.Unlock()
			if _, err := a.Authenticate(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
				t.Errorf("after revocation and the cache TTL: error = %v, want ErrRevoked", err)
			}
		})
	}
}

// TestUsageWriterOverStore records from many goroutines through a Writer
// into the database and counts the rows.
func TestUsageWriterOverStore(t *testing.T) {
	const (
		goroutines = 16
		each       = 250
	)
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			w := usage.NewWriter(s, usage.WriterOptions{
				BatchSize: 64, QueueSize: 128, FlushInterval: 10 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						w.Record(store.UsageRecord{
							RequestID: fmt.Sprintf("g%02d-%04d", g, i), TenantID: fmt.Sprintf("ten_%d", g%4),
							InputTokens: 10, OutputTokens: 1, CostUSD: 0.001,
						})
					}
				})
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := w.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			sums, err := s.SumUsage(ctx, store.UsageFilter{}, store.GroupTenant)
			if err != nil {
				t.Fatal(err)
			}
			var rows int64
			for _, sum := range sums {
				rows += sum.Requests
				if want := int64(goroutines / 4 * each); sum.Requests != want {
					t.Errorf("tenant %s: %d rows, want %d", sum.Group, sum.Requests, want)
				}
			}
			if rows != goroutines*each {
				t.Errorf("rows = %d, want %d", rows, goroutines*each)
			}
			spent, err := s.SpendSince(ctx, "", "", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if want := float64(goroutines*each) * 0.001; spent != want {
				t.Errorf("spend = %v, want %v", spent, want)
			}
		})
	}
}
