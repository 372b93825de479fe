package bedrock

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// Test credentials. They are not AWS keys; they only have to agree between
// the signing client and the verifying server.
const (
	testAccessKeyID = "AKIDSWITCHYARDTEST"
	testSecret      = "c3dpdGNoeWFyZC10ZXN0LXNlY3JldC1rZXktMDAwMDA"
	testRegion      = "us-west-2"
)

func testLookup(id string) (string, bool) {
	if id == testAccessKeyID {
		return testSecret, true
	}
	return "", false
}

// newSDKClient returns the real aws-sdk-go-v2 Bedrock Runtime client,
// pointed at baseURL, signing with the given static keys, with retries off.
func newSDKClient(t *testing.T, baseURL string, hc *http.Client, accessKeyID, secret string) *bedrockruntime.Client {
	t.Helper()
	// The SDK switches to bearer auth when this is set in the environment.
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "")
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(baseURL),
		HTTPClient:   hc,
		Retryer:      aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secret, Source: "test"}, nil
		}),
	})
}
