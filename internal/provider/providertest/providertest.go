// Package providertest holds what the channel adapters' tests share: the
// conformance suite every channel passes (Run) and the golden-file helpers
// (Golden, ReadJSON, ReadFile, Cases) with their -update flag.
//
// Run drives an adapter against fakecloud's simulation of its cloud over a
// real loopback socket, through the adapter's own HTTP client code, and
// checks what the gateway relies on: answers and their usage, the order of
// stream events, tool calls whole and streamed, images, prompt-cache and
// reasoning token counts, token counting where the cloud has it, the
// classification of upstream failures into provider.Error kinds, and that
// cancelling or closing a stream closes the upstream connection. A capability a cloud lacks is skipped with the
// reason, never silently.
package providertest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"switchyard/internal/provider"
)

// Options is what a Factory builds a channel from.
type Options struct {
	// BaseURL is the simulated cloud's API root in the form the cloud's
	// adapter takes it: fakecloud's URL followed by /openai/v1, /azure,
	// /anthropic, /bedrock, /gemini or /vertex (whose OAuth token endpoint
	// is BaseURL + "/token").
	BaseURL string
	// APIKey is the key of the OpenAI, Azure, Anthropic and Gemini
	// channels. A Vertex channel has none: the suite sets it to something
	// other than fakecloud.DefaultKey when the channel's credentials are
	// to be wrong, and the factory then sends it as the access token.
	APIKey string
	// AWSAccessKeyID and AWSSecretAccessKey are the Bedrock channel's
	// signing credentials.
	AWSAccessKeyID, AWSSecretAccessKey string
	// Timeout is the adapter's timeout: generous in most subtests, short
	// where the suite checks that a silent upstream times out.
	Timeout time.Duration
	// HTTPClient sends the channel's requests. The suite owns its
	// transport and closes its connections when the subtest ends.
	HTTPClient *http.Client
}

// Factory builds the channel under test from o. It is called once per
// subtest (sometimes more, with other credentials) and may fail t.
type Factory func(t *testing.T, o Options) provider.Provider

// Timeouts used by the suite.
const (
	// callTimeout bounds every call and stream of a subtest, so that an
	// adapter that hangs fails the subtest instead of the test binary.
	callTimeout = 20 * time.Second
	// adapterTimeout is the Timeout of a channel in most subtests: long
	// enough never to fire on loopback.
	adapterTimeout = 10 * time.Second
	// shortTimeout is the Timeout of a channel whose upstream hangs.
	shortTimeout = 300 * time.Millisecond
	// closeWithin bounds how long the upstream may take to see a cancelled
	// or closed stream go away. It detects a connection that is never
	// closed; it is generous because the race detector and a loaded CI
	// machine can delay the close by well over a second.
	closeWithin = 10 * time.Second
)

// Run runs the conformance suite for the channel newProvider builds,
// against fakecloud's simulation of cloud: "openai", "azure", "anthropic",
// "bedrock", "gemini", "vertex" (Gemini on Vertex AI) or "vertex-claude"
// (Claude on Vertex AI). Each subtest starts its own simulated cloud.
func Run(t *testing.T, cloud string, newProvider Factory) {
	t.Helper()
	c, ok := lookupCloud(cloud)
	if !ok {
		t.Fatalf("providertest: unknown cloud %q", cloud)
	}
	s := &suite{cloud: c, newProvider: newProvider}
	t.Run("text", s.text)
	t.Run("stream_order", s.streamOrder)
	t.Run("system_and_history", s.systemAndHistory)
	t.Run("tools", s.tools)
	t.Run("tools_streamed", s.toolsStreamed)
	t.Run("image", s.image)
	t.Run("usage_kinds", s.usageKinds)
	t.Run("limits", s.limits)
	t.Run("errors", s.errors)
	t.Run("cancel_mid_stream", s.cancelMidStream)
	t.Run("cut_stream", s.cutStream)
	t.Run("concurrent", s.concurrent)
	t.Run("count_tokens", s.countTokens)
}

// suite runs the subtests for one cloud.
type suite struct {
	cloud       cloud
	newProvider Factory
}

// channel starts a simulated cloud for t and builds the channel under
// test against it with the default credentials and timeout.
func (s *suite) channel(t *testing.T) (*upstream, provider.Provider) {
	t.Helper()
	u := startUpstream(t, s.cloud)
	return u, s.build(t, u.options(adapterTimeout))
}

// build calls the factory and checks that it built something.
func (s *suite) build(t *testing.T, o Options) provider.Provider {
	t.Helper()
	p := s.newProvider(t, o)
	if p == nil {
		t.Fatal("factory returned a nil provider")
	}
	if p.Name() == "" {
		t.Fatal("provider has an empty Name")
	}
	return p
}

// callContext returns the context of a subtest's calls: cancelled when
// the subtest ends or after callTimeout.
func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}
