// Package gateway is the transport-free request pipeline: it takes a
// decoded canonical request from a front door, admits it against rate
// limits and budgets, plans the route, makes the attempts with fallback
// across channels, and meters the outcome into the usage ledger, the
// router's health and the spend counters. Nothing here knows HTTP, so
// every routing, fallback, limit and metering behaviour is tested without
// a socket.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sync/atomic"
	"time"

	"switchyard/internal/capture"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/ratelimit"
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

// Runtime is the part of the gateway that a configuration reload swaps:
// the router (catalog, contracts, health) and the channels.
type Runtime struct {
	Router    *route.Router
	Providers *provider.Registry
}

// Options configure a Gateway.
type Options struct {
	Runtime Runtime
	Ledger  Ledger
	Cost    CostFunc
	// Limiter and Spend enforce rate limits and budgets; nil disables them.
	Limiter ratelimit.Limiter
	Spend   ratelimit.Spend
	// SpendSince reads a scope's spend from the ledger, to seed the spend
	// counters the first time a budget is checked in this process.
	SpendSince func(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error)
	// OnAttempt is told the outcome of every upstream attempt ("ok",
	// "retryable", "error", "cancelled"), for metrics.
	OnAttempt func(provider, outcome string)
	// OnAttemptEnd is told how every attempt that reached a channel
	// ended: its time on the channel and, when the gateway fell back to
	// the next channel after it, why. For metrics.
	OnAttemptEnd func(provider string, out AttemptOutcome)
	// Tracer follows requests for distributed tracing; nil: none.
	Tracer Tracer
	Logger *slog.Logger
	Now    func() time.Time
	// MaxStreamBytes caps a streamed answer's content (text, reasoning,
	// tool calls) in bytes; a stream that would pass it fails with
	// ErrStreamTooLarge. Zero means DefaultMaxStreamBytes.
	MaxStreamBytes int64
}

// DefaultMaxStreamBytes is the stream size cap unless Options says
// otherwise: 16 MiB, many times the longest answers models give (128k
// output tokens are about half a MiB of text).
const DefaultMaxStreamBytes = 16 << 20

// Gateway runs requests through admission, routing, attempts and
// metering. It is safe for concurrent use.
type Gateway struct {
	rt         atomic.Pointer[Runtime]
	ledger     Ledger
	cost       CostFunc
	limiter    ratelimit.Limiter
	spend      ratelimit.Spend
	spendSince func(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error)
	seeded     seededSet
	onAttempt  func(provider, outcome string)
	onEnd      func(provider string, out AttemptOutcome)
	tracer     Tracer
	log        *slog.Logger
	now        func() time.Time
	maxStream  int64
	// streams counts the streams open to clients: from the first event of
	// their channel to their Close.
	streams atomic.Int64
}

// OpenStreams is the number of streams open now, whatever admission
// control is doing (it may be off).
func (g *Gateway) OpenStreams() int64 { return g.streams.Load() }

// New returns a gateway.
func New(o Options) *Gateway {
	g := &Gateway{ledger: o.Ledger, cost: o.Cost, limiter: o.Limiter, spend: o.Spend, spendSince: o.SpendSince,
		onAttempt: o.OnAttempt, onEnd: o.OnAttemptEnd, tracer: o.Tracer, log: o.Logger, now: o.Now, maxStream: o.MaxStreamBytes}
	if g.maxStream <= 0 {
		g.maxStream = DefaultMaxStreamBytes
	}
	rt := o.Runtime
	g.rt.Store(&rt)
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.cost == nil {
		g.cost = func(llm.Usage, route.Price) float64 { return 0 }
	}
	if g.onAttempt == nil {
		g.onAttempt = func(string, string) {}
	}
	return g
}

// Router returns the current router.
func (g *Gateway) Router() *route.Router { return g.rt.Load().Router }

// Swap installs a new runtime (after a configuration reload). Requests
// already running finish on the runtime they started with. The new router
// adopts the old one's channel health and spend tallies.
func (g *Gateway) Swap(rt Runtime) {
	old := g.rt.Load()
	if old != nil && old.Router != nil && rt.Router != nil {
		rt.Router.Adopt(old.Router)
	}
	g.rt.Store(&rt)
}

