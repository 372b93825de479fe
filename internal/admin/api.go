package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/auth"
	"switchyard/internal/store"
)

// Options configure the admin API.
type Options struct {
	Service *Service
	// Token is the admin bearer token; empty disables the API (every call
	// is refused).
	Token string
	// TokenFunc, when set, gives the current admin token instead of
	// Token: the gateway re-reads admin.token_file on every reload.
	TokenFunc func() string
	// TokenEnv names the environment variable Token was read from, for
	// the error that says why the API is disabled.
	TokenEnv string
	// Authenticators resolve every other bearer credential (scoped admin
	// tokens, single sign-on tokens), tried in order after Token.
	Authenticators access.Chain
	// Metrics serves /metrics (no token: scrapers rarely carry one, and
	// metrics hold no secrets).
	Metrics http.Handler
	// Explain answers a routing question for POST /admin/v1/route/explain.
	Explain func(ctx context.Context, q ExplainQuery) (any, error)
	// Reload re-reads the configuration for POST /admin/v1/reload.
	Reload func(ctx context.Context) error
	// Report returns extra usage reports by name (contract, compliance).
	Report func(ctx context.Context, name string, since, until time.Time) (any, error)
	// Channels reports every channel's health for GET /admin/v1/channels.
	Channels func(ctx context.Context) ([]ChannelStatus, error)
	// ResetChannel closes the named channel's circuit breaker for POST
	// /admin/v1/channels/{name}/reset; an unknown name is store.ErrNotFound.
	ResetChannel func(ctx context.Context, name string) error
	// Models lists the model catalogue for GET /admin/v1/models.
	Models func(ctx context.Context) ([]ModelInfo, error)
	// WhatIf replays the ledger in [since, until) through a proposed
	// configuration (YAML) for POST /admin/v1/whatif. An error wrapping
	// ErrBadProposal is the caller's (422); others are internal.
	WhatIf func(ctx context.Context, proposed []byte, since, until time.Time) (any, error)
	// Reconcile compares a cloud's cost export (bill, size bytes) with the
	// ledger for POST /admin/v1/reconcile, and saves its billed days when
	// q.Save. An error wrapping ErrBadBill is the caller's (422).
	Reconcile func(ctx context.Context, q ReconcileQuery, bill io.ReaderAt, size int64) (any, error)
	// Export builds the chargeback of [since, until) grouped by a label,
	// for GET /admin/v1/usage/export.
	Export func(ctx context.Context, label string, since, until time.Time) (Exported, error)
	Logger *slog.Logger
}

// ReconcileQuery describes a reconciliation asked of the admin API.
type ReconcileQuery struct {
	// Provider is the export's format: aws, azure, gcp, openai or
	// anthropic.
	Provider string `json:"provider"`
	// Account keeps the lines of one account (AWS account, subscription,
	// project, workspace); empty keeps all.
	Account string `json:"account,omitempty"`
	// ThresholdPct and ThresholdUSD: a row's difference is a discrepancy
	// beyond both.
	ThresholdPct float64 `json:"threshold_pct"`
	ThresholdUSD float64 `json:"threshold_usd"`
	// Save records the bill's billed days.
	Save bool `json:"save"`
}

// ErrBadBill marks a cost export that could not be read: the caller's
// error.
var ErrBadBill = errors.New("unreadable cost export")

// MaxBillUpload bounds the cost export POST /admin/v1/reconcile takes; it
// is spooled to a temporary file, not held in memory.
const MaxBillUpload = 512 << 20

// bodyLimits are the request body bounds of the routes that take more
// than the 1 MiB every other admin route does.
var bodyLimits = map[access.Action]int64{access.BillsReconcile: MaxBillUpload}

// CurrentToken is the break-glass admin token in force: TokenFunc's, or
// Token.
func (o *Options) CurrentToken() string {
	if o.TokenFunc != nil {
		return o.TokenFunc()
	}
	return o.Token
}

// ExplainQuery asks how a request would be routed.
type ExplainQuery struct {
	Model   string `json:"model"`
	Tenant  string `json:"tenant"`
	Traffic string `json:"traffic"`
}

type api struct {
	o   Options
	svc *Service
}

// Handler returns the admin listener's handler.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{o: o, svc: o.Service}
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		if rt.h != nil {
			mux.Handle(rt.pattern, rt.h)
		}
	}
	// An unknown endpoint is a 404 to anyone who may read tenants (every
	// role); without a token it is a 401, as every endpoint is.
	mux.Handle("/admin/", a.authed(access.TenantsRead, func(w http.ResponseWriter, r *http.Request) error {
		return &httpError{http.StatusNotFound, "no admin endpoint " + r.Method + " " + auth.RedactKeys(r.URL.Path)}
	}))
	return mux
}

// route is one endpoint of the admin listener: a ServeMux pattern
// ("METHOD /path/{param}"), the action it performs (empty for the public
// endpoints, which need no token) and its handler, nil when the endpoint
// is not configured (metrics).
type route struct {
	pattern string
	action  access.Action
	h       http.Handler
}

