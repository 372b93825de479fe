package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"switchyard/internal/access"
	"time"

	"switchyard/internal/sso"
)

// SingleSignOn is what the console needs of the single sign-on provider
// (an *sso.Provider).
type SingleSignOn interface {
	// Begin starts a sign-in returning to redirectURL: the URL to send the
	// browser to, and a binding to hold in a cookie until Finish.
	Begin(ctx context.Context, redirectURL string) (authURL, binding string, err error)
	// Finish checks the provider's answer and maps the identity; a
	// *sso.Refusal says why someone may not sign in.
	Finish(ctx context.Context, binding string, answer url.Values) (sso.Identity, error)
	// Refresh renews a sign-in whose ID token has expired.
	Refresh(ctx context.Context, refreshToken string) (sso.Identity, error)
}

const (
	// ssoCookie binds a sign-in begun to the browser that began it. It is
	// SameSite=Lax, not Strict: the provider's redirect back is a
	// cross-site navigation, and a Strict cookie would not come with it.
	ssoCookie     = "switchyard_console_sso"
	ssoCookiePath = "/ui/sso/"
	// ssoTimeout bounds a call to the provider on a page's behalf.
	ssoTimeout = 15 * time.Second
)

// ssoStart sends the browser to the provider.
func (c *console) ssoStart(w http.ResponseWriter, r *http.Request) {
	if c.o.SSO == nil {
		c.render(w, r, &view{Title: "Not found", Error: "Single sign-on is not configured (admin.oidc).", status: http.StatusNotFound, template: "error"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ssoTimeout)
	defer cancel()
	authURL, binding, err := c.o.SSO.Begin(ctx, c.redirectURL(r))
	if err != nil {
		c.log.Error("console single sign-on could not start", "err", err)
		c.showSignin(w, r, "Single sign-on is unavailable just now: the identity provider could not be reached. Try again shortly, or sign in with the admin token.", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: binding, Path: ssoCookiePath, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: int(sso.FlowTTL / time.Second)})
	http.Redirect(w, r, authURL, http.StatusFound)
}

// ssoCallback finishes the sign-in and starts a session.
func (c *console) ssoCallback(w http.ResponseWriter, r *http.Request) {
	if c.o.SSO == nil {
		c.render(w, r, &view{Title: "Not found", Error: "Single sign-on is not configured (admin.oidc).", status: http.StatusNotFound, template: "error"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Path: ssoCookiePath, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil, MaxAge: -1})
	ck, err := r.Cookie(ssoCookie)
	if err != nil || ck.Value == "" {
		c.showSignin(w, r, "This sign-in was not started from this browser, or took too long; sign in again.", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ssoTimeout)
	defer cancel()
	id, err := c.o.SSO.Finish(ctx, ck.Value, r.URL.Query())
	var refused *sso.Refusal
	switch {
	case errors.As(err, &refused):
		c.log.Warn("console single sign-on refused", "reason", refused.Reason, "remote", r.RemoteAddr)
		c.showSignin(w, r, "Sign-in refused: "+refused.Reason+".", http.StatusForbidden)
		return
	case err != nil:
		c.log.Error("console single sign-on failed", "err", err, "remote", r.RemoteAddr)
		c.showSignin(w, r, "Single sign-on could not be completed just now; try again shortly.", http.StatusServiceUnavailable)
		return
	}
	sid, _ := c.sessions.createUntil(id.Principal, id.Expiry, id.RefreshToken)
	setCookie(w, r, sessionCookie, sid, 0)
	c.log.Info("console sign-in", "subject", id.Principal.Subject, "name", id.Principal.Name, "role", string(id.Principal.Role),
		"via", "oidc", "remote", r.RemoteAddr)
	if c.svc != nil {
		c.svc.SignedIn(access.WithOrigin(r.Context(), access.Origin{Address: r.RemoteAddr, RequestID: "ui_" + randomToken()[:16]}), id.Principal)
	}
	// A page that moves on by itself rather than a redirect: the session
	// cookie is SameSite=Strict, and browsers withhold it from the rest of
	// a redirect chain that began on the provider's site.
	c.render(w, r, &view{Title: "Signed in", Data: who(id.Principal), Refresh: landing(id.Principal), template: "ssodone", status: http.StatusOK})
}

// redirectURL is where the provider sends the browser back.
func (c *console) redirectURL(r *http.Request) string {
	if c.o.SSORedirectURL != "" {
		return c.o.SSORedirectURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/ui/sso/callback"
}

// renew extends a single sign-on session past its ID token's expiry with
// its refresh token, mapping the identity again, or ends it. It returns
// the session to use, or nil.
func (c *console) renew(ctx context.Context, id string, s *session) *session {
	s.renewing.Lock()
	defer s.renewing.Unlock()
	if cur := c.sessions.current(id); cur != s {
		return cur // renewed (or ended) by a request before this one
	}
	if s.refresh == "" || c.o.SSO == nil {
		c.sessions.delete(id)
		c.log.Info("console session ended: its single sign-on expired", "subject", s.who.Subject)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ssoTimeout)
	defer cancel()
	ident, err := c.o.SSO.Refresh(ctx, s.refresh)
	if err != nil {
		c.sessions.delete(id)
		c.log.Info("console session ended: its single sign-on could not be renewed", "subject", s.who.Subject, "err", err)
		return nil
	}
	return c.sessions.renewed(id, s, ident.Principal, ident.Expiry, ident.RefreshToken)
}
