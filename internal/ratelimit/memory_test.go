package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/ratelimit"
	"switchyard/internal/ratelimit/ratelimittest"
)

func TestMemory(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return ratelimit.NewMemory() })
}

func TestMemorySpend(t *testing.T) {
	ratelimittest.RunSpend(t, func(t *testing.T) ratelimit.Spend { return ratelimit.NewMemorySpend() })
}

var base = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// at returns base plus sec seconds.
func at(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }

func BenchmarkMemoryAcquire(b *testing.B) {
	key := ratelimit.Request{Scope: "key:bench", Limits: ratelimit.Limits{RPM: 1 << 30, TPM: 1 << 30}, EstTokens: 100}
	tenant := ratelimit.Request{Scope: "tenant:bench", Limits: ratelimit.Limits{RPM: 1 << 30, TPM: 1 << 30, MaxStreams: 1 << 20}, EstTokens: 100, Stream: true}
	for _, c := range []struct {
		name string
		reqs []ratelimit.Request
	}{
		{"key", []ratelimit.Request{key}},
		{"key_and_tenant", []ratelimit.Request{key, tenant}},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := ratelimit.NewMemory()
			ctx := context.Background()
			now := base
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Millisecond)
				_, res, err := l.Acquire(ctx, now, c.reqs)
				if err != nil {
					b.Fatal(err)
				}
				if err := res.Done(ctx, 120); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("parallel_many_keys", func(b *testing.B) {
		keyScopes := make([]string, 1000)
		for i := range keyScopes {
			keyScopes[i] = ratelimit.KeyScope(strconv.Itoa(i))
		}
		l := ratelimit.NewMemory()
		ctx := context.Background()
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				reqs := []ratelimit.Request{
					{Scope: keyScopes[i%int64(len(keyScopes))], Limits: ratelimit.Limits{RPM: 1 << 20, TPM: 1 << 30}, EstTokens: 100},
					tenant,
				}
				_, res, err := l.Acquire(ctx, base.Add(time.Duration(i)*time.Microsecond), reqs)
				if err != nil {
					b.Fatal(err)
				}
				if err := res.Done(ctx, 120); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
