package ratelimit_test

import (
	"testing"

	"switchyard/internal/ratelimit"
	"switchyard/internal/ratelimit/ratelimittest"
)

func TestMemory(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return ratelimit.NewMemory() })
}

func TestMemorySpend(t *testing.T) {
	ratelimittest.RunSpend(t, func(t *testing.T) ratelimit.Spend { return ratelimit.NewMemorySpend() })
}