// Quota is one scope's limits and budget.
type Quota struct {
	RPM, TPM, MaxStreams int
	BudgetUSD            float64
	BudgetPeriod         string
}

// Call describes one client request.
type Call struct {
	RequestID string
	TenantID  string
	Tenant    string
	KeyID     string
	// KeyQuota and TenantQuota limit the request; zero values limit
	// nothing.
	KeyQuota, TenantQuota Quota
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
	// TraceID is the request's W3C trace id when it is traced, for its
	// ledger record.
	TraceID string
	// Capture, when set, has the request's payload kept in its ledger
	// record.
	Capture *Capture
	// Slot, when set, is the request's admission slot: it is parked while
	// an attempt waits on its channel (the upstream call until its answer
	// is in hand, or a stream's first event) and resumed afterwards.
	Slot Slot
}

// Capture is a request chosen for payload capture: the policy that chose
// it redacts and cuts what is kept.
type Capture struct {
	Policy *capture.Policy
	// Body is the request body as the client sent it.
	Body []byte
}

// Slot is a request's hold on the front door's admission control. The
// gateway parks it while an attempt waits on a channel, which costs the
// gateway nothing, and resumes it before working on the answer; Resume
// never fails, so an answer whose upstream call was made is never
// refused. Both are called on the request's goroutine.
type Slot interface {
	Park()
	Resume()
}

// park gives back the request's admission slot while an attempt waits on
// its channel; resume takes it back.
func (r *request) park() {
	if r.call.Slot != nil {
		r.call.Slot.Park()
	}
}

func (r *request) resume() {
	if r.call.Slot != nil {
		r.call.Slot.Resume()
	}
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
	// Stream is set when the answer is streamed: TTFB is then its time to
	// first token.
	Stream bool
	// Upstream is the time spent in attempts on channels (for a stream,
	// until its first event): what the request waited on others rather
	// than on the gateway, for admission control.
	Upstream time.Duration
	// Limits is the rate-limit decision, for x-ratelimit-* headers; nil
	// when no limit applies.
	Limits *ratelimit.Decision

	// route is the last RouteHeader, for the attempts it was rendered
	// with: the ledger row and the answer's header both want it.
	route         string
	routeAttempts int
	routeLast     string
}

// RouteHeader renders the decision for x-switchyard-route.
func (r *Result) RouteHeader() string {
	if r == nil || r.Decision == nil {
		return ""
	}
	// Attempts only change by one appended or one dropped channel at a
	// time, so their count and last name tell whether they changed.
	var last string
	if n := len(r.Attempted); n > 0 {
		last = r.Attempted[n-1]
	}
	if r.route == "" || r.routeAttempts != len(r.Attempted) || r.routeLast != last {
		r.route, r.routeAttempts, r.routeLast = r.Decision.Header(r.Attempted), len(r.Attempted), last
	}
	return r.route
}

// Error wraps a failure the gateway itself decided (unknown model, no
// channel, a limit), as opposed to an upstream's *provider.Error.
type Error struct {
	Kind    ErrorKind
	Message string
	// RetryAfter is when a retry could succeed (limits, budgets).
	RetryAfter time.Duration
	// Limit is, for ErrRateLimited, the dimension that refused the
	// request: "requests", "tokens" or "streams" (ratelimit.Limit*).
	Limit string
	Err   error
}

// ErrorKind classifies gateway-level failures.
type ErrorKind uint8

const (
	ErrModelNotFound ErrorKind = iota + 1
	ErrModelNotAllowed
	ErrNoChannel
	ErrBadRequest
	// ErrRateLimited: a request, token or stream limit refused it.
	ErrRateLimited
	// ErrBudgetExceeded: a USD budget is spent for its period. Rendered
	// as 429 in every dialect, with a message that says so and a
	// Retry-After at the period's end.
	ErrBudgetExceeded
	// ErrLimitsUnavailable: the limit backend is down and the
	// configuration says to fail closed.
	ErrLimitsUnavailable
	// ErrStreamTooLarge: a streamed answer passed the stream size cap and
	// was cut there (502).
	ErrStreamTooLarge
)

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// request is the per-request state shared by Chat, ChatStream and Embed.
type request struct {
	g    *Gateway
	rt   *Runtime
	call *Call
	// ctx is the request's context, for the tracer.
	ctx   context.Context
	start time.Time
	res   *Result
	adm   *admission
	// est is the request's token estimate.
	est route.Input
	// probes are the decision's probes not yet handed back; probe is the
	// one the attempt in progress was made with (zero when none).
	probes []route.Probe
	probe  route.Probe
	// span is the tracer's span of the attempt in progress (nil when not
	// tracing); answer is what the answer said of itself.
	span   AttemptSpan
	answer answer
	// result backs res: one allocation for both.
	result Result
	// attempts is the attempt log, in attemptsBuf unless a request makes
	// more than two.
	attempts    []store.Attempt
	attemptsBuf [2]store.Attempt
	// captured is the response collected for payload capture, and
	// capturedDropped how many bytes of it were past what was collected.
	captured        []byte
	capturedDropped int64
}

