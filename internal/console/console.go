// Package console owns the operator console: server-rendered
// html/template pages and their embedded stylesheet under /ui/ on the
// admin listener. An operator signs in with the admin token (or another
// admin credential) or through single sign-on, and gets a server-side
// session; every form carries the session's CSRF token and
// every action goes through the admin package (its Service and the
// Options methods the admin API calls), so the console is authorised and
// recorded as the API is. Charts are inline SVG drawn on the server: the
// pages need no JavaScript. The console never reaches the store, the
// router or the gateway itself.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/telemetry"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the console.
type Options struct {
	// Admin is the admin API's configuration: its service, token and
	// operations (explain, reload, reports, channels). The console signs
	// in with Admin.Token and acts only through these.
	Admin admin.Options
	// Figures reads request counts, latency quantiles and refusals from
	// the metrics; nil leaves them off the overview.
	Figures func() (telemetry.Figures, error)
	// Config returns the running configuration with its secrets redacted.
	Config func() ([]byte, error)
	// SSO, when set, offers "Sign in with single sign-on" (admin.oidc).
	SSO SingleSignOn
	// SSORedirectURL is where the provider sends the browser back; empty
	// derives it from each request: http(s)://HOST/ui/sso/callback.
	SSORedirectURL string
	// IdleTimeout ends a session after this long without a request.
	// Default: 30 minutes.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions held at once. Default: 1,000.
	MaxSessions int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

type console struct {
	o        Options
	svc      *admin.Service
	log      *slog.Logger
	sessions *sessions
	// pages parses the templates on the first render: a gateway whose
	// console is never opened does not hold them (about 1 MiB of parse
	// trees, a fair part of its idle heap).
	pages func() map[string]*template.Template
	now   func() time.Time
}

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

// Handler serves the console under /ui/ and redirects / there. Mount it
// for "/ui/" and "GET /{$}" beside the admin API.
func Handler(o Options) http.Handler {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &console{o: o, svc: o.Admin.Service, log: o.Admin.Logger, now: o.Now, pages: sync.OnceValue(parseTemplates),
		sessions: newSessions(o.IdleTimeout, o.MaxSessions, o.Now)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/signin", c.signinForm)
	mux.HandleFunc("POST /ui/signin", c.signin)
	mux.HandleFunc("GET /ui/sso/start", c.ssoStart)
	mux.HandleFunc("GET /ui/sso/callback", c.ssoCallback)
	mux.Handle("POST /ui/signout", c.action(access.SignIn, c.signout))
	mux.Handle("POST /ui/theme", c.action(access.SignIn, c.setTheme))
	mux.Handle("GET /ui/{$}", c.page(access.ChannelsRead, c.overview))
	mux.Handle("GET /ui/channels", c.page(access.ChannelsRead, c.channels))
	mux.Handle("POST /ui/channels/{name}/reset", c.action(access.ChannelsReset, c.resetChannel))
	mux.Handle("GET /ui/models", c.page(access.ModelsRead, c.models))
	mux.Handle("GET /ui/contracts", c.page(access.ReportsRead, c.contracts))
	mux.Handle("GET /ui/tenants", c.page(access.TenantsRead, c.tenants))
	mux.Handle("POST /ui/tenants", c.action(access.TenantsCreate, c.createTenant))
	mux.Handle("GET /ui/tenants/{id}", c.page(access.TenantsRead, c.tenant))
	mux.Handle("POST /ui/tenants/{id}/limits", c.action(access.TenantsWrite, c.updateTenant))
	mux.Handle("POST /ui/tenants/{id}/keys", c.action(access.KeysWrite, c.issueKey))
	mux.Handle("POST /ui/keys/{id}/revoke", c.action(access.KeysWrite, c.revokeKey))
	mux.Handle("POST /ui/keys/{id}/rotate", c.action(access.KeysWrite, c.rotateKey))
	mux.Handle("POST /ui/keys/{id}/settings", c.action(access.KeysWrite, c.keySettings))
	mux.Handle("GET /ui/usage", c.page(access.UsageRead, c.usage))
	mux.Handle("GET /ui/usage.csv", c.page(access.UsageRead, c.usageCSV))
	mux.Handle("GET /ui/requests", c.page(access.RequestsRead, c.requests))
	mux.Handle("GET /ui/requests/{id}", c.page(access.RequestsRead, c.request))
	mux.Handle("GET /ui/config", c.page(access.ConfigRead, c.config))
	mux.Handle("POST /ui/config/reload", c.action(access.ConfigReload, c.reload))
	mux.Handle("GET /ui/audit", c.page(access.AuditRead, c.audit))
	mux.Handle("/ui/", c.page(access.SignIn, func(w http.ResponseWriter, r *http.Request, v *view) error {
		return notFound("no console page " + r.URL.Path)
	}))
	return securityHeaders(mux)
}

// securityHeaders keeps the console's pages to their own origin: no
// script, no framing, forms posted only to the console itself.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// view is what every page template gets.
type view struct {
	Title string
	// Nav is the active navigation entry.
	Nav string
	// Who is the signed-in principal, shown in the header.
	Who string
	// Refresh, if set, is where the page sends the browser at once (a
	// same-site navigation, after single sign-on's cross-site return).
	Refresh string
	CSRF    string
	Flash   string
	// Can says which navigation entries (by Nav name) and actions (by
	// action name) the signed-in role may use: the others are not shown.
	Can map[string]bool
	// Error is a problem to show above the page's content.
	Error string
	// Data is the page's own data.
	Data any
	// Theme is the palette the operator picked ("light" or "dark"), or
	// empty to follow the system's; Here is the page's own path, where
	// the theme form returns.
	Theme, Here string
	// template names the page's template; empty skips rendering (the
	// handler wrote the response itself).
	template string
	status   int
}

// pageFunc fills v for a GET, or writes the response itself.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *view) error

// httpProblem is an error with the status and message an operator sees.
type httpProblem struct {
	status int
	msg    string
}

func (e *httpProblem) Error() string { return e.msg }

func notFound(msg string) error   { return &httpProblem{http.StatusNotFound, msg} }
func badRequest(msg string) error { return &httpProblem{http.StatusBadRequest, msg} }

// signedIn returns the request's session, or nil. A single sign-on
// session past its ID token's expiry is renewed with its refresh token or
// ended. A session signed in with a scoped admin token ends when the token
// is revoked: the token is checked in the store on every request, as the
// admin API checks it.
func (c *console) signedIn(r *http.Request) (*session, string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	s := c.sessions.get(ck.Value)
	if s != nil && !s.expiry.IsZero() && !c.now().Before(s.expiry) {
		s = c.renew(r.Context(), ck.Value, s)
	}
	if s != nil && c.svc != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		ok, err := c.svc.StillValid(ctx, s.who)
		cancel()
		if err != nil {
			c.log.Error("console session check failed", "subject", s.who.Subject, "err", err)
			return nil, ""
		}
		if !ok {
			c.sessions.delete(ck.Value)
			return nil, ""
		}
	}
	return s, ck.Value
}

// who is how the header names a principal.
func who(p access.Principal) string {
	name := p.Name
	if name == "" {
		name = p.Subject
	}
	return name + " (" + string(p.Role) + ")"
}

// navActions are the console's navigation entries (by view.Nav name) and
// the action each page needs.
var navActions = map[string]access.Action{
	"overview":  access.ChannelsRead,
	"channels":  access.ChannelsRead,
	"models":    access.ModelsRead,
	"contracts": access.ReportsRead,
	"tenants":   access.TenantsRead,
	"usage":     access.UsageRead,
	"requests":  access.RequestsRead,
	"config":    access.ConfigRead,
	"audit":     access.AuditRead,
}

// can lists the navigation entries (by Nav name) and the actions (by
// action name, such as "keys.write") p may use, for the templates to leave
// out the links and forms it may not.
func can(p access.Principal) map[string]bool {
	out := make(map[string]bool, len(navActions))
	for nav, a := range navActions {
		out[nav] = access.Allowed(p, a)
	}
	for _, a := range access.Actions() {
		out[string(a)] = access.Allowed(p, a)
	}
	return out
}

// landing is the first page a principal is sent to after signing in: the
// overview, or the tenants for a role that may not see it.
func landing(p access.Principal) string {
	if access.Allowed(p, navActions["overview"]) {
		return "/ui/"
	}
	return "/ui/tenants"
}

// permitted is the one place that decides whether a session may use a
// page or an action: the access policy, as for the admin API. A refusal
// is recorded in the audit log.
func (c *console) permitted(s *session, r *http.Request, action access.Action) bool {
	if access.Allowed(s.who, action) {
		return true
	}
	if c.svc != nil {
		c.svc.Refused(r.Context(), action, r.Method+" "+auth.RedactKeys(r.URL.Path))
	}
	return false
}

// acting returns r carrying the session's principal and the request's
// origin, so that the admin service scopes and records what it does.
func acting(r *http.Request, s *session) *http.Request {
	ctx := access.WithPrincipal(r.Context(), s.who)
	ctx = access.WithOrigin(ctx, access.Origin{Address: r.RemoteAddr, RequestID: "ui_" + randomToken()[:16]})
	return r.WithContext(ctx)
}

// page serves a GET page to a signed-in operator whose role may perform
// action; anyone else is sent to sign in.
func (c *console) page(action access.Action, fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := c.signedIn(r)
		if s == nil {
			http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
			return
		}
		r = acting(r, s)
		if !c.permitted(s, r, action) {
			c.render(w, r, &view{Title: "Not allowed", Error: "Your role may not open this page.", Nav: "-", CSRF: s.csrf, Can: can(s.who),
				status: http.StatusForbidden, template: "error"})
			return
		}
		v := &view{CSRF: s.csrf, Who: who(s.who), Flash: c.sessions.takeFlash(s), Can: can(s.who), Here: r.URL.RequestURI(), status: http.StatusOK}
		if err := fn(w, r, v); err != nil {
			c.fail(w, r, v, err)
			return
		}
		if v.template != "" {
			c.render(w, r, v)
		}
	})
}

