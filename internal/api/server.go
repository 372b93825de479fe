// Package api is the client-facing HTTP surface: every front door (OpenAI,
// Anthropic, Bedrock, Gemini) on one handler, key authentication, the edge's bounds
// on what a client sends (header, body and model-name sizes; the listener
// wrappers that cap connections and put net/http's own refusals in the
// client's dialect), and the one place where errors become each dialect's
// error shape. Handlers
// stay thin: decode the dialect into the canonical model, call the
// gateway, encode the answer back.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/gateway"
	"switchyard/internal/overload"
	"switchyard/internal/route"
	"switchyard/internal/session"
	"switchyard/internal/telemetry"
)

// Authenticator resolves a client's key to its tenant and key.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*auth.Principal, error)
}

// Options configure the client-facing server.
type Options struct {
	Gateway *gateway.Gateway
	Auth    Authenticator
	// AWS resolves SigV4 access key ids for the Bedrock front door. Nil
	// uses Auth when it implements AWSAuthenticator; without either,
	// only Bedrock API keys (Bearer) are accepted.
	AWS     AWSAuthenticator
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	// MaxBodyBytes bounds request bodies (413 past it).
	MaxBodyBytes int64
	// StreamIdleTimeout ends a stream whose upstream is silent this long.
	StreamIdleTimeout time.Duration
	// StreamKeepAlive is how long a stream may stay quiet before the
	// gateway sends a keep-alive event, in the dialects that have one
	// (Anthropic's ping). Default DefaultStreamKeepAlive; negative: none.
	StreamKeepAlive time.Duration
	// Ready reports whether the store is reachable, for /readyz.
	Ready func(ctx context.Context) error
	Now   func() time.Time
	// Sessions runs the Responses and Conversations APIs; nil turns them
	// off (they answer 501).
	Sessions *session.Runtime
	// Admission bounds the requests and streams the model endpoints take
	// on at once; nil: no admission control.
	Admission *overload.Limiter
	// MaxHeaderBytes bounds a request's line and headers (431 in the
	// client's dialect past it). Default DefaultMaxHeaderBytes. Pair it
	// with http.Server.MaxHeaderBytes = ServerMaxHeaderBytes(limit).
	MaxHeaderBytes int
	// MaxModelNameBytes bounds a model name (400 past it). Default
	// DefaultMaxModelNameBytes.
	MaxModelNameBytes int
	// BedrockRegions are the credential-scope regions a SigV4 signature
	// may name; "*" (or none) accepts every region.
	BedrockRegions []string
}

// DefaultStreamKeepAlive is the quiet time after which a stream gets a
// keep-alive event unless Options says otherwise: well inside the 30-60 s
// read timeouts common in proxies and load balancers.
const DefaultStreamKeepAlive = 15 * time.Second

// Server serves the front doors.
type Server struct {
	gw      *gateway.Gateway
	auth    Authenticator
	aws     AWSAuthenticator
	log     *slog.Logger
	metrics *telemetry.Metrics
	maxBody int64
	idle    time.Duration
	// keepAlive is the quiet time before a keep-alive event; 0: none.
	keepAlive time.Duration
	ready     func(ctx context.Context) error
	now       func() time.Time
	handler   http.Handler
	// sessions serves the Responses and Conversations APIs; nil when off.
	sessions     *session.Runtime
	maxHeader    int
	maxModelName int
	// regions are the SigV4 scope regions served; nil: every region.
	regions map[string]bool
	// limiter is admission control; nil when off.
	limiter *overload.Limiter
}

