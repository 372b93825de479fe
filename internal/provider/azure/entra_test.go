package azure

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// stubCredential is an azcore.TokenCredential that hands out one token and
// remembers the scopes it was asked for.
type stubCredential struct {
	mu     sync.Mutex
	scopes [][]string
	token  string
	err    error
}

func (c *stubCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes)
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestEntraTokens_BearerForCognitiveServices(t *testing.T) {
	cred := &stubCredential{token: "eyJ.entra"}
	url, last := fakeAzure(t, jsonAnswer(200, okAnswer))
	a := New(Options{Name: "az", BaseURL: url, TokenSource: EntraTokens(cred)})
	for range 2 {
		if _, err := a.Chat(context.Background(), request("d")); err != nil {
			t.Fatal(err)
		}
	}
	h := last().Header
	if h.Get("Authorization") != "Bearer eyJ.entra" || h.Get("Api-Key") != "" {
		t.Errorf("Authorization %q, api-key %q; want the Entra token alone", h.Get("Authorization"), h.Get("Api-Key"))
	}
	cred.mu.Lock()
	defer cred.mu.Unlock()
	if len(cred.scopes) != 2 {
		t.Fatalf("credential asked %d times for 2 requests", len(cred.scopes))
	}
	for _, s := range cred.scopes {
		if len(s) != 1 || s[0] != EntraScope {
			t.Errorf("scopes %v, want [%s]", s, EntraScope)
		}
	}
}

func TestEntraTokens_ErrorNamesTheScope(t *testing.T) {
	ts := EntraTokens(&stubCredential{err: errors.New("DefaultAzureCredential: failed to acquire a token")})
	_, err := ts(context.Background())
	if err == nil || !strings.Contains(err.Error(), EntraScope) || !strings.Contains(err.Error(), "failed to acquire") {
		t.Errorf("error = %v, want the scope and the cause", err)
	}
}

// DefaultEntraTokens builds the default chain without contacting anything
// (no token is asked for here: the chain would probe a managed identity
// endpoint, which tests never reach).
func TestDefaultEntraTokens_Builds(t *testing.T) {
	ts, err := DefaultEntraTokens()
	if err != nil || ts == nil {
		t.Fatalf("DefaultEntraTokens() = (nil: %t), %v", ts == nil, err)
	}
}
