package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// maxResponseBody bounds a Converse answer, at most a few megabytes.
const maxResponseBody = 32 << 20

const eventStreamContentType = "application/vnd.amazon.eventstream"

var _ provider.Provider = (*Adapter)(nil)

// Options configures an Adapter.
type Options struct {
	// Name is the channel's configured name. Required.
	Name string
	// Region is the AWS region. It scopes the signature and picks the
	// default endpoint; required unless APIKey and BaseURL are both set.
	Region string
	// BaseURL is the endpoint without /model. If empty:
	// https://bedrock-runtime.{Region}.amazonaws.com.
	BaseURL string
	// Credentials are static AWS keys. When they and APIKey are both
	// empty, the default AWS chain (environment, shared config and
	// credentials files, SSO, web identity, container and instance roles)
	// is loaded on first use and refreshed as it expires.
	Credentials Credentials
	// APIKey is a Bedrock API key, sent as "Authorization: Bearer" instead
	// of a SigV4 signature. It excludes Credentials.
	APIKey string
	// HTTPClient sends the requests. If nil, a client with
	// http.DefaultTransport is used.
	HTTPClient *http.Client
	// Timeout bounds a Converse call, and a ConverseStream call until its
	// response headers arrive (a stream then lasts as long as the
	// caller's context). Zero means no bound beyond the context.
	Timeout time.Duration
	// Now is the clock used to sign requests. If nil, time.Now.
	Now func() time.Time
	// Messages, when set, streams an Anthropic client's requests to Claude
	// through InvokeModelWithResponseStream; nil: ConverseStream only.
	Messages *Messages
}

// Adapter is a Bedrock channel: it calls Converse and ConverseStream with
// plain net/http, signing each request itself, so that the gateway keeps
// control of the bytes, timeouts and cancellation. It is safe for
// concurrent use.
type Adapter struct {
	name    string
	region  string
	base    string
	creds   Credentials
	apiKey  string
	chain   *credentialChain // set when neither keys nor an API key are configured
	hc      *http.Client
	timeout time.Duration
	now     func() time.Time
	msgs    *Messages
}

// New returns an Adapter for o. It does no I/O: the default credential
// chain, when used, is loaded by the first call.
func New(o Options) (*Adapter, error) {
	if o.Name == "" {
		return nil, errors.New("bedrock: name is required")
	}
	keys := o.Credentials.AccessKeyID != "" || o.Credentials.SecretAccessKey != "" || o.Credentials.SessionToken != ""
	switch {
	case keys && (o.Credentials.AccessKeyID == "" || o.Credentials.SecretAccessKey == ""):
		return nil, fmt.Errorf("bedrock %q: credentials need both an access key id and a secret access key", o.Name)
	case keys && o.APIKey != "":
		return nil, fmt.Errorf("bedrock %q: set either credentials or an API key, not both", o.Name)
	case o.Region == "" && (o.APIKey == "" || o.BaseURL == ""):
		return nil, fmt.Errorf("bedrock %q: region is required", o.Name)
	case o.Timeout < 0:
		return nil, fmt.Errorf("bedrock %q: negative timeout %v", o.Name, o.Timeout)
	}
	base := o.BaseURL
	if base == "" {
		base = "https://bedrock-runtime." + o.Region + ".amazonaws.com"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bedrock %q: base URL %q must be an http(s) URL without query", o.Name, base)
	}
	a := &Adapter{
		name:    o.Name,
		region:  o.Region,
		base:    strings.TrimSuffix(base, "/"),
		creds:   o.Credentials,
		apiKey:  o.APIKey,
		hc:      o.HTTPClient,
		timeout: o.Timeout,
		now:     o.Now,
		msgs:    o.Messages,
	}
	if a.hc == nil {
		a.hc = &http.Client{}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if !keys && o.APIKey == "" {
		a.chain = &credentialChain{region: o.Region}
	}
	return a, nil
}

// Name returns the channel's configured name.
func (a *Adapter) Name() string { return a.name }

// Chat calls Converse.
func (a *Adapter) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	resp, err := a.do(ctx, req.Model, "converse", body, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, a.statusError(resp)
	}
	data, err := provider.ReadCapped(resp.Body, maxResponseBody)
	if err != nil {
		return nil, a.readError(ctx, err)
	}
	var cr ConverseResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "malformed upstream response", Err: fmt.Errorf("decoding converse response: %w", err)}
	}
	out, err := ResponseToLLM(&cr)
	if err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "upstream response the gateway cannot relay", Err: err}
	}
	out.ID = resp.Header.Get("X-Amzn-Requestid")
	out.Model = req.Model
	return out, nil
}

