package console_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/console"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/telemetry"
)

const adminToken = "console-test-token"

// clock is a settable clock for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv    *httptest.Server
	svc    *admin.Service
	clk    *clock
	resets []string
	reload error
	mu     sync.Mutex
}

// newFixture serves the console, beside the admin API as the gateway
// mounts them, over a real SQLite store, with operations that record what
// they were asked.
func newFixture(t *testing.T, tls bool) *fixture {
	t.Helper()
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	sealer, err := auth.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clk: &clock{t: time.Now()}}
	f.svc = &admin.Service{Store: st, Sealer: sealer}
	ops := admin.Options{Service: f.svc, Token: adminToken, Authenticators: access.Chain{f.svc.AdminTokens()},
		Explain: func(ctx context.Context, q admin.ExplainQuery) (any, error) {
			return map[string]any{"decision": map[string]any{"model": q.Model, "tenant": q.Tenant, "traffic": q.Traffic, "strategy": "priority",
				"max_attempts": 2, "order": []any{map[string]any{"provider": "azure-sim", "upstream_model": "m1"}},
				"candidates": []any{map[string]any{"provider": "azure-sim", "upstream_model": "m1", "health": "closed"},
					map[string]any{"provider": "openai-sim", "upstream_model": "m2", "health": "open", "reason": "breaker_open", "removed": "breaker open until later"}},
				"why": []string{"strategy priority: configured order", "openai-sim removed: breaker open"}}}, nil
		},
		Channels: func(ctx context.Context) ([]admin.ChannelStatus, error) {
			return []admin.ChannelStatus{{Name: "azure-sim", State: "closed"}, {Name: "openai-sim", State: "open", Trips: 1, ErrorRate: 0.5, WindowRequests: 40}}, nil
		},
		ResetChannel: func(ctx context.Context, name string) error {
			if name != "openai-sim" && name != "azure-sim" {
				return store.ErrNotFound
			}
			f.mu.Lock()
			f.resets = append(f.resets, name)
			f.mu.Unlock()
			return nil
		},
		Models: func(ctx context.Context) ([]admin.ModelInfo, error) {
			return []admin.ModelInfo{{Name: "gpt-4o-mini", Strategy: "priority", MaxAttempts: 2,
				Offerings: []admin.OfferingInfo{{Provider: "azure-sim", UpstreamModel: "m1", InputPerMTok: 1, OutputPerMTok: 2}}}}, nil
		},
		Reload: func(ctx context.Context) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.reload
		},
		Report: func(ctx context.Context, name string, since, until time.Time) (any, error) {
			now := time.Now().UTC()
			switch name {
			case "contract":
				return map[string]any{"since": since, "until": until,
					"contracts": []any{map[string]any{"group": "eu-only", "requests": 7, "cost_usd": 1.5}},
					"commitments": []any{map[string]any{"contract": "azure-commit", "provider": "azure-sim", "period": "month", "period_start": now.AddDate(0, 0, -10), "period_end": now.AddDate(0, 0, 20), "amount_usd": 300, "spent_usd": 40, "pacing_usd": 100, "behind": true,
						"forecast": map[string]any{"method": "last 7 days' run rate", "projected_usd": 123.45, "ends_short": true}}}}, nil
			case "compliance":
				return map[string]any{"checked": 7, "violations": []any{}, "unrecorded": []any{}}, nil
			}
			return nil, errors.New("no such report")
		},
	}
	ui := console.Handler(console.Options{Admin: ops, Now: f.clk.now, IdleTimeout: 10 * time.Minute,
		Figures: func() (telemetry.Figures, error) {
			return telemetry.Figures{Requests: 12, P50: 80 * time.Millisecond, P99: 900 * time.Millisecond, Refusals: map[string]float64{"overload: queue_full": 2}}, nil
		},
		Config: func() ([]byte, error) { return []byte("store:\n  dsn: postgres://sy:REDACTED@db/sy\n"), nil }})
	mux := http.NewServeMux()
	mux.Handle("/", admin.Handler(ops))
	mux.Handle("/ui/", ui)
	mux.Handle("GET /{$}", ui)
	if tls {
		f.srv = httptest.NewTLSServer(mux)
	} else {
		f.srv = httptest.NewServer(mux)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	t   *testing.T
	c   *http.Client
	f   *fixture
	jar *cookiejar.Jar
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := new(http.Client)
	*c = *f.srv.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, c: c, f: f, jar: jar}
}

