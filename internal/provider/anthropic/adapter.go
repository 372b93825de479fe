package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// DefaultBaseURL is Anthropic's API root.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultMaxResponseBytes bounds a non-streamed answer and one stream
// event unless Options says otherwise.
const DefaultMaxResponseBytes = 32 << 20

// Options configures an Anthropic channel.
type Options struct {
	// Name identifies the channel in routes, errors and metrics.
	Name string
	// BaseURL is the API root without /v1. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as x-api-key.
	APIKey string
	// Version is the anthropic-version header. Default DefaultVersion.
	// From 2026-10-21 on, requests with sampling parameters are refused
	// before they are sent, as the API would refuse them.
	Version string
	// Beta lists anthropic-beta features, sent comma-separated.
	Beta []string
	// MaxTokensDefault is max_tokens for requests that leave the output
	// bound to the channel. Default DefaultMaxTokens.
	MaxTokensDefault int
	// HTTPClient sends the requests. Default: a client over
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Timeout bounds a non-streaming call; for a stream it bounds the wait
	// for the response headers and then for each next event. 0: no limit.
	Timeout time.Duration
	// MaxResponseBytes bounds a non-streamed answer and one stream event.
	// Default DefaultMaxResponseBytes.
	MaxResponseBytes int
}

// Adapter is an Anthropic Messages channel. It is safe for concurrent use.
type Adapter struct {
	name      string
	endpoint  string
	apiKey    string
	version   string
	beta      string
	maxTokens int
	maxBody   int
	timeout   time.Duration
	hc        *http.Client
	now       func() time.Time
}

var _ provider.Provider = (*Adapter)(nil)

// New returns a channel configured by o, with defaults for unset fields.
func New(o Options) *Adapter {
	a := &Adapter{
		name:      o.Name,
		endpoint:  strings.TrimRight(o.BaseURL, "/") + "/v1/messages",
		apiKey:    o.APIKey,
		version:   o.Version,
		beta:      strings.Join(o.Beta, ","),
		maxTokens: o.MaxTokensDefault,
		maxBody:   o.MaxResponseBytes,
		timeout:   o.Timeout,
		hc:        o.HTTPClient,
		now:       time.Now,
	}
	if o.BaseURL == "" {
		a.endpoint = DefaultBaseURL + "/v1/messages"
	}
	if a.version == "" {
		a.version = DefaultVersion
	}
	if a.maxTokens <= 0 {
		a.maxTokens = DefaultMaxTokens
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxResponseBytes
	}
	if a.hc == nil {
		a.hc = &http.Client{}
	}
	return a
}

// Name is the channel's configured name.
func (a *Adapter) Name() string { return a.name }

// Chat sends a non-streaming request.
func (a *Adapter) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := a.body(req, false)
	if err != nil {
		return nil, err
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	resp, err := a.send(ctx, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := provider.ReadCapped(resp.Body, int64(a.maxBody))
	switch {
	case errors.Is(err, provider.ErrTooLarge):
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "upstream answer too large", Err: err}
	case err != nil:
		return nil, provider.TransportError(a.name, fmt.Errorf("reading answer: %w", err))
	}
	var mr MessagesResponse
	if !decodeTextAnswer(b, &mr) {
		mr = MessagesResponse{}
		if err := json.Unmarshal(b, &mr); err != nil {
			return nil, a.badResponse(resp.StatusCode, fmt.Errorf("decoding answer: %w", err))
		}
	}
	if mr.Type == EventError {
		var er ErrorResponse
		_ = json.Unmarshal(b, &er)
		return nil, a.apiError(resp.StatusCode, er.Error, 0)
	}
	out, err := ResponseToLLM(&mr)
	if err != nil {
		return nil, a.badResponse(resp.StatusCode, err)
	}
	return out, nil
}