// ChatStream calls ConverseStream, or InvokeModelWithResponseStream for an
// Anthropic client's request to Claude when Options.Messages is set (see
// invokeStreamBody). Closing the stream, or cancelling ctx, closes the
// upstream connection.
func (a *Adapter) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	op := "converse-stream"
	body, invoke := a.msgs.invokeStreamBody(req)
	if invoke {
		op = "invoke-with-response-stream"
	} else {
		var err error
		if body, err = requestBody(req); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var timer *time.Timer
	if a.timeout > 0 {
		timer = time.AfterFunc(a.timeout, cancel)
	}
	resp, err := a.do(ctx, req.Model, op, body, eventStreamContentType)
	if timer != nil && !timer.Stop() && err == nil {
		// The deadline passed just as the headers arrived: the stream's
		// context is already cancelled.
		resp.Body.Close()
		err = provider.TransportError(a.name, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return nil, a.statusError(resp)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != eventStreamContentType {
		defer cancel()
		defer resp.Body.Close()
		snippet, _ := provider.ReadCapped(resp.Body, provider.MaxErrorBody)
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "malformed upstream stream", Err: fmt.Errorf("content type %q, want %s: %.200s", ct, eventStreamContentType, snippet)}
	}
	st := &stream{name: a.name, ctxErr: ctx.Err, cancel: cancel, body: resp.Body}
	if invoke {
		st.dec = newInvokeDecoder(resp.Body, a.msgs.Decoder(a.name))
	} else {
		st.dec = NewStreamDecoder(resp.Body, resp.Header.Get("X-Amzn-Requestid"), req.Model)
	}
	return st, nil
}

// requestBody returns the Converse body for req: the client's own bytes
// when it spoke Converse (the model id is in the URL, not the body), a
// translation otherwise.
func requestBody(req *llm.Request) ([]byte, error) {
	if req.Raw != nil && req.Raw.Dialect == Dialect {
		return req.Raw.Body, nil
	}
	cr, err := RequestFromLLM(req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("encoding converse request: %w", err)
	}
	return b, nil
}

// do sends one signed (or API-key) request.
func (a *Adapter) do(ctx context.Context, model, op string, body []byte, accept string) (*http.Response, error) {
	if model == "" {
		return nil, fmt.Errorf("%w: bedrock: request has no model id", llm.ErrInvalid)
	}
	u := a.base + "/model/" + escapeLabel(model) + "/" + op
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building bedrock request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", accept)
	if a.apiKey != "" {
		hr.Header.Set("Authorization", "Bearer "+a.apiKey)
	} else {
		creds := a.creds
		if a.chain != nil {
			if creds, err = a.chain.retrieve(ctx); err != nil {
				return nil, &provider.Error{Provider: a.name, Kind: provider.KindAuth,
					Message: "upstream credentials unavailable", Err: err}
			}
		}
		if err := SignRequest(ctx, hr, body, creds, a.region, a.now()); err != nil {
			return nil, &provider.Error{Provider: a.name, Kind: provider.KindAuth, Message: "signing the upstream request failed", Err: err}
		}
	}
	// The bytes sent are the bytes signed; they are let go of once the
	// answer has started.
	release := provider.SetBody(hr, body)
	resp, err := provider.Do(a.hc, hr)
	release()
	if err != nil {
		return nil, provider.TransportError(a.name, err)
	}
	return resp, nil
}

func (a *Adapter) statusError(resp *http.Response) *provider.Error {
	body, _ := provider.ReadCapped(resp.Body, provider.MaxErrorBody) // a cut error body still leaves the header and the status
	return httpError(a.name, resp, body, a.now())
}

// readError classifies a failure to read a Converse answer's body.
func (a *Adapter) readError(ctx context.Context, err error) *provider.Error {
	switch {
	case ctx.Err() != nil:
		return provider.TransportError(a.name, fmt.Errorf("%w (%v)", ctx.Err(), err))
	case errors.Is(err, provider.ErrTooLarge):
		return &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Message: "upstream response too large", Err: err}
	}
	return provider.TransportError(a.name, fmt.Errorf("reading converse response: %w", err))
}

