package gemini_test

import (
	"testing"

	"switchyard/internal/provider"
	"switchyard/internal/provider/gemini"
	"switchyard/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, "gemini", func(t *testing.T, o providertest.Options) provider.Provider {
		return gemini.New(gemini.Options{
			Name:       "gemini-conformance",
			BaseURL:    o.BaseURL,
			APIKey:     o.APIKey,
			HTTPClient: o.HTTPClient,
			Timeout:    o.Timeout,
		})
	})
}