// ChatStream sends a streaming request. The stream's Close, or cancelling
// ctx, closes the upstream connection.
func (a *Adapter) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, err := a.body(req, true)
	if err != nil {
		return nil, err
	}
	o := provider.SSEOptions{Provider: a.name, IdleTimeout: a.timeout, MaxEvent: a.maxBody}
	return provider.StreamSSE(ctx, o, sseDecoder{NewStreamDecoder(a.name)}, func(ctx context.Context) (*http.Response, error) {
		return a.send(ctx, body)
	})
}

// sseDecoder is the StreamDecoder as provider.StreamSSE drives it.
type sseDecoder struct{ d *StreamDecoder }

func (s sseDecoder) Decode(ev sse.Event) ([]llm.Event, error) { return s.d.Decode(ev.Type, ev.Data) }
func (s sseDecoder) End() ([]llm.Event, error)                { return nil, s.d.End() }
func (s sseDecoder) Stopped() bool                            { return s.d.Stopped() }

// body is the request body: the client's own bytes on the same-dialect
// fast path, else the translation of req.
func (a *Adapter) body(req *llm.Request, stream bool) ([]byte, error) {
	if a.version >= version20261021 && (req.Temperature != nil || req.TopP != nil || req.TopK != nil) {
		return nil, unsupportedf("temperature, top_p and top_k on a channel pinned to anthropic-version %s", a.version)
	}
	if raw := req.Raw; raw != nil && raw.Dialect == Dialect {
		return rewriteRaw(raw.Body, req.Model, stream)
	}
	r := *req
	r.Stream = stream
	mr, err := requestFromLLM(&r, a.maxTokens)
	if err != nil {
		return nil, err
	}
	var b []byte
	if len(mr.Extra) == 0 {
		// What json.Marshal writes, without its second pass over the
		// bytes: MarshalJSON's output is already compact and HTML-escaped
		// but for Extra's values, which json.Marshal escapes.
		b, err = mr.MarshalJSON()
	} else {
		b, err = json.Marshal(mr)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding messages request: %w", err)
	}
	return b, nil
}

// rewriteRaw replaces the model and the stream flag of a client's body,
// keeping every other field as it came.
func rewriteRaw(body []byte, model string, stream bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, invalidf("request body: expected a JSON object")
	}
	mb, err := json.Marshal(model)
	if err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	m["model"] = mb
	if stream {
		m["stream"] = json.RawMessage("true")
	} else {
		delete(m, "stream")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding messages request: %w", err)
	}
	return b, nil
}

// send posts body to the Messages endpoint and returns a 2xx response;
// any other status becomes a classified *provider.Error.
func (a *Adapter) send(ctx context.Context, body []byte) (*http.Response, error) {
	return a.post(ctx, a.endpoint, body)
}

// post posts body to url as send does.
func (a *Adapter) post(ctx context.Context, url string, body []byte) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	release := provider.SetBody(hreq, body)
	h := hreq.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("X-Api-Key", a.apiKey)
	h.Set("Anthropic-Version", a.version)
	if a.beta != "" {
		h.Set("Anthropic-Beta", a.beta)
	}
	resp, err := provider.Do(a.hc, hreq)
	release()
	if err != nil {
		return nil, provider.TransportError(a.name, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := provider.ReadCapped(resp.Body, provider.MaxErrorBody) // a cut error body still leaves the status
	var er ErrorResponse
	if json.Unmarshal(b, &er) != nil || er.Error.Type == "" && er.Error.Message == "" {
		er.Error = ErrorDetail{Message: strings.TrimSpace(string(b))}
	}
	return nil, a.apiError(resp.StatusCode, er.Error, provider.RetryAfter(resp.Header, a.now()))
}

func (a *Adapter) apiError(status int, detail ErrorDetail, retryAfter time.Duration) *provider.Error {
	e := apiError(a.name, status, detail, retryAfter)
	if a.apiKey != "" {
		e.Message = strings.ReplaceAll(e.Message, a.apiKey, "[redacted]")
	}
	return e
}

func (a *Adapter) badResponse(status int, err error) *provider.Error {
	return &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: status,
		Message: "malformed upstream answer", Err: err}
}

// maxClientMessage bounds the upstream text passed on to clients.
const maxClientMessage = 512

