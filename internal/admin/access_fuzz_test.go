package admin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/store/sqlstore"
)

// FuzzCreateAdminToken: any body is a created token of a valid role or a
// 4xx naming the problem, never a panic or a 500.
func FuzzCreateAdminToken(f *testing.F) {
	f.Add(`{"role":"operator","name":"ops"}`)
	f.Add(`{"role":"tenant-admin","tenants":["acme","acme"]}`)
	f.Add(`{"role":"tenant-admin","tenants":[""]}`)
	f.Add(`{"role":["admin"]}`)
	f.Add(`{"role":"admin","tenants":null,"name":"` + strings.Repeat("x", 200) + `"}`)
	f.Add(`[]`)
	st := sqlstore.OpenTestStore(f, sqlstore.DriverSQLite)
	svc := &admin.Service{Store: st}
	if _, err := svc.CreateTenant(context.Background(), admin.TenantSpec{Name: "acme"}); err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: svc, Token: token}))
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, body string) {
		req, _ := http.NewRequest("POST", srv.URL+"/admin/v1/admin-tokens", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
			t.Fatalf("%q: status %d", body, resp.StatusCode)
		}
	})
}

// FuzzAuditQuery: any filter is a page or a field error, never a panic
// or a store error.
func FuzzAuditQuery(f *testing.F) {
	f.Add("admin-token", "keys.write", "acme", "24h", "2030-01-01", "10", "5")
	f.Add("", "", "", "yesterday", "", "0", "x")
	f.Add("'; DROP TABLE audit_log; --", "", "", "", "", "1000", "-1")
	st := sqlstore.OpenTestStore(f, sqlstore.DriverSQLite)
	svc := &admin.Service{Store: st}
	ctx := access.WithPrincipal(context.Background(), access.BreakGlass)
	if _, err := svc.CreateTenant(ctx, admin.TenantSpec{Name: "acme"}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, subject, action, target, since, until, limit, cursor string) {
		_, err := svc.Audit(ctx, admin.AuditQuery{Subject: subject, Action: action, Target: target, Since: since, Until: until,
			Limit: limit, Cursor: cursor})
		var fe *admin.FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error %v is not a field error", err)
		}
	})
}