// routes is the one list of the admin listener's endpoints: Handler
// serves it, openapi.json must describe each of them, no more (a test
// checks both ways), and each authenticated one names its action, which
// authed judges by the access policy (a test tries every role on each).
func (a *api) routes() []route {
	h := func(pattern string, action access.Action, fn func(w http.ResponseWriter, r *http.Request) error) route {
		return route{pattern, action, a.authed(action, fn)}
	}
	var metrics http.Handler
	if a.o.Metrics != nil {
		metrics = a.o.Metrics
	}
	return []route{
		// No token: scrapers and probes rarely carry one, and neither
		// holds a secret.
		{"GET /metrics", "", metrics},
		{"GET /healthz", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })},
		// No token either: the description is public (it is in the
		// repository), and tools fetch it before they have one.
		{"GET /admin/v1/openapi.json", "", http.HandlerFunc(serveOpenAPI)},
		h("POST /admin/v1/tenants", access.TenantsCreate, a.createTenant),
		h("GET /admin/v1/tenants", access.TenantsRead, a.listTenants),
		h("GET /admin/v1/tenants/{id}", access.TenantsRead, a.getTenant),
		h("PATCH /admin/v1/tenants/{id}", access.TenantsWrite, a.updateTenant),
		h("POST /admin/v1/keys", access.KeysWrite, a.createKey),
		h("GET /admin/v1/keys", access.KeysRead, a.listKeys),
		h("GET /admin/v1/keys/{id}", access.KeysRead, a.getKey),
		h("PATCH /admin/v1/keys/{id}", access.KeysWrite, a.updateKey),
		h("POST /admin/v1/keys/{id}/revoke", access.KeysWrite, a.revokeKey),
		h("DELETE /admin/v1/keys/{id}", access.KeysWrite, a.revokeKey),
		h("POST /admin/v1/keys/{id}/rotate", access.KeysWrite, a.rotateKey),
		// The same two by a body {"key": ID or secret}, so that a secret
		// never travels in a URL (which proxies and access logs record).
		h("POST /admin/v1/keys/revoke", access.KeysWrite, a.revokeKeyBody),
		h("POST /admin/v1/keys/rotate", access.KeysWrite, a.rotateKeyBody),
		h("GET /admin/v1/usage", access.UsageRead, a.usage),
		h("GET /admin/v1/usage/export", access.ReportsRead, a.export),
		h("GET /admin/v1/requests", access.RequestsRead, a.listRequests),
		h("GET /admin/v1/requests/{id}", access.RequestsRead, a.getRequest),
		h("POST /admin/v1/route/explain", access.RouteExplain, a.explain),
		h("POST /admin/v1/reload", access.ConfigReload, a.reload),
		h("POST /admin/v1/whatif", access.ConfigWhatIf, a.whatIf),
		h("POST /admin/v1/reconcile", access.BillsReconcile, a.reconcile),
		h("GET /admin/v1/channels", access.ChannelsRead, a.channels),
		h("POST /admin/v1/channels/{name}/reset", access.ChannelsReset, a.resetChannel),
		h("GET /admin/v1/models", access.ModelsRead, a.models),
		h("POST /admin/v1/admin-tokens", access.AdminTokensWrite, a.createAdminToken),
		h("GET /admin/v1/admin-tokens", access.AdminTokensRead, a.listAdminTokens),
		h("POST /admin/v1/admin-tokens/{id}/revoke", access.AdminTokensWrite, a.revokeAdminToken),
		h("DELETE /admin/v1/admin-tokens/{id}", access.AdminTokensWrite, a.revokeAdminToken),
		h("GET /admin/v1/audit", access.AuditRead, a.audit),
		h("GET /admin/v1/audit/verify", access.AuditRead, a.verifyAudit),
	}
}

type httpError struct {
	Status  int
	Message string
}

func (e *httpError) Error() string { return e.Message }

// authed is the one place the admin API authenticates a request and
// judges it by the access policy: a principal whose role may not perform
// action is refused with a 403 (and the refusal is audited); a tenant
// admin acting on a tenant not its own finds nothing (404), which the
// Service decides.
func (a *api) authed(action access.Action, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := r.Header.Get("X-Request-Id")
		if reqID == "" || len(reqID) > 128 {
			reqID = "adm_" + strings.ToLower(rand.Text())
		}
		w.Header().Set("X-Request-Id", reqID)
		r = r.WithContext(access.WithOrigin(r.Context(), access.Origin{Address: r.RemoteAddr, RequestID: reqID}))
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, err := a.authenticate(r.Context(), tok)
		if err != nil && !errors.Is(err, access.ErrNoMatch) {
			// A failure to judge the credential (a store outage, an
			// identity provider out of reach), not a refusal.
			a.o.Logger.Warn("admin credential could not be checked", "method", r.Method, "path", auth.RedactKeys(r.URL.Path),
				"err", auth.RedactKeys(err.Error()))
			writeJSON(w, http.StatusServiceUnavailable, errBody("the credential could not be checked just now; try again shortly"))
			return
		}
		if err != nil {
			msg := "missing or wrong admin token (Authorization: Bearer <token>)"
			if a.o.CurrentToken() == "" {
				msg = "missing or wrong admin token (Authorization: Bearer <token>): the break-glass admin token is not set " +
					"(admin.token_env), so only a scoped admin token (switchyard admin-tokens create) or a single sign-on token opens the API"
			}
			if a.o.CurrentToken() == "" && len(a.o.Authenticators) == 0 {
				msg = "the admin API is disabled: set the admin token environment variable (admin.token_env)"
				if a.o.TokenEnv != "" {
					msg = "the admin API is disabled: the environment variable " + a.o.TokenEnv +
						" (admin.token_env) was empty when the gateway started; set it and restart"
				}
			}
			writeJSON(w, http.StatusUnauthorized, errBody(msg))
			return
		}
		r = r.WithContext(access.WithPrincipal(r.Context(), p))
		if !access.Allowed(p, action) {
			if a.svc != nil {
				a.svc.Refused(r.Context(), action, r.Method+" "+auth.RedactKeys(r.URL.Path))
			}
			writeJSON(w, http.StatusForbidden, errBody(fmt.Sprintf("your role (%s) may not do this (%s)", p.Role, action)))
			return
		}
		limit := int64(1 << 20)
		if l, ok := bodyLimits[action]; ok {
			limit = l
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := fn(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// authenticate resolves a bearer credential: the break-glass admin
// token, then Options.Authenticators.
func (a *api) authenticate(ctx context.Context, tok string) (access.Principal, error) {
	if cur := a.o.CurrentToken(); cur != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cur)) == 1 {
		return access.BreakGlass, nil
	}
	return a.o.Authenticators.Authenticate(ctx, tok)
}

func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := Problem(err)
	var fe *FieldError
	switch {
	case status == http.StatusInternalServerError:
		// A key may be named by its secret in the path; never log one.
		a.o.Logger.Error("admin request failed", "method", r.Method, "path", auth.RedactKeys(r.URL.Path),
			"err", auth.RedactKeys(err.Error()))
		writeJSON(w, status, errBody(msg))
	case errors.As(err, &fe):
		writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg, "field": fe.Field}})
	default:
		writeJSON(w, status, errBody(msg))
	}
}

