// Package azure adapts Azure OpenAI to the gateway. It builds Azure's URLs
// (per-deployment with an api-version, or the v1 form) and authenticates
// with an api-key or a Microsoft Entra ID token; everything else, wire
// format, translation, stream decoding and error classification, is the
// openai package's Client, since Azure speaks the OpenAI dialect.
package azure

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
)

// DefaultAPIVersion is the api-version used when Options gives none: the
// latest GA version of the deployment-based API.
const DefaultAPIVersion = "2024-10-21"

// Options configures a channel to one Azure OpenAI resource.
type Options struct {
	// Name is the channel's configured name.
	Name string
	// BaseURL is the resource root, e.g. https://x.openai.azure.com,
	// without /openai.
	BaseURL string
	// APIKey is sent as the api-key header.
	APIKey string
	// TokenSource returns a Microsoft Entra ID access token (scope
	// https://cognitiveservices.azure.com/.default). When set, it is sent
	// as "Authorization: Bearer <token>" instead of APIKey; Azure refuses
	// requests that carry both.
	TokenSource func(ctx context.Context) (string, error)
	// APIVersion is the api-version query parameter; default
	// DefaultAPIVersion. The literal "v1" selects the v1 API, whose URLs
	// carry no deployment and no api-version (the deployment name goes in
	// the body's model).
	APIVersion string
	// HTTPClient sends the requests; nil means one with
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Timeout bounds a non-streamed call and the wait for a stream's
	// response headers; zero leaves it to the caller's context.
	Timeout time.Duration
}

// Adapter is a channel to an Azure OpenAI resource. The model of a request
// is the deployment name. Its methods are openai.Client's.
type Adapter struct {
	*openai.Client
}

var (
	_ provider.Provider = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
)

// New returns the channel o describes.
func New(o Options) *Adapter {
	return &Adapter{openai.NewClient(openai.ClientOptions{
		Name:       o.Name,
		Dialect:    "azure",
		URL:        endpoint(o.BaseURL, o.APIVersion),
		Authorize:  authorize(o.APIKey, o.TokenSource),
		HTTPClient: o.HTTPClient,
		Timeout:    o.Timeout,
	})}
}

// endpoint builds Azure's URLs:
//
//	{base}/openai/deployments/{deployment}/{op}?api-version={version}
//	{base}/openai/v1/{op}   (version "v1")
func endpoint(baseURL, version string) func(openai.Operation, string) string {
	base := strings.TrimRight(baseURL, "/") + "/openai/"
	if version == "v1" {
		return func(op openai.Operation, _ string) string { return base + "v1/" + string(op) }
	}
	if version == "" {
		version = DefaultAPIVersion
	}
	query := "?api-version=" + url.QueryEscape(version)
	return func(op openai.Operation, deployment string) string {
		return base + "deployments/" + url.PathEscape(deployment) + "/" + string(op) + query
	}
}

func authorize(apiKey string, tokens func(context.Context) (string, error)) func(context.Context, http.Header) error {
	if tokens != nil {
		return func(ctx context.Context, h http.Header) error {
			token, err := tokens(ctx)
			if err != nil {
				return err
			}
			h.Set("Authorization", "Bearer "+token)
			return nil
		}
	}
	return func(_ context.Context, h http.Header) error {
		if apiKey != "" {
			h.Set("Api-Key", apiKey)
		}
		return nil
	}
}
