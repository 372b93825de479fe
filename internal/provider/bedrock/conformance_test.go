package bedrock_test

import (
	"testing"

	"switchyard/internal/provider"
	"switchyard/internal/provider/bedrock"
	"switchyard/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, "bedrock", func(t *testing.T, o providertest.Options) provider.Provider {
		a, err := bedrock.New(bedrock.Options{
			Name:    "bedrock-conformance",
			Region:  "us-east-1",
			BaseURL: o.BaseURL,
			Credentials: bedrock.Credentials{
				AccessKeyID:     o.AWSAccessKeyID,
				SecretAccessKey: o.AWSSecretAccessKey,
			},
			HTTPClient: o.HTTPClient,
			Timeout:    o.Timeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
}