func (g *Gateway) begin(ctx context.Context, call *Call, req *llm.Request, est route.Input, stream bool) (*request, error) {
	r := &request{g: g, rt: g.rt.Load(), call: call, ctx: ctx, start: g.now(), est: est}
	r.result.Model, r.result.Stream = call.Model, stream
	r.res = &r.result
	if g.tracer != nil {
		g.tracer.Begin(ctx, call, req)
	}
	est.Model, est.Tenant, est.Traffic = call.Model, call.Tenant, call.Traffic
	d, err := r.rt.Router.Plan(est)
	if d != nil {
		r.probes = slices.Clone(d.Probes)
	}
	switch {
	case errors.Is(err, route.ErrUnknownModel):
		ge := &Error{Kind: ErrModelNotFound, Message: fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", call.Model)}
		r.finish(ge, statusOf(ctx, ge), stream)
		return r, ge
	case err == nil && !modelAllowed(call.AllowedModels, call.Model, d.Model):
		r.release()
		ge := &Error{Kind: ErrModelNotAllowed, Message: fmt.Sprintf("This API key may not use the model '%s'.", call.Model)}
		r.finish(ge, statusOf(ctx, ge), stream)
		return r, ge
	}
	r.res.Decision = d
	if d != nil {
		r.res.Model = d.Model
	}
	if err != nil {
		ge := &Error{Kind: ErrNoChannel, Message: err.Error(), Err: err}
		var nce *route.NoChannelError
		if errors.As(err, &nce) {
			// Every allowed breaker is open: retry when one lets a probe through.
			ge.RetryAfter = nce.RetryAfter
		}
		r.finish(ge, statusOf(ctx, ge), stream)
		return r, ge
	}
	adm, err := g.admit(ctx, call, est.EstInputTokens+est.EstOutputTokens, stream)
	if adm != nil {
		r.res.Limits = adm.decision
	}
	if err != nil {
		r.release()
		r.finish(err, statusOf(ctx, err), stream)
		return r, err
	}
	r.adm = adm
	return r, nil
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

// observe reports one attempt to the router and metrics, and says whether
// another offering should be tried after err.
func (r *request) observe(ctx context.Context, off route.Offering, err error, attemptStart time.Time) bool {
	g := r.g
	if err == nil {
		g.onAttempt(off.Provider, "ok")
		return false
	}
	if ctx.Err() != nil {
		g.onAttempt(off.Provider, "cancelled")
		// Not a health outcome; only hands back a probe.
		r.rt.Router.Observe(off.Provider, route.Outcome{Probe: r.probe})
		return false
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		g.onAttempt(off.Provider, "error")
		r.rt.Router.Observe(off.Provider, route.Outcome{Probe: r.probe})
		return false
	}
	retry := pe.Kind.Retryable()
	if retry {
		g.onAttempt(off.Provider, "retryable")
	} else {
		g.onAttempt(off.Provider, "error")
	}
	r.rt.Router.Observe(off.Provider, route.Outcome{Retryable: retry, RateLimited: pe.Kind == provider.KindRateLimited,
		RetryAfter: pe.RetryAfter, Latency: g.now().Sub(attemptStart), Probe: r.probe})
	return retry
}

// succeeded records a successful attempt, and its cost, with the router.
func (r *request) succeeded(off route.Offering, attemptStart time.Time, ttfb time.Duration) {
	r.g.onAttempt(off.Provider, "ok")
	r.rt.Router.Observe(off.Provider, route.Outcome{Success: true, TTFB: ttfb, Latency: r.g.now().Sub(attemptStart), CostUSD: r.res.CostUSD, Probe: r.probe})
}

// takeProbe makes the probe of channel, if the decision granted one, the
// probe of the attempt about to start.
func (r *request) takeProbe(channel string) {
	r.probe = route.Probe{}
	for i, p := range r.probes {
		if p.Channel == channel {
			r.probe = p
			r.probes = slices.Delete(r.probes, i, i+1)
			return
		}
	}
}

// release hands back the probes of channels the request did not try (an
// earlier channel served it, or it ended before), so that each breaker
// lets its next request through as a probe at once rather than after its
// probe timeout.
func (r *request) release() {
	for _, p := range r.probes {
		r.rt.Router.Observe(p.Channel, route.Outcome{Probe: p})
	}
	r.probes = nil
}

// attemptContext bounds one attempt by the model's per-attempt timeout.
func attemptContext(ctx context.Context, m *route.Model) (context.Context, context.CancelFunc) {
	if m == nil || m.PerAttemptTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, m.PerAttemptTimeout)
}

func (r *request) model() *route.Model {
	m, _ := r.rt.Router.Catalog().Lookup(r.res.Model)
	return m
}

// errNotServed is returned by an attempt function when the channel cannot
// serve the request at all (an embedding on a chat-only channel): not an
// attempt, the next offering is tried.
var errNotServed = errors.New("channel does not serve this request")

// each makes one attempt per planned offering, in order and within the
// attempt budget, until one succeeds or a failure is not worth another
// channel. On failure it records the request and returns the last error.
//
// A channel whose adapter refuses to translate the request (an error
// wrapping llm.ErrUnsupported that is not a *provider.Error: a feature its
// API cannot express, such as an http image URL on Bedrock) sent nothing
// upstream, so it is not an attempt: the next offering is tried, as the
// model's other channels may express the feature, and the channel's
// health is left alone. When every offering tried refused, the error
// names each channel and what it refused, and still wraps
// llm.ErrUnsupported (a 400). When another offering failed upstream, that
// failure is what the client is told, since the request was servable.
func (r *request) each(ctx context.Context, lastErr error, stream bool, try func(ctx context.Context, off route.Offering, p provider.Provider, at time.Time) error) error {
	d := r.res.Decision
	var refused refusals
	failed := false // an attempt failed upstream
	for i, off := range d.Order {
		if i >= d.MaxAttempts {
			break
		}
		p, ok := r.rt.Providers.Get(off.Provider)
		if !ok {
			lastErr = fmt.Errorf("provider %q not registered", off.Provider)
			continue
		}
		r.res.Provider, r.res.UpstreamModel = off.Provider, off.UpstreamModel
		r.res.Attempted = append(r.res.Attempted, off.Provider)
		r.takeProbe(off.Provider)
		at := r.g.now()
		actx := ctx
		if r.g.tracer != nil {
			actx, r.span = r.g.tracer.Attempt(ctx, r.call, off)
		}
		err := try(actx, off, p, at)
		end := r.g.now()
		r.res.Upstream += end.Sub(at)
		if errors.Is(err, errNotServed) {
			r.endSpan(AttemptOutcome{Status: statusOf(ctx, err), ErrorKind: kindOf(err), Duration: end.Sub(at)})
			r.res.Attempted = r.res.Attempted[:len(r.res.Attempted)-1]
			r.rt.Router.Observe(off.Provider, route.Outcome{Probe: r.probe})
			continue
		}
		if err == nil {
			// served logged the attempt; a stream's attempt ends with the
			// stream.
			if !stream {
				r.reportAttempt(off, AttemptOutcome{Status: 200, Duration: end.Sub(at)})
			}
			r.release()
			return nil
		}
		if isRefusal(err) {
			// Nothing was sent: a span, but no attempt for the metrics.
			r.endSpan(AttemptOutcome{Status: statusOf(ctx, err), ErrorKind: kindOf(err), Fallback: "unsupported", Duration: end.Sub(at)})
			r.res.Attempted = r.res.Attempted[:len(r.res.Attempted)-1]
			r.g.log.Debug("channel refused the request", "request_id", r.call.RequestID, "provider", off.Provider, "err", err)
			// Not a health outcome; only hands back a probe.
			r.rt.Router.Observe(off.Provider, route.Outcome{Probe: r.probe})
			refused = append(refused, &refusal{channel: off.Provider, typ: off.ProviderType, err: err})
			if !failed {
				lastErr = refused
			}
			continue
		}
		lastErr, failed = err, true
		r.g.log.Debug("attempt failed", "request_id", r.call.RequestID, "provider", off.Provider, "err", err)
		out := AttemptOutcome{Status: statusOf(ctx, err), ErrorKind: kindOf(err), Duration: end.Sub(at)}
		retry := r.observe(ctx, off, err, at)
		if retry && i+1 < len(d.Order) && i+1 < d.MaxAttempts {
			out.Fallback = fallbackReason(err)
		}
		r.endAttempt(off, out)
		if !retry {
			break
		}
	}
	r.release()
	r.finish(lastErr, statusOf(ctx, lastErr), stream)
	return lastErr
}

// fallbackReason names why the gateway moved on after err (a retryable
// upstream failure), from a fixed set: rate_limited, overloaded, timeout,
// unavailable, bad_response, or error.
func fallbackReason(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) {
		switch pe.Kind {
		case provider.KindRateLimited:
			return "rate_limited"
		case provider.KindOverloaded:
			return "overloaded"
		case provider.KindTimeout:
			return "timeout"
		case provider.KindUnavailable:
			return "unavailable"
		case provider.KindBadResponse:
			return "bad_response"
		}
	}
	return "error"
}

