package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/console"
	"switchyard/internal/sso"
	"switchyard/internal/sso/ssotest"
	"switchyard/internal/store/sqlstore"
)

type ssoFixture struct {
	srv *httptest.Server
	idp *ssotest.IdP
	clk *clock
}

// newSSOFixture serves the console with single sign-on through an
// in-process OpenID provider.
func newSSOFixture(t *testing.T) *ssoFixture {
	t.Helper()
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	sealer, err := auth.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &ssoFixture{idp: ssotest.Start(t), clk: &clock{t: time.Now()}}
	p := sso.New(context.Background(), sso.Options{Issuer: f.idp.Issuer(), ClientID: f.idp.ClientID(), ClientSecret: f.idp.ClientSecret(),
		Scopes: ssotest.Scopes, Mapping: sso.Mapping{Rules: []sso.Rule{
			{Group: "readers", Role: access.Viewer},
			{Group: "sre", Role: access.Operator},
			{Group: "platform", Role: access.Admin},
			{Group: "acme-admins", Role: access.TenantAdmin, Tenants: []string{"acme"}},
		}}})
	t.Cleanup(func() { p.Close() })
	ops := admin.Options{Service: &admin.Service{Store: st, Sealer: sealer}, Token: adminToken, Authenticators: access.Chain{p}}
	ui := console.Handler(console.Options{Admin: ops, SSO: p, Now: f.clk.now, IdleTimeout: 24 * time.Hour})
	mux := http.NewServeMux()
	mux.Handle("/", admin.Handler(ops))
	mux.Handle("/ui/", ui)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// jarClient is a client with a cookie jar that follows redirects, as a
// browser does.
func jarClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func get(t *testing.T, hc *http.Client, u string) (int, string, *http.Response) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

func TestSSO_SignInMapsEachRole(t *testing.T) {
	f := newSSOFixture(t)
	code, body, _ := get(t, jarClient(t), f.srv.URL+"/ui/signin")
	if code != 200 || !strings.Contains(body, `href="/ui/sso/start">Sign in with single sign-on</a>`) {
		t.Fatalf("sign-in page lacks the single sign-on button (%d):\n%s", code, body)
	}
	for _, tc := range []struct {
		group, want string
	}{
		{"readers", "viewer"}, {"sre", "operator"}, {"platform", "admin"}, {"acme-admins", "tenant-admin"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			hc := jarClient(t)
			email := tc.want + "@example.com"
			f.idp.Next(ssotest.User{Subject: "sub-" + tc.want, Email: email, Groups: []string{tc.group}})
			code, body, resp := get(t, hc, f.srv.URL+"/ui/sso/start")
			if code != 200 || resp.Request.URL.Path != "/ui/sso/callback" {
				t.Fatalf("ended at %s with %d:\n%s", resp.Request.URL, code, body)
			}
			if want := `<strong id="sso-who">` + email + " (" + tc.want + ")</strong>"; !strings.Contains(body, want) {
				t.Errorf("callback page lacks %q:\n%s", want, body)
			}
			// Where each role lands: the overview, or a tenant admin's
			// tenants.
			landing := "/ui/"
			if tc.want == "tenant-admin" {
				landing = "/ui/tenants"
			}
			if !strings.Contains(body, `<meta http-equiv="refresh" content="0;url=`+landing+`">`) {
				t.Errorf("callback page does not move on to the console:\n%s", body)
			}
			// The session is live: the console no longer sends the browser
			// to sign in.
			_, _, resp = get(t, hc, f.srv.URL+"/ui/")
			if resp.Request.URL.Path == "/ui/signin" {
				t.Fatal("signed-in browser sent back to sign in")
			}
		})
	}
}

func TestSSO_AdminLandsOnOverview(t *testing.T) {
	f := newSSOFixture(t)
	hc := jarClient(t)
	f.idp.Next(ssotest.User{Subject: "a1", Email: "ada@example.com", Groups: []string{"platform"}})
	if code, body, _ := get(t, hc, f.srv.URL+"/ui/sso/start"); code != 200 {
		t.Fatalf("sign-in: %d\n%s", code, body)
	}
	code, body, resp := get(t, hc, f.srv.URL+"/ui/")
	if code != 200 || resp.Request.URL.Path != "/ui/" || !strings.Contains(body, "Signed in as ada@example.com (admin)") {
		t.Fatalf("overview: %d at %s\n%s", code, resp.Request.URL, body)
	}
}

func TestSSO_UnknownGroupRefused(t *testing.T) {
	f := newSSOFixture(t)
	hc := jarClient(t)
	f.idp.Next(ssotest.User{Subject: "m1", Email: "mia@example.com", Groups: []string{"marketing"}})
	code, body, _ := get(t, hc, f.srv.URL+"/ui/sso/start")
	if code != http.StatusForbidden || !strings.Contains(body, "Sign-in refused: mia@example.com may not sign in") {
		t.Fatalf("unmapped user: %d\n%s", code, body)
	}
	if _, _, resp := get(t, hc, f.srv.URL+"/ui/"); resp.Request.URL.Path != "/ui/signin" {
		t.Fatalf("refused user reached %s", resp.Request.URL)
	}
}