// New builds the server and its routes.
func New(o Options) *Server {
	s := &Server{gw: o.Gateway, auth: o.Auth, aws: o.AWS, log: o.Logger, metrics: o.Metrics, maxBody: o.MaxBodyBytes,
		idle: o.StreamIdleTimeout, ready: o.Ready, now: o.Now, sessions: o.Sessions, limiter: o.Admission}
	if s.aws == nil {
		s.aws, _ = o.Auth.(AWSAuthenticator)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = 10 << 20
	}
	if s.idle <= 0 {
		s.idle = 5 * time.Minute
	}
	s.maxHeader, s.maxModelName = o.MaxHeaderBytes, o.MaxModelNameBytes
	if s.maxHeader <= 0 {
		s.maxHeader = DefaultMaxHeaderBytes
	}
	if s.maxModelName <= 0 {
		s.maxModelName = DefaultMaxModelNameBytes
	}
	if len(o.BedrockRegions) > 0 && !slices.Contains(o.BedrockRegions, "*") {
		s.regions = make(map[string]bool, len(o.BedrockRegions))
		for _, r := range o.BedrockRegions {
			s.regions[r] = true
		}
	}
	switch {
	case o.StreamKeepAlive > 0:
		s.keepAlive = o.StreamKeepAlive
	case o.StreamKeepAlive == 0:
		s.keepAlive = DefaultStreamKeepAlive
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ready == nil {
		s.ready = func(context.Context) error { return nil }
	}
	s.handler = telemetry.Middleware(s.log, s.metrics, recoverer(s.log, s.edge(s.routes())))
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// recoverer turns a handler panic into a 500 instead of a dropped
// connection, and logs it. http.ErrAbortHandler passes through.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panic", "request_id", telemetry.InfoFrom(r.Context()).RequestID, "panic", fmt.Sprint(v))
				http.Error(w, `{"error":{"message":"internal error","type":"server_error"}}`, http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// readBody reads the whole request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return nil, bodyReadError(err)
	}
	return body, nil
}

// bearer extracts a client key from Authorization: Bearer, x-api-key or
// api-key (Azure-style clients).
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	return r.Header.Get("Api-Key")
}

// authenticate resolves the request's key and records the tenant for the
// access log.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	secret := bearer(r)
	if secret == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Type: typeAuth,
			Message: "Missing API key. Send it as 'Authorization: Bearer <key>'."}
	}
	p, err := s.auth.Authenticate(r.Context(), secret)
	if err != nil {
		return nil, authError(err)
	}
	info := telemetry.InfoFrom(r.Context())
	info.Tenant, info.KeyID = p.Tenant.Name, p.Key.ID
	return p, nil
}

func authError(err error) *apiError {
	e := &apiError{Status: http.StatusUnauthorized, Type: typeAuth, Code: "invalid_api_key", Err: err}
	switch {
	case errors.Is(err, auth.ErrRevoked):
		e.Message = "This API key has been revoked."
	case errors.Is(err, auth.ErrExpired):
		e.Message = "This API key has expired."
	case errors.Is(err, auth.ErrTenantDisabled):
		e.Status, e.Type, e.Code = http.StatusForbidden, typePermission, "tenant_disabled"
		e.Message = "The tenant that owns this API key is disabled."
	case errors.Is(err, auth.ErrUnauthenticated):
		e.Message = "Incorrect API key provided."
	default:
		// The key store is unreachable (auth.ErrStoreUnavailable): the
		// authenticator probes it once a second.
		e.Status, e.Type, e.Code = http.StatusServiceUnavailable, typeOverloaded, ""
		e.Message = "Could not check the API key right now; try again."
		e.RetryAfter = time.Second
	}
	return e
}

func (s *Server) call(r *http.Request, p *auth.Principal, model, dialect, endpoint string) *gateway.Call {
	info := telemetry.InfoFrom(r.Context())
	info.Dialect, info.Model = dialect, model
	// Metric labels take configured names only: anything else is one
	// "unknown" series, however many names clients make up.
	_, info.ModelKnown = s.gw.Router().Catalog().Lookup(model)
	k, t := &p.Key, &p.Tenant
	c := &gateway.Call{
		RequestID: info.RequestID, TenantID: t.ID, Tenant: t.Name, KeyID: k.ID,
		KeyQuota:      gateway.Quota{RPM: k.RPM, TPM: k.TPM, MaxStreams: k.MaxStreams, BudgetUSD: k.BudgetUSD, BudgetPeriod: k.BudgetPeriod},
		TenantQuota:   gateway.Quota{RPM: t.RPM, TPM: t.TPM, MaxStreams: t.MaxStreams, BudgetUSD: t.BudgetUSD, BudgetPeriod: t.BudgetPeriod},
		AllowedModels: k.AllowedModels, Model: model, Dialect: dialect, Endpoint: endpoint,
		Traffic: "stateless",
	}
	if a := admittedFrom(r); a != nil {
		// The gateway parks the slot while an attempt waits on a channel.
		c.Slot = a.t
	}
	return c
}

