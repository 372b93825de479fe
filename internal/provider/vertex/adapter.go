// Package vertex is the Vertex AI channel: Gemini models through
// generateContent and streamGenerateContent, and Claude through rawPredict
// and streamRawPredict, on Vertex's project and location URLs, with OAuth
// access tokens from Google Application Default Credentials. The wire
// formats and their translation are the gemini and anthropic packages';
// this package owns the URLs, the Vertex-specific body edits, the error
// shapes Vertex mixes (Google's for the platform, Anthropic's for Claude)
// and the credentials. It is the only importer of golang.org/x/oauth2.
package vertex

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

	"golang.org/x/oauth2"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/gemini"
	"switchyard/internal/sse"
)

// AnthropicVersion is the anthropic_version a rawPredict body for Claude
// carries instead of the anthropic-version header.
const AnthropicVersion = "vertex-2023-10-16"

// DefaultMaxResponseBytes bounds a non-streamed answer and one stream
// event unless Options says otherwise.
const DefaultMaxResponseBytes = 32 << 20

// Options configures a Vertex AI channel.
type Options struct {
	// Name identifies the channel in routes, errors and metrics.
	Name string
	// Project is the Google Cloud project id the calls are billed to.
	Project string
	// Region is the Vertex location: a region such as "us-east5",
	// "global", or a multi-region ("us", "eu").
	Region string
	// BaseURL replaces the host Region implies (BaseURL(Region)); the
	// path "/v1/projects/..." is appended to it.
	BaseURL string
	// Tokens supplies the OAuth access tokens sent as bearer tokens. It is
	// wrapped in a cache (oauth2.ReuseTokenSource), so a token is fetched
	// again only when it is about to expire.
	Tokens oauth2.TokenSource
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

// Adapter is a Vertex AI channel. It is safe for concurrent use.
type Adapter struct {
	name    string
	root    string // {base}/v1/projects/{project}/locations/{region}/publishers/
	tokens  oauth2.TokenSource
	maxBody int
	timeout time.Duration
	hc      *http.Client
	now     func() time.Time
	// answerKey names a Gemini answer in its function call ids when Vertex
	// sends no responseId; it must not repeat across answers.
	answerKey func() string
}

var _ provider.Provider = (*Adapter)(nil)

// BaseURL is the API host of a Vertex location, as Google's SDKs derive
// it: "global" has no regional host, the multi-regions "us" and "eu" have
// regional endpoints of their own, and every other region is a prefix of
// the host.
func BaseURL(region string) string {
	switch region {
	case "", "global":
		return "https://aiplatform.googleapis.com"
	case "us", "eu":
		return "https://aiplatform." + region + ".rep.googleapis.com"
	}
	return "https://" + region + "-aiplatform.googleapis.com"
}

// New returns a channel configured by o. Project, Region and Tokens are
// required.
func New(o Options) (*Adapter, error) {
	switch {
	case o.Project == "":
		return nil, errors.New("vertex: project is required")
	case o.Region == "":
		return nil, errors.New("vertex: region is required")
	case o.Tokens == nil:
		return nil, errors.New("vertex: a token source is required")
	}
	base := strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		base = BaseURL(o.Region)
	}
	a := &Adapter{
		name: o.Name,
		root: base + "/v1/projects/" + url.PathEscape(o.Project) + "/locations/" + url.PathEscape(o.Region) +
			"/publishers/",
		tokens:    oauth2.ReuseTokenSource(nil, o.Tokens),
		maxBody:   o.MaxResponseBytes,
		timeout:   o.Timeout,
		hc:        o.HTTPClient,
		now:       time.Now,
		answerKey: rand.Text,
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxResponseBytes
	}
	if a.hc == nil {
		a.hc = &http.Client{}
	}
	return a, nil
}

// Name is the channel's configured name.
func (a *Adapter) Name() string { return a.name }