// Problem maps an error of the service or of an Options method to the
// HTTP status and the message an operator is shown: the one mapping the
// admin API and the console share. An unexpected error is a 500 whose
// message says nothing more; the caller logs it.
func Problem(err error) (status int, message string) {
	var he *httpError
	var fe *FieldError
	switch {
	case errors.As(err, &he):
		return he.Status, he.Message
	case errors.As(err, &fe):
		return http.StatusBadRequest, fe.Error()
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "already exists"
	case errors.Is(err, ErrBadProposal), errors.Is(err, ErrBadBill):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

func errBody(msg string) map[string]any {
	return map[string]any{"error": map[string]string{"message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a strict JSON body; unknown, mistyped or unparsable fields
// are 400s naming the field.
func decode(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, "body too large"}
		}
		return &httpError{http.StatusBadRequest, "reading the body: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &te):
			return &FieldError{jsonPath(te.Field), fmt.Sprintf("must be %s", te.Type)}
		case errors.As(err, &mbe):
			return &httpError{http.StatusRequestEntityTooLarge, "body too large"}
		case errors.Is(err, io.EOF):
			return &httpError{http.StatusBadRequest, "a JSON body is required"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &FieldError{f, "unknown field"}
		}
		if fe := badField(body, dst, err); fe != nil {
			return fe
		}
		return &httpError{http.StatusBadRequest, "malformed JSON: " + err.Error()}
	}
	return nil
}

// badField finds the top-level member of a well-formed JSON object body
// whose value made decoding into dst fail with err (a value its type's
// UnmarshalJSON refused, such as a malformed time), by decoding each member
// alone. It returns nil when body is not such an object.
func badField(body []byte, dst any, err error) *FieldError {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return nil
	}
	t := reflect.TypeOf(dst)
	if t.Kind() != reflect.Pointer {
		return nil
	}
	for name, raw := range members {
		one, _ := json.Marshal(map[string]json.RawMessage{name: raw})
		if json.Unmarshal(one, reflect.New(t.Elem()).Interface()) == nil {
			continue
		}
		problem := "invalid value: " + err.Error()
		var pe *time.ParseError
		if errors.As(err, &pe) {
			problem = `must be an RFC 3339 time such as "2030-01-02T15:04:05Z"`
		}
		return &FieldError{name, problem}
	}
	return nil
}

// jsonPath drops the Go names of embedded structs ("Limits.rpm" → "rpm")
// from a decoding error's field path.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && !(p[0] >= 'A' && p[0] <= 'Z') {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// TenantView is a tenant as the API shows it.
type TenantView struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Disabled  bool              `json:"disabled"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	// AllowedCIDRs is the tenant's IP allow-list; absent: every address.
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	Limits
}

// ViewTenant renders a tenant for the API.
func ViewTenant(t *store.Tenant) TenantView {
	return TenantView{ID: t.ID, Name: t.Name, Disabled: t.Disabled, Metadata: t.Metadata, CreatedAt: t.CreatedAt, AllowedCIDRs: t.AllowedCIDRs,
		Limits: Limits{RPM: t.RPM, TPM: t.TPM, MaxStreams: t.MaxStreams, BudgetUSD: t.BudgetUSD, BudgetPeriod: t.BudgetPeriod}}
}

// KeyView is a key as the API shows it: never its hash or sealed secret.
type KeyView struct {
	ID             string            `json:"id"`
	TenantID       string            `json:"tenant_id"`
	Name           string            `json:"name,omitempty"`
	Prefix         string            `json:"prefix"`
	CreatedAt      time.Time         `json:"created_at"`
	ExpiresAt      *time.Time        `json:"expires_at,omitempty"`
	RevokedAt      *time.Time        `json:"revoked_at,omitempty"`
	AllowedModels  []string          `json:"allowed_models,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	AWSAccessKeyID string            `json:"aws_access_key_id,omitempty"`
	// AllowedCIDRs is the key's IP allow-list; absent: every address
	// (within the tenant's).
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	// LastUsedAt is when the key last authenticated a request, to within
	// about a minute; absent when never.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// RotatedAt is when the key's secret was last rotated.
	RotatedAt *time.Time `json:"rotated_at,omitempty"`
	// Previous describes the secret the last rotation replaced while it
	// still works; absent when there is none.
	Previous *PreviousView `json:"previous,omitempty"`
	Limits
}

// PreviousView is a rotated key's old secret during its grace window.
type PreviousView struct {
	Prefix         string    `json:"prefix"`
	AWSAccessKeyID string    `json:"aws_access_key_id,omitempty"`
	ValidUntil     time.Time `json:"valid_until"`
}

// ViewKey renders a key for the API.
func ViewKey(k *store.Key) KeyView {
	v := KeyView{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt, AllowedModels: k.AllowedModels, Metadata: k.Metadata, AWSAccessKeyID: k.AWSAccessKeyID,
		AllowedCIDRs: k.AllowedCIDRs, LastUsedAt: k.LastUsedAt, RotatedAt: k.RotatedAt,
		Limits: Limits{RPM: k.RPM, TPM: k.TPM, MaxStreams: k.MaxStreams, BudgetUSD: k.BudgetUSD, BudgetPeriod: k.BudgetPeriod}}
	if p := k.Previous; p != nil {
		v.Previous = &PreviousView{Prefix: p.Prefix, AWSAccessKeyID: p.AWSAccessKeyID, ValidUntil: p.Until}
	}
	return v
}

// IssuedView is the one response that carries a key's secrets.
type IssuedView struct {
	Key                KeyView `json:"key"`
	Secret             string  `json:"secret"`
	AWSAccessKeyID     string  `json:"aws_access_key_id,omitempty"`
	AWSSecretAccessKey string  `json:"aws_secret_access_key,omitempty"`
}

// ViewIssued renders a freshly issued key, secrets included.
func ViewIssued(i *Issued) IssuedView {
	return IssuedView{Key: ViewKey(i.Key), Secret: i.Secret, AWSAccessKeyID: i.AWSAccessKeyID, AWSSecretAccessKey: i.AWSSecretAccessKey}
}

func (a *api) createTenant(w http.ResponseWriter, r *http.Request) error {
	var spec TenantSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	t, err := a.svc.CreateTenant(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ViewTenant(t))
	return nil
}

func (a *api) listTenants(w http.ResponseWriter, r *http.Request) error {
	out, err := a.svc.ListTenants(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (a *api) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := a.svc.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ViewTenant(t))
	return nil
}

func (a *api) updateTenant(w http.ResponseWriter, r *http.Request) error {
	var u TenantUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	t, err := a.svc.UpdateTenant(r.Context(), r.PathValue("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ViewTenant(t))
	return nil
}

func (a *api) createKey(w http.ResponseWriter, r *http.Request) error {
	var spec KeySpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	iss, err := a.svc.IssueKey(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ViewIssued(iss))
	return nil
}

func (a *api) listKeys(w http.ResponseWriter, r *http.Request) error {
	labels, err := ParseLabelFilters(r.URL.Query()["label"])
	if err != nil {
		return err
	}
	out, err := a.svc.FindKeys(r.Context(), KeyQuery{Tenant: r.URL.Query().Get("tenant"), Labels: labels})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (a *api) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.svc.FindKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ViewKey(k))
	return nil
}

func (a *api) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.svc.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ViewKey(k))
	return nil
}