// setRouteHeaders writes the x-switchyard-* headers and the access-log
// fields of a routed request.
func setRouteHeaders(w http.ResponseWriter, r *http.Request, res *gateway.Result) {
	if res == nil {
		return
	}
	noteUpstream(r, res)
	info := telemetry.InfoFrom(r.Context())
	if res.Provider != "" {
		w.Header().Set("X-Switchyard-Provider", res.Provider)
		info.Provider = res.Provider
	}
	// res.Model is the configured name the request routed to, never the
	// client's: an unknown name does not route, and configured names are
	// bounded by server.max_model_name_bytes.
	if res.Model != "" {
		w.Header().Set("X-Switchyard-Model", res.Model)
	}
	if h := res.RouteHeader(); h != "" {
		w.Header().Set("X-Switchyard-Route", h)
		info.Route = h
	}
	if d := res.Decision; d != nil {
		var skipped []string
		for _, c := range d.Candidates {
			switch c.Reason {
			case route.ReasonBreakerOpen, route.ReasonProbeBusy, route.ReasonCoolingDown:
				skipped = append(skipped, c.Provider+":"+string(c.Reason))
			}
		}
		info.Skipped = strings.Join(skipped, ",")
	}
	if d := res.Limits; d != nil {
		h := w.Header()
		if d.RequestsLimit > 0 {
			h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(d.RequestsLimit))
			h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(d.RequestsRemaining))
			h.Set("X-Ratelimit-Reset-Requests", resetValue(d.RequestsReset))
		}
		if d.TokensLimit > 0 {
			h.Set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(d.TokensLimit, 10))
			h.Set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(d.TokensRemaining, 10))
			h.Set("X-Ratelimit-Reset-Tokens", resetValue(d.TokensReset))
		}
		// Anthropic clients also get the API's own names, whose reset is
		// a time (RFC 3339) rather than a duration.
		if dialectFor(r) == dialectAnthropic {
			now := time.Now()
			if d.RequestsLimit > 0 {
				h.Set("Anthropic-Ratelimit-Requests-Limit", strconv.Itoa(d.RequestsLimit))
				h.Set("Anthropic-Ratelimit-Requests-Remaining", strconv.Itoa(d.RequestsRemaining))
				h.Set("Anthropic-Ratelimit-Requests-Reset", now.Add(d.RequestsReset).UTC().Format(time.RFC3339))
			}
			if d.TokensLimit > 0 {
				h.Set("Anthropic-Ratelimit-Tokens-Limit", strconv.FormatInt(d.TokensLimit, 10))
				h.Set("Anthropic-Ratelimit-Tokens-Remaining", strconv.FormatInt(d.TokensRemaining, 10))
				h.Set("Anthropic-Ratelimit-Tokens-Reset", now.Add(d.TokensReset).UTC().Format(time.RFC3339))
			}
		}
	}
}

// resetValue writes a reset duration as OpenAI does ("6m0s", "1s", "20ms").
func resetValue(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return d.Round(time.Second).String()
}

// meterInfo copies usage into the access-log fields.
func meterInfo(r *http.Request, res *gateway.Result) {
	if res == nil {
		return
	}
	info := telemetry.InfoFrom(r.Context())
	info.Provider = res.Provider
	info.Input, info.Output, info.Cached = res.Usage.InputTokens, res.Usage.OutputTokens, res.Usage.CachedInputTokens
	info.CostUSD = res.CostUSD
}
