package sso_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/sso"
	"switchyard/internal/sso/ssotest"
)

var rules = []sso.Rule{
	{Group: "readers", Role: access.Viewer},
	{Group: "sre", Role: access.Operator},
	{Group: "platform", Role: access.Admin},
	{Group: "acme-admins", Role: access.TenantAdmin, Tenants: []string{"acme"}},
	{Group: "globex-admins", Role: access.TenantAdmin, Tenants: []string{"globex"}},
	{Claim: "email", Value: "boss@example.com", Role: access.Admin},
}

func newProvider(t *testing.T, idp *ssotest.IdP, now func() time.Time) *sso.Provider {
	t.Helper()
	p := sso.New(context.Background(), sso.Options{Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
		Scopes: ssotest.Scopes, Mapping: sso.Mapping{Rules: rules}, Now: now})
	t.Cleanup(func() { p.Close() })
	if !p.Ready() {
		t.Fatal("discovery failed against a running provider")
	}
	return p
}

// signIn runs the code flow as a browser would and returns Finish's answer.
func signIn(t *testing.T, p *sso.Provider, idp *ssotest.IdP, u ssotest.User) (sso.Identity, error) {
	t.Helper()
	authURL, binding, err := p.Begin(context.Background(), "http://127.0.0.1:1/ui/sso/callback")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(authURL)
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Query().Get(k) == "" {
			t.Fatalf("authorization URL lacks %s: %s", k, authURL)
		}
	}
	if got := q.Query().Get("code_challenge_method"); got != "S256" {
		t.Fatalf("code_challenge_method = %q, want S256", got)
	}
	idp.Next(u)
	back := ssotest.Authorize(t, authURL)
	return p.Finish(context.Background(), binding, back.Query())
}

func TestFinish_MapsGroupsToRoles(t *testing.T) {
	idp := ssotest.Start(t)
	p := newProvider(t, idp, nil)
	for _, tc := range []struct {
		name    string
		user    ssotest.User
		role    access.Role
		tenants []string
	}{
		{"viewer", ssotest.User{Subject: "v1", Email: "v@example.com", Groups: []string{"readers"}}, access.Viewer, nil},
		{"operator", ssotest.User{Subject: "o1", Email: "o@example.com", Groups: []string{"sre"}}, access.Operator, nil},
		{"admin", ssotest.User{Subject: "a1", Email: "a@example.com", Groups: []string{"platform"}}, access.Admin, nil},
		{"tenant_admin", ssotest.User{Subject: "t1", Email: "t@example.com", Groups: []string{"acme-admins"}}, access.TenantAdmin, []string{"acme"}},
		{"tenant_admin_of_two", ssotest.User{Subject: "t2", Email: "t2@example.com", Groups: []string{"globex-admins", "readers", "acme-admins"}}, access.TenantAdmin, []string{"acme", "globex"}},
		{"highest_wins", ssotest.User{Subject: "h1", Email: "h@example.com", Groups: []string{"readers", "acme-admins", "sre"}}, access.Operator, nil},
		{"by_claim", ssotest.User{Subject: "b1", Email: "boss@example.com"}, access.Admin, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := signIn(t, p, idp, tc.user)
			if err != nil {
				t.Fatal(err)
			}
			want := access.Principal{Subject: "oidc:" + tc.user.Subject, Name: tc.user.Email, Role: tc.role, Tenants: tc.tenants}
			if id.Principal.Subject != want.Subject || id.Principal.Name != want.Name || id.Principal.Role != want.Role ||
				!slices.Equal(id.Principal.Tenants, want.Tenants) {
				t.Errorf("principal = %+v, want %+v", id.Principal, want)
			}
			if id.RefreshToken == "" || id.Expiry.IsZero() {
				t.Errorf("identity lacks refresh token or expiry: %+v", id)
			}
		})
	}
}

func TestFinish_RefusesUnknownGroup(t *testing.T) {
	idp := ssotest.Start(t)
	p := newProvider(t, idp, nil)
	_, err := signIn(t, p, idp, ssotest.User{Subject: "x", Email: "stranger@example.com", Groups: []string{"marketing"}})
	var r *sso.Refusal
	if !errors.As(err, &r) || !strings.Contains(r.Reason, "stranger@example.com may not sign in") {
		t.Fatalf("err = %v, want a refusal naming the user", err)
	}
}