// apiError classifies an Anthropic error by HTTP status (0 inside a
// stream) and error type. Message is the upstream's own text, trimmed: it
// describes the request, not the channel's credentials.
func apiError(name string, status int, detail ErrorDetail, retryAfter time.Duration) *provider.Error {
	kind := provider.KindForStatus(status)
	switch detail.Type {
	case "overloaded_error":
		kind = provider.KindOverloaded
	case "rate_limit_error":
		kind = provider.KindRateLimited
	case "api_error":
		kind = provider.KindUnavailable
	case "timeout_error":
		kind = provider.KindTimeout
	case "authentication_error":
		kind = provider.KindAuth
	case "permission_error", "billing_error":
		kind = provider.KindPermission
	case "not_found_error":
		kind = provider.KindNotFound
	case "invalid_request_error", "request_too_large":
		kind = provider.KindBadRequest
	}
	if status == 0 && kind == provider.KindUnknown {
		kind = provider.KindUnavailable
	}
	if kind == provider.KindBadRequest && strings.Contains(strings.ToLower(detail.Message), "prompt is too long") {
		kind = provider.KindContextLength
	}
	msg := detail.Message
	if len(msg) > maxClientMessage {
		msg = msg[:maxClientMessage] + "…"
	}
	if msg == "" {
		msg = kind.String()
	}
	cause := fmt.Errorf("anthropic %s (status %d): %s", detail.Type, status, detail.Message)
	if status == 0 {
		cause = fmt.Errorf("anthropic stream error %s: %s", detail.Type, detail.Message)
	}
	return &provider.Error{Provider: name, Kind: kind, Status: status, RetryAfter: retryAfter, Message: msg, Err: cause}
}

// APIError classifies an Anthropic error answered with an HTTP status (0
// inside a stream), for channels that serve Claude under another API
// (Claude on Vertex AI) and pass Anthropic's own error bodies on.
func APIError(name string, status int, detail ErrorDetail, retryAfter time.Duration) *provider.Error {
	return apiError(name, status, detail, retryAfter)
}

var _ provider.TokenCounter = (*Adapter)(nil)

// countTokensRequest is the body of POST v1/messages/count_tokens: the
// parts of a Messages request that count, and none that the endpoint
// refuses (max_tokens, stream, sampling, metadata).
type countTokensRequest struct {
	Model      string         `json:"model"`
	Messages   []Message      `json:"messages"`
	System     []ContentBlock `json:"system,omitempty"`
	Tools      []Tool         `json:"tools,omitempty"`
	ToolChoice *ToolChoice    `json:"tool_choice,omitempty"`
	Thinking   *Thinking      `json:"thinking,omitempty"`
}

// maxCountAnswer bounds count_tokens' answer, a one-field object.
const maxCountAnswer = 64 << 10

// CountTokens asks the API to count req's input tokens
// (POST v1/messages/count_tokens); nothing is generated or billed.
func (a *Adapter) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	r := *req
	r.Stream, r.Raw, r.Temperature, r.TopP, r.TopK = false, nil, nil, nil, nil
	mr, err := requestFromLLM(&r, a.maxTokens)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(countTokensRequest{Model: mr.Model, Messages: mr.Messages, System: mr.System,
		Tools: mr.Tools, ToolChoice: mr.ToolChoice, Thinking: mr.Thinking})
	if err != nil {
		return 0, fmt.Errorf("encoding count_tokens request: %w", err)
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	resp, err := a.post(ctx, a.endpoint+"/count_tokens", body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := provider.ReadCapped(resp.Body, maxCountAnswer)
	switch {
	case errors.Is(err, provider.ErrTooLarge):
		return 0, a.badResponse(resp.StatusCode, err)
	case err != nil:
		return 0, provider.TransportError(a.name, fmt.Errorf("reading count_tokens answer: %w", err))
	}
	var out struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.InputTokens == nil || *out.InputTokens < 0 {
		return 0, a.badResponse(resp.StatusCode, fmt.Errorf("count_tokens answer without a token count: %.200s", b))
	}
	return *out.InputTokens, nil
}
