package gemini

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// DefaultMaxResponseBytes bounds a non-streamed answer and one stream
// event unless Options says otherwise.
const DefaultMaxResponseBytes = 32 << 20

// maxClientMessage bounds the upstream text passed on to clients.
const maxClientMessage = 512

// Options configures a Gemini API channel.
type Options struct {
	// Name identifies the channel in routes, errors and metrics.
	Name string
	// BaseURL is the API root without the version. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as x-goog-api-key.
	APIKey string
	// APIVersion is the path's version segment. Default DefaultAPIVersion.
	APIVersion string
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

// Adapter is a Gemini API channel. It is safe for concurrent use.
type Adapter struct {
	name    string
	root    string // {base}/{version}/
	apiKey  string
	maxBody int
	timeout time.Duration
	hc      *http.Client
	now     func() time.Time
	// answerKey names an answer in the ids of its function calls when
	// Gemini sends no responseId; it must not repeat across answers.
	answerKey func() string
}

var (
	_ provider.Provider = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
)

// New returns a channel configured by o, with defaults for unset fields.
func New(o Options) *Adapter {
	base := strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	version := strings.Trim(o.APIVersion, "/")
	if version == "" {
		version = DefaultAPIVersion
	}
	a := &Adapter{
		name:    o.Name,
		root:    base + "/" + version + "/",
		apiKey:  o.APIKey,
		maxBody: o.MaxResponseBytes,
		timeout: o.Timeout,
		hc:      o.HTTPClient,
		now:     time.Now,
		// Random, so that ids stay unique across restarts and replicas
		// sharing a session store.
		answerKey: rand.Text,
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

// modelPath is the path of a model resource: "models/{model}", keeping a
// "models/" or "tunedModels/" prefix the model id already has.
func modelPath(model string) (string, error) {
	prefix, id := "models/", model
	for _, p := range []string{"models/", "tunedModels/"} {
		if rest, ok := strings.CutPrefix(model, p); ok {
			prefix, id = p, rest
		}
	}
	if id == "" {
		return "", invalidf("model: required")
	}
	return prefix + url.PathEscape(id), nil
}

// Chat sends a non-streaming generateContent call.
func (a *Adapter) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, target, err := a.chatRequest(req, ":generateContent")
	if err != nil {
		return nil, err
	}
	var out GenerateContentResponse
	if err := a.call(ctx, target, body, &out); err != nil {
		return nil, err
	}
	resp, err := ResponseToLLM(&out, a.answerKey())
	if err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: http.StatusOK,
			Message: "upstream answer not usable", Err: err}
	}
	return resp, nil
}

func (a *Adapter) chatRequest(req *llm.Request, method string) ([]byte, string, error) {
	mp, err := modelPath(req.Model)
	if err != nil {
		return nil, "", err
	}
	target := a.root + mp + method
	if req.Raw != nil && req.Raw.Dialect == Dialect {
		// A Gemini client's own bytes: the model is in the path.
		return req.Raw.Body, target, nil
	}
	gr, err := RequestFromLLM(req)
	if err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(gr)
	if err != nil {
		return nil, "", fmt.Errorf("encoding generateContent request: %w", err)
	}
	return body, target, nil
}

// call posts body to target and decodes a JSON answer into out.
func (a *Adapter) call(ctx context.Context, target string, body []byte, out any) error {
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	resp, err := a.send(ctx, target, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := provider.ReadCapped(resp.Body, int64(a.maxBody))
	switch {
	case errors.Is(err, provider.ErrTooLarge):
		return &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "upstream answer too large", Err: err}
	case err != nil:
		return provider.TransportError(a.name, fmt.Errorf("reading answer: %w", err))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "malformed upstream answer", Err: fmt.Errorf("decoding answer: %w", err)}
	}
	return nil
}

// ChatStream sends a streamGenerateContent call. The stream's Close, or
// cancelling ctx, closes the upstream connection.
func (a *Adapter) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, target, err := a.chatRequest(req, ":streamGenerateContent?alt=sse")
	if err != nil {
		return nil, err
	}
	o := provider.SSEOptions{Provider: a.name, IdleTimeout: a.timeout, MaxEvent: a.maxBody}
	return provider.StreamSSE(ctx, o, sseDecoder{NewStreamDecoder(a.name, a.answerKey())}, func(ctx context.Context) (*http.Response, error) {
		return a.send(ctx, target, body)
	})
}

// sseDecoder is the StreamDecoder as provider.StreamSSE drives it.
type sseDecoder struct{ d *StreamDecoder }

func (s sseDecoder) Decode(ev sse.Event) ([]llm.Event, error) { return s.d.Decode(ev.Data) }
func (s sseDecoder) End() ([]llm.Event, error)                { return s.d.End() }
func (s sseDecoder) Stopped() bool                            { return s.d.Stopped() }

// Embed sends a batchEmbedContents call, one request per input. The
// Gemini API reports no token usage for embeddings, so Usage is zero.
func (a *Adapter) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Tokens) > 0 {
		return nil, unsupportedf("pre-tokenized embedding inputs")
	}
	if len(req.Inputs) == 0 {
		return nil, invalidf("embedding inputs: at least one required")
	}
	mp, err := modelPath(req.Model)
	if err != nil {
		return nil, err
	}
	br := BatchEmbedContentsRequest{Requests: make([]EmbedContentRequest, len(req.Inputs))}
	for i, in := range req.Inputs {
		br.Requests[i] = EmbedContentRequest{Model: mp, Content: Content{Parts: []Part{{Text: in}}}, OutputDimensionality: req.Dimensions}
	}
	body, err := json.Marshal(br)
	if err != nil {
		return nil, fmt.Errorf("encoding batchEmbedContents request: %w", err)
	}
	var out BatchEmbedContentsResponse
	if err := a.call(ctx, a.root+mp+":batchEmbedContents", body, &out); err != nil {
		return nil, err
	}
	if len(out.Embeddings) != len(req.Inputs) {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: http.StatusOK,
			Message: "malformed upstream answer", Err: fmt.Errorf("%d embeddings for %d inputs", len(out.Embeddings), len(req.Inputs))}
	}
	res := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, len(out.Embeddings))}
	for i, e := range out.Embeddings {
		res.Vectors[i] = e.Values
	}
	return res, nil
}