type page struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.f.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, string(raw), resp.Header}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", p.body)
	}
	return m[1]
}

func (b *browser) signIn(token string) page {
	b.t.Helper()
	form := b.get("/ui/signin")
	return b.do("POST", "/ui/signin", url.Values{"csrf": {csrfOf(b.t, form)}, "token": {token}})
}

// post submits a form of the page at from, with that page's CSRF token.
func (b *browser) post(from, action string, fields url.Values) page {
	b.t.Helper()
	if fields == nil {
		fields = url.Values{}
	}
	fields.Set("csrf", csrfOf(b.t, b.get(from)))
	return b.do("POST", action, fields)
}

func TestRedirectsAndSignIn(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	if p := b.get("/"); p.status != http.StatusFound || p.header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d %q, want 302 to /ui/", p.status, p.header.Get("Location"))
	}
	if p := b.get("/ui/channels"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/signin" {
		t.Errorf("a page before sign-in = %d %q, want 303 to the sign-in form", p.status, p.header.Get("Location"))
	}
	// The admin API is untouched.
	if p := b.get("/admin/v1/tenants"); p.status != http.StatusUnauthorized {
		t.Errorf("admin API without a token = %d", p.status)
	}
	p := b.signIn("not-the-token")
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "That is not the admin token.") {
		t.Errorf("wrong token: %d\n%s", p.status, p.body)
	}
	// A sign-in without the form's token is refused even with the right
	// admin token.
	if p := b.do("POST", "/ui/signin", url.Values{"token": {adminToken}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without CSRF = %d, want 403", p.status)
	}
	p = b.signIn(adminToken)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in = %d %q", p.status, p.header.Get("Location"))
	}
	if p := b.get("/ui/"); p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Overview</h1>") {
		t.Errorf("overview after sign-in = %d", p.status)
	}
	// Sign out ends the session on the server: the old cookie is worthless.
	u, _ := url.Parse(f.srv.URL + "/ui/")
	old := b.jar.Cookies(u)
	if p := b.post("/ui/", "/ui/signout", nil); p.status != http.StatusSeeOther {
		t.Errorf("sign-out = %d", p.status)
	}
	b.jar.SetCookies(u, old)
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("the signed-out session still opens pages: %d", p.status)
	}
}

func TestSessionCookie(t *testing.T) {
	for _, tls := range []bool{false, true} {
		f := newFixture(t, tls)
		b := f.browser(t)
		p := b.signIn(adminToken)
		var ck string
		for _, v := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "switchyard_console=") {
				ck = v
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/ui/"} {
			if !strings.Contains(ck, want) {
				t.Errorf("tls=%v: session cookie %q lacks %s", tls, ck, want)
			}
		}
		if got := strings.Contains(ck, "Secure"); got != tls {
			t.Errorf("tls=%v: session cookie %q: Secure = %v", tls, ck, got)
		}
		id := strings.TrimPrefix(strings.SplitN(ck, ";", 2)[0], "switchyard_console=")
		if len(id) < 40 || strings.Contains(id, adminToken) {
			t.Errorf("session id %q is not a long random value", id)
		}
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	f.clk.add(9 * time.Minute)
	if p := b.get("/ui/usage"); p.status != http.StatusOK {
		t.Fatalf("a page within the idle time = %d", p.status)
	}
	f.clk.add(9 * time.Minute) // idle time counts from the last request
	if p := b.get("/ui/usage"); p.status != http.StatusOK {
		t.Fatalf("a page 9 minutes after the last = %d", p.status)
	}
	f.clk.add(10 * time.Minute)
	if p := b.get("/ui/usage"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/signin" {
		t.Errorf("a page after 10 idle minutes = %d %q, want the sign-in form", p.status, p.header.Get("Location"))
	}
}

