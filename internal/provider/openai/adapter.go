package openai

import (
	"net/http"
	"strings"
	"time"

	"switchyard/internal/provider"
)

// Options configures a channel to OpenAI or to an OpenAI-compatible server.
type Options struct {
	// Name is the channel's configured name.
	Name string
	// BaseURL is the API root, ending in /v1: https://api.openai.com/v1,
	// or http://localhost:8000/v1 for a local vLLM.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>"; empty sends no
	// credentials (local vLLM, Ollama, llama.cpp).
	APIKey string
	// Organization and Project, when set, are sent as the
	// OpenAI-Organization and OpenAI-Project headers.
	Organization, Project string
	// Headers are extra headers sent with every request.
	Headers map[string]string
	// HTTPClient sends the requests; nil means one with
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Timeout bounds a non-streamed call and the wait for a stream's
	// response headers; zero leaves it to the caller's context.
	Timeout time.Duration
	// Dialect is "openai" for OpenAI itself and "openai-compatible" for
	// other servers; it only names the channel in error messages.
	Dialect string
}

// Adapter is a channel to OpenAI or to an OpenAI-compatible server. Its
// methods are Client's.
type Adapter struct {
	*Client
}

var (
	_ provider.Provider = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
)

// New returns the channel o describes.
func New(o Options) *Adapter {
	base := strings.TrimRight(o.BaseURL, "/")
	h := make(http.Header)
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	if o.Organization != "" {
		h.Set("OpenAI-Organization", o.Organization)
	}
	if o.Project != "" {
		h.Set("OpenAI-Project", o.Project)
	}
	if key := o.APIKey; key != "" {
		// A static key is one more fixed header, set last so that it
		// wins over a configured one as the client's own credentials do:
		// the Client then shares one header between all its calls.
		h["Authorization"] = []string{"Bearer " + key}
	}
	chatURL, embeddingsURL := base+"/"+string(OpChatCompletions), base+"/"+string(OpEmbeddings)
	return &Adapter{NewClient(ClientOptions{
		Name:    o.Name,
		Dialect: o.Dialect,
		URL: func(op Operation, _ string) string {
			switch op {
			case OpChatCompletions:
				return chatURL
			case OpEmbeddings:
				return embeddingsURL
			}
			return base + "/" + string(op)
		},
		Header:     h,
		HTTPClient: o.HTTPClient,
		Timeout:    o.Timeout,
	})}
}