// endAttempt settles a failed attempt, with one outcome for the
// request's attempt log, the metrics and its span.
func (r *request) endAttempt(off route.Offering, out AttemptOutcome) {
	r.attempted(off, out)
	r.reportAttempt(off, out)
}

// reportAttempt reports an attempt that reached its channel to the
// metrics and ends its span, unless a stream took the span over.
func (r *request) reportAttempt(off route.Offering, out AttemptOutcome) {
	if r.g.onEnd != nil {
		r.g.onEnd(off.Provider, out)
	}
	r.endSpan(out)
}

// endSpan ends the attempt's span, if any.
func (r *request) endSpan(out AttemptOutcome) {
	if r.span == nil {
		return
	}
	r.span.End(out)
	r.span = nil
}

// attempted appends an attempt to the request's attempt log.
func (r *request) attempted(off route.Offering, out AttemptOutcome) {
	if r.attempts == nil {
		r.attempts = r.attemptsBuf[:0]
	}
	r.attempts = append(r.attempts, store.Attempt{Channel: off.Provider, UpstreamModel: off.UpstreamModel, Status: out.Status,
		ErrorKind: out.ErrorKind, Fallback: out.Fallback, Duration: out.Duration})
}

// served meters a successful non-streaming attempt and records the request.
func (r *request) served(off route.Offering, at time.Time, u llm.Usage) {
	g := r.g
	r.res.TTFB = g.now().Sub(r.start)
	r.res.Usage = u
	r.res.CostUSD = g.cost(u, off.Price)
	d := g.now().Sub(at)
	r.succeeded(off, at, d)
	r.attempted(off, AttemptOutcome{Status: 200, Duration: d})
	r.finish(nil, 200, false)
}

