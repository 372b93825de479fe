package anthropic_test

import (
	"testing"

	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, "anthropic", func(t *testing.T, o providertest.Options) provider.Provider {
		return anthropic.New(anthropic.Options{
			Name:       "anthropic-conformance",
			BaseURL:    o.BaseURL,
			APIKey:     o.APIKey,
			HTTPClient: o.HTTPClient,
			Timeout:    o.Timeout,
		})
	})
}