// publisher splits a model id into its publisher and model: Claude models
// ("claude-sonnet-4-5@20250929") are Anthropic's, a full resource name
// ("publishers/{publisher}/models/{model}") says its own, and every other
// model is Google's.
func publisher(model string) (pub, id string, err error) {
	if rest, ok := strings.CutPrefix(model, "publishers/"); ok {
		pub, id, ok = strings.Cut(rest, "/models/")
		if !ok || pub == "" || id == "" {
			return "", "", invalidf("model %q: want publishers/{publisher}/models/{model}", model)
		}
	} else {
		id = strings.TrimPrefix(model, "models/")
		pub = "google"
		if strings.HasPrefix(id, "claude") {
			pub = "anthropic"
		}
	}
	switch {
	case id == "":
		return "", "", invalidf("model: required")
	case pub != "google" && pub != "anthropic":
		return "", "", unsupportedf("models of publisher %q (this channel serves Google's Gemini and Anthropic's Claude)", pub)
	}
	return pub, id, nil
}

// Chat sends a non-streaming generateContent or rawPredict call.
func (a *Adapter) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	pub, id, err := publisher(req.Model)
	if err != nil {
		return nil, err
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	if pub == "anthropic" {
		return a.claudeChat(ctx, req, id)
	}
	body, err := geminiBody(req)
	if err != nil {
		return nil, err
	}
	b, status, err := a.call(ctx, a.target(pub, id, ":generateContent"), body)
	if err != nil {
		return nil, err
	}
	var out gemini.GenerateContentResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, a.badResponse(status, fmt.Errorf("decoding answer: %w", err))
	}
	resp, err := gemini.ResponseToLLM(&out, a.answerKey())
	if err != nil {
		return nil, a.badResponse(status, err)
	}
	return resp, nil
}

func (a *Adapter) claudeChat(ctx context.Context, req *llm.Request, id string) (*llm.Response, error) {
	body, err := claudeBody(req, false)
	if err != nil {
		return nil, err
	}
	b, status, err := a.call(ctx, a.target("anthropic", id, ":rawPredict"), body)
	if err != nil {
		return nil, err
	}
	var mr anthropic.MessagesResponse
	if err := json.Unmarshal(b, &mr); err != nil {
		return nil, a.badResponse(status, fmt.Errorf("decoding answer: %w", err))
	}
	if mr.Type == "error" {
		var er anthropic.ErrorResponse
		_ = json.Unmarshal(b, &er)
		return nil, anthropic.APIError(a.name, status, er.Error, 0)
	}
	resp, err := anthropic.ResponseToLLM(&mr)
	if err != nil {
		return nil, a.badResponse(status, err)
	}
	return resp, nil
}

// ChatStream sends a streamGenerateContent (as SSE) or streamRawPredict
// call. The stream's Close, or cancelling ctx, closes the upstream
// connection.
func (a *Adapter) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	pub, id, err := publisher(req.Model)
	if err != nil {
		return nil, err
	}
	var (
		body   []byte
		target string
		dec    provider.EventDecoder
	)
	if pub == "anthropic" {
		body, err = claudeBody(req, true)
		target = a.target(pub, id, ":streamRawPredict")
		dec = claudeEvents{anthropic.NewStreamDecoder(a.name)}
	} else {
		body, err = geminiBody(req)
		target = a.target(pub, id, ":streamGenerateContent?alt=sse")
		dec = geminiEvents{gemini.NewStreamDecoder(a.name, a.answerKey())}
	}
	if err != nil {
		return nil, err
	}
	o := provider.SSEOptions{Provider: a.name, IdleTimeout: a.timeout, MaxEvent: a.maxBody}
	return provider.StreamSSE(ctx, o, dec, func(ctx context.Context) (*http.Response, error) {
		return a.send(ctx, target, body)
	})
}

// geminiEvents and claudeEvents are the vendors' stream decoders as
// provider.StreamSSE drives them.
type (
	geminiEvents struct{ d *gemini.StreamDecoder }
	claudeEvents struct{ d *anthropic.StreamDecoder }
)

