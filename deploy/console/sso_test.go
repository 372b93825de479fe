package console

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchyard/internal/sso/ssotest"
)

// TestSingleSignOnInChromium clicks "Sign in with single sign-on", goes
// through an in-process OpenID provider and lands on the overview signed
// in as the role the person's group maps to.
func TestSingleSignOnInChromium(t *testing.T) {
	needBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	idp := ssotest.Start(t)
	cfg := strings.Replace(Config, "admin: {listen: 127.0.0.1:0, token_env: CONSOLE_ADMIN_TOKEN}", `admin:
  listen: 127.0.0.1:0
  token_env: CONSOLE_ADMIN_TOKEN
  oidc:
    issuer: `+idp.Issuer()+`
    client_id: `+idp.ClientID()+`
    client_secret_env: OIDC_SECRET
    scopes: [openid, email, profile, groups]
    roles:
      - {group: platform, role: admin}
      - {group: sre, role: operator}`, 1)
	g, err := ServeConfig(ctx, dir, cfg, map[string]string{"OIDC_SECRET": idp.ClientSecret()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Errorf("stopping the gateway: %v", err)
		}
	})
	tab, closeBrowser := Browser(ctx, filepath.Join(dir, "profile"))
	defer closeBrowser()
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// Someone in no mapped group is refused, and told why.
	idp.Next(ssotest.User{Subject: "m1", Email: "mia@example.com", Groups: []string{"marketing"}})
	if err := chromedp.Do(tab, chromedp.Navigate(g.AdminURL+"/"), chromedp.WaitVisible(chromedp.CSS("#sso")),
		chromedp.Click(chromedp.CSS("#sso")), chromedp.WaitVisible(chromedp.CSS("#page-error"))); err != nil {
		t.Fatalf("unmapped sign-in: %v", err)
	}
	if got := text("#page-error"); !strings.Contains(got, "mia@example.com may not sign in") {
		t.Errorf("unmapped sign-in says %q", got)
	}

	idp.Next(ssotest.User{Subject: "a1", Email: "ada@example.com", Groups: []string{"platform"}})
	if err := chromedp.Do(tab, chromedp.Navigate(g.AdminURL+"/ui/signin"), chromedp.WaitVisible(chromedp.CSS("#sso")),
		chromedp.Click(chromedp.CSS("#sso")), chromedp.WaitVisible(chromedp.CSS("#signed-in-as"))); err != nil {
		t.Fatalf("single sign-on: %v", err)
	}
	loc, err := chromedp.Run(tab, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/ui/") || text("main h1") != "Overview" {
		t.Errorf("landed on %s (%q), want the overview", loc, text("main h1"))
	}
	if got := text("#signed-in-as"); got != "Signed in as ada@example.com (admin)" {
		t.Errorf("header says %q", got)
	}
}
