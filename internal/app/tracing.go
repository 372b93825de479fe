package app

import (
	"context"
	"fmt"

	"switchyard/internal/config"
	"switchyard/internal/tracing"
)

// startTracing starts the OTLP trace pipeline when telemetry.tracing is
// enabled, and returns nil when it is not.
func startTracing(ctx context.Context, c config.Tracing, getenv func(string) string) (*tracing.Tracer, error) {
	if !c.Enabled {
		return nil, nil
	}
	o := tracing.Options{Protocol: c.Protocol, Endpoint: c.Endpoint, SampleRatio: c.SampleRatio, Getenv: getenv}
	if c.HeadersEnv != "" {
		v := getenv(c.HeadersEnv)
		if v == "" {
			return nil, fmt.Errorf("telemetry.tracing.headers_env: %s is not set", c.HeadersEnv)
		}
		h, err := tracing.ParseHeaders(v)
		if err != nil {
			// The value is a secret: only its variable is named.
			return nil, fmt.Errorf("telemetry.tracing.headers_env: %s: %w", c.HeadersEnv, err)
		}
		o.Headers = h
	}
	return tracing.New(ctx, o)
}