func TestSSO_CallbackNeedsTheBrowserThatStarted(t *testing.T) {
	f := newSSOFixture(t)
	starter := jarClient(t)
	starter.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.idp.Next(ssotest.User{Subject: "a1", Email: "ada@example.com", Groups: []string{"platform"}})
	_, _, resp := get(t, starter, f.srv.URL+"/ui/sso/start")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %s", resp.Status)
	}
	back := ssotest.Authorize(t, resp.Header.Get("Location"))
	callback := f.srv.URL + back.RequestURI()
	// Another browser (an attacker's link) brings the code back: refused.
	code, body, _ := get(t, jarClient(t), callback)
	if code != http.StatusForbidden || !strings.Contains(body, "not started from this browser") {
		t.Fatalf("callback without the binding cookie: %d\n%s", code, body)
	}
	// The starting browser with a forged state: refused.
	code, body, _ = get(t, starter, strings.Replace(callback, "state=", "state=x", 1))
	if code != http.StatusForbidden || !strings.Contains(body, "Sign-in refused") {
		t.Fatalf("forged state: %d\n%s", code, body)
	}
}

func TestSSO_SessionRefreshesThenEnds(t *testing.T) {
	f := newSSOFixture(t)
	hc := jarClient(t)
	f.idp.Next(ssotest.User{Subject: "a1", Email: "ada@example.com", Groups: []string{"platform"}})
	if code, body, _ := get(t, hc, f.srv.URL+"/ui/sso/start"); code != 200 {
		t.Fatalf("sign-in: %d\n%s", code, body)
	}
	// Past the ID token's expiry: the refresh token renews the session.
	f.clk.add(f.idp.TokenTTL() + time.Minute)
	if code, _, resp := get(t, hc, f.srv.URL+"/ui/"); code != 200 || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("after the ID token expired: %d at %s, want the overview (renewed)", code, resp.Request.URL)
	}
	// The provider no longer honours the refresh token: the session ends.
	f.idp.FastForward(2 * time.Hour)
	f.clk.add(2 * time.Hour)
	if _, _, resp := get(t, hc, f.srv.URL+"/ui/"); resp.Request.URL.Path != "/ui/signin" {
		t.Fatalf("after the refresh token expired: at %s, want sign-in", resp.Request.URL)
	}
}

func TestSSO_NotConfigured(t *testing.T) {
	f := newFixture(t, false)
	code, body, _ := get(t, jarClient(t), f.srv.URL+"/ui/signin")
	if code != 200 || strings.Contains(body, "single sign-on") {
		t.Fatalf("sign-in page offers single sign-on unconfigured:\n%s", body)
	}
	if code, _, _ := get(t, jarClient(t), f.srv.URL+"/ui/sso/start"); code != http.StatusNotFound {
		t.Fatalf("/ui/sso/start unconfigured: %d, want 404", code)
	}
}

// fakeSSO is a provider that grants no refresh token.
type fakeSSO struct {
	expiry    time.Time
	refreshed atomic.Int32
}

func (f *fakeSSO) Begin(ctx context.Context, redirectURL string) (string, string, error) {
	return redirectURL + "?code=c&state=s", "binding", nil
}

func (f *fakeSSO) Finish(ctx context.Context, binding string, answer url.Values) (sso.Identity, error) {
	if binding != "binding" || answer.Get("code") != "c" {
		return sso.Identity{}, &sso.Refusal{Reason: "wrong binding or code"}
	}
	return sso.Identity{Principal: access.Principal{Subject: "oidc:x", Name: "x@example.com", Role: access.Admin}, Expiry: f.expiry}, nil
}

func (f *fakeSSO) Refresh(ctx context.Context, refreshToken string) (sso.Identity, error) {
	f.refreshed.Add(1)
	return sso.Identity{}, &sso.Refusal{Reason: "no refresh token"}
}

func TestSSO_SessionWithoutRefreshTokenEndsAtExpiry(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	clk := &clock{t: time.Now()}
	fake := &fakeSSO{expiry: clk.now().Add(5 * time.Minute)}
	ops := admin.Options{Service: &admin.Service{Store: st}, Token: adminToken}
	srv := httptest.NewServer(console.Handler(console.Options{Admin: ops, SSO: fake, Now: clk.now, IdleTimeout: time.Hour}))
	t.Cleanup(srv.Close)
	hc := jarClient(t)
	code, body, resp := get(t, hc, srv.URL+"/ui/sso/start")
	if code != 200 || !strings.Contains(body, "x@example.com (admin)") {
		t.Fatalf("sign-in at %s: %d\n%s", resp.Request.URL, code, body)
	}
	clk.add(4 * time.Minute)
	if _, _, resp := get(t, hc, srv.URL+"/ui/"); resp.Request.URL.Path != "/ui/" {
		t.Fatalf("before expiry: at %s, want the overview", resp.Request.URL)
	}
	clk.add(time.Minute)
	if _, _, resp := get(t, hc, srv.URL+"/ui/"); resp.Request.URL.Path != "/ui/signin" {
		t.Fatalf("at expiry: at %s, want sign-in", resp.Request.URL)
	}
	if n := fake.refreshed.Load(); n != 0 {
		t.Errorf("a session without a refresh token tried to refresh %d time(s)", n)
	}
}