func (a *api) updateKey(w http.ResponseWriter, r *http.Request) error {
	var u KeyUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	k, err := a.svc.UpdateKey(r.Context(), r.PathValue("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ViewKey(k))
	return nil
}

// KeyRef names a key in a body: its ID or its whole secret.
type KeyRef struct {
	Key string `json:"key"`
}

// Rotation asks for a key's rotation: the key (in the body form of the
// route) and how long its old secret keeps working.
type Rotation struct {
	Key string `json:"key,omitempty"`
	// Grace is a duration such as "24h"; empty or "0s": the old secret
	// stops at once.
	Grace string `json:"grace,omitempty"`
}

// grace parses the rotation's grace window.
func (rot Rotation) grace() (time.Duration, error) {
	if rot.Grace == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(rot.Grace)
	if err != nil {
		return 0, &FieldError{"grace", `must be a duration such as "24h" or "30m"`}
	}
	return d, nil
}

func (a *api) keyRef(r *http.Request) (string, error) {
	var ref KeyRef
	if err := decode(r, &ref); err != nil {
		return "", err
	}
	if ref.Key == "" {
		return "", &FieldError{"key", "required: a key ID or secret"}
	}
	return ref.Key, nil
}

func (a *api) revokeKeyBody(w http.ResponseWriter, r *http.Request) error {
	ref, err := a.keyRef(r)
	if err != nil {
		return err
	}
	k, err := a.svc.RevokeKey(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ViewKey(k))
	return nil
}

func (a *api) rotateKeyBody(w http.ResponseWriter, r *http.Request) error {
	var rot Rotation
	if err := decode(r, &rot); err != nil {
		return err
	}
	if rot.Key == "" {
		return &FieldError{"key", "required: a key ID or secret"}
	}
	grace, err := rot.grace()
	if err != nil {
		return err
	}
	iss, err := a.svc.RotateKey(r.Context(), rot.Key, grace)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ViewIssued(iss))
	return nil
}

// rotateKey rotates the key of the path; its body, optional, is a
// Rotation without the key.
func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var rot Rotation
	if r.ContentLength != 0 {
		if err := decode(r, &rot); err != nil {
			var he *httpError
			// An empty body (sent chunked) asks for no grace.
			if !errors.As(err, &he) || he.Message != "a JSON body is required" {
				return err
			}
		}
	}
	if rot.Key != "" {
		return &FieldError{"key", "the key is named in the path"}
	}
	grace, err := rot.grace()
	if err != nil {
		return err
	}
	iss, err := a.svc.RotateKey(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ViewIssued(iss))
	return nil
}