// Chat serves a non-streaming chat request. req.Model is overwritten per
// attempt with the offering's upstream model.
func (g *Gateway) Chat(ctx context.Context, call *Call, req *llm.Request) (*llm.Response, *Result, error) {
	r, err := g.begin(ctx, call, req, estimate(req), false)
	if err != nil {
		return nil, r.res, err
	}
	m := r.model()
	var resp *llm.Response
	err = r.each(ctx, nil, false, func(ctx context.Context, off route.Offering, p provider.Provider, at time.Time) error {
		attempt := *req
		attempt.Model = off.UpstreamModel
		attempt.Stream = false
		actx, cancel := attemptContext(ctx, m)
		defer cancel()
		r.park()
		out, err := p.Chat(actx, &attempt)
		r.resume()
		if err != nil {
			return err
		}
		if err := checkToolCalls(off.Provider, out.Message.Parts, out.FinishReason); err != nil {
			return err
		}
		resp = out
		r.answer = answer{id: out.ID, model: out.Model, finish: out.FinishReason}
		if call.Capture != nil {
			if out.Raw != nil {
				r.captured = out.Raw.Body
			} else {
				r.captured = appendAnswer(nil, out.Message.Parts)
			}
		}
		r.served(off, at, out.Usage)
		return nil
	})
	if err != nil {
		return nil, r.res, err
	}
	return resp, r.res, nil
}

