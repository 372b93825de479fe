// Package console owns the operator console: server-rendered
// html/template pages and their embedded stylesheet under /ui/ on the
// admin listener. An operator signs in with the admin token and gets a
// server-side session; every form carries the session's CSRF token and
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
	pages    map[string]*template.Template
	now      func() time.Time
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
	c := &console{o: o, svc: o.Admin.Service, log: o.Admin.Logger, now: o.Now, pages: parseTemplates(),
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
	mux.Handle("POST /ui/signout", c.action(c.signout))
	mux.Handle("POST /ui/theme", c.action(c.setTheme))
	mux.Handle("GET /ui/{$}", c.page(c.overview))
	mux.Handle("GET /ui/channels", c.page(c.channels))
	mux.Handle("POST /ui/channels/{name}/reset", c.action(c.resetChannel))
	mux.Handle("GET /ui/models", c.page(c.models))
	mux.Handle("GET /ui/contracts", c.page(c.contracts))
	mux.Handle("GET /ui/tenants", c.page(c.tenants))
	mux.Handle("POST /ui/tenants", c.action(c.createTenant))
	mux.Handle("GET /ui/tenants/{id}", c.page(c.tenant))
	mux.Handle("POST /ui/tenants/{id}/limits", c.action(c.updateTenant))
	mux.Handle("POST /ui/tenants/{id}/keys", c.action(c.issueKey))
	mux.Handle("POST /ui/keys/{id}/revoke", c.action(c.revokeKey))
	mux.Handle("POST /ui/keys/{id}/rotate", c.action(c.rotateKey))
	mux.Handle("GET /ui/usage", c.page(c.usage))
	mux.Handle("GET /ui/usage.csv", c.page(c.usageCSV))
	mux.Handle("GET /ui/requests", c.page(c.requests))
	mux.Handle("GET /ui/requests/{id}", c.page(c.request))
	mux.Handle("GET /ui/config", c.page(c.config))
	mux.Handle("POST /ui/config/reload", c.action(c.reload))
	mux.Handle("/ui/", c.page(func(w http.ResponseWriter, r *http.Request, v *view) error {
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
	Nav   string
	CSRF  string
	Flash string
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

// signedIn returns the request's session, or nil.
func (c *console) signedIn(r *http.Request) (*session, string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	return c.sessions.get(ck.Value), ck.Value
}

// permitted is the one place that decides whether a session may use a
// page or an action. Every signed-in session is an admin today.
func permitted(s *session, r *http.Request) bool {
	return s.who.Role == access.Admin
}

// page serves a GET page to a signed-in operator; anyone else is sent to
// sign in.
func (c *console) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := c.signedIn(r)
		if s == nil {
			http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
			return
		}
		if !permitted(s, r) {
			c.render(w, r, &view{Title: "Not allowed", Error: "Your role may not open this page.", status: http.StatusForbidden, template: "error"})
			return
		}
		v := &view{CSRF: s.csrf, Flash: c.sessions.takeFlash(s), Here: r.URL.RequestURI(), status: http.StatusOK}
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
func (c *console) action(fn func(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		s, _ := c.signedIn(r)
		if s == nil {
			c.render(w, r, &view{Title: "Signed out", Error: "Your session has ended; sign in again.", status: http.StatusUnauthorized, template: "error"})
			return
		}
		v := &view{CSRF: s.csrf, status: http.StatusOK}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, v, badRequest("unreadable form"))
			return
		}
		if !tokensEqual(r.PostForm.Get("csrf"), s.csrf) {
			c.fail(w, r, v, &httpProblem{http.StatusForbidden, "The form's security token is missing or stale; reload the page and try again."})
			return
		}
		if !permitted(s, r) {
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
	t := c.pages[v.template]
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
