// Package gateway is the transport-free request pipeline: it takes a
// decoded canonical request from a front door, plans the route, makes the
// attempts with fallback across channels, and meters the outcome into the
// usage ledger. Nothing here knows HTTP, so every routing, fallback and
// metering behaviour is tested without a socket.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
	"switchyard/internal/store"
)

// Ledger receives one usage record per request. It must not block for
// long (the usage writer batches off the hot path).
type Ledger interface {
	Record(rec store.UsageRecord)
}

// CostFunc prices a request's usage on an offering.
type CostFunc func(u llm.Usage, p route.Price) float64

// Options configure a Gateway.
type Options struct {
	Router    *route.Router
	Providers *provider.Registry
	Ledger    Ledger
	Cost      CostFunc
	Logger    *slog.Logger
	Now       func() time.Time
}

// Gateway runs requests through routing, attempts and metering. It is safe
// for concurrent use.
type Gateway struct {
	router    *route.Router
	providers *provider.Registry
	ledger    Ledger
	cost      CostFunc
	log       *slog.Logger
	now       func() time.Time
}

// New returns a gateway.
func New(o Options) *Gateway {
	g := &Gateway{router: o.Router, providers: o.Providers, ledger: o.Ledger, cost: o.Cost, log: o.Logger, now: o.Now}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.cost == nil {
		g.cost = func(llm.Usage, route.Price) float64 { return 0 }
	}
	return g
}

// Router returns the gateway's router.
func (g *Gateway) Router() *route.Router { return g.router }

// Call describes one client request.
type Call struct {
	RequestID string
	TenantID  string
	Tenant    string
	KeyID     string
	// AllowedModels are globs over model names the key may use; empty
	// allows every model.
	AllowedModels []string
	// Model is the client-facing model name.
	Model string
	// Dialect is the client's API family: openai, anthropic or bedrock.
	Dialect string
	// Endpoint names the operation: chat, embeddings, messages, converse,
	// responses.
	Endpoint string
	// Traffic is route.Stateless or route.Stateful.
	Traffic string
}

// Result reports how a request was served.
type Result struct {
	Provider      string
	UpstreamModel string
	// Model is the canonical client-facing model name.
	Model     string
	Decision  *route.Decision
	Attempted []string
	Usage     llm.Usage
	CostUSD   float64
	// TTFB is the time to the first upstream byte (streams: first event).
	TTFB time.Duration
}

// RouteHeader renders the decision for x-switchyard-route.
func (r *Result) RouteHeader() string {
	if r == nil || r.Decision == nil {
		return ""
	}
	return r.Decision.Header(r.Attempted)
}

// Error wraps a failure the gateway itself decided (unknown model, no
// channel), as opposed to an upstream's *provider.Error.
type Error struct {
	Kind    ErrorKind
	Message string
	Err     error
}

// ErrorKind classifies gateway-level failures.
type ErrorKind uint8

const (
	ErrModelNotFound ErrorKind = iota + 1
	ErrModelNotAllowed
	ErrNoChannel
	ErrBadRequest
)

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func (g *Gateway) plan(call *Call) (*route.Decision, error) {
	d, err := g.router.Plan(route.Input{Model: call.Model, Tenant: call.Tenant, Traffic: call.Traffic})
	if err == nil && !modelAllowed(call.AllowedModels, call.Model, d.Model) {
		return nil, &Error{Kind: ErrModelNotAllowed, Message: fmt.Sprintf("This API key may not use the model '%s'.", call.Model)}
	}
	switch {
	case errors.Is(err, route.ErrUnknownModel):
		return nil, &Error{Kind: ErrModelNotFound, Message: fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", call.Model)}
	case err != nil:
		return d, &Error{Kind: ErrNoChannel, Message: err.Error(), Err: err}
	}
	return d, nil
}

// modelAllowed reports whether a key restricted to globs may use a model
// asked for by name (which may be an alias of canonical).
func modelAllowed(globs []string, name, canonical string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if ok, _ := path.Match(g, canonical); ok {
			return true
		}
	}
	return false
}

// attemptable reports whether another offering should be tried after err.
func (g *Gateway) attemptable(ctx context.Context, err error, off route.Offering) bool {
	if ctx.Err() != nil {
		return false
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return false
	}
	if pe.RetryAfter > 0 {
		g.router.CoolDown(off.Provider, pe.RetryAfter)
	}
	return pe.Kind.Retryable()
}

