// Package ssotest runs an in-process OpenID provider
// (github.com/oauth2-proxy/mockoidc) on a real socket for tests of single
// sign-on, and mints its ID tokens for admin API tests.
package ssotest

import (
	"net"
	"net/http"
	"net/url"
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
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if clientID != "" {
		m.ClientID, m.ClientSecret = clientID, secret
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return &IdP{m: m}
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
