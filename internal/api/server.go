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
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/capture"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/overload"
	"switchyard/internal/provider/anthropic"
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
	// Capture chooses the requests whose payloads the request log keeps;
	// nil captures none.
	Capture *capture.Policy
	// TrustedProxies are the peers whose X-Forwarded-For names a
	// request's source address (see config server.trusted_proxies).
	TrustedProxies []netip.Prefix
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
	// capture chooses requests for payload capture; nil: none.
	capture *capture.Policy
	// trusted are the proxies whose X-Forwarded-For is believed.
	trusted []netip.Prefix
}

// New builds the server and its routes.
func New(o Options) *Server {
	s := &Server{gw: o.Gateway, auth: o.Auth, aws: o.AWS, log: o.Logger, metrics: o.Metrics, maxBody: o.MaxBodyBytes,
		idle: o.StreamIdleTimeout, ready: o.Ready, now: o.Now, sessions: o.Sessions, limiter: o.Admission,
		capture: o.Capture, trusted: o.TrustedProxies}
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
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	if n := r.ContentLength; n > 0 && n <= s.maxBody {
		// The announced length, read into one buffer of that size
		// (io.ReadAll starts at 512 bytes and doubles); the extra byte
		// sees EOF without a grow. net/http ends the body at the length.
		b := make([]byte, 0, n+1)
		for {
			m, err := body.Read(b[len(b):cap(b)])
			b = b[:len(b)+m]
			if err == io.EOF {
				return b, nil
			}
			if err != nil {
				return nil, bodyReadError(err)
			}
			if len(b) == cap(b) {
				b = append(b, 0)[:len(b)]
			}
		}
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyReadError(err)
	}
	return b, nil
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
	if e := s.checkSource(r, p); e != nil {
		return nil, e
	}
	return p, nil
}

func authError(err error) *apiError {
	e := &apiError{Status: http.StatusUnauthorized, Type: typeAuth, Code: "invalid_api_key", Err: err}
	switch {
	case errors.Is(err, auth.ErrRevoked):
		e.Message = "This API key has been revoked."
	case errors.Is(err, auth.ErrExpired):
		e.Message = "This API key has expired."
	case errors.Is(err, auth.ErrRotated):
		e.Message = "This API key was rotated and its old secret's grace period has ended; use the new secret."
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

// call describes a request to the gateway; body is the request body as
// received, kept when payload capture chooses the request.
func (s *Server) call(r *http.Request, p *auth.Principal, model, dialect, endpoint string, body []byte) *gateway.Call {
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
		Traffic: "stateless", TraceID: info.TraceID,
	}
	if s.capture.Choose(t.Name, k.ID, model) {
		c.Capture = &gateway.Capture{Policy: s.capture, Body: body}
	}
	if a := admittedFrom(r); a != nil {
		// The gateway parks the slot while an attempt waits on a channel.
		c.Slot = a.t
	}
	return c
}

// countTokens counts a request's input tokens for a front door's count
// endpoint: on a channel of its route that can count, else with the
// local estimate (anthropic.CountTokens, the same figure every door
// answered before). The X-Switchyard-Token-Count header says which.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request, call *gateway.Call, req *llm.Request) (int, error) {
	n, res, err := s.gw.CountTokens(r.Context(), call, req, anthropic.CountTokens)
	setRouteHeaders(w, r, res)
	meterInfo(r, res)
	if err != nil {
		return 0, err
	}
	w.Header().Set("X-Switchyard-Token-Count", n.Source)
	return n.InputTokens, nil
}

