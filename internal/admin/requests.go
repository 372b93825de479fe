package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"switchyard/internal/store"
)

// RequestQuery selects a page of the request log. Empty fields do not
// filter.
type RequestQuery struct {
	// Tenant is a tenant name or ID; Key a key ID; Model the model name
	// the request routed to (or asked for, when it did not route);
	// Channel the channel that served it.
	Tenant, Key, Model, Channel string
	// Status is an HTTP status ("429").
	Status string
	// Since is a duration back from now ("24h", "7d") or an RFC 3339
	// time; Until an RFC 3339 time. Both optional.
	Since, Until string
	// Limit is the page size, 1 to 1000; default 100.
	Limit string
	// Cursor is the next_cursor of the page before.
	Cursor string
}

// RequestPage is one page of the request log, newest first.
type RequestPage struct {
	Data []RequestRecord `json:"data"`
	// NextCursor continues the listing; empty after the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// RequestRecord is what the request log shows of one request.
type RequestRecord struct {
	ID            string    `json:"id"`
	Time          time.Time `json:"time"`
	TenantID      string    `json:"tenant_id"`
	KeyID         string    `json:"key_id"`
	Dialect       string    `json:"dialect"`
	Endpoint      string    `json:"endpoint"`
	Traffic       string    `json:"traffic"`
	Stream        bool      `json:"stream"`
	Model         string    `json:"model"`
	Channel       string    `json:"channel"`
	UpstreamModel string    `json:"upstream_model"`
	Status        int       `json:"status"`
	ErrorKind     string    `json:"error_kind,omitempty"`
	Error         string    `json:"error,omitempty"`
	// Route is the routing decision; absent when the request never routed.
	Route    *RequestRoute   `json:"route,omitempty"`
	Attempts []store.Attempt `json:"attempts"`
	Tokens   RequestTokens   `json:"tokens"`
	CostUSD  float64         `json:"cost_usd"`
	// LatencyMS is the whole request's duration; TTFTMS the time to its
	// first token (streams) or to the answer.
	LatencyMS float64 `json:"latency_ms"`
	TTFTMS    float64 `json:"ttft_ms"`
	TraceID   string  `json:"trace_id,omitempty"`
	// Payload is the captured request and answer, in GET
	// /admin/v1/requests/{id} only, when capture chose the request.
	Payload *store.Payload `json:"payload,omitempty"`
}

// RequestRoute is a request's routing decision.
type RequestRoute struct {
	Strategy string `json:"strategy"`
	// Summary is the decision as the x-switchyard-route header gave it.
	Summary    string                 `json:"summary"`
	Contracts  []string               `json:"contracts,omitempty"`
	Candidates []store.RouteCandidate `json:"candidates"`
}

// RequestTokens are a request's tokens by kind.
type RequestTokens struct {
	Input       int64 `json:"input"`
	Output      int64 `json:"output"`
	CachedInput int64 `json:"cached_input"`
	CacheWrite  int64 `json:"cache_write"`
	Reasoning   int64 `json:"reasoning"`
}

func requestRecord(r *store.UsageRecord) RequestRecord {
	out := RequestRecord{ID: r.RequestID, Time: r.CreatedAt.UTC(), TenantID: r.TenantID, KeyID: r.KeyID, Dialect: r.Dialect,
		Endpoint: r.Endpoint, Traffic: r.Traffic, Stream: r.Stream, Model: r.Model, Channel: r.Provider,
		UpstreamModel: r.UpstreamModel, Status: r.Status, ErrorKind: r.ErrorKind, Error: r.Error, Attempts: r.AttemptLog,
		Tokens: RequestTokens{Input: r.InputTokens, Output: r.OutputTokens, CachedInput: r.CachedInputTokens,
			CacheWrite: r.CacheWriteTokens, Reasoning: r.ReasoningTokens},
		CostUSD: r.CostUSD, LatencyMS: ms(r.Latency), TTFTMS: ms(r.TTFB), TraceID: r.TraceID, Payload: r.Payload}
	if out.Attempts == nil {
		out.Attempts = []store.Attempt{}
	}
	if r.Strategy != "" || r.Route != "" {
		out.Route = &RequestRoute{Strategy: r.Strategy, Summary: r.Route, Contracts: r.Contracts, Candidates: r.Candidates}
		if out.Route.Candidates == nil {
			out.Route.Candidates = []store.RouteCandidate{}
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Requests lists a page of the request log.
func (s *Service) Requests(ctx context.Context, q RequestQuery) (*RequestPage, error) {
	f := store.RequestFilter{KeyID: q.Key, Model: q.Model, Provider: q.Channel, Cursor: q.Cursor, Limit: 100}
	now := s.now()
	var err error
	if q.Since != "" {
		if f.Since, err = ParseSince(q.Since, now); err != nil {
			return nil, &FieldError{"since", err.Error()}
		}
	}
	if q.Until != "" {
		if f.Until, err = time.Parse(time.RFC3339, q.Until); err != nil {
			return nil, &FieldError{"until", "must be an RFC 3339 time"}
		}
	}
	if q.Status != "" {
		if f.Status, err = strconv.Atoi(q.Status); err != nil || f.Status < 100 || f.Status > 599 {
			return nil, &FieldError{"status", "must be an HTTP status (100 to 599)"}
		}
	}
	if q.Limit != "" {
		if f.Limit, err = strconv.Atoi(q.Limit); err != nil || f.Limit < 1 || f.Limit > store.MaxRequestPage {
			return nil, &FieldError{"limit", "must be 1 to 1000"}
		}
	}
	if f.TenantID, err = s.scopedTenant(ctx, q.Tenant); err != nil {
		return nil, err
	}
	recs, next, err := s.Store.ListRequests(ctx, f)
	if err != nil {
		if q.Cursor != "" && errors.Is(err, store.ErrInvalid) {
			return nil, &FieldError{"cursor", "not a cursor this listing gave"}
		}
		return nil, err
	}
	page := &RequestPage{Data: make([]RequestRecord, 0, len(recs)), NextCursor: next}
	for i := range recs {
		page.Data = append(page.Data, requestRecord(&recs[i]))
	}
	return page, nil
}

// Request returns one request's record, with its payload when captured.
func (s *Service) Request(ctx context.Context, id string) (*RequestRecord, error) {
	r, err := s.Store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if p := who(ctx); p.Scoped() {
		t, err := s.Store.TenantByID(ctx, r.TenantID)
		if err != nil || !p.Sees(t.ID, t.Name) {
			return nil, fmt.Errorf("request %q: %w", id, store.ErrNotFound)
		}
	}
	out := requestRecord(r)
	return &out, nil
}

func (a *api) listRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := a.svc.Requests(r.Context(), RequestQuery{Tenant: q.Get("tenant"), Key: q.Get("key"), Model: q.Get("model"),
		Channel: q.Get("channel"), Status: q.Get("status"), Since: q.Get("since"), Until: q.Get("until"),
		Limit: q.Get("limit"), Cursor: q.Get("cursor")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *api) getRequest(w http.ResponseWriter, r *http.Request) error {
	rec, err := a.svc.Request(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}
