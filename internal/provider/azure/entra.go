package azure

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// EntraScope is the OAuth scope of Azure OpenAI (Cognitive Services).
const EntraScope = "https://cognitiveservices.azure.com/.default"

// EntraTokens returns a TokenSource that asks cred for Azure OpenAI
// tokens. azidentity's credentials cache a token until shortly before it
// expires, so calling it for every request costs no round trip.
func EntraTokens(cred azcore.TokenCredential) func(context.Context) (string, error) {
	opts := policy.TokenRequestOptions{Scopes: []string{EntraScope}}
	return func(ctx context.Context) (string, error) {
		tok, err := cred.GetToken(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("microsoft entra id token for %s: %w", EntraScope, err)
		}
		return tok.Token, nil
	}
}

// DefaultEntraTokens returns a TokenSource over azidentity's default
// credential chain: the AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET
// (or certificate) environment, workload identity, managed identity, the
// Azure CLI and the Azure Developer CLI, tried in that order. Building it
// contacts nothing; the first token is fetched by the first request.
func DefaultEntraTokens() (func(context.Context) (string, error), error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("microsoft entra id credential: %w", err)
	}
	return EntraTokens(cred), nil
}