// setRouteHeaders writes the x-switchyard-* headers and the access-log
// fields of a routed request.
func setRouteHeaders(w http.ResponseWriter, r *http.Request, res *gateway.Result) {
	if res == nil {
		return
	}
	noteUpstream(r, res)
	info := telemetry.InfoFrom(r.Context())
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
	// Every answer carries these headers, so they are written as cheaply
	// as net/http allows: keys already canonical, assigned to the map
	// without Header.Set's canonicalising, all values in one backing
	// array and all numbers in one string.
	h := w.Header()
	vals := make([]string, 0, maxRouteHeaders)
	set := func(key, v string) {
		vals = append(vals, v)
		n := len(vals)
		h[key] = vals[n-1 : n : n]
	}
	if res.Provider != "" {
		set("X-Switchyard-Provider", res.Provider)
		info.Provider = res.Provider
	}
	// res.Model is the configured name the request routed to, never the
	// client's: an unknown name does not route, and configured names are
	// bounded by server.max_model_name_bytes.
	if res.Model != "" {
		set("X-Switchyard-Model", res.Model)
	}
	if rh := res.RouteHeader(); rh != "" {
		set("X-Switchyard-Route", rh)
		info.Route = rh
	}
	d := res.Limits
	if d == nil {
		return
	}
	// Anthropic clients also get the API's own names, whose reset is a
	// time (RFC 3339) rather than a duration.
	anthropic := dialectFor(r) == dialectAnthropic
	var room [256]byte
	buf := room[:0]
	var spans [12]struct {
		key    string
		lo, hi int
	}
	k := 0
	put := func(key string, lo int) { // the value is buf[lo:]
		spans[k].key, spans[k].lo, spans[k].hi = key, lo, len(buf)
		k++
	}
	now := time.Now()
	if d.RequestsLimit > 0 {
		lo := len(buf)
		buf = strconv.AppendInt(buf, int64(d.RequestsLimit), 10)
		put("X-Ratelimit-Limit-Requests", lo)
		lo = len(buf)
		buf = strconv.AppendInt(buf, int64(d.RequestsRemaining), 10)
		put("X-Ratelimit-Remaining-Requests", lo)
		lo = len(buf)
		buf = appendReset(buf, d.RequestsReset)
		put("X-Ratelimit-Reset-Requests", lo)
		if anthropic {
			lo = len(buf)
			buf = strconv.AppendInt(buf, int64(d.RequestsLimit), 10)
			put("Anthropic-Ratelimit-Requests-Limit", lo)
			lo = len(buf)
			buf = strconv.AppendInt(buf, int64(d.RequestsRemaining), 10)
			put("Anthropic-Ratelimit-Requests-Remaining", lo)
			lo = len(buf)
			buf = now.Add(d.RequestsReset).UTC().AppendFormat(buf, time.RFC3339)
			put("Anthropic-Ratelimit-Requests-Reset", lo)
		}
	}
	if d.TokensLimit > 0 {
		lo := len(buf)
		buf = strconv.AppendInt(buf, d.TokensLimit, 10)
		put("X-Ratelimit-Limit-Tokens", lo)
		lo = len(buf)
		buf = strconv.AppendInt(buf, d.TokensRemaining, 10)
		put("X-Ratelimit-Remaining-Tokens", lo)
		lo = len(buf)
		buf = appendReset(buf, d.TokensReset)
		put("X-Ratelimit-Reset-Tokens", lo)
		if anthropic {
			lo = len(buf)
			buf = strconv.AppendInt(buf, d.TokensLimit, 10)
			put("Anthropic-Ratelimit-Tokens-Limit", lo)
			lo = len(buf)
			buf = strconv.AppendInt(buf, d.TokensRemaining, 10)
			put("Anthropic-Ratelimit-Tokens-Remaining", lo)
			lo = len(buf)
			buf = now.Add(d.TokensReset).UTC().AppendFormat(buf, time.RFC3339)
			put("Anthropic-Ratelimit-Tokens-Reset", lo)
		}
	}
	all := string(buf)
	for _, sp := range spans[:k] {
		set(sp.key, all[sp.lo:sp.hi])
	}
}

// maxRouteHeaders is the most x-switchyard-* and rate-limit headers an
// answer carries: three of the first, twelve of the second.
const maxRouteHeaders = 15

// appendReset appends a reset duration as OpenAI writes it: milliseconds
// under a second, otherwise whole seconds as time.Duration prints them
// ("1s", "6m0s", "1h0m0s").
func appendReset(b []byte, d time.Duration) []byte {
	if d < time.Second {
		b = strconv.AppendInt(b, d.Milliseconds(), 10)
		return append(b, "ms"...)
	}
	secs := int64(d.Round(time.Second) / time.Second)
	if secs >= 3600 {
		b = strconv.AppendInt(b, secs/3600, 10)
		b = append(b, 'h')
	}
	if secs >= 60 {
		b = strconv.AppendInt(b, secs%3600/60, 10)
		b = append(b, 'm')
	}
	b = strconv.AppendInt(b, secs%60, 10)
	return append(b, 's')
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
	if res.Stream {
		info.Stream, info.TTFT = true, res.TTFB
	}
}
