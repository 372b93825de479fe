// Package ssotest runs an in-process OpenID provider
// (github.com/oauth2-proxy/mockoidc) on a real socket for tests of single
// sign-on, and mints its ID tokens for admin API tests.
package ssotest

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// Scopes are the scopes a test client asks for: the provider hands out
// groups only with the groups scope.
var Scopes = []string{"openid", "email", "profile", "groups"}

// IdP is a running OpenID provider.
type IdP struct {
	m *mockoidc.MockOIDC

	mu      sync.Mutex
	devices map[string]*device // by user code
}

// device is a device sign-in begun: approved once it has a session.
type device struct {
	code    string
	session *mockoidc.Session
}

// Start runs a provider on a free loopback port until the test ends.
func Start(t testing.TB) *IdP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return StartOn(t, ln)
}

// StartOn runs a provider on ln until the test ends.
func StartOn(t testing.TB, ln net.Listener) *IdP {
	t.Helper()
	return StartClient(t, ln, "", "")
}

// StartClient runs a provider on ln whose client has the given id and
// secret (empty: random ones).
func StartClient(t testing.TB, ln net.Listener, clientID, secret string) *IdP {
	t.Helper()
	return start(t, ln, clientID, secret, false)
}

// StartWithDeviceFlow runs a provider that also offers the device
// authorization flow (RFC 8628), which mockoidc lacks: its discovery
// document advertises a device endpoint, and its token endpoint answers
// the device grant once Approve has been called for the user code.
func StartWithDeviceFlow(t testing.TB) *IdP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return start(t, ln, "", "", true)
}

func start(t testing.TB, ln net.Listener, clientID, secret string, withDevice bool) *IdP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if clientID != "" {
		m.ClientID, m.ClientSecret = clientID, secret
	}
	p := &IdP{m: m, devices: map[string]*device{}}
	if withDevice {
		if err := m.AddMiddleware(p.deviceFlow); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// Stop shuts the provider down before the test ends (an issuer outage).
func (p *IdP) Stop() { _ = p.m.Shutdown() }

// Issuer is the provider's issuer URL.
func (p *IdP) Issuer() string { return p.m.Issuer() }

// ClientID is the one client the provider knows.
func (p *IdP) ClientID() string { return p.m.ClientID }

// ClientSecret is that client's secret.
func (p *IdP) ClientSecret() string { return p.m.ClientSecret }

// User is a person at the provider.
type User struct {
	Subject, Email string
	Groups         []string
}

func (u User) mock() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: u.Subject, Email: u.Email, EmailVerified: true,
		PreferredUsername: u.Subject, Groups: u.Groups}
}

// Next makes u the person who signs in at the next authorization request.
func (p *IdP) Next(u User) { p.m.QueueUser(u.mock()) }

// IDToken mints an ID token for u, for the provider's client, issued now
// plus skew (a negative skew makes one that has expired).
func (p *IdP) IDToken(t testing.TB, u User, skew time.Duration) string {
	t.Helper()
	s, err := p.m.SessionStore.NewSession("openid email profile groups", "", u.mock(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.IDToken(p.m.Config(), p.m.Keypair, p.m.Now().Add(skew))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TokenTTL is how long the provider's tokens live.
func (p *IdP) TokenTTL() time.Duration { return p.m.AccessTTL }

// Authorize plays the browser at the provider: it requests authURL and
// returns where the provider redirects back to (the callback URL with
// code and state), without following it.
func Authorize(t testing.TB, authURL string) *url.URL {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s", resp.Status)
	}
	u, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// FastForward moves the provider's clock on by d: the tokens it issues
// and the refresh tokens it accepts are judged by it.
func (p *IdP) FastForward(d time.Duration) { p.m.FastForward(d) }

// Approve signs u in on the device sign-in showing userCode.
func (p *IdP) Approve(t testing.TB, userCode string, u User) {
	t.Helper()
	s, err := p.m.SessionStore.NewSession("openid email profile groups", "", u.mock(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.devices[userCode]
	if d == nil {
		t.Fatalf("no device sign-in shows the code %q", userCode)
	}
	d.session = s
}

// deviceFlow serves the device endpoint (the token endpoint with
// ?device=1: mockoidc serves no other paths), the device grant, and a
// discovery document that advertises them.
func (p *IdP) deviceFlow(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			doc["device_authorization_endpoint"] = p.m.TokenEndpoint() + "?device=1"
			writeJSON(w, http.StatusOK, doc)
		case r.URL.Path == mockoidc.TokenEndpoint && r.URL.Query().Get("device") == "1":
			code, user := rand.Text(), strings.ToUpper(rand.Text()[:8])
			p.mu.Lock()
			p.devices[user] = &device{code: code}
			p.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"device_code": code, "user_code": user,
				"verification_uri": p.m.Issuer() + "/device", "verification_uri_complete": p.m.Issuer() + "/device?user_code=" + user,
				"expires_in": 600, "interval": 1})
		case r.URL.Path == mockoidc.TokenEndpoint && r.PostFormValue("grant_type") == "urn:ietf:params:oauth:grant-type:device_code":
			p.deviceToken(w, r.PostFormValue("device_code"))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (p *IdP) deviceToken(w http.ResponseWriter, code string) {
	p.mu.Lock()
	var d *device
	for _, v := range p.devices {
		if v.code == code {
			d = v
		}
	}
	p.mu.Unlock()
	switch {
	case d == nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	case d.session == nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "authorization_pending"})
		return
	}
	cfg, now := p.m.Config(), p.m.Now()
	id, err1 := d.session.IDToken(cfg, p.m.Keypair, now)
	access, err2 := d.session.AccessToken(cfg, p.m.Keypair, now)
	refresh, err3 := d.session.RefreshToken(cfg, p.m.Keypair, now)
	if err1 != nil || err2 != nil || err3 != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "id_token": id, "refresh_token": refresh,
		"token_type": "Bearer", "expires_in": int(cfg.AccessTTL / time.Second)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