func TestFinish_RefusesForgedOrReplayedAnswers(t *testing.T) {
	idp := ssotest.Start(t)
	p := newProvider(t, idp, nil)
	ctx := context.Background()
	u := ssotest.User{Subject: "o1", Email: "o@example.com", Groups: []string{"sre"}}

	authURL, binding, err := p.Begin(ctx, "http://127.0.0.1:1/cb")
	if err != nil {
		t.Fatal(err)
	}
	idp.Next(u)
	q := ssotest.Authorize(t, authURL).Query()
	q.Set("state", "forged")
	if _, err := p.Finish(ctx, binding, q); !isRefusal(err, "state does not match") {
		t.Errorf("forged state: %v", err)
	}
	// The binding was used up by the failed attempt.
	if _, err := p.Finish(ctx, binding, q); !isRefusal(err, "expired or was already used") {
		t.Errorf("replayed binding: %v", err)
	}
	if _, err := p.Finish(ctx, "unknown", q); !isRefusal(err, "expired or was already used") {
		t.Errorf("unknown binding: %v", err)
	}
	_, binding, _ = p.Begin(ctx, "http://127.0.0.1:1/cb")
	if _, err := p.Finish(ctx, binding, url.Values{"error": {"access_denied"}, "error_description": {"user cancelled"}}); !isRefusal(err, "access_denied (user cancelled)") {
		t.Errorf("provider error: %v", err)
	}
	// A code the provider did not issue for this flow.
	authURL, binding, _ = p.Begin(ctx, "http://127.0.0.1:1/cb")
	state, _ := url.Parse(authURL)
	if _, err := p.Finish(ctx, binding, url.Values{"state": {state.Query().Get("state")}, "code": {"bogus"}}); !isRefusal(err, "refused the code") {
		t.Errorf("bogus code: %v", err)
	}
}

func isRefusal(err error, reason string) bool {
	var r *sso.Refusal
	return errors.As(err, &r) && strings.Contains(r.Reason, reason) && errors.Is(err, access.ErrNoMatch)
}