// Embed serves an embeddings request over channels that support it.
func (g *Gateway) Embed(ctx context.Context, call *Call, req *llm.EmbedRequest) (*llm.EmbedResponse, *Result, error) {
	var est route.Input
	for _, s := range req.Inputs {
		est.EstInputTokens += int64(len(s)/4 + 1)
	}
	for _, t := range req.Tokens {
		est.EstInputTokens += int64(len(t))
	}
	r, err := g.begin(ctx, call, nil, est, false)
	if err != nil {
		return nil, r.res, err
	}
	m := r.model()
	var resp *llm.EmbedResponse
	noEmbedder := &Error{Kind: ErrBadRequest, Message: fmt.Sprintf("The model '%s' is not offered on any channel that serves embeddings.", call.Model)}
	err = r.each(ctx, noEmbedder, false, func(ctx context.Context, off route.Offering, p provider.Provider, at time.Time) error {
		e, ok := p.(provider.Embedder)
		if !ok {
			return errNotServed
		}
		attempt := *req
		attempt.Model = off.UpstreamModel
		actx, cancel := attemptContext(ctx, m)
		defer cancel()
		r.park()
		out, err := e.Embed(actx, &attempt)
		r.resume()
		if err != nil {
			return err
		}
		resp = out
		r.answer.model = out.Model
		r.served(off, at, out.Usage)
		return nil
	})
	if err != nil {
		return nil, r.res, err
	}
	return resp, r.res, nil
}

// finish settles limits and spend and writes the ledger row, once. err
// is the failure the client is told of; nil on success.
func (r *request) finish(err error, status int, stream bool) {
	g, res, call := r.g, r.res, r.call
	if r.adm != nil {
		r.adm.done(res.Usage, res.CostUSD)
		r.adm = nil
	}
	if g.tracer != nil {
		g.tracer.End(r.ctx, call, res, Outcome{Status: status, ErrorKind: kindOf(err), ResponseID: r.answer.id,
			ResponseModel: r.answer.model, FinishReason: r.answer.finish, Stream: stream})
	}
	if g.ledger == nil {
		return
	}
	rec := store.UsageRecord{
		RequestID: call.RequestID, TenantID: call.TenantID, KeyID: call.KeyID,
		Model: res.Model, Provider: res.Provider, UpstreamModel: res.UpstreamModel,
		Dialect: call.Dialect, Endpoint: call.Endpoint, Traffic: trafficOf(call), Stream: stream,
		CostUSD: res.CostUSD, Latency: g.now().Sub(r.start), TTFB: res.TTFB, Status: status, ErrorKind: kindOf(err),
		Attempts: len(res.Attempted), Route: res.RouteHeader(), CreatedAt: r.start,
		TraceID: call.TraceID, Error: messageOf(err), AttemptLog: r.attempts,
	}
	u := res.Usage
	rec.InputTokens, rec.OutputTokens, rec.CachedInputTokens = u.InputTokens, u.OutputTokens, u.CachedInputTokens
	rec.CacheWriteTokens, rec.ReasoningTokens = u.CacheWriteTokens, u.ReasoningTokens
	if d := res.Decision; d != nil {
		rec.Contracts, rec.Strategy = d.Contracts, d.Strategy
		rec.Candidates = make([]store.RouteCandidate, len(d.Candidates))
		for i, c := range d.Candidates {
			rec.Candidates[i] = store.RouteCandidate{Channel: c.Provider, UpstreamModel: c.UpstreamModel, Skipped: string(c.Reason), Detail: c.Removed}
		}
	}
	if c := call.Capture; c != nil && c.Policy != nil && call.RequestID != "" {
		rec.Payload = c.Policy.Payload(c.Body, r.captured)
		if r.capturedDropped > 0 {
			rec.Payload.ResponseBytes += r.capturedDropped
			rec.Payload.Truncated = true
		}
	}
	g.ledger.Record(rec)
}