// Chat serves a non-streaming chat request. req.Model is overwritten per
// attempt with the offering's upstream model.
func (g *Gateway) Chat(ctx context.Context, call *Call, req *llm.Request) (*llm.Response, *Result, error) {
	start := g.now()
	d, err := g.plan(call)
	if err != nil {
		return nil, &Result{Decision: d, Model: call.Model}, err
	}
	res := &Result{Decision: d, Model: d.Model}
	var lastErr error
	for i, off := range d.Order {
		if i >= d.MaxAttempts {
			break
		}
		p, ok := g.providers.Get(off.Provider)
		if !ok {
			lastErr = fmt.Errorf("provider %q not registered", off.Provider)
			continue
		}
		res.Attempted = append(res.Attempted, off.Provider)
		res.Provider, res.UpstreamModel = off.Provider, off.UpstreamModel
		attempt := *req
		attempt.Model = off.UpstreamModel
		attempt.Stream = false
		resp, err := p.Chat(ctx, &attempt)
		if err == nil {
			res.TTFB = g.now().Sub(start)
			res.Usage = resp.Usage
			res.CostUSD = g.cost(resp.Usage, off.Price)
			g.meter(call, res, start, 200, "", false)
			return resp, res, nil
		}
		lastErr = err
		g.log.Debug("attempt failed", "request_id", call.RequestID, "provider", off.Provider, "err", err)
		if !g.attemptable(ctx, err, off) {
			break
		}
	}
	g.meter(call, res, start, statusOf(ctx, lastErr), kindOf(lastErr), false)
	return nil, res, lastErr
}

// Embed serves an embeddings request over channels that support it.
func (g *Gateway) Embed(ctx context.Context, call *Call, req *llm.EmbedRequest) (*llm.EmbedResponse, *Result, error) {
	start := g.now()
	d, err := g.plan(call)
	if err != nil {
		return nil, &Result{Decision: d, Model: call.Model}, err
	}
	res := &Result{Decision: d, Model: d.Model}
	lastErr := error(&Error{Kind: ErrBadRequest, Message: fmt.Sprintf("model '%s' is not offered on any channel that serves embeddings", call.Model)})
	for i, off := range d.Order {
		if i >= d.MaxAttempts {
			break
		}
		p, _ := g.providers.Get(off.Provider)
		e, ok := p.(provider.Embedder)
		if !ok {
			continue
		}
		res.Attempted = append(res.Attempted, off.Provider)
		res.Provider, res.UpstreamModel = off.Provider, off.UpstreamModel
		attempt := *req
		attempt.Model = off.UpstreamModel
		resp, err := e.Embed(ctx, &attempt)
		if err == nil {
			res.TTFB = g.now().Sub(start)
			res.Usage = resp.Usage
			res.CostUSD = g.cost(resp.Usage, off.Price)
			g.meter(call, res, start, 200, "", false)
			return resp, res, nil
		}
		lastErr = err
		if !g.attemptable(ctx, err, off) {
			break
		}
	}
	g.meter(call, res, start, statusOf(ctx, lastErr), kindOf(lastErr), false)
	return nil, res, lastErr
}

func (g *Gateway) meter(call *Call, res *Result, start time.Time, status int, errKind string, stream bool) {
	if g.ledger == nil {
		return
	}
	var contracts []string
	if res.Decision != nil {
		contracts = res.Decision.Contracts
	}
	u := res.Usage
	g.ledger.Record(store.UsageRecord{
		RequestID: call.RequestID, TenantID: call.TenantID, KeyID: call.KeyID,
		Model: res.Model, Provider: res.Provider, UpstreamModel: res.UpstreamModel,
		Dialect: call.Dialect, Endpoint: call.Endpoint, Traffic: call.Traffic, Stream: stream,
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CachedInputTokens: u.CachedInputTokens,
		CacheWriteTokens: u.CacheWriteTokens, ReasoningTokens: u.ReasoningTokens, CostUSD: res.CostUSD,
		Latency: g.now().Sub(start), TTFB: res.TTFB, Status: status, ErrorKind: errKind,
		Attempts: len(res.Attempted), Route: res.RouteHeader(), Contracts: contracts, CreatedAt: start,
	})
}

// StatusOf maps an error to the HTTP status recorded in the ledger and
// returned to clients (the edge renders the body in its dialect).
func StatusOf(err error) int { return statusOf(context.Background(), err) }

func statusOf(ctx context.Context, err error) int {
	if err == nil {
		return 200
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) || errors.Is(err, context.Canceled) {
		return 499
	}
	var ge *Error
	if errors.As(err, &ge) {
		switch ge.Kind {
		case ErrModelNotFound:
			return 404
		case ErrModelNotAllowed:
			return 403
		case ErrNoChannel:
			return 503
		case ErrBadRequest:
			return 400
		}
	}
	if errors.Is(err, llm.ErrUnsupported) || errors.Is(err, llm.ErrInvalid) {
		return 400
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		switch pe.Kind {
		case provider.KindRateLimited:
			return 429
		case provider.KindOverloaded:
			return 503
		case provider.KindTimeout:
			return 504
		case provider.KindAuth, provider.KindPermission:
			// The upstream refused our credentials: a gateway fault, not
			// the client's.
			return 502
		case provider.KindBadRequest, provider.KindContextLength, provider.KindContentFiltered:
			return 400
		case provider.KindNotFound:
			return 404
		case provider.KindUnavailable, provider.KindBadResponse:
			return 502
		}
		return 502
	}
	return 500
}

func kindOf(err error) string {
	if err == nil {
		return ""
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Kind.String()
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Message
	}
	if errors.Is(err, context.Canceled) {
		return "client closed request"
	}
	return "internal"
}