func TestRefresh_MapsAgain(t *testing.T) {
	idp := ssotest.Start(t)
	p := newProvider(t, idp, nil)
	id, err := signIn(t, p, idp, ssotest.User{Subject: "o1", Email: "o@example.com", Groups: []string{"sre"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Refresh(context.Background(), id.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if again.Principal.Role != access.Operator || again.RefreshToken == "" {
		t.Errorf("refreshed identity = %+v", again)
	}
	if _, err := p.Refresh(context.Background(), "not-a-refresh-token"); !isRefusal(err, "refused the refresh") {
		t.Errorf("bad refresh token: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	idp := ssotest.Start(t)
	other := ssotest.Start(t)
	p := newProvider(t, idp, nil)
	ctx := context.Background()
	op := ssotest.User{Subject: "o1", Email: "o@example.com", Groups: []string{"sre"}}

	who, err := p.Authenticate(ctx, idp.IDToken(t, op, 0))
	if err != nil || who.Role != access.Operator || who.Subject != "oidc:o1" {
		t.Fatalf("Authenticate = %+v, %v", who, err)
	}
	good := idp.IDToken(t, op, 0)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for _, tc := range []struct {
		name, cred, reason string
	}{
		{"expired", idp.IDToken(t, op, -2*idp.TokenTTL()), "expired"},
		{"bad_signature", tampered, "did not verify"},
		{"unknown_group", idp.IDToken(t, ssotest.User{Subject: "m", Email: "m@example.com", Groups: []string{"marketing"}}, 0), "may not sign in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Authenticate(ctx, tc.cred); !isRefusal(err, tc.reason) {
				t.Errorf("err = %v, want a refusal saying %q", err, tc.reason)
			}
		})
	}
	for _, cred := range []string{"sk-admin-token", "", "a.b.c", other.IDToken(t, op, 0)} {
		if _, err := p.Authenticate(ctx, cred); err != access.ErrNoMatch {
			t.Errorf("Authenticate(%.20q) = %v, want ErrNoMatch (not ours)", cred, err)
		}
	}
}

func TestNew_IssuerDownRetriesInBackground(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the issuer is down
	issuer := "http://" + addr + "/oidc"
	p := sso.New(context.Background(), sso.Options{Issuer: issuer, ClientID: "c", Scopes: ssotest.Scopes,
		Mapping: sso.Mapping{Rules: rules}, DiscoveryTimeout: 2 * time.Second, RetryInterval: 20 * time.Millisecond})
	defer p.Close()
	if p.Ready() {
		t.Fatal("ready with the issuer down")
	}
	if _, _, err := p.Begin(context.Background(), "http://x/cb"); !errors.Is(err, sso.ErrUnavailable) {
		t.Fatalf("Begin with the issuer down = %v, want ErrUnavailable", err)
	}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	up := ssotest.StartOn(t, ln)
	if up.Issuer() != issuer {
		t.Fatalf("issuer %s, want %s", up.Issuer(), issuer)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !p.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !p.Ready() {
		t.Fatal("background discovery never succeeded after the issuer came up")
	}
}

func TestLogin_LoopbackCodeFlow(t *testing.T) {
	idp := ssotest.Start(t)
	p := newProvider(t, idp, nil)
	idp.Next(ssotest.User{Subject: "cli", Email: "cli@example.com", Groups: []string{"platform"}})
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := sso.Login(ctx, sso.LoginOptions{Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
		Scopes: ssotest.Scopes, Out: &out, Opened: func(u string) {
			go func() {
				// The browser: the provider redirects to the loopback
				// callback, which answers the page.
				resp, err := http.Get(u)
				if err == nil {
					resp.Body.Close()
				}
			}()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), idp.Issuer()+"/authorize?") {
		t.Errorf("login did not print the URL to open:\n%s", out.String())
	}
	who, err := p.Authenticate(ctx, tok.IDToken)
	if err != nil || who.Role != access.Admin || who.Name != "cli@example.com" {
		t.Fatalf("the login's token authenticates as %+v, %v", who, err)
	}
	again, err := sso.RefreshLogin(ctx, sso.LoginOptions{Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
		Scopes: ssotest.Scopes}, tok.RefreshToken)
	if err != nil || again.IDToken == "" {
		t.Fatalf("RefreshLogin = %+v, %v", again, err)
	}
}

func TestLogin_GivesUpWhenContextEnds(t *testing.T) {
	idp := ssotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := sso.Login(ctx, sso.LoginOptions{Issuer: idp.Issuer(), ClientID: idp.ClientID(), Opened: func(string) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestLoginDevice(t *testing.T) {
	idp := ssotest.StartWithDeviceFlow(t)
	p := newProvider(t, idp, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	tok, err := sso.LoginDevice(ctx, sso.LoginOptions{Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
		Scopes: ssotest.Scopes, Out: &out, Opened: func(u string) {
			v, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			code := v.Query().Get("user_code")
			if !strings.Contains(out.String(), "enter the code "+code) {
				t.Errorf("the code to enter was not printed:\n%s", out.String())
			}
			// The person approves on another device.
			idp.Approve(t, code, ssotest.User{Subject: "d1", Email: "dev@example.com", Groups: []string{"sre"}})
		}})
	if err != nil {
		t.Fatal(err)
	}
	who, err := p.Authenticate(ctx, tok.IDToken)
	if err != nil || who.Role != access.Operator || who.Name != "dev@example.com" || tok.RefreshToken == "" {
		t.Fatalf("the device sign-in's token authenticates as %+v, %v (refresh %q)", who, err, tok.RefreshToken)
	}
}

func TestLoginDevice_NotAdvertised(t *testing.T) {
	idp := ssotest.Start(t)
	_, err := sso.LoginDevice(context.Background(), sso.LoginOptions{Issuer: idp.Issuer(), ClientID: idp.ClientID()})
	if !errors.Is(err, sso.ErrNoDeviceFlow) {
		t.Fatalf("err = %v, want ErrNoDeviceFlow", err)
	}
}