func TestActionsNeedCSRF(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	for _, form := range []url.Values{{"name": {"acme"}}, {"name": {"acme"}, "csrf": {"forged"}}} {
		if p := b.do("POST", "/ui/tenants", form); p.status != http.StatusForbidden || !strings.Contains(p.body, "security token") {
			t.Errorf("create tenant with csrf %q = %d", form.Get("csrf"), p.status)
		}
	}
	if ts, _ := f.svc.ListTenants(context.Background()); len(ts) != 0 {
		t.Fatalf("a refused form created %d tenant(s)", len(ts))
	}
	if p := b.do("POST", "/ui/channels/openai-sim/reset", url.Values{}); p.status != http.StatusForbidden || len(f.resets) != 0 {
		t.Errorf("reset without CSRF = %d, resets %v", p.status, f.resets)
	}
	// The token of another session does not do either.
	other := f.browser(t)
	other.signIn(adminToken)
	foreign := csrfOf(t, other.get("/ui/tenants"))
	if p := b.do("POST", "/ui/tenants", url.Values{"name": {"acme"}, "csrf": {foreign}}); p.status != http.StatusForbidden {
		t.Errorf("another session's token = %d", p.status)
	}
	// GET never acts.
	if p := b.get("/ui/channels/openai-sim/reset"); p.status == http.StatusOK || len(f.resets) != 0 {
		t.Errorf("GET of an action = %d, resets %v", p.status, f.resets)
	}
}

