package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// Raw dialects the Client forwards as is (llm.Raw.Dialect), with only the
// model replaced: the same-dialect fast path.
const (
	RawDialectChat       = "openai.chat"
	RawDialectEmbeddings = "openai.embeddings"
)

// Operation is an endpoint of the dialect, as a path below the API root.
type Operation string

// The operations a Client calls.
const (
	OpChatCompletions Operation = "chat/completions"
	OpEmbeddings      Operation = "embeddings"
)

// DefaultMaxResponseBytes bounds a non-streamed answer body.
const DefaultMaxResponseBytes = 32 << 20

// ClientOptions configures a Client.
type ClientOptions struct {
	// Name is the channel's name, reported in errors. Required.
	Name string
	// Dialect names the channel's wire dialect in translation errors:
	// "openai", "openai-compatible", "azure". Default "openai".
	Dialect string
	// URL returns the endpoint of op for a request to model. Required.
	URL func(op Operation, model string) string
	// Authorize adds credentials to a request's headers. It may fetch a
	// token, hence ctx. Nil sends none (local vLLM or Ollama).
	Authorize func(ctx context.Context, h http.Header) error
	// Header is sent with every request; the client's own headers
	// (Content-Type, Accept, credentials) take precedence.
	Header http.Header
	// HTTPClient sends the requests. Nil means a client with
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Timeout bounds a non-streamed call and, for a streamed one, the wait
	// for the response headers. Zero leaves it to ctx.
	Timeout time.Duration
	// MaxResponseBytes bounds a non-streamed answer body, and the tool
	// call arguments a streamed answer's decoder holds until it checks
	// them at the end; zero means DefaultMaxResponseBytes. Stream events
	// are bounded by sse.DefaultMaxEvent each.
	MaxResponseBytes int64
	// Now is the clock for Retry-After dates. Nil means time.Now.
	Now func() time.Time
}

// Client calls one upstream that speaks the OpenAI dialect: it translates
// canonical requests (or forwards a client's raw body on the fast path),
// sends them, and reads answers, event streams and errors back. The OpenAI
// and Azure OpenAI adapters differ only in the URLs and credentials they
// give it. A Client is safe for concurrent use.
type Client struct {
	o ClientOptions
	// lastURL is the endpoint the last request went to, parsed.
	lastURL atomic.Pointer[parsedURL]
	// fixed are the whole headers of a JSON call and of a streamed one,
	// when they are the same on every call (no Authorize): every request
	// shares one, read-only (see send).
	fixed [2]http.Header
}

// NewClient returns a client; o is copied, not kept.
func NewClient(o ClientOptions) *Client {
	if o.Dialect == "" {
		o.Dialect = passthroughKey
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Header = o.Header.Clone()
	c := &Client{o: o}
	if o.Authorize == nil {
		for i, stream := range [2]bool{false, true} {
			c.fixed[i] = make(http.Header, len(o.Header)+2)
			c.setHeader(c.fixed[i], stream)
		}
	}
	return c
}

// Name returns the channel's name.
func (c *Client) Name() string { return c.o.Name }

// Chat sends a non-streamed Chat Completions call.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if completionRequest(req) {
		return c.complete(ctx, req)
	}
	body, err := c.chatBody(req, false)
	if err != nil {
		return nil, err
	}
	var cr ChatResponse
	data, err := c.roundTrip(ctx, OpChatCompletions, req.Model, body, &cr)
	if err != nil {
		return nil, err
	}
	out, err := ResponseToLLM(&cr)
	var ae *argumentsError
	switch {
	case errors.As(err, &ae):
		return nil, badArguments(c.o.Name, ae)
	case err != nil:
		return nil, c.badResponse("unusable response", err)
	}
	if req.Raw != nil && req.Raw.Dialect == RawDialectChat {
		out.Raw = &llm.Raw{Dialect: RawDialectChat, Body: data}
	}
	return out, nil
}

// errHeaderTimeout cancels a streamed call whose headers are late.
var errHeaderTimeout = errors.New("upstream sent no response headers in time")