func (g geminiEvents) Decode(ev sse.Event) ([]llm.Event, error) { return g.d.Decode(ev.Data) }
func (g geminiEvents) End() ([]llm.Event, error)                { return g.d.End() }
func (g geminiEvents) Stopped() bool                            { return g.d.Stopped() }
func (c claudeEvents) Decode(ev sse.Event) ([]llm.Event, error) { return c.d.Decode(ev.Type, ev.Data) }
func (c claudeEvents) End() ([]llm.Event, error)                { return nil, c.d.End() }
func (c claudeEvents) Stopped() bool                            { return c.d.Stopped() }

// target is the URL of a model's method.
func (a *Adapter) target(pub, id, method string) string {
	return a.root + pub + "/models/" + url.PathEscape(id) + method
}

// geminiBody is the generateContent body of a request.
func geminiBody(req *llm.Request) ([]byte, error) {
	gr, err := gemini.RequestFromLLM(req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(gr)
	if err != nil {
		return nil, fmt.Errorf("encoding generateContent request: %w", err)
	}
	return b, nil
}

// claudeBody is the rawPredict body of a request: a Messages body (the
// Anthropic client's own on the same-dialect path, else the translation)
// without model, which the URL names, and with anthropic_version, which
// Vertex takes in the body instead of a header.
func claudeBody(req *llm.Request, stream bool) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if raw := req.Raw; raw != nil && raw.Dialect == anthropic.Dialect {
		b = raw.Body
	} else {
		r := *req
		r.Stream = stream
		if b, err = anthropic.MessagesBody(&r); err != nil {
			return nil, err
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return nil, invalidf("request body: expected a JSON object")
	}
	delete(fields, "model")
	if stream {
		fields["stream"] = json.RawMessage("true")
	} else {
		delete(fields, "stream")
	}
	fields["anthropic_version"] = json.RawMessage(`"` + AnthropicVersion + `"`)
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encoding rawPredict request: %w", err)
	}
	return out, nil
}

// call posts body to target and returns the answer's bytes and status.
func (a *Adapter) call(ctx context.Context, target string, body []byte) ([]byte, int, error) {
	resp, err := a.send(ctx, target, body)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := provider.ReadCapped(resp.Body, int64(a.maxBody))
	switch {
	case errors.Is(err, provider.ErrTooLarge):
		return nil, 0, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "upstream answer too large", Err: err}
	case err != nil:
		return nil, 0, provider.TransportError(a.name, fmt.Errorf("reading answer: %w", err))
	}
	return b, resp.StatusCode, nil
}

// send posts body with a bearer token and returns a 2xx response; any
// other status becomes a classified *provider.Error.
func (a *Adapter) send(ctx context.Context, target string, body []byte) (*http.Response, error) {
	tok, err := a.tokens.Token()
	if err != nil {
		return nil, a.tokenError(err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	release := provider.SetBody(hreq, body)
	hreq.Header.Set("Content-Type", "application/json")
	tok.SetAuthHeader(hreq)
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
	return nil, a.statusError(resp.StatusCode, b, provider.RetryAfter(resp.Header, a.now()))
}

// errorBody holds both error shapes Vertex answers with: Google's
// ({"error":{"code","message","status"}}) from the platform (credentials,
// quota, unknown model), and Anthropic's ({"type":"error","error":{"type",
// "message"}}) from Claude itself.
type errorBody struct {
	Error *struct {
		gemini.Status
		Type string `json:"type"`
	} `json:"error"`
}

func (a *Adapter) statusError(status int, b []byte, retryAfter time.Duration) *provider.Error {
	var eb errorBody
	if json.Unmarshal(b, &eb) != nil || eb.Error == nil {
		return gemini.StatusError(a.name, status, &gemini.Status{Message: strings.TrimSpace(string(b))}, retryAfter)
	}
	if eb.Error.Type != "" {
		return anthropic.APIError(a.name, status, anthropic.ErrorDetail{Type: eb.Error.Type, Message: eb.Error.Message}, retryAfter)
	}
	return gemini.StatusError(a.name, status, &eb.Error.Status, retryAfter)
}

// tokenError classifies a failure to obtain an access token: refused
// credentials are an authentication failure (no other attempt on this
// channel will do better), anything else is the token service being
// unreachable.
func (a *Adapter) tokenError(err error) *provider.Error {
	kind := provider.KindUnavailable
	status := 0
	if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) && re.Response != nil {
		status = re.Response.StatusCode
		if status/100 == 4 && status != http.StatusTooManyRequests {
			kind = provider.KindAuth
		}
	}
	return &provider.Error{Provider: a.name, Kind: kind, Status: status,
		Message: "could not obtain a Google access token for the channel", Err: fmt.Errorf("vertex token: %w", err)}
}

func (a *Adapter) badResponse(status int, err error) *provider.Error {
	return &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: status,
		Message: "malformed upstream answer", Err: err}
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: vertex: "+format, append([]any{llm.ErrInvalid}, args...)...)
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: vertex: "+format, append([]any{llm.ErrUnsupported}, args...)...)
}

