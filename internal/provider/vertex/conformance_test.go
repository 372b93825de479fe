package vertex_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"switchyard/internal/fakecloud"
	"switchyard/internal/provider"
	"switchyard/internal/provider/providertest"
	"switchyard/internal/provider/vertex"
)

// testKey is one RSA key for every test: generating one per subtest costs
// more than the subtest.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const testAccount = "switchyard-test@test-project.iam.gserviceaccount.com"

// keyFile writes a service-account key file, as the Cloud console issues
// them, whose token_uri is tokenURI, and returns its path.
func keyFile(t *testing.T, tokenURI string, key *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "test-project",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   testAccount,
		"client_id":      "1234567890",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func conformance(cloud string) func(t *testing.T) {
	return func(t *testing.T) {
		providertest.Run(t, cloud, func(t *testing.T, o providertest.Options) provider.Provider {
			var ts oauth2.TokenSource
			if o.APIKey != fakecloud.DefaultKey {
				// Wrong credentials: a token the simulated cloud never issued.
				ts = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: o.APIKey})
			} else {
				var err error
				ts, err = vertex.Tokens(t.Context(), keyFile(t, o.BaseURL+"/token", testKey()), o.HTTPClient)
				if err != nil {
					t.Fatal(err)
				}
			}
			a, err := vertex.New(vertex.Options{Name: cloud + "-conformance", Project: "test-project", Region: "us-east5",
				BaseURL: o.BaseURL, Tokens: ts, HTTPClient: o.HTTPClient, Timeout: o.Timeout})
			if err != nil {
				t.Fatal(err)
			}
			return a
		})
	}
}

func TestConformance(t *testing.T) {
	t.Run("gemini", conformance("vertex"))
	t.Run("claude", conformance("vertex-claude"))
}