// UsageRow is one group of the usage report.
type UsageRow struct {
	Group             string  `json:"group"`
	Requests          int64   `json:"requests"`
	Errors            int64   `json:"errors"`
	InputTokens       int64   `json:"input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	CachedInputTokens int64   `json:"cached_input_tokens"`
	CacheWriteTokens  int64   `json:"cache_write_tokens"`
	ReasoningTokens   int64   `json:"reasoning_tokens"`
	CostUSD           float64 `json:"cost_usd"`
}

func (a *api) usage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rep, err := a.o.UsageReport(r.Context(), UsageQuery{Since: q.Get("since"), Until: q.Get("until"), By: q.Get("by"),
		Tenant: q.Get("tenant"), Model: q.Get("model"), Provider: q.Get("provider")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// UsageReport answers uq: a *UsageReport from the ledger, or for "by"
// contract, compliance, commitment or budget the report Report makes. The admin
// API and the console both report through it.
func (o Options) UsageReport(ctx context.Context, uq UsageQuery) (any, error) {
	switch uq.By {
	case "contract", "compliance", "commitment", "budget":
		// These span every tenant.
		if !access.Allowed(who(ctx), access.ReportsRead) {
			return nil, &httpError{http.StatusForbidden, "your role may not read the " + uq.By + " report (" + string(access.ReportsRead) + ")"}
		}
		if o.Report == nil {
			return nil, &httpError{http.StatusNotFound, "no " + uq.By + " report on this gateway"}
		}
		since, until, err := uq.window(o.Service.now())
		if err != nil {
			return nil, err
		}
		return o.Report(ctx, uq.By, since, until)
	}
	return o.Service.Usage(ctx, uq)
}

// UsageQuery selects a usage report.
type UsageQuery struct {
	// Since is a duration back from now ("24h", "7d") or an RFC 3339
	// time; default 24h. Until is an RFC 3339 time; default now.
	Since, Until string
	// By groups rows: tenant, key, model, provider or "" for one total;
	// contract, compliance, commitment and budget name other reports.
	By                      string
	Tenant, Model, Provider string
}

func (q UsageQuery) window(now time.Time) (since, until time.Time, err error) {
	since, until = now.Add(-24*time.Hour), now.Add(time.Minute)
	if q.Since != "" {
		if since, err = ParseSince(q.Since, now); err != nil {
			return since, until, &FieldError{"since", err.Error()}
		}
	}
	if q.Until != "" {
		if until, err = time.Parse(time.RFC3339, q.Until); err != nil {
			return since, until, &FieldError{"until", "must be an RFC 3339 time"}
		}
	}
	return since, until, nil
}

// UsageReport is the answer to a UsageQuery.
type UsageReport struct {
	Since time.Time  `json:"since"`
	Until time.Time  `json:"until"`
	By    string     `json:"by"`
	Data  []UsageRow `json:"data"`
}

// Usage sums the ledger for q.
func (s *Service) Usage(ctx context.Context, q UsageQuery) (*UsageReport, error) {
	since, until, err := q.window(s.now())
	if err != nil {
		return nil, err
	}
	switch q.By {
	case "", store.GroupTenant, store.GroupKey, store.GroupModel, store.GroupProvider:
	default:
		return nil, &FieldError{"by", "must be tenant, key, model, provider, contract, compliance, commitment or budget"}
	}
	f := store.UsageFilter{Since: since, Until: until, Model: q.Model, Provider: q.Provider}
	if f.TenantID, err = s.scopedTenant(ctx, q.Tenant); err != nil {
		return nil, err
	}
	sums, err := s.Store.SumUsage(ctx, f, q.By)
	if err != nil {
		return nil, err
	}
	out := &UsageReport{Since: since.UTC(), Until: until.UTC(), By: q.By, Data: make([]UsageRow, 0, len(sums))}
	for _, s := range sums {
		out.Data = append(out.Data, usageRow(s))
	}
	return out, nil
}

func usageRow(s store.UsageSummary) UsageRow {
	return UsageRow{Group: s.Group, Requests: s.Requests, Errors: s.Errors, InputTokens: s.InputTokens,
		OutputTokens: s.OutputTokens, CachedInputTokens: s.CachedInputTokens, CacheWriteTokens: s.CacheWriteTokens,
		ReasoningTokens: s.ReasoningTokens, CostUSD: s.CostUSD}
}

// HourRow is the usage of one clock hour (UTC); its Group is empty.
type HourRow struct {
	// Hour is the start of the hour.
	Hour time.Time `json:"hour"`
	UsageRow
}

// UsageByHour sums the ledger for q per clock hour, oldest first; hours
// without traffic are absent. q.By must be empty. The hours at the
// window's edges count only the part inside it. It is one store query
// whatever the window's length.
func (s *Service) UsageByHour(ctx context.Context, q UsageQuery) ([]HourRow, error) {
	f, err := s.seriesFilter(ctx, q, "an hourly series is not grouped")
	if err != nil {
		return nil, err
	}
	hours, err := s.Store.SumUsageByHour(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]HourRow, 0, len(hours))
	for _, h := range hours {
		out = append(out, HourRow{Hour: h.Hour.UTC(), UsageRow: usageRow(h.UsageSummary)})
	}
	return out, nil
}

// DayRow is the usage of one UTC day; its Group is empty.
type DayRow struct {
	// Day is the start (midnight UTC) of the day.
	Day time.Time `json:"day"`
	UsageRow
}

// UsageByDay sums the ledger for q per UTC day, oldest first; days
// without traffic are absent. q.By must be empty. The days at the window's
// edges count only the part inside it. It is one store query, which reads
// the daily rollup, whatever the window's length.
func (s *Service) UsageByDay(ctx context.Context, q UsageQuery) ([]DayRow, error) {
	f, err := s.seriesFilter(ctx, q, "a daily series is not grouped")
	if err != nil {
		return nil, err
	}
	days, err := s.Store.SumUsageByDay(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]DayRow, 0, len(days))
	for _, d := range days {
		out = append(out, DayRow{Day: d.Day.UTC(), UsageRow: usageRow(d.UsageSummary)})
	}
	return out, nil
}

// seriesFilter is the store filter of a usage series for q, which may
// not be grouped (ungrouped says why, as the error on q.By).
func (s *Service) seriesFilter(ctx context.Context, q UsageQuery, ungrouped string) (store.UsageFilter, error) {
	since, until, err := q.window(s.now())
	if err != nil {
		return store.UsageFilter{}, err
	}
	if q.By != "" {
		return store.UsageFilter{}, &FieldError{"by", ungrouped}
	}
	f := store.UsageFilter{Since: since, Until: until, Model: q.Model, Provider: q.Provider}
	if q.Tenant != "" {
		t, err := s.Tenant(ctx, q.Tenant)
		if err != nil {
			return store.UsageFilter{}, err
		}
		f.TenantID = t.ID
	}
	return f, nil
}

// ParseSince accepts a duration back from now ("24h", "7d"), an RFC 3339
// time or a date (midnight UTC).
func ParseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if strings.HasSuffix(v, "d") {
		var days int
		if _, err := fmt.Sscanf(v, "%dd", &days); err == nil && days > 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New(`must be a duration such as "24h" or "7d", an RFC 3339 time or a date (2006-01-02)`)
}

// ParseUntil accepts an RFC 3339 time or a date (midnight UTC).
func ParseUntil(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("must be an RFC 3339 time or a date (2006-01-02)")
}

// Exported is a report that is written as JSON or as CSV.
type Exported interface {
	WriteCSV(w io.Writer) error
}

// ExportQuery selects a chargeback export.
type ExportQuery struct {
	// By is "label:NAME", such as label:cost_centre.
	By string
	// Since is required: a duration back from now, an RFC 3339 time or a
	// date. Until is an RFC 3339 time or a date; default now.
	Since, Until string
	// Format is csv or json (the default).
	Format string
}

// maxLabelName bounds the label an export groups by.
const maxLabelName = 128

// Parse checks q and returns the label and the window.
func (q ExportQuery) Parse(now time.Time) (label string, since, until time.Time, err error) {
	label, ok := strings.CutPrefix(q.By, "label:")
	if !ok || label == "" || len(label) > maxLabelName {
		return "", since, until, &FieldError{"by", "must be label:NAME, such as label:cost_centre"}
	}
	switch q.Format {
	case "", "csv", "json":
	default:
		return "", since, until, &FieldError{"format", "must be csv or json"}
	}
	if q.Since == "" {
		return "", since, until, &FieldError{"since", "required"}
	}
	if since, err = ParseSince(q.Since, now); err != nil {
		return "", since, until, &FieldError{"since", err.Error()}
	}
	until = now
	if q.Until != "" {
		if until, err = ParseUntil(q.Until); err != nil {
			return "", since, until, &FieldError{"until", err.Error()}
		}
	}
	if !since.Before(until) {
		return "", since, until, &FieldError{"since", "must be before until"}
	}
	return label, since, until, nil
}

// WriteExport writes rep as format: csv, else JSON.
func WriteExport(w io.Writer, rep Exported, format string) error {
	if format == "csv" {
		return rep.WriteCSV(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (a *api) export(w http.ResponseWriter, r *http.Request) error {
	if a.o.Export == nil {
		return &httpError{http.StatusNotFound, "usage export is not available on this gateway"}
	}
	v := r.URL.Query()
	q := ExportQuery{By: v.Get("by"), Since: v.Get("since"), Until: v.Get("until"), Format: v.Get("format")}
	label, since, until, err := q.Parse(a.svc.now())
	if err != nil {
		return err
	}
	rep, err := a.o.Export(r.Context(), label, since, until)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := WriteExport(&buf, rep, q.Format); err != nil {
		return err
	}
	if q.Format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="chargeback.csv"`)
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to tell it
	return nil
}