// ChatStream starts a streamed Chat Completions call, with usage asked
// for: the gateway meters every stream. Cancelling ctx closes the upstream
// connection.
func (c *Client) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if completionRequest(req) {
		return c.completeStream(ctx, req)
	}
	body, err := c.chatBody(req, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	inTime := func() bool { return true }
	if c.o.Timeout > 0 {
		inTime = time.AfterFunc(c.o.Timeout, func() { cancel(errHeaderTimeout) }).Stop
	}
	resp, err := c.send(ctx, OpChatCompletions, req.Model, body, true)
	if !inTime() {
		if err == nil {
			resp.Body.Close()
		}
		cancel(nil)
		return nil, &provider.Error{Provider: c.o.Name, Kind: provider.KindTimeout, Message: "upstream timed out",
			Err: errors.Join(errHeaderTimeout, err)}
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		defer cancel(nil)
		data, err := c.readAll(resp)
		if err != nil {
			return nil, err
		}
		if e := parseErrorBody(data); *e != (APIError{}) {
			return nil, apiError(c.o.Name, resp.StatusCode, c.retryAfter(resp.Header), e, data)
		}
		return nil, c.badResponse("expected an event stream, got JSON", nil)
	}
	dec := NewStreamDecoder(c.o.Name)
	dec.maxArgs = c.o.MaxResponseBytes
	s := &chatStream{
		name:   c.o.Name,
		body:   resp.Body,
		cancel: cancel,
		dec:    dec,
	}
	if req.Raw != nil && req.Raw.Dialect == RawDialectChat {
		// Sent on the fast path: the stream offers its bytes to the front
		// door (llm.RawStream), and reads them itself only if asked for
		// events instead.
		s.raw, _ = newRawChat(req.Raw.Body)
	}
	if s.raw == nil {
		s.events = sse.NewReader(resp.Body)
	}
	return s, nil
}

// Embed sends an Embeddings call.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	body, err := c.embeddingBody(req)
	if err != nil {
		return nil, err
	}
	var er EmbeddingResponse
	if _, err := c.roundTrip(ctx, OpEmbeddings, req.Model, body, &er); err != nil {
		return nil, err
	}
	out, err := embeddingResponseToLLM(&er, len(req.Inputs)+len(req.Tokens))
	if err != nil {
		return nil, c.badResponse("unusable response", err)
	}
	return out, nil
}

// decodedAnswer is a JSON answer that may carry an error object.
type decodedAnswer interface {
	upstreamError() *APIError
}

func (r *ChatResponse) upstreamError() *APIError      { return r.Error }
func (r *EmbeddingResponse) upstreamError() *APIError { return r.Error }

// roundTrip posts body to op, bounded by Timeout, decodes the answer into
// out and returns its bytes. Error answers, with any status, become a
// *provider.Error.
func (c *Client) roundTrip(ctx context.Context, op Operation, model string, body []byte, out decodedAnswer) ([]byte, error) {
	if c.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.o.Timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, op, model, body, false)
	if err != nil {
		return nil, err
	}
	data, err := c.readAll(resp)
	if err != nil {
		return nil, err
	}
	// A plain text chat answer, the common case, is read without
	// encoding/json's reflection; the same fields come out.
	if cr, ok := out.(*ChatResponse); ok {
		if decodeTextAnswer(data, cr) {
			return data, nil
		}
		*cr = ChatResponse{} // what the walk filled before it gave up
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, c.badResponse("malformed response body", err)
	}
	if e := out.upstreamError(); e != nil {
		return nil, apiError(c.o.Name, resp.StatusCode, c.retryAfter(resp.Header), e, data)
	}
	return data, nil
}

// chatBody is the request body of a chat call: the client's own bytes on
// the fast path, with only the model, and the stream mode of this call,
// changed; the translated request otherwise.
func (c *Client) chatBody(req *llm.Request, stream bool) ([]byte, error) {
	if req.N > 1 {
		return nil, unsupported("", "%s: several choices (n > 1) are not supported", c.o.Dialect)
	}
	if req.Raw != nil && req.Raw.Dialect == RawDialectChat {
		return rawChatBody(req.Raw.Body, req.Model, stream)
	}
	r, err := requestFromLLM(req, c.o.Dialect)
	if err != nil {
		return nil, err
	}
	r.Stream, r.StreamOptions = stream, nil
	if stream {
		r.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding chat request: %w", err)
	}
	return b, nil
}

// embeddingBody is the request body of an embeddings call: the client's
// own bytes with the model replaced on the fast path, the translated
// request otherwise.
func (c *Client) embeddingBody(req *llm.EmbedRequest) ([]byte, error) {
	if req.Raw != nil && req.Raw.Dialect == RawDialectEmbeddings {
		ms, ok := members(req.Raw.Body)
		if !ok {
			return nil, invalid("", "request body is not a JSON object")
		}
		return rewrite(ms, map[string][]byte{"model": marshalRaw(req.Model)}), nil
	}
	r, err := embeddingRequestFromLLM(req, c.o.Dialect)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding embeddings request: %w", err)
	}
	return b, nil
}