func TestTenantsAndKeys(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	p := b.post("/ui/tenants", "/ui/tenants", url.Values{"name": {"acme"}, "rpm": {"60"}, "budget_usd": {"5"}, "budget_period": {"day"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create tenant = %d\n%s", p.status, p.body)
	}
	tenantPage := p.header.Get("Location")
	tn, err := f.svc.Tenant(context.Background(), "acme")
	if err != nil || tn.RPM != 60 || tn.BudgetUSD != 5 {
		t.Fatalf("tenant %+v, %v", tn, err)
	}
	// A bad field is named, in the page, with a 400.
	if p := b.post("/ui/tenants", "/ui/tenants", url.Values{"name": {"acme2"}, "rpm": {"-1"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "rpm: must not be negative") {
		t.Errorf("negative rpm = %d\n%s", p.status, p.body)
	}
	if p := b.post("/ui/tenants", "/ui/tenants", url.Values{"name": {"acme"}}); p.status != http.StatusConflict {
		t.Errorf("duplicate tenant = %d", p.status)
	}
	if p := b.get("/ui/tenants?q=acm"); !strings.Contains(p.body, ">acme</a>") {
		t.Errorf("search lacks acme:\n%s", p.body)
	}
	if p := b.get("/ui/tenants?q=zzz"); strings.Contains(p.body, ">acme</a>") {
		t.Error("search for zzz lists acme")
	}
	// Issue: the secret and the AWS pair are shown once, on the response
	// to the form, never again.
	p = b.post(tenantPage, tenantPage+"/keys", url.Values{"name": {"ci"}, "allowed_models": {"gpt-*, claude-*"}})
	if p.status != http.StatusOK {
		t.Fatalf("issue key = %d\n%s", p.status, p.body)
	}
	secret := regexp.MustCompile(`id="secret">(sk-sy-[^<]+)<`).FindStringSubmatch(p.body)
	awsSecret := regexp.MustCompile(`id="aws-secret">([^<]+)<`).FindStringSubmatch(p.body)
	if secret == nil || awsSecret == nil || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("issued page lacks the secret or the AWS pair, or may be cached:\n%s", p.body)
	}
	k, err := f.svc.FindKey(context.Background(), secret[1])
	if err != nil || k.Name != "ci" || len(k.AllowedModels) != 2 {
		t.Fatalf("issued key %+v, %v", k, err)
	}
	tp := b.get(tenantPage)
	if strings.Contains(tp.body, secret[1]) || strings.Contains(tp.body, awsSecret[1]) {
		t.Error("the tenant page shows a key's secret")
	}
	if !strings.Contains(tp.body, k.Prefix) {
		t.Error("the tenant page does not list the key")
	}
	// Labels and allow-list: set from the key's row, shown in it.
	p = b.post(tenantPage, "/ui/keys/"+k.ID+"/settings", url.Values{"labels": {"team=search, env=prod"}, "allowed_cidrs": {"10.0.0.0/8, 2001:db8::/32"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("key settings = %d\n%s", p.status, p.body)
	}
	if got, _ := f.svc.FindKey(context.Background(), k.ID); got.Metadata["team"] != "search" || len(got.AllowedCIDRs) != 2 {
		t.Errorf("key after settings: %+v", got)
	}
	if p := b.get(tenantPage); !strings.Contains(p.body, "env=prod,team=search") || !strings.Contains(p.body, "10.0.0.0/8,2001:db8::/32") || !strings.Contains(p.body, "never") {
		t.Errorf("tenant page lacks the key's labels, allow-list or last use")
	}
	if p := b.post(tenantPage, "/ui/keys/"+k.ID+"/settings", url.Values{"allowed_cidrs": {"10.0.0.1"}}); p.status != http.StatusBadRequest && p.status != http.StatusOK {
		t.Errorf("bad allow-list = %d", p.status)
	} else if got, _ := f.svc.FindKey(context.Background(), k.ID); len(got.AllowedCIDRs) != 2 {
		t.Errorf("a bad allow-list was saved: %v", got.AllowedCIDRs)
	}
	// Rotate with a grace window: a new secret, the key keeps its ID, and
	// the old secret works until the window ends.
	p = b.post(tenantPage, "/ui/keys/"+k.ID+"/rotate", url.Values{"grace": {"24h"}})
	newSecret := regexp.MustCompile(`id="secret">(sk-sy-[^<]+)<`).FindStringSubmatch(p.body)
	if p.status != http.StatusOK || newSecret == nil || newSecret[1] == secret[1] || !strings.Contains(p.body, "old secret keeps working until") {
		t.Fatalf("rotate = %d\n%s", p.status, p.body)
	}
	if old, err := f.svc.FindKey(context.Background(), secret[1]); err != nil || old.ID != k.ID || old.Previous == nil {
		t.Errorf("old secret after a rotation with grace: %+v, %v", old, err)
	}
	if p := b.get(tenantPage); !strings.Contains(p.body, "works until") {
		t.Error("the tenant page does not show the old secret's grace window")
	}
	// Revoke the new one.
	nk, _ := f.svc.FindKey(context.Background(), newSecret[1])
	if p := b.post(tenantPage, "/ui/keys/"+nk.ID+"/revoke", nil); p.status != http.StatusSeeOther {
		t.Errorf("revoke = %d", p.status)
	}
	if got, _ := f.svc.FindKey(context.Background(), nk.ID); got.RevokedAt == nil {
		t.Error("revoke left the key live")
	}
	if p := b.get(tenantPage); !strings.Contains(p.body, "revoked") || !strings.Contains(p.body, "Key "+nk.Prefix+"… revoked.") {
		t.Errorf("tenant page after revoke lacks the revocation or its notice")
	}
	// Edit limits and disable.
	p = b.post(tenantPage, tenantPage+"/limits", url.Values{"rpm": {"120"}, "tpm": {"1000"}, "budget_usd": {"9.5"}, "budget_period": {"month"}, "disabled": {"on"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("limits = %d\n%s", p.status, p.body)
	}
	if tn, _ = f.svc.Tenant(context.Background(), "acme"); tn.RPM != 120 || tn.TPM != 1000 || tn.BudgetUSD != 9.5 || tn.BudgetPeriod != "month" || !tn.Disabled {
		t.Errorf("tenant after edit %+v", tn)
	}
	if p := b.post(tenantPage, tenantPage+"/limits", url.Values{"rpm": {"lots"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "rpm: must be a whole number") {
		t.Errorf("non-numeric rpm = %d", p.status)
	}
	if p := b.get("/ui/tenants/nope"); p.status != http.StatusNotFound {
		t.Errorf("unknown tenant = %d", p.status)
	}
}

func TestChannelsAndExplain(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	p := b.get("/ui/channels")
	if !strings.Contains(p.body, `class="state open"`) || !strings.Contains(p.body, "50.0% of 40") {
		t.Errorf("channels page lacks the open breaker:\n%s", p.body)
	}
	if p := b.post("/ui/channels", "/ui/channels/openai-sim/reset", nil); p.status != http.StatusSeeOther {
		t.Errorf("reset = %d", p.status)
	}
	if len(f.resets) != 1 || f.resets[0] != "openai-sim" {
		t.Errorf("resets = %v", f.resets)
	}
	if p := b.get("/ui/channels"); !strings.Contains(p.body, "The circuit breaker of openai-sim is reset") {
		t.Error("no notice after the reset")
	}
	if p := b.post("/ui/channels", "/ui/channels/nope/reset", nil); p.status != http.StatusNotFound || !strings.Contains(p.body, `no channel &#34;nope&#34;`) {
		t.Errorf("reset of an unknown channel = %d\n%s", p.status, p.body)
	}
	p = b.get("/ui/models?model=gpt-4o-mini&tenant=&traffic=stateful")
	for _, want := range []string{"strategy priority: configured order", "breaker open until later", `<span class="state open">open</span>`, "stateful traffic"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("explanation lacks %q", want)
		}
	}
	if p := b.get("/ui/models?model=gpt-4o-mini&traffic=bogus"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "traffic: must be") {
		t.Errorf("bad traffic class = %d", p.status)
	}
}

func TestEveryPageRenders(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	for path, want := range map[string][]string{
		"/ui/":                  {"Last 30 days", "<svg", "Requests per hour", "overload: queue_full", "900ms"},
		"/ui/channels":          {"azure-sim", "Reset breaker"},
		"/ui/models":            {"gpt-4o-mini", "$1.00", "Explain a route"},
		"/ui/contracts":         {"eu-only", "Compliance over", `<option value="1h" selected>`, "azure-commit on azure-sim", "<polyline class=\"pacing\"", "0 violation(s)", "behind", "Projected at period end: $123 (last 7 days&#39; run rate): <strong>ends short of the commitment"},
		"/ui/tenants":           {"Create a tenant"},
		"/ui/usage":             {"Export as CSV", "Group by"},
		"/ui/usage?by=contract": {"eu-only"},
		"/ui/config":            {"postgres://sy:REDACTED@db/sy", "Reload from the file"},
		"/ui/requests":          {"No requests match.", "<label>Channel"},
	} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Errorf("%s = %d\n%s", path, p.status, p.body)
			continue
		}
		for _, w := range want {
			if !strings.Contains(p.body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
			if p.header.Get(h) == "" {
				t.Errorf("%s lacks %s", path, h)
			}
		}
		if !strings.Contains(p.body, `<main id="main"`) || !strings.Contains(p.body, `aria-label="Console sections"`) {
			t.Errorf("%s lacks its landmarks", path)
		}
	}
	if p := b.get("/ui/usage?by=colour"); p.status != http.StatusBadRequest {
		t.Errorf("bad grouping = %d", p.status)
	}
	if p := b.get("/ui/static/console.css"); p.status != http.StatusOK || !strings.Contains(p.body, "prefers-color-scheme: dark") {
		t.Errorf("stylesheet = %d", p.status)
	}
}

func TestUsageCSV(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	iss, err := f.svc.IssueKey(ctx, admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	st := f.svc.Store.(*sqlstore.Store)
	now := time.Now()
	if err := st.InsertUsage(ctx, []store.UsageRecord{
		{RequestID: "r1", TenantID: iss.Key.TenantID, KeyID: iss.Key.ID, Model: "gpt-4o-mini", Provider: "azure-sim", Status: 200, InputTokens: 10, OutputTokens: 20, CostUSD: 0.25, CreatedAt: now},
		{RequestID: "r2", TenantID: iss.Key.TenantID, KeyID: iss.Key.ID, Model: "gpt-4o-mini", Provider: "azure-sim", Status: 500, CreatedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(adminToken)
	p := b.get("/ui/usage.csv?by=tenant&since=1h")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") || !strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv = %d %v", p.status, p.header)
	}
	want := "tenant,group_id,requests,errors,input_tokens,output_tokens,cached_input_tokens,reasoning_tokens,cost_usd\n" +
		"acme," + iss.Key.TenantID + ",2,1,10,20,0,0,0.250000\n"
	if p.body != want {
		t.Errorf("csv:\n%s\nwant:\n%s", p.body, want)
	}
	if p := b.get("/ui/usage.csv?by=tenant&since=yesterday"); p.status != http.StatusBadRequest {
		t.Errorf("bad since = %d", p.status)
	}
	if p := b.get("/ui/usage?by=key&since=1h"); !strings.Contains(p.body, iss.Key.Prefix+"… ci") {
		t.Errorf("usage by key does not name the key:\n%s", p.body)
	}
}

func TestReloadShowsEveryError(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	f.reload = errors.Join(errors.New("models[0].offerings[0].provider: no provider \"nope\""), errors.New("listen: required"))
	p := b.post("/ui/config", "/ui/config/reload", nil)
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("refused reload = %d", p.status)
	}
	for _, want := range []string{"no provider &#34;nope&#34;", "listen: required", "the running configuration stays"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("reload page lacks %q:\n%s", want, p.body)
		}
	}
	f.reload = nil
	if p := b.post("/ui/config", "/ui/config/reload", nil); p.status != http.StatusSeeOther {
		t.Errorf("good reload = %d", p.status)
	}
	if p := b.get("/ui/config"); !strings.Contains(p.body, "Configuration reloaded") {
		t.Error("no notice after a reload")
	}
}

func TestThemeChoice(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(adminToken)
	if p := b.get("/ui/channels"); strings.Contains(p.body, "data-theme=") || !strings.Contains(p.body, `content="light dark"`) {
		t.Errorf("before a choice the page should follow the system's theme")
	}
	p := b.post("/ui/channels", "/ui/theme", url.Values{"theme": {"dark"}, "next": {"/ui/channels?x=1"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/channels?x=1" {
		t.Errorf("theme dark = %d to %q, want 303 back to the page", p.status, p.header.Get("Location"))
	}
	if p := b.get("/ui/usage"); !strings.Contains(p.body, `<html lang="en" data-theme="dark">`) || !strings.Contains(p.body, `<option value="dark" selected>`) {
		t.Errorf("after picking dark the page is not dark:\n%.400s", p.body)
	}
	for _, next := range []string{"https://elsewhere.example/", "//elsewhere.example/ui/", "/admin/v1/keys", "/ui/\r\nX: y"} {
		if p := b.post("/ui/", "/ui/theme", url.Values{"theme": {"light"}, "next": {next}}); p.header.Get("Location") != "/ui/" {
			t.Errorf("theme with next %q goes to %q, want /ui/", next, p.header.Get("Location"))
		}
	}
	if p := b.get("/ui/"); !strings.Contains(p.body, `data-theme="light"`) {
		t.Error("after picking light the page is not light")
	}
	if p := b.post("/ui/", "/ui/theme", url.Values{"theme": {"purple"}}); p.status != http.StatusBadRequest {
		t.Errorf("theme purple = %d, want 400", p.status)
	}
	if p := b.do("POST", "/ui/theme", url.Values{"theme": {"dark"}}); p.status != http.StatusForbidden {
		t.Errorf("theme without the CSRF token = %d, want 403", p.status)
	}
	b.post("/ui/", "/ui/theme", url.Values{"theme": {"system"}})
	if p := b.get("/ui/"); strings.Contains(p.body, "data-theme=") {
		t.Error("after picking the system's theme the page still has one")
	}
	// The choice outlives the session: the sign-in page wears it too.
	b.post("/ui/", "/ui/theme", url.Values{"theme": {"dark"}})
	b.post("/ui/", "/ui/signout", nil)
	if p := b.get("/ui/signin"); !strings.Contains(p.body, `data-theme="dark"`) {
		t.Error("the sign-in page ignores the picked theme")
	}
}
