// Package provider is the contract between the gateway and its channels:
// the Provider interface every upstream adapter implements, the optional
// capability interfaces discovered by type assertion, the one typed Error
// adapters classify upstream failures into, and the Registry of configured
// channels.
package provider

import (
	"context"
	"fmt"
	"sort"

	"switchyard/internal/llm"
)

// Provider is one configured upstream channel (an account or endpoint on
// one cloud). It is safe for concurrent use.
type Provider interface {
	// Name is the channel's configured name.
	Name() string
	Chat(ctx context.Context, req *llm.Request) (*llm.Response, error)
	// ChatStream starts a streamed answer. The returned stream's Close
	// must be called; cancelling ctx also closes the upstream connection.
	ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error)
}

// Embedder is implemented by channels that serve embeddings.
type Embedder interface {
	Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error)
}

// TokenCounter is implemented by channels whose API counts a request's
// input tokens without answering it (Anthropic's count_tokens, Bedrock's
// CountTokens, Gemini's countTokens). req.Model is the upstream model id.
// A failure is a *provider.Error, or an error wrapping llm.ErrUnsupported
// when the request cannot be expressed to the channel.
type TokenCounter interface {
	CountTokens(ctx context.Context, req *llm.Request) (int, error)
}

// Registry holds the configured channels by name. Build it once at start;
// it is read-only afterwards and so safe for concurrent use.
type Registry struct {
	byName map[string]Provider
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]Provider{}} }

// Add registers p; a second channel with the same name is an error.
func (r *Registry) Add(p Provider) error {
	if _, dup := r.byName[p.Name()]; dup {
		return fmt.Errorf("provider %q registered twice", p.Name())
	}
	r.byName[p.Name()] = p
	return nil
}

// Get returns the channel called name.
func (r *Registry) Get(name string) (Provider, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// Names lists the registered channels, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
