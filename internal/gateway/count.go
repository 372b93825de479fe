package gateway

import (
	"context"
	"errors"
	"fmt"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// Token count sources, for TokenCount.Source.
const (
	// CountUpstream: a channel of the request's route counted the tokens.
	CountUpstream = "upstream"
	// CountEstimate: no allowed channel could count them, and the
	// figure is the gateway's own estimate.
	CountEstimate = "estimate"
)

// TokenCount is the answer to a token count.
type TokenCount struct {
	InputTokens int
	// Source is CountUpstream or CountEstimate.
	Source string
}

// CountTokens counts req's input tokens as a chat request for the same
// model, key and traffic class would be routed: on the first channel of
// the decision, in its order, whose adapter can count
// (provider.TokenCounter), so that a contract keeps a count off the
// channels it keeps the request off. A channel that fails, or cannot
// express the request, hands the count to the next; when none is left,
// or no channel may serve the model at all, the answer is estimate(req),
// which sends nothing anywhere.
//
// Counting costs nothing: it writes no ledger row, is checked against no
// budget or token limit, and tells the router nothing about the channel's
// health. It does take one request from the key's and tenant's
// requests-per-minute limits, as it may call a channel. The unknown
// model, key restriction and rate-limit errors are those of Chat.
func (g *Gateway) CountTokens(ctx context.Context, call *Call, req *llm.Request, estimate func(*llm.Request) int) (TokenCount, *Result, error) {
	r := &request{g: g, rt: g.rt.Load(), call: call, start: g.now()}
	r.result.Model = call.Model
	r.res = &r.result
	in := route.Input{Model: call.Model, Tenant: call.Tenant, Traffic: call.Traffic}
	d, err := r.rt.Router.Plan(in)
	if d != nil {
		r.probes = d.Probes
		r.res.Decision = d
		r.res.Model = d.Model
	}
	// A count never acts as a breaker's probe.
	defer r.release()
	switch {
	case errors.Is(err, route.ErrUnknownModel):
		return TokenCount{}, r.res, &Error{Kind: ErrModelNotFound, Message: fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", call.Model)}
	case d != nil && !modelAllowed(call.AllowedModels, call.Model, d.Model):
		return TokenCount{}, r.res, &Error{Kind: ErrModelNotAllowed, Message: fmt.Sprintf("This API key may not use the model '%s'.", call.Model)}
	}
	// Only the requests-per-minute limits apply.
	rpm := *call
	rpm.KeyQuota = Quota{RPM: call.KeyQuota.RPM}
	rpm.TenantQuota = Quota{RPM: call.TenantQuota.RPM}
	adm, aerr := g.admit(ctx, &rpm, 0, false)
	if adm != nil {
		r.res.Limits = adm.decision
	}
	if aerr != nil {
		return TokenCount{}, r.res, aerr
	}
	defer adm.done(llm.Usage{}, 0)
	if err == nil {
		if n, ok := r.countOnChannels(ctx, req); ok {
			return TokenCount{InputTokens: n, Source: CountUpstream}, r.res, nil
		}
		if ctx.Err() != nil {
			return TokenCount{}, r.res, ctx.Err()
		}
	}
	r.res.Provider, r.res.UpstreamModel = "", ""
	return TokenCount{InputTokens: estimate(req), Source: CountEstimate}, r.res, nil
}

// countOnChannels tries the decision's channels that can count, in order
// and within the model's attempt budget, and reports the first count. A
// channel that refuses the request (llm.ErrUnsupported: nothing was sent)
// is passed over without using an attempt.
func (r *request) countOnChannels(ctx context.Context, req *llm.Request) (int, bool) {
	d, m := r.res.Decision, r.model()
	tried := 0
	for _, off := range d.Order {
		if tried >= d.MaxAttempts || ctx.Err() != nil {
			break
		}
		p, ok := r.rt.Providers.Get(off.Provider)
		if !ok {
			continue
		}
		tc, ok := p.(provider.TokenCounter)
		if !ok {
			continue
		}
		attempt := *req
		attempt.Model = off.UpstreamModel
		attempt.Stream = false
		n, err := r.countOn(ctx, m, tc, &attempt)
		if isRefusal(err) {
			// Nothing was sent: not an attempt.
			continue
		}
		tried++
		r.res.Provider, r.res.UpstreamModel = off.Provider, off.UpstreamModel
		r.res.Attempted = append(r.res.Attempted, off.Provider)
		if err == nil {
			r.g.onAttempt(off.Provider, "ok")
			return n, true
		}
		var pe *provider.Error
		switch {
		case ctx.Err() != nil:
			r.g.onAttempt(off.Provider, "cancelled")
		case errors.As(err, &pe) && pe.Kind.Retryable():
			r.g.onAttempt(off.Provider, "retryable")
		default:
			r.g.onAttempt(off.Provider, "error")
		}
		r.g.log.Debug("token count failed", "request_id", r.call.RequestID, "provider", off.Provider, "err", err)
	}
	return 0, false
}

// countOn makes one count attempt, bounded by the model's per-attempt
// timeout, with the admission slot parked while it waits.
func (r *request) countOn(ctx context.Context, m *route.Model, tc provider.TokenCounter, req *llm.Request) (int, error) {
	actx, cancel := attemptContext(ctx, m)
	defer cancel()
	at := r.g.now()
	r.park()
	n, err := tc.CountTokens(actx, req)
	r.resume()
	r.res.Upstream += r.g.now().Sub(at)
	return n, err
}