var _ provider.TokenCounter = (*Adapter)(nil)

// countFields are the members of a generateContent body that Vertex AI's
// countTokens takes; claudeCountFields those of a Messages body that
// Claude's count-tokens:rawPredict takes.
var (
	countFields       = [...]string{"contents", "systemInstruction", "tools"}
	claudeCountFields = [...]string{"messages", "system", "tools", "tool_choice", "thinking"}
)

// maxCountAnswer bounds a count's answer, a small object.
const maxCountAnswer = 64 << 10

// CountTokens counts req's input tokens: countTokens for a Gemini model,
// count-tokens:rawPredict (a Messages body naming the model) for Claude.
func (a *Adapter) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	pub, id, err := publisher(req.Model)
	if err != nil {
		return 0, err
	}
	var (
		body   map[string]json.RawMessage
		target string
	)
	if pub == "anthropic" {
		r := *req
		r.Stream, r.Raw, r.Temperature, r.TopP, r.TopK = false, nil, nil, nil, nil
		mb, err := anthropic.MessagesBody(&r)
		if err != nil {
			return 0, err
		}
		if body, err = keep(mb, claudeCountFields[:]); err != nil {
			return 0, err
		}
		body["model"], _ = json.Marshal(id)
		target = a.root + "anthropic/models/count-tokens:rawPredict"
	} else {
		gb, err := geminiBody(req)
		if err != nil {
			return 0, err
		}
		if body, err = keep(gb, countFields[:]); err != nil {
			return 0, err
		}
		target = a.target(pub, id, ":countTokens")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("encoding count request: %w", err)
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	resp, err := a.send(ctx, target, b)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, err := provider.ReadCapped(resp.Body, maxCountAnswer)
	if err != nil {
		return 0, a.badResponse(resp.StatusCode, fmt.Errorf("reading count answer: %w", err))
	}
	var out struct {
		TotalTokens *int `json:"totalTokens"`  // Gemini
		InputTokens *int `json:"input_tokens"` // Claude
	}
	_ = json.Unmarshal(answer, &out) // a malformed answer has no count
	n := out.TotalTokens
	if pub == "anthropic" {
		n = out.InputTokens
	}
	if n == nil || *n < 0 {
		return 0, a.badResponse(resp.StatusCode, fmt.Errorf("count answer without a token count: %.200s", answer))
	}
	return *n, nil
}

// keep returns the members of a JSON object body that are named in fields.
func keep(body []byte, fields []string) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(body, &all); err != nil || all == nil {
		return nil, invalidf("request body: expected a JSON object")
	}
	kept := make(map[string]json.RawMessage, len(fields))
	for _, k := range fields {
		if v, ok := all[k]; ok {
			kept[k] = v
		}
	}
	return kept, nil
}