func (a *api) explain(w http.ResponseWriter, r *http.Request) error {
	if a.o.Explain == nil {
		return &httpError{http.StatusNotFound, "explain is not available"}
	}
	var q ExplainQuery
	if err := decode(r, &q); err != nil {
		return err
	}
	out, err := a.o.RouteExplain(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// RouteExplain checks q and answers it with Explain: the admin API and
// the console both explain through it.
func (o Options) RouteExplain(ctx context.Context, q ExplainQuery) (any, error) {
	if o.Explain == nil {
		return nil, &httpError{http.StatusNotFound, "explain is not available"}
	}
	if q.Model == "" {
		return nil, &FieldError{"model", "required"}
	}
	switch q.Traffic {
	case "":
		q.Traffic = "stateless"
	case "stateless", "stateful":
	default:
		return nil, &FieldError{"traffic", `must be "stateless" or "stateful"`}
	}
	return o.Explain(ctx, q)
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) error {
	if a.o.Reload == nil {
		return &httpError{http.StatusNotFound, "reload is not available (no config file)"}
	}
	if err := a.o.ReloadConfig(r.Context()); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]string{"message": err.Error()}, "reloaded": false})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true})
	return nil
}

// ReloadConfig re-reads the configuration and records the attempt in the
// audit log: the admin API and the console both reload through it.
func (o Options) ReloadConfig(ctx context.Context) error {
	if o.Reload == nil {
		return &httpError{http.StatusNotFound, "reload is not available (no config file)"}
	}
	err := o.Reload(ctx)
	if o.Service != nil {
		change := map[string]any{"reloaded": err == nil}
		if err != nil {
			change["error"] = err.Error()
		}
		o.Service.Recorded(ctx, access.ConfigReload, "config", change)
	}
	return err
}