// rawChatBody edits a client's Chat Completions body for the fast path:
// model replaced, and for a streamed call stream_options.include_usage
// forced on (the gateway needs usage for its ledger; the front door hides
// the usage chunk from a client that did not ask for it). Every other
// member survives as sent.
func rawChatBody(body []byte, model string, stream bool) ([]byte, error) {
	var room [8]member
	ms, ok := appendMembers(room[:0], body)
	if !ok {
		return nil, invalid("", "request body is not a JSON object")
	}
	last := map[string][]byte{}
	for _, m := range ms {
		switch m.name {
		case "model", "stream", "stream_options":
			last[m.name] = m.value
		}
	}
	edit := map[string][]byte{"model": marshalString(model)}
	switch {
	case stream:
		opts := map[string]json.RawMessage{}
		if raw := last["stream_options"]; raw != nil && kindOf(raw) != kindNull {
			if kindOf(raw) != kindObject || json.Unmarshal(raw, &opts) != nil {
				return nil, invalid("stream_options", "expected object, got %s", kindOf(raw))
			}
		}
		opts["include_usage"] = json.RawMessage("true")
		edit["stream"], edit["stream_options"] = []byte("true"), marshalRaw(opts)
	case isTrue(last["stream"]):
		edit["stream"], edit["stream_options"] = []byte("false"), nil
	}
	return rewrite(ms, edit), nil
}

func isTrue(raw []byte) bool { return string(raw) == "true" }

// marshalString is marshalRaw(s), without an encoder for the usual
// string that needs no escaping.
func marshalString(s string) json.RawMessage {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return marshalRaw(s)
		}
	}
	out := make([]byte, 0, len(s)+2)
	return append(append(append(out, '"'), s...), '"')
}

