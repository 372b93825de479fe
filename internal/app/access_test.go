package app

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"switchyard/internal/store/sqlstore"
)

// The admin-tokens and audit commands, against a running gateway: the
// break-glass admin mints a tenant-admin token, which the gateway then
// judges (its own tenant yes, others not found, admin tokens forbidden,
// the CLI printing the server's answer); after revocation it is refused;
// audit lists what happened and audit verify passes, then fails naming
// the record edited in the store.
func TestCLI_AdminTokensAndAudit(t *testing.T) {
	g := startCLIGateway(t, false)
	ctx := context.Background()
	run := func(token string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := Run(ctx, append(args, "-admin", g.adminURL), func(k string) string {
			return map[string]string{"SWITCHYARD_ADMIN_TOKEN": token}[k]
		}, &out, &errOut)
		if err != nil {
			return out.String() + errOut.String() + err.Error(), err
		}
		return out.String() + errOut.String(), nil
	}
	must := func(token string, args ...string) string {
		t.Helper()
		out, err := run(token, args...)
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), out)
		}
		return out
	}
	must(g.adminToken, "tenants", "create", "acme")
	must(g.adminToken, "tenants", "create", "globex")
	out := must(g.adminToken, "admin-tokens", "create", "-role", "tenant-admin", "-tenant", "acme", "-name", "acme ops")
	secret := regexp.MustCompile(`sy-admin-[a-z0-9]+`).FindString(out)
	id := regexp.MustCompile(`adm_[a-z0-9]+`).FindString(out)
	if secret == "" || id == "" || !strings.Contains(out, "not shown again") {
		t.Fatalf("create printed %q", out)
	}
	if list := must(g.adminToken, "admin-tokens", "list"); strings.Contains(list, secret) || !strings.Contains(list, id) || !strings.Contains(list, "tenant-admin") {
		t.Errorf("list: %s", list)
	}

	// The token at work, judged by the gateway.
	if out := must(secret, "keys", "create", "-tenant", "acme"); !strings.Contains(out, "sk-sy-") {
		t.Errorf("tenant admin's key: %s", out)
	}
	if out, err := run(secret, "keys", "create", "-tenant", "globex"); err == nil || !strings.Contains(out, `no tenant "globex"`) {
		t.Errorf("another tenant's key: %v %s", err, out)
	}
	if out, err := run(secret, "admin-tokens", "list"); err == nil || !strings.Contains(out, "(403)") {
		t.Errorf("tenant admin lists admin tokens: %v %s", err, out)
	}
	if out, err := run(secret, "audit"); err == nil || !strings.Contains(out, "audit.read") {
		t.Errorf("tenant admin reads the audit: %v %s", err, out)
	}
	must(g.adminToken, "admin-tokens", "revoke", id)
	if out, err := run(secret, "tenants", "list"); err == nil || !strings.Contains(out, "(401)") {
		t.Errorf("revoked token: %v %s", err, out)
	}

	log := must(g.adminToken, "audit", "-action", "admin_tokens.write")
	if strings.Count(log, "admin_tokens.write") != 2 || strings.Contains(log, secret) {
		t.Errorf("audit -action admin_tokens.write:\n%s", log)
	}
	all := must(g.adminToken, "audit", "list", "-limit", "1000")
	for _, want := range []string{"tenants.create", "keys.write", "token:" + id, "denied"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q:\n%s", want, all)
		}
	}
	if out := must(g.adminToken, "audit", "verify"); !strings.Contains(out, "audit chain ok") {
		t.Errorf("verify: %s", out)
	}

	// Edit one record in the gateway's own store.
	st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, strings.TrimSuffix(g.cfgPath, "switchyard.yaml")+"test.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.ExecForTest(t, `UPDATE audit_log SET role = ? WHERE seq = ?`, "admin", 4)
	if out, err := run(g.adminToken, "audit", "verify"); err == nil || !strings.Contains(out, "broken at record 4") {
		t.Errorf("verify after an edit: %v %s", err, out)
	}
}