// ListTenants lists every tenant the principal in ctx may see.
func (s *Service) ListTenants(ctx context.Context) ([]TenantView, error) {
	ts, err := s.Store.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	p := who(ctx)
	out := make([]TenantView, 0, len(ts))
	for i := range ts {
		if p.Sees(ts[i].ID, ts[i].Name) {
			out = append(out, ViewTenant(&ts[i]))
		}
	}
	return out, nil
}

// ListKeys lists the keys of the tenant named by id or name, or every key
// the principal in ctx may see when tenant is empty.
func (s *Service) ListKeys(ctx context.Context, tenant string) ([]KeyView, error) {
	return s.FindKeys(ctx, KeyQuery{Tenant: tenant})
}

// KeyQuery selects keys; zero fields do not filter.
type KeyQuery struct {
	// Tenant is a tenant's name or ID.
	Tenant string
	// Labels must all be on the key, each with the value given.
	Labels map[string]string
}

// FindKeys lists the keys q selects, oldest first.
func (s *Service) FindKeys(ctx context.Context, q KeyQuery) ([]KeyView, error) {
	tenantID := ""
	if q.Tenant != "" {
		t, err := s.Tenant(ctx, q.Tenant)
		if err != nil {
			return nil, err
		}
		tenantID = t.ID
	}
	ks, err := s.Store.ListKeys(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	p := who(ctx)
	var visible map[string]bool
	if p.Scoped() && tenantID == "" {
		visible = map[string]bool{}
		for _, name := range p.Tenants {
			if t, err := s.Tenant(ctx, name); err == nil {
				visible[t.ID] = true
			}
		}
	}
	out := make([]KeyView, 0, len(ks))
	for i := range ks {
		if (visible == nil || visible[ks[i].TenantID]) && hasLabels(ks[i].Metadata, q.Labels) {
			out = append(out, ViewKey(&ks[i]))
		}
	}
	return out, nil
}

// hasLabels reports whether md holds every label of want.
func hasLabels(md, want map[string]string) bool {
	for k, v := range want {
		if got, ok := md[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ParseLabelFilters parses label filters given as "k=v" (an empty v
// matches the label set to the empty string, which no stored label is).
func ParseLabelFilters(fs []string) (map[string]string, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, &FieldError{"label", fmt.Sprintf("want name=value, got %q", f)}
		}
		out[k] = v
	}
	return out, nil
}

// ChannelStatus is one channel's health and circuit breaker.
type ChannelStatus struct {
	Name string `json:"name"`
	// State is the breaker's state: closed, open or half_open.
	State               string `json:"state"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// ErrorRate is the share of failures among the WindowRequests
	// outcomes of the breaker's error-rate window.
	ErrorRate      float64 `json:"error_rate"`
	WindowRequests int     `json:"window_requests"`
	// Trips counts the breaker's recent consecutive trips.
	Trips        int        `json:"trips"`
	OpenUntil    *time.Time `json:"open_until,omitempty"`
	CoolingUntil *time.Time `json:"cooling_until,omitempty"`
	// LatencyMS and TTFBMS are decaying averages over successful
	// attempts; zero without samples.
	LatencyMS float64 `json:"latency_ms"`
	TTFBMS    float64 `json:"ttfb_ms"`
}

// ModelInfo is one client-facing model: its offerings in configured
// order and its routing strategy.
type ModelInfo struct {
	Name        string         `json:"name"`
	Aliases     []string       `json:"aliases,omitempty"`
	Strategy    string         `json:"strategy"`
	MaxAttempts int            `json:"max_attempts"`
	Offerings   []OfferingInfo `json:"offerings"`
}

// OfferingInfo is one channel's offering of a model, with its prices in
// USD per million tokens.
type OfferingInfo struct {
	Provider           string  `json:"provider"`
	ProviderType       string  `json:"provider_type,omitempty"`
	Region             string  `json:"region,omitempty"`
	UpstreamModel      string  `json:"upstream_model"`
	Weight             float64 `json:"weight,omitempty"`
	InputPerMTok       float64 `json:"input_per_mtok"`
	OutputPerMTok      float64 `json:"output_per_mtok"`
	CachedInputPerMTok float64 `json:"cached_input_per_mtok,omitempty"`
}

func (a *api) channels(w http.ResponseWriter, r *http.Request) error {
	if a.o.Channels == nil {
		return &httpError{http.StatusNotFound, "channel health is not available"}
	}
	out, err := a.o.Channels(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (a *api) resetChannel(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := a.o.ResetBreaker(r.Context(), name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": name, "reset": true})
	return nil
}

// ResetBreaker closes the named channel's circuit breaker and logs who
// asked: the admin API and the console both reset through it.
func (o Options) ResetBreaker(ctx context.Context, name string) error {
	if o.ResetChannel == nil {
		return &httpError{http.StatusNotFound, "breaker reset is not available"}
	}
	if err := o.ResetChannel(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusNotFound, fmt.Sprintf("no channel %q", name)}
		}
		return err
	}
	if o.Logger != nil {
		o.Logger.Info("circuit breaker reset by the operator", "channel", name, "subject", who(ctx).Subject)
	}
	if o.Service != nil {
		o.Service.Recorded(ctx, access.ChannelsReset, name, nil)
	}
	return nil
}

func (a *api) models(w http.ResponseWriter, r *http.Request) error {
	if a.o.Models == nil {
		return &httpError{http.StatusNotFound, "the model list is not available"}
	}
	out, err := a.o.Models(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// ErrBadProposal marks a what-if proposal that is not a valid
// configuration.
var ErrBadProposal = errors.New("invalid proposed configuration")

// whatIf is POST /admin/v1/whatif?since=30d&until=RFC3339 with the
// proposed configuration's YAML as the body (at most 1 MiB, as every
// admin body).
func (a *api) whatIf(w http.ResponseWriter, r *http.Request) error {
	if a.o.WhatIf == nil {
		return &httpError{http.StatusNotFound, "what-if is not available on this gateway"}
	}
	now := a.svc.now()
	q := r.URL.Query()
	since, until := now.Add(-30*24*time.Hour), now
	var err error
	if v := q.Get("since"); v != "" {
		if since, err = ParseSince(v, now); err != nil {
			return &FieldError{"since", err.Error()}
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = time.Parse(time.RFC3339, v); err != nil {
			return &FieldError{"until", "must be an RFC 3339 time"}
		}
	}
	if !since.Before(until) {
		return &FieldError{"since", "must be before until"}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, "body too large: the proposed configuration is limited to 1 MiB"}
		}
		return &httpError{http.StatusBadRequest, "reading the body: " + err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &httpError{http.StatusBadRequest, "the proposed configuration (YAML) is required as the body"}
	}
	rep, err := a.o.WhatIf(r.Context(), body, since, until)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// reconcile serves POST /admin/v1/reconcile?provider=P[&account=A]
// [&threshold_pct=5][&threshold_usd=0.01][&save=true] with the cost
// export as the body.
func (a *api) reconcile(w http.ResponseWriter, r *http.Request) error {
	if a.o.Reconcile == nil {
		return &httpError{http.StatusNotFound, "reconciliation is not available on this gateway"}
	}
	q := r.URL.Query()
	rq := ReconcileQuery{Provider: q.Get("provider"), Account: q.Get("account"), ThresholdPct: 5, ThresholdUSD: 0.01}
	if rq.Provider == "" {
		return &FieldError{"provider", "is required: aws, azure, gcp, openai or anthropic"}
	}
	for _, f := range []struct {
		name string
		to   *float64
	}{{"threshold_pct", &rq.ThresholdPct}, {"threshold_usd", &rq.ThresholdUSD}} {
		if v := q.Get(f.name); v != "" {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || !(x > 0) || x > 1e12 {
				return &FieldError{f.name, "must be a positive number"}
			}
			*f.to = x
		}
	}
	if v := q.Get("save"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &FieldError{"save", "must be true or false"}
		}
		rq.Save = b
	}
	spool, err := os.CreateTemp("", "switchyard-bill-")
	if err != nil {
		return fmt.Errorf("spooling the cost export: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	size, err := io.Copy(spool, r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: a cost export is limited to %d MiB", MaxBillUpload>>20)}
		}
		return &httpError{http.StatusBadRequest, "reading the body: " + err.Error()}
	}
	if size == 0 {
		return &httpError{http.StatusBadRequest, "the cost export is required as the body"}
	}
	rep, err := a.o.Reconcile(r.Context(), rq, spool, size)
	if err != nil {
		return err
	}
	if rq.Save && a.svc != nil {
		a.svc.Recorded(r.Context(), access.BillsReconcile, rq.Provider, rq)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
