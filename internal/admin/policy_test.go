package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/store/sqlstore"
)

// roleTokens are bearer credentials the test's authenticator maps to one
// principal of each role.
var roleTokens = map[access.Role]string{
	access.Viewer:      "tok-viewer",
	access.TenantAdmin: "tok-tenant-admin",
	access.Operator:    "tok-operator",
	access.Admin:       "tok-admin",
}

func roleAuthenticator() access.Authenticator {
	return access.AuthenticatorFunc(func(_ context.Context, cred string) (access.Principal, error) {
		for role, tok := range roleTokens {
			if tok == cred {
				p := access.Principal{Subject: "test:" + string(role), Role: role}
				if role == access.TenantAdmin {
					p.Tenants = []string{"acme"}
				}
				return p, nil
			}
		}
		return access.Principal{}, access.ErrNoMatch
	})
}

// Every role is tried on every authenticated admin route, against a table
// written out here rather than derived from the policy: a route missing
// from the table fails, as does a route that allows or refuses a role
// the table does not expect.
func TestPolicy_EveryRoleEveryRoute(t *testing.T) {
	const (
		v  = access.Viewer
		ta = access.TenantAdmin
		op = access.Operator
		ad = access.Admin
	)
	all := []access.Role{v, ta, op, ad}
	want := map[string][]access.Role{
		"POST /admin/v1/tenants":                  {op, ad},
		"GET /admin/v1/tenants":                   all,
		"GET /admin/v1/tenants/{id}":              all,
		"PATCH /admin/v1/tenants/{id}":            {op, ad},
		"POST /admin/v1/keys":                     {ta, op, ad},
		"GET /admin/v1/keys":                      all,
		"GET /admin/v1/keys/{id}":                 all,
		"PATCH /admin/v1/keys/{id}":               {ta, op, ad},
		"POST /admin/v1/keys/{id}/revoke":         {ta, op, ad},
		"DELETE /admin/v1/keys/{id}":              {ta, op, ad},
		"POST /admin/v1/keys/{id}/rotate":         {ta, op, ad},
		"POST /admin/v1/keys/revoke":              {ta, op, ad},
		"POST /admin/v1/keys/rotate":              {ta, op, ad},
		"GET /admin/v1/usage":                     all,
		"GET /admin/v1/usage/export":              {v, op, ad},
		"GET /admin/v1/requests":                  all,
		"GET /admin/v1/requests/{id}":             all,
		"POST /admin/v1/route/explain":            {v, op, ad},
		"POST /admin/v1/reload":                   {op, ad},
		"POST /admin/v1/whatif":                   {op, ad},
		"POST /admin/v1/reconcile":                {op, ad},
		"GET /admin/v1/channels":                  {v, op, ad},
		"POST /admin/v1/channels/{name}/reset":    {op, ad},
		"GET /admin/v1/models":                    {v, op, ad},
		"POST /admin/v1/admin-tokens":             {ad},
		"GET /admin/v1/admin-tokens":              {ad},
		"POST /admin/v1/admin-tokens/{id}/revoke": {ad},
		"DELETE /admin/v1/admin-tokens/{id}":      {ad},
		"GET /admin/v1/audit":                     {v, op, ad},
		"GET /admin/v1/audit/verify":              {v, op, ad},
	}
	public := []string{"GET /metrics", "GET /healthz", "GET /admin/v1/openapi.json"}

	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st}, Token: token,
		Authenticators: access.Chain{roleAuthenticator()}}))
	defer srv.Close()

	for pattern, action := range admin.RouteActions() {
		if slices.Contains(public, pattern) {
			if action != "" {
				t.Errorf("%s is public but declares %q", pattern, action)
			}
			continue
		}
		if !action.Known() {
			t.Errorf("%s declares action %q, which has no rule in the access policy", pattern, action)
		}
		allowed, ok := want[pattern]
		if !ok {
			t.Errorf("%s has no row in this test's table: say which roles may use it", pattern)
			continue
		}
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{id}", "x", "{name}", "x").Replace(path)
		for _, role := range access.Roles {
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+roleTokens[role])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			refused := resp.StatusCode == http.StatusForbidden
			if resp.StatusCode == http.StatusUnauthorized {
				t.Errorf("%s as %s: 401", pattern, role)
			}
			if expect := slices.Contains(allowed, role); refused == expect {
				t.Errorf("%s as %s: status %d, want allowed=%v", pattern, role, resp.StatusCode, expect)
			}
		}
	}
	for pattern := range want {
		if _, ok := admin.RouteActions()[pattern]; !ok {
			t.Errorf("the table names %s, which is not a route", pattern)
		}
	}
}

// An action without a rule is refused to every role, admin included.
func TestPolicy_UnknownActionRefused(t *testing.T) {
	for _, r := range access.Roles {
		if access.Allowed(access.Principal{Role: r}, "tenants.delete") {
			t.Errorf("%s allowed an action with no rule", r)
		}
	}
	if access.Allowed(access.Principal{Role: "root"}, access.TenantsRead) {
		t.Error("an unknown role was allowed")
	}
}

// openapi.json gives each authenticated operation the action its route
// declares (x-switchyard-action), so that a client can tell which role it
// needs.
func TestOpenAPI_NamesEachAction(t *testing.T) {
	spec, _ := readSpec(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Action string `json:"x-switchyard-action"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	for pattern, action := range admin.RouteActions() {
		method, path, _ := strings.Cut(pattern, " ")
		if got := doc.Paths[path][strings.ToLower(method)].Action; got != string(action) {
			t.Errorf("%s: openapi.json names action %q, the route declares %q", pattern, got, action)
		}
	}
}