// action serves a form POST: a signed-in session, a permitted role and
// the session's CSRF token, or nothing happens. fn returns where to go
// next (303), or fills v to render a page itself (a key's secret, shown
// once, is never put in a redirect).
func (c *console) action(action access.Action, fn func(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		s, _ := c.signedIn(r)
		if s == nil {
			c.render(w, r, &view{Title: "Signed out", Error: "Your session has ended; sign in again.", status: http.StatusUnauthorized, template: "error"})
			return
		}
		r = acting(r, s)
		v := &view{CSRF: s.csrf, Who: who(s.who), Can: can(s.who), status: http.StatusOK}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, v, badRequest("unreadable form"))
			return
		}
		if !tokensEqual(r.PostForm.Get("csrf"), s.csrf) {
			c.fail(w, r, v, &httpProblem{http.StatusForbidden, "The form's security token is missing or stale; reload the page and try again."})
			return
		}
		if !c.permitted(s, r, action) {
			c.fail(w, r, v, &httpProblem{http.StatusForbidden, "Your role may not do this."})
			return
		}
		next, err := fn(w, r, s, v)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		if next != "" {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		if v.template != "" {
			c.render(w, r, v)
		}
	})
}

// fail shows err on an error page with its status; an unexpected error is
// logged (secrets redacted) and shown as an internal error.
func (c *console) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var p *httpProblem
	status, msg := 0, ""
	if errors.As(err, &p) {
		status, msg = p.status, p.msg
	} else {
		status, msg = admin.Problem(err)
	}
	if status == http.StatusInternalServerError && !errors.As(err, &p) {
		c.log.Error("console request failed", "method", r.Method, "path", auth.RedactKeys(r.URL.Path), "err", auth.RedactKeys(err.Error()))
	}
	v.Title, v.Error, v.Data, v.status, v.template = http.StatusText(status), msg, nil, status, "error"
	c.render(w, r, v)
}

func (c *console) render(w http.ResponseWriter, r *http.Request, v *view) {
	t := c.pages()[v.template]
	if t == nil {
		http.Error(w, "no template "+v.template, http.StatusInternalServerError)
		return
	}
	v.Theme = themeOf(r)
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		c.log.Error("console page failed to render", "page", v.template, "err", err)
		http.Error(w, "the page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(v.status)
	_, _ = w.Write([]byte(b.String()))
}

// ctx bounds one page's calls into the admin service and its reports.
func pageContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 15*time.Second)
}