// appendAnswer appends the text of an answer's parts to b, as payload
// capture keeps it: text and reasoning as they are, each tool call on a
// line of its own with its name and arguments.
func appendAnswer(b []byte, parts []llm.Part) []byte {
	for _, p := range parts {
		switch {
		case p.Kind == llm.PartToolCall && p.ToolCall != nil:
			b = append(b, "\n[tool call "...)
			b = append(b, p.ToolCall.Name...)
			b = append(b, "] "...)
			b = append(b, p.ToolCall.Arguments...)
		default:
			b = append(b, p.Text...)
		}
	}
	return b
}

// maxErrorMessage bounds the error message a ledger row keeps.
const maxErrorMessage = 1024

// messageOf is the message of a failure as the client is told it (the
// gateway's own, or the channel's safe message), with anything that looks
// like a secret redacted; "" on success.
func messageOf(err error) string {
	if err == nil {
		return ""
	}
	var msg string
	var ge *Error
	var pe *provider.Error
	switch {
	case errors.As(err, &ge):
		msg = ge.Message
	case errors.As(err, &pe):
		msg = pe.Message
	case errors.Is(err, llm.ErrUnsupported), errors.Is(err, llm.ErrInvalid):
		msg = err.Error()
	case errors.Is(err, context.Canceled):
		msg = "client closed request"
	default:
		return ""
	}
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage]
	}
	return messageRedactor.Redact(msg)
}

// messageRedactor scrubs error messages of the built-in patterns.
var messageRedactor = capture.NewRedactor(nil)

func trafficOf(c *Call) string {
	if c.Traffic == "" {
		return route.Stateless
	}
	return c.Traffic
}

// estimate guesses a request's tokens for token limits and lowest_cost
// routing: about four characters a token, plus the output cap.
func estimate(req *llm.Request) route.Input {
	var chars int
	count := func(parts []llm.Part) {
		for _, p := range parts {
			chars += len(p.Text) + 16
			if p.ToolCall != nil {
				chars += len(p.ToolCall.Arguments)
			}
			if p.ToolResult != nil {
				for _, c := range p.ToolResult.Content {
					chars += len(c.Text)
				}
			}
			if p.Image != nil {
				chars += 1000
			}
		}
	}
	count(req.System)
	for _, m := range req.Messages {
		count(m.Parts)
	}
	for _, t := range req.Tools {
		chars += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	out := int64(req.MaxTokens)
	if out <= 0 {
		out = defaultOutputEstimate
	}
	return route.Input{EstInputTokens: int64(chars/4 + 1), EstOutputTokens: out}
}

// defaultOutputEstimate is the output reserved against a token limit when
// the request sets no maximum.
const defaultOutputEstimate = 512

// Refusal names why the gateway refused a request before any channel was
// tried, for the refusal metrics: "limit" (a request, token or stream
// limit), "budget" (a USD budget spent), "contract" (contracts leave no
// channel for the request), or "" when err is no such refusal.
func Refusal(err error) string {
	var ge *Error
	if !errors.As(err, &ge) {
		return ""
	}
	switch ge.Kind {
	case ErrRateLimited:
		return "limit"
	case ErrBudgetExceeded:
		return "budget"
	case ErrNoChannel:
		var nce *route.NoChannelError
		if errors.As(err, &nce) && len(nce.Contracts) > 0 && !nce.Unhealthy {
			return "contract"
		}
	}
	return ""
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
		case ErrNoChannel, ErrLimitsUnavailable:
			return 503
		case ErrBadRequest:
			return 400
		case ErrRateLimited, ErrBudgetExceeded:
			return 429
		case ErrStreamTooLarge:
			return 502
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
		switch ge.Kind {
		case ErrRateLimited:
			return "rate limited"
		case ErrBudgetExceeded:
			return "budget exceeded"
		case ErrNoChannel:
			return "no channel"
		case ErrStreamTooLarge:
			return "stream too large"
		}
		return ge.Message
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "client closed request"
	case errors.Is(err, llm.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, llm.ErrInvalid):
		return "invalid request"
	}
	return "internal"
}