// marshalRaw encodes v, which holds only strings and raw JSON, without
// HTML escaping so that a client's text reaches the upstream as sent.
func marshalRaw(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Strings and already valid raw JSON always encode.
		panic(fmt.Sprintf("openai: encoding raw body: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// send posts body to op and returns a 2xx response; any other answer is
// read (up to provider.MaxErrorBody) and returned as a classified *provider.Error.
func (c *Client) send(ctx context.Context, op Operation, model string, body []byte, stream bool) (*http.Response, error) {
	hreq, err := c.newRequest(ctx, c.o.URL(op, model))
	if err != nil {
		return nil, &provider.Error{Provider: c.o.Name, Kind: provider.KindUnavailable,
			Message: "upstream URL is invalid", Err: fmt.Errorf("building request: %w", err)}
	}
	release := provider.SetBody(hreq, body)
	if h := c.fixedHeader(stream); h != nil {
		hreq.Header = h
	} else {
		c.setHeader(hreq.Header, stream)
	}
	if c.o.Authorize != nil {
		if err := c.o.Authorize(ctx, hreq.Header); err != nil {
			if ctx.Err() != nil {
				return nil, provider.TransportError(c.o.Name, err)
			}
			return nil, &provider.Error{Provider: c.o.Name, Kind: provider.KindAuth,
				Message: "obtaining upstream credentials failed", Err: fmt.Errorf("authorizing request: %w", err)}
		}
	}
	resp, err := provider.Do(c.o.HTTPClient, hreq)
	release()
	if err != nil {
		return nil, provider.TransportError(c.o.Name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := provider.ReadCapped(resp.Body, provider.MaxErrorBody) // a cut error body still leaves the status
		return nil, apiError(c.o.Name, resp.StatusCode, c.retryAfter(resp.Header), parseErrorBody(data), data)
	}
	return resp, nil
}

// fixedHeader is the shared header of a call, or nil when the call needs
// a header of its own. Sharing one map between concurrent requests is
// safe only while nothing writes to it: net/http's transport and our
// tracing transport do not (the latter clones the request first), but
// http.Client adds a cookie jar's cookies to the request's own header,
// so a client with a jar gets a header of its own. It saves the map
// every call would otherwise fill (about 350 bytes).
func (c *Client) fixedHeader(stream bool) http.Header {
	if c.o.HTTPClient.Jar != nil {
		return nil
	}
	if stream {
		return c.fixed[1]
	}
	return c.fixed[0]
}

// setHeader fills a call's own header h.
func (c *Client) setHeader(h http.Header, stream bool) {
	// The values are shared between requests, capped so that an append
	// copies them: nothing in net/http writes into a header's values.
	for k, v := range c.o.Header {
		h[k] = v[:len(v):len(v)]
	}
	h["Content-Type"] = jsonMediaType
	if stream {
		h["Accept"] = eventStreamMediaType
	} else {
		h["Accept"] = jsonMediaType
	}
}

// Header values every request carries, shared (see send).
var (
	jsonMediaType        = []string{"application/json"}
	eventStreamMediaType = []string{"text/event-stream"}
)

// parsedURL is an endpoint URL and its parsed form.
type parsedURL struct {
	raw string
	u   *url.URL
}

// newRequest is http.NewRequestWithContext for a POST to rawURL, without
// parsing the URL again when it is the one the last request went to (a
// channel calls one or two endpoints).
func (c *Client) newRequest(ctx context.Context, rawURL string) (*http.Request, error) {
	p := c.lastURL.Load()
	if p == nil || p.raw != rawURL {
		// Parsed as http.NewRequest does, so that the same URLs are
		// accepted and refused.
		probe, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, nil)
		if err != nil {
			return nil, err
		}
		p = &parsedURL{raw: rawURL, u: probe.URL}
		c.lastURL.Store(p)
	}
	// An empty URL parses to an empty one without allocating strings;
	// the request's own copy of the endpoint is written over it.
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "", nil)
	if err != nil {
		return nil, err
	}
	*r.URL = *p.u
	r.Host = r.URL.Host
	return r, nil
}

// readAll reads and closes a response body, refusing one larger than
// MaxResponseBytes so that a hostile upstream cannot exhaust memory.
func (c *Client) readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	data, err := provider.ReadCappedLen(resp.Body, resp.ContentLength, c.o.MaxResponseBytes)
	switch {
	case errors.Is(err, provider.ErrTooLarge):
		return nil, c.badResponse(fmt.Sprintf("response body larger than %d bytes", c.o.MaxResponseBytes), nil)
	case err != nil:
		return nil, provider.TransportError(c.o.Name, err)
	}
	return data, nil
}

func (c *Client) retryAfter(h http.Header) time.Duration {
	return provider.RetryAfter(h, c.o.Now())
}

func (c *Client) badResponse(msg string, cause error) error {
	err := errors.New(msg)
	if cause != nil {
		err = fmt.Errorf("%s: %w", msg, cause)
	}
	return &provider.Error{Provider: c.o.Name, Kind: provider.KindBadResponse, Message: "upstream sent an " + msg, Err: err}
}

// badArguments classifies an argumentsError for the channel called name.
// The message names the call so that a client can match it to the model's
// turn; the arguments themselves go to the logs only.
func badArguments(name string, e *argumentsError) *provider.Error {
	return &provider.Error{Provider: name, Kind: provider.KindBadResponse,
		Message: fmt.Sprintf("upstream sent tool call %q with arguments that are not a JSON object", redact(e.id, 128)),
		Err:     e}
}

// parseErrorBody reads an error answer: {"error":{…}} or {"error":"…"}, or
// a bare error object as older vLLM sends. Anything else yields an empty
// APIError.
func parseErrorBody(b []byte) *APIError {
	var wrapped struct {
		Error *APIError `json:"error"`
	}
	if json.Unmarshal(b, &wrapped) == nil && wrapped.Error != nil {
		return wrapped.Error
	}
	var bare APIError
	if kindOf(b) == kindObject && json.Unmarshal(b, &bare) == nil {
		return &bare
	}
	return &APIError{}
}

// apiError classifies an error the upstream reported, with an HTTP status
// (0 for an error inside a stream). Message keeps the upstream's words,
// redacted; Err keeps its body, redacted, for the logs.
func apiError(name string, status int, retryAfter time.Duration, e *APIError, body []byte) *provider.Error {
	msg := redact(e.Message, 1024)
	if msg == "" {
		msg = "upstream reported an error"
		if status != 0 {
			msg = fmt.Sprintf("upstream answered HTTP %d", status)
		}
	}
	where := "stream"
	if status != 0 {
		where = "HTTP " + strconv.Itoa(status)
	}
	return &provider.Error{
		Provider:   name,
		Kind:       classify(status, e),
		Status:     status,
		RetryAfter: retryAfter,
		Message:    msg,
		Err:        fmt.Errorf("%s: %s", where, redact(string(body), 4096)),
	}
}

// classify maps an upstream error to a Kind: by its code where the status
// is too coarse (context length, content filter), by the status when there
// is an error status, and otherwise (a 200 carrying an error, an error
// inside a stream) by the code and type it names.
func classify(status int, e *APIError) provider.Kind {
	switch strings.ToLower(e.Code) {
	case "context_length_exceeded":
		return provider.KindContextLength
	case "content_filter", "content_policy_violation":
		return provider.KindContentFiltered
	}
	if status >= 400 {
		return provider.KindForStatus(status)
	}
	if n, err := strconv.Atoi(e.Code); err == nil && n >= 400 && n <= 599 {
		return provider.KindForStatus(n)
	}
	for _, name := range []string{e.Code, e.Type} {
		if k, ok := kindForName(strings.ToLower(name)); ok {
			return k
		}
	}
	return provider.KindBadResponse
}

// kindForName maps the error codes and types OpenAI-dialect servers use.
func kindForName(name string) (provider.Kind, bool) {
	switch name {
	case "rate_limit_exceeded", "rate_limit_error", "requests", "tokens", "insufficient_quota":
		return provider.KindRateLimited, true
	case "overloaded", "overloaded_error", "server_overloaded", "service_unavailable":
		return provider.KindOverloaded, true
	case "server_error", "internal_error", "internal_server_error", "api_error":
		return provider.KindUnavailable, true
	case "timeout", "request_timeout":
		return provider.KindTimeout, true
	case "invalid_request_error", "badrequesterror":
		return provider.KindBadRequest, true
	case "authentication_error", "invalid_api_key":
		return provider.KindAuth, true
	case "permission_error", "permission_denied":
		return provider.KindPermission, true
	case "not_found_error", "model_not_found", "deploymentnotfound":
		return provider.KindNotFound, true
	}
	return provider.KindUnknown, false
}

// secretish matches what looks like a credential: an OpenAI-style key
// (also partly masked, as OpenAI echoes them) or a bearer token.
var secretish = regexp.MustCompile(`\bsk-[A-Za-z0-9_*\-]{6,}|\bBearer\s+[A-Za-z0-9._~+/=\-]{6,}`)

// redact masks credentials in upstream text and caps its length, so that
// it can be shown to a client or logged.
func redact(s string, limit int) string {
	s = secretish.ReplaceAllString(s, "[redacted]")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

var (
	_ llm.ReadyStream = (*chatStream)(nil)
	_ llm.RawStream   = (*chatStream)(nil)
)

// chatStream is the llm.Stream of a streamed call. A call sent on the fast
// path can also hand over its bytes (NextRaw); its event reader is then
// made only if Next is called instead.
type chatStream struct {
	name    string
	body    io.ReadCloser
	cancel  context.CancelCauseFunc
	events  *sse.Reader
	raw     *rawChat
	dec     *StreamDecoder
	pending []llm.Event
	pos     int
	err     error
	eof     bool
	closed  bool
}

// Next returns the next event, io.EOF after EventStop, or the error that
// ended the stream (a *provider.Error).
func (s *chatStream) Next() (llm.Event, error) {
	if s.events == nil {
		s.events = sse.NewReader(s.body)
	}
	for s.pos >= len(s.pending) {
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.eof {
			return llm.Event{}, io.EOF
		}
		s.fill()
	}
	ev := s.pending[s.pos]
	s.pos++
	return ev, nil
}

// Ready reports whether the next event is at hand. It decodes the
// upstream chunks already whole in the reader's buffer until one yields
// an event, so that a chunk that yields none (the finish reason alone)
// does not make it report one that Next would then have to wait for.
func (s *chatStream) Ready() bool {
	if s.events == nil {
		return false
	}
	for s.pos >= len(s.pending) && s.err == nil && !s.eof && s.events.Ready() {
		s.fill()
	}
	return s.pos < len(s.pending)
}

// fill reads one upstream event and decodes it into pending.
func (s *chatStream) fill() {
	s.pending, s.pos = s.pending[:0], 0
	var err error
	ev, rerr := s.events.Next()
	switch {
	case errors.Is(rerr, io.EOF):
		s.pending, err = s.dec.End(s.pending)
		s.eof = true
	case errors.Is(rerr, sse.ErrTooLarge):
		err = &provider.Error{Provider: s.name, Kind: provider.KindBadResponse,
			Message: "upstream sent an oversized stream event", Err: rerr}
	case errors.Is(rerr, io.ErrUnexpectedEOF):
		err = &provider.Error{Provider: s.name, Kind: provider.KindBadResponse,
			Message: "upstream stream was cut", Err: rerr}
	case rerr != nil:
		err = provider.TransportError(s.name, rerr)
	default:
		s.pending, err = s.dec.Decode(s.pending, ev.Data)
		s.eof = s.dec.Done()
	}
	if err != nil {
		s.err = err
	}
}

// Close releases the upstream connection; it is safe to call more than
// once.
func (s *chatStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.body.Close()
	s.cancel(nil)
	return err
}
