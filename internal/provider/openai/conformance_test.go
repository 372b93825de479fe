package openai_test

import (
	"testing"

	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
	"switchyard/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, "openai", func(t *testing.T, o providertest.Options) provider.Provider {
		return openai.New(openai.Options{
			Name:       "openai-conformance",
			BaseURL:    o.BaseURL,
			APIKey:     o.APIKey,
			HTTPClient: o.HTTPClient,
			Timeout:    o.Timeout,
		})
	})
}
