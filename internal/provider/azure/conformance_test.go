package azure_test

import (
	"testing"

	"switchyard/internal/provider"
	"switchyard/internal/provider/azure"
	"switchyard/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, "azure", func(t *testing.T, o providertest.Options) provider.Provider {
		return azure.New(azure.Options{
			Name:       "azure-conformance",
			BaseURL:    o.BaseURL,
			APIKey:     o.APIKey,
			HTTPClient: o.HTTPClient,
			Timeout:    o.Timeout,
		})
	})
}
