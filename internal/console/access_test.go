package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"switchyard/internal/admin"
)

// mintToken makes a scoped admin token straight through the service.
func (f *fixture) mintToken(t *testing.T, spec admin.AdminTokenSpec) string {
	t.Helper()
	out, err := f.svc.CreateAdminToken(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return out.Secret
}

// The console judges pages and actions by the same policy as the admin
// API: a role sees only the navigation it may use, a forbidden page is a
// 403, a tenant admin sees its own tenants only, and sign-ins and
// refusals land in the audit log, which the Audit page shows and checks.
func TestRolesInTheConsole(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	for _, name := range []string{"acme", "globex"} {
		if _, err := f.svc.CreateTenant(ctx, admin.TenantSpec{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	viewer := f.mintToken(t, admin.AdminTokenSpec{Role: "viewer", Name: "auditor"})
	tenantAdmin := f.mintToken(t, admin.AdminTokenSpec{Role: "tenant-admin", Tenants: []string{"acme"}})

	// A tenant admin lands on its tenants, without the global pages.
	ta := f.browser(t)
	if p := ta.signIn(tenantAdmin); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/tenants" {
		t.Fatalf("tenant admin sign-in = %d %q", p.status, p.header.Get("Location"))
	}
	p := ta.get("/ui/tenants")
	if p.status != http.StatusOK || !strings.Contains(p.body, "acme") || strings.Contains(p.body, "globex") {
		t.Errorf("tenant admin's tenants = %d\n%s", p.status, p.body)
	}
	for _, hidden := range []string{`href="/ui/channels"`, `href="/ui/config"`, `href="/ui/audit"`, `href="/ui/contracts"`} {
		if strings.Contains(p.body, hidden) {
			t.Errorf("tenant admin's navigation shows %s", hidden)
		}
	}
	for _, shown := range []string{`href="/ui/tenants"`, `href="/ui/usage"`, `href="/ui/requests"`} {
		if !strings.Contains(p.body, shown) {
			t.Errorf("tenant admin's navigation lacks %s", shown)
		}
	}
	for _, path := range []string{"/ui/", "/ui/channels", "/ui/config", "/ui/audit", "/ui/models"} {
		if p := ta.get(path); p.status != http.StatusForbidden {
			t.Errorf("tenant admin GET %s = %d, want 403", path, p.status)
		}
	}
	if p := ta.get("/ui/tenants/globex"); p.status != http.StatusNotFound {
		t.Errorf("another tenant's page = %d, want 404", p.status)
	}
	if strings.Contains(p.body, "Create a tenant") {
		t.Error("tenant admin is offered the create-tenant form")
	}
	if p := ta.get("/ui/tenants/acme"); !strings.Contains(p.body, "Issue key") || strings.Contains(p.body, "Limits and budget") {
		t.Errorf("tenant admin's tenant page: issue form %v, limits form %v", strings.Contains(p.body, "Issue key"), strings.Contains(p.body, "Limits and budget"))
	}
	if p := ta.post("/ui/tenants", "/ui/tenants", url.Values{"name": {"initech"}}); p.status != http.StatusForbidden {
		t.Errorf("tenant admin creates a tenant = %d, want 403", p.status)
	}

	// A viewer reads, and may not act.
	v := f.browser(t)
	if p := v.signIn(viewer); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/" {
		t.Fatalf("viewer sign-in = %d %q", p.status, p.header.Get("Location"))
	}
	if p := v.get("/ui/channels"); p.status != http.StatusOK || strings.Contains(p.body, "Reset breaker") {
		t.Errorf("viewer channels = %d, offers a reset: %v", p.status, strings.Contains(p.body, "Reset breaker"))
	}
	if p := v.get("/ui/tenants/acme"); p.status != http.StatusOK || strings.Contains(p.body, "Issue key") || strings.Contains(p.body, "Revoke") {
		t.Errorf("viewer's tenant page = %d, offers key actions", p.status)
	}
	if p := v.get("/ui/config"); strings.Contains(p.body, "Reload from the file") {
		t.Error("viewer is offered a reload")
	}
	if p := v.post("/ui/channels", "/ui/channels/openai-sim/reset", nil); p.status != http.StatusForbidden {
		t.Errorf("viewer resets a breaker = %d, want 403", p.status)
	}
	if len(f.resets) != 0 {
		t.Errorf("a refused reset happened: %v", f.resets)
	}

	// The audit page: sign-ins and refusals, and the chain holds.
	p = v.get("/ui/audit?verify=1")
	if p.status != http.StatusOK {
		t.Fatalf("audit page = %d\n%s", p.status, p.body)
	}
	for _, want := range []string{"console.signin", "channels.reset", "denied", "tenants.create", "The chain holds", `aria-current="page">Audit`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	if p := v.get("/ui/audit?action=console.signin"); strings.Contains(p.body, "channels.reset") || !strings.Contains(p.body, "console.signin") {
		t.Errorf("filtered audit page:\n%s", p.body)
	}

	// Revoking the viewer's token ends its console session.
	toks, err := f.svc.ListAdminTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Role == "viewer" {
			if _, err := f.svc.RevokeAdminToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p := v.get("/ui/channels"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/signin" {
		t.Errorf("a revoked token's session = %d %q, want 303 to sign in", p.status, p.header.Get("Location"))
	}
	if p := ta.get("/ui/tenants"); p.status != http.StatusOK {
		t.Errorf("another token's session ended too: %d", p.status)
	}
}