// send posts body and returns a 2xx response; any other status becomes a
// classified *provider.Error.
func (a *Adapter) send(ctx context.Context, target string, body []byte) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	release := provider.SetBody(hreq, body)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Goog-Api-Key", a.apiKey)
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
	if json.Unmarshal(b, &er) != nil || er.Error == nil {
		er.Error = &Status{Message: strings.TrimSpace(string(b))}
	}
	e := statusError(a.name, resp.StatusCode, er.Error, provider.RetryAfter(resp.Header, a.now()))
	if a.apiKey != "" {
		e.Message = strings.ReplaceAll(e.Message, a.apiKey, "[redacted]")
	}
	return nil, e
}

// statusError classifies a Google API error by HTTP status (0 inside a
// stream) and canonical status name. A RetryInfo detail supplies the
// retry delay when no header did.
func statusError(name string, status int, s *Status, retryAfter time.Duration) *provider.Error {
	kind := provider.KindForStatus(status)
	if status == 0 {
		kind = provider.KindForStatus(s.Code)
	}
	lower := strings.ToLower(s.Message)
	switch s.Status {
	case "RESOURCE_EXHAUSTED":
		kind = provider.KindRateLimited
	case "UNAVAILABLE":
		kind = provider.KindOverloaded
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		kind = provider.KindBadRequest
	case "PERMISSION_DENIED":
		kind = provider.KindPermission
	case "UNAUTHENTICATED":
		kind = provider.KindAuth
	case "NOT_FOUND":
		kind = provider.KindNotFound
	case "INTERNAL", "UNKNOWN", "ABORTED", "CANCELLED":
		kind = provider.KindUnavailable
	case "DEADLINE_EXCEEDED":
		kind = provider.KindTimeout
	}
	switch {
	case kind == provider.KindUnknown:
		kind = provider.KindUnavailable
	case kind == provider.KindBadRequest && strings.Contains(lower, "api key not valid"):
		// An invalid key is reported as INVALID_ARGUMENT.
		kind = provider.KindAuth
	case kind == provider.KindBadRequest && strings.Contains(lower, "exceeds the maximum number of tokens"):
		kind = provider.KindContextLength
	}
	if retryAfter == 0 {
		retryAfter = retryDelay(s.Details)
	}
	msg := s.Message
	if len(msg) > maxClientMessage {
		msg = msg[:maxClientMessage] + "…"
	}
	if msg == "" {
		msg = kind.String()
	}
	cause := fmt.Errorf("gemini %s (status %d): %s", s.Status, status, s.Message)
	if status == 0 {
		cause = fmt.Errorf("gemini stream error %s (code %d): %s", s.Status, s.Code, s.Message)
	}
	return &provider.Error{Provider: name, Kind: kind, Status: status, RetryAfter: retryAfter, Message: msg, Err: cause}
}

// retryDelay reads a google.rpc.RetryInfo detail's retryDelay ("34s").
func retryDelay(details []json.RawMessage) time.Duration {
	for _, d := range details {
		var info struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		}
		if json.Unmarshal(d, &info) != nil || !strings.HasSuffix(info.Type, "google.rpc.RetryInfo") {
			continue
		}
		if delay, err := time.ParseDuration(info.RetryDelay); err == nil && delay > 0 {
			return delay
		}
	}
	return 0
}

// StatusError classifies a Google API error answered with an HTTP status
// (0 inside a stream), for channels that reach Gemini models through
// another Google API (Vertex AI) and receive the same error shape.
func StatusError(name string, status int, s *Status, retryAfter time.Duration) *provider.Error {
	return statusError(name, status, s, retryAfter)
}

var _ provider.TokenCounter = (*Adapter)(nil)

// CountTokens calls countTokens with the whole request as a
// generateContentRequest, so that the system instruction and tools count
// too (a bare contents body counts only the turns).
func (a *Adapter) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	r := *req
	r.Stream = false
	body, target, err := a.chatRequest(&r, ":countTokens")
	if err != nil {
		return 0, err
	}
	mp, err := modelPath(req.Model)
	if err != nil {
		return 0, err
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(body, &inner); err != nil || inner == nil {
		return 0, invalidf("request body: expected a JSON object")
	}
	inner["model"], _ = json.Marshal(mp)
	body, err = json.Marshal(map[string]any{"generateContentRequest": inner})
	if err != nil {
		return 0, fmt.Errorf("encoding countTokens request: %w", err)
	}
	var out struct {
		TotalTokens *int `json:"totalTokens"`
	}
	if err := a.call(ctx, target, body, &out); err != nil {
		return 0, err
	}
	if out.TotalTokens == nil || *out.TotalTokens < 0 {
		return 0, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: http.StatusOK,
			Message: "malformed upstream answer", Err: errors.New("countTokens answer without a token count")}
	}
	return *out.TotalTokens, nil
}