var _ llm.ReadyStream = (*stream)(nil)

// stream is a ConverseStream answer being read.
type stream struct {
	name   string
	ctxErr func() error // the request context's Err
	cancel context.CancelFunc
	body   io.ReadCloser
	dec    interface{ Next() (llm.Event, error) }
	err    error // sticky: io.EOF or the first failure
	closed bool
}

func (s *stream) Next() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	ev, err := s.dec.Next()
	switch {
	case err == nil:
		return ev, nil
	case errors.Is(err, io.EOF):
		s.err = io.EOF
	case s.ctxErr() != nil:
		// A cancelled context surfaces as whatever the body read saw;
		// report the cancellation itself.
		s.err = provider.TransportError(s.name, fmt.Errorf("%w (%v)", s.ctxErr(), err))
	default:
		s.err = streamError(s.name, err)
	}
	return llm.Event{}, s.err
}

// Ready reports whether the next event is at hand (llm.ReadyStream).
func (s *stream) Ready() bool {
	r, ok := s.dec.(interface{ Ready() bool })
	return ok && s.err == nil && r.Ready()
}

func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	return s.body.Close()
}

// credentialChain loads the default AWS credential chain once, on first
// use, and keeps its caching provider.
type credentialChain struct {
	region string

	mu       sync.Mutex
	provider aws.CredentialsProvider
}

func (c *credentialChain) retrieve(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	p := c.provider
	if p == nil {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(c.region))
		if err != nil {
			c.mu.Unlock()
			return Credentials{}, fmt.Errorf("loading AWS configuration: %w", err)
		}
		if cfg.Credentials == nil {
			c.mu.Unlock()
			return Credentials{}, errors.New("loading AWS configuration: no credentials provider")
		}
		p, c.provider = cfg.Credentials, cfg.Credentials
	}
	c.mu.Unlock()
	ac, err := p.Retrieve(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("retrieving AWS credentials: %w", err)
	}
	return Credentials{AccessKeyID: ac.AccessKeyID, SecretAccessKey: ac.SecretAccessKey, SessionToken: ac.SessionToken}, nil
}

var _ provider.TokenCounter = (*Adapter)(nil)

// countFields are the members of a Converse body that CountTokens takes
// (its ConverseTokensRequest).
var countFields = [...]string{"messages", "system", "toolConfig", "additionalModelRequestFields"}

// maxCountAnswer bounds CountTokens' answer, a one-field object.
const maxCountAnswer = 64 << 10

// CountTokens calls CountTokens (POST /model/{modelId}/count-tokens) with
// req as a Converse input: Bedrock counts as the model would bill, and
// generates nothing. Models without token counting answer a
// ValidationException (a KindBadRequest error).
func (a *Adapter) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	conv, err := requestBody(req)
	if err != nil {
		return 0, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(conv, &all); err != nil {
		return 0, fmt.Errorf("%w: bedrock: converse body: %v", llm.ErrInvalid, err)
	}
	kept := make(map[string]json.RawMessage, len(countFields))
	for _, k := range countFields {
		if v, ok := all[k]; ok {
			kept[k] = v
		}
	}
	body, err := json.Marshal(map[string]any{"input": map[string]any{"converse": kept}})
	if err != nil {
		return 0, fmt.Errorf("encoding count-tokens request: %w", err)
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	resp, err := a.do(ctx, req.Model, "count-tokens", body, "application/json")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, a.statusError(resp)
	}
	data, err := provider.ReadCapped(resp.Body, maxCountAnswer)
	if err != nil {
		return 0, a.readError(ctx, err)
	}
	var out struct {
		InputTokens *int `json:"inputTokens"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.InputTokens == nil || *out.InputTokens < 0 {
		return 0, &provider.Error{Provider: a.name, Kind: provider.KindBadResponse, Status: resp.StatusCode,
			Message: "malformed upstream response", Err: fmt.Errorf("count-tokens answer without a token count: %.200s", data)}
	}
	return *out.InputTokens, nil
}
