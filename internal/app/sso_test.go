package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/cli"
	"switchyard/internal/config"
	"switchyard/internal/sso/ssotest"
	"switchyard/internal/syncbuf"
)

const ssoAdminToken = "sso-test-admin-token"

type ssoGateway struct {
	inst     *Instance
	adminURL string
	logs     *syncbuf.Buffer
}

// startSSOGateway runs a gateway whose admin side signs in through the
// OpenID provider at issuer (which need not be up).
func startSSOGateway(t *testing.T, issuer, clientID, secret string) *ssoGateway {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: ` + filepath.Join(dir, "test.db") + `}
admin:
  oidc:
    issuer: ` + issuer + `
    client_id: ` + clientID + `
    client_secret_env: OIDC_SECRET
    scopes: [openid, email, profile, groups]
    roles:
      - {group: platform, role: admin}
      - {group: sre, role: operator}
      - {group: acme-admins, role: tenant-admin, tenants: [acme]}
`))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	env := &Env{Getenv: func(k string) string {
		switch k {
		case "OIDC_SECRET":
			return secret
		case "SWITCHYARD_ADMIN_TOKEN":
			return ssoAdminToken
		}
		return ""
	}, Stdout: io.Discard, Stderr: logs}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := Start(context.Background(), cfg, env, StartOptions{Listener: ln, AdminListener: adminLn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown() })
	if _, err := inst.admin.CreateTenant(context.Background(), admin.TenantSpec{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	return &ssoGateway{inst: inst, adminURL: "http://" + inst.AdminAddr(), logs: logs}
}

func (g *ssoGateway) get(t *testing.T, path, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.adminURL+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSSO_AdminAPIBearerIDToken(t *testing.T) {
	idp := ssotest.Start(t)
	other := ssotest.Start(t)
	g := startSSOGateway(t, idp.Issuer(), idp.ClientID(), idp.ClientSecret())
	ada := ssotest.User{Subject: "a1", Email: "ada@example.com", Groups: []string{"platform"}}
	if code, body := g.get(t, "/admin/v1/tenants", idp.IDToken(t, ada, 0)); code != 200 || !strings.Contains(body, `"acme"`) {
		t.Fatalf("ID token of an admin: %d %s", code, body)
	}
	for _, tc := range []struct{ name, token string }{
		{"expired", idp.IDToken(t, ada, -2*idp.TokenTTL())},
		{"unknown_group", idp.IDToken(t, ssotest.User{Subject: "m1", Email: "mia@example.com", Groups: []string{"marketing"}}, 0)},
		{"other_issuer", other.IDToken(t, ada, 0)},
		{"garbage", "eyJhbGciOiJub25lIn0.e30."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := g.get(t, "/admin/v1/tenants", tc.token); code != http.StatusUnauthorized {
				t.Errorf("%d %s, want 401", code, body)
			}
		})
	}
	// The break-glass token still works beside single sign-on.
	if code, body := g.get(t, "/admin/v1/tenants", ssoAdminToken); code != 200 {
		t.Fatalf("admin token: %d %s", code, body)
	}
}

func TestSSO_IssuerDownGatewayStillServes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// A token the issuer minted before it went down.
	before := ssotest.StartClient(t, ln, "client", "secret")
	ada := ssotest.User{Subject: "a1", Email: "ada@example.com", Groups: []string{"platform"}}
	early := before.IDToken(t, ada, 0)
	before.Stop()
	g := startSSOGateway(t, "http://"+addr+"/oidc", "client", "secret")
	if code, _ := g.get(t, "/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, body := g.get(t, "/admin/v1/tenants", ssoAdminToken); code != 200 {
		t.Fatalf("admin token with the issuer down: %d %s", code, body)
	}
	code, body := g.get(t, "/ui/sso/start", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "Single sign-on is unavailable just now") {
		t.Fatalf("console single sign-on with the issuer down: %d\n%s", code, body)
	}
	// The issuer's token cannot be judged: 503, not a refusal.
	code, body = g.get(t, "/admin/v1/tenants", early)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "could not be checked just now") {
		t.Fatalf("ID token with the issuer down: %d %s, want 503", code, body)
	}
	if !strings.Contains(g.logs.String(), "OpenID discovery failed") {
		t.Errorf("the failed discovery was not logged:\n%s", g.logs.String())
	}
	// The issuer comes up: the next token is judged without a restart.
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	idp := ssotest.StartClient(t, ln, "client", "secret")
	if code, body := g.get(t, "/admin/v1/tenants", idp.IDToken(t, ada, 0)); code != 200 {
		t.Fatalf("ID token once the issuer is up: %d %s", code, body)
	}
}

// ssoCLIEnv is the environment of a CLI that keeps its sign-in under home
// and reads the OIDC client secret from SWITCHYARD_OIDC_CLIENT_SECRET.
func ssoCLIEnv(home, secret string) func(string) string {
	return func(k string) string {
		switch k {
		case "XDG_CONFIG_HOME":
			return home
		case "SWITCHYARD_OIDC_CLIENT_SECRET":
			return secret
		}
		return ""
	}
}

func TestSSO_CLILoginThenAdminCommands(t *testing.T) {
	idp := ssotest.Start(t)
	g := startSSOGateway(t, idp.Issuer(), idp.ClientID(), idp.ClientSecret())
	home := t.TempDir()
	getenv := ssoCLIEnv(home, idp.ClientSecret())
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, getenv, &out, io.Discard)
		return out.String(), err
	}
	// Before signing in the admin API refuses the command.
	if _, err := run("tenants", "list", "-admin", g.adminURL); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("tenants list before login: %v, want a 401", err)
	}
	idp.Next(ssotest.User{Subject: "o1", Email: "olga@example.com", Groups: []string{"sre"}})
	var out, prompt bytes.Buffer
	err := cli.Login(context.Background(), &cli.Env{Getenv: getenv, Stdout: &out, Stderr: &prompt, OpenURL: func(u string) {
		go func() { // the browser
			if resp, err := http.Get(u); err == nil {
				resp.Body.Close()
			}
		}()
	}}, []string{"-admin", g.adminURL + "/", "-issuer", idp.Issuer(), "-client-id", idp.ClientID(), "-scopes", strings.Join(ssotest.Scopes, " ")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prompt.String(), "Open this URL in a browser") || !strings.Contains(out.String(), "Signed in to "+g.adminURL) {
		t.Fatalf("login printed:\n%s\n%s", prompt.String(), out.String())
	}
	path := filepath.Join(home, "switchyard", "credentials.json")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v, want mode 0600", fi, err)
	}
	if got, err := run("tenants", "list", "-admin", g.adminURL); err != nil || !strings.Contains(got, "acme") {
		t.Fatalf("tenants list after login: %v\n%s", err, got)
	}
	// An expired stored token is refreshed first.
	rewrite := func(edit func(m map[string]any)) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Gateways map[string]map[string]any `json:"gateways"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		edit(c.Gateways[g.adminURL])
		b, _ = json.Marshal(c)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(func(m map[string]any) { m["expiry"] = time.Now().Add(-time.Hour).Format(time.RFC3339) })
	if got, err := run("tenants", "list", "-admin", g.adminURL); err != nil || !strings.Contains(got, "acme") {
		t.Fatalf("tenants list with an expired, refreshable token: %v\n%s", err, got)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), time.Now().Add(idp.TokenTTL()).UTC().Format("2006-01-02")) {
		t.Errorf("the refreshed token was not stored:\n%s", b)
	}
	// Expired with no refresh token: a clear error.
	rewrite(func(m map[string]any) {
		m["expiry"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
		delete(m, "refresh_token")
	})
	if _, err := run("tenants", "list", "-admin", g.adminURL); err == nil || !strings.Contains(err.Error(), "expired") ||
		!strings.Contains(err.Error(), "run switchyard login -admin "+g.adminURL) {
		t.Fatalf("expired token without refresh: %v", err)
	}
	if got, err := run("logout", "-admin", g.adminURL); err != nil || !strings.Contains(got, "Signed out") {
		t.Fatalf("logout: %v %s", err, got)
	}
}

func TestSSO_CLIDeviceLogin(t *testing.T) {
	idp := ssotest.StartWithDeviceFlow(t)
	g := startSSOGateway(t, idp.Issuer(), idp.ClientID(), idp.ClientSecret())
	getenv := ssoCLIEnv(t.TempDir(), idp.ClientSecret())
	var prompt bytes.Buffer
	err := cli.Login(context.Background(), &cli.Env{Getenv: getenv, Stdout: io.Discard, Stderr: &prompt, OpenURL: func(u string) {
		code := u[strings.LastIndex(u, "user_code=")+len("user_code="):]
		idp.Approve(t, code, ssotest.User{Subject: "d1", Email: "dev@example.com", Groups: []string{"platform"}})
	}}, []string{"-device", "-admin", g.adminURL, "-issuer", idp.Issuer(), "-client-id", idp.ClientID(), "-scopes", strings.Join(ssotest.Scopes, " ")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prompt.String(), "and enter the code") {
		t.Errorf("device login printed:\n%s", prompt.String())
	}
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"tenants", "list", "-admin", g.adminURL}, getenv, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "acme") {
		t.Fatalf("tenants list after a device login: %v\n%s", err, out.String())
	}
}
