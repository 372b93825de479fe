package admin_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/syncbuf"
)

// accessAPI serves the admin API with the break-glass token and scoped
// admin tokens, as the gateway does, logging to the returned buffer.
func accessAPI(t *testing.T, driver string) (*httptest.Server, *sqlstore.Store, *admin.Service, *syncbuf.Buffer) {
	t.Helper()
	st := sqlstore.OpenTestStore(t, driver)
	logs := &syncbuf.Buffer{}
	svc := &admin.Service{Store: st, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: svc, Token: token,
		Authenticators: access.Chain{svc.AdminTokens()},
		Reload:         func(context.Context) error { return nil },
		ResetChannel:   func(_ context.Context, name string) error { return nil }}))
	t.Cleanup(srv.Close)
	return srv, st, svc, logs
}

// mint creates a scoped admin token through the API and returns its
// secret and id.
func mint(t *testing.T, srv *httptest.Server, body string) (secret, id string) {
	t.Helper()
	st, m, raw := do(t, srv, call{"POST", "/admin/v1/admin-tokens", body, ""})
	if st != 201 {
		t.Fatalf("create admin token %s: %d %s", body, st, raw)
	}
	secret, _ = m["secret"].(string)
	id, _ = m["token"].(map[string]any)["id"].(string)
	if !strings.HasPrefix(secret, admin.AdminTokenPrefix) || id == "" {
		t.Fatalf("created %s", raw)
	}
	return secret, id
}

func TestAdminTokens(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			srv, _, _, _ := accessAPI(t, driver)
			do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme"}`, ""})

			// Bad specs are named.
			for _, tc := range []struct{ body, field string }{
				{`{"role":"root"}`, "role"},
				{`{"role":"tenant-admin"}`, "tenants"},
				{`{"role":"operator","tenants":["acme"]}`, "tenants"},
				{`{"role":"tenant-admin","tenants":["ghost"]}`, "tenants[0]"},
				{`{"role":"viewer","colour":"red"}`, "colour"},
			} {
				st, m, raw := do(t, srv, call{"POST", "/admin/v1/admin-tokens", tc.body, ""})
				e, _ := m["error"].(map[string]any)
				if st != 400 || e["field"] != tc.field {
					t.Errorf("%s: %d %s, want 400 naming %q", tc.body, st, raw, tc.field)
				}
			}

			opSecret, opID := mint(t, srv, `{"role":"operator","name":"ops bot"}`)
			// It works as an operator: keys yes, admin tokens no.
			if st, _, raw := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme"}`, opSecret}); st != 201 {
				t.Errorf("operator issues a key: %d %s", st, raw)
			}
			if st, _, raw := do(t, srv, call{"GET", "/admin/v1/admin-tokens", "", opSecret}); st != 403 || !strings.Contains(raw, "admin_tokens.read") {
				t.Errorf("operator lists admin tokens: %d %s", st, raw)
			}
			if st, _, _ := do(t, srv, call{"POST", "/admin/v1/admin-tokens", `{"role":"admin"}`, opSecret}); st != 403 {
				t.Errorf("operator mints an admin token: %d", st)
			}

			// Listed without secret or hash.
			_, _, list := do(t, srv, call{"GET", "/admin/v1/admin-tokens", "", ""})
			if strings.Contains(list, opSecret) || !strings.Contains(list, opID) || !strings.Contains(list, `"created_by": "admin-token"`) {
				t.Errorf("list: %s", list)
			}

			// Revoked: refused from the next request.
			if st, m, raw := do(t, srv, call{"POST", "/admin/v1/admin-tokens/" + opID + "/revoke", "", ""}); st != 200 || m["revoked_at"] == nil {
				t.Errorf("revoke: %d %s", st, raw)
			}
			if st, _, _ := do(t, srv, call{"GET", "/admin/v1/tenants", "", opSecret}); st != 401 {
				t.Errorf("revoked token: %d, want 401", st)
			}
			if st, _, _ := do(t, srv, call{"DELETE", "/admin/v1/admin-tokens/adm_nope", "", ""}); st != 404 {
				t.Errorf("revoke unknown: %d", st)
			}
		})
	}
}

// A tenant admin sees its own tenants only: every other tenant, key and
// request is not found (not forbidden), listings leave them out, and its
// keys' limits stay within the tenant's.
func TestTenantAdminScope(t *testing.T) {
	srv, _, _, _ := accessAPI(t, sqlstore.DriverSQLite)
	do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme","rpm":100}`, ""})
	do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"globex"}`, ""})
	_, other, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"globex"}`, ""})
	otherID := other["key"].(map[string]any)["id"].(string)
	otherSecret := other["secret"].(string)
	ta, _ := mint(t, srv, `{"role":"tenant-admin","tenants":["acme"]}`)

	_, _, list := do(t, srv, call{"GET", "/admin/v1/tenants", "", ta})
	if !strings.Contains(list, `"acme"`) || strings.Contains(list, "globex") {
		t.Errorf("tenant list: %s", list)
	}
	for _, c := range []call{
		{"GET", "/admin/v1/tenants/globex", "", ta},
		{"GET", "/admin/v1/keys/" + otherID, "", ta},
		{"POST", "/admin/v1/keys/" + otherID + "/revoke", "", ta},
		{"POST", "/admin/v1/keys/rotate", `{"key":"` + otherSecret + `"}`, ta},
		{"GET", "/admin/v1/keys?tenant=globex", "", ta},
		{"GET", "/admin/v1/usage?tenant=globex", "", ta},
		{"GET", "/admin/v1/requests?tenant=globex", "", ta},
	} {
		if st, _, raw := do(t, srv, c); st != 404 {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, st, raw)
		}
	}
	if st, _, raw := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"globex","rpm":5}`, ta}); st != 400 || !strings.Contains(raw, "no tenant") {
		t.Errorf("key for another tenant: %d %s", st, raw)
	}
	// Its own tenant: keys within the tenant's limits only.
	if st, _, raw := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","rpm":500}`, ta}); st != 400 || !strings.Contains(raw, `"rpm"`) {
		t.Errorf("key above the tenant's rpm: %d %s", st, raw)
	}
	st, mine, raw := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","rpm":50,"create_tenant":true}`, ta})
	if st != 201 {
		t.Fatalf("own key: %d %s", st, raw)
	}
	mineID := mine["key"].(map[string]any)["id"].(string)
	_, _, keys := do(t, srv, call{"GET", "/admin/v1/keys", "", ta})
	if !strings.Contains(keys, mineID) || strings.Contains(keys, otherID) {
		t.Errorf("key list: %s", keys)
	}
	if st, m, raw := do(t, srv, call{"GET", "/admin/v1/usage?by=key", "", ta}); st != 200 || m["by"] != "key" {
		t.Errorf("own usage: %d %s", st, raw)
	}
	if st, _, _ := do(t, srv, call{"GET", "/admin/v1/usage?by=budget", "", ta}); st != 403 {
		t.Errorf("cross-tenant report: %d", st)
	}
	if st, _, _ := do(t, srv, call{"POST", "/admin/v1/keys/" + mineID + "/rotate", "", ta}); st != 201 {
		t.Errorf("rotate own key: %d", st)
	}
	// Creating a tenant through create_tenant is not for it.
	if st, _, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"initech","create_tenant":true,"rpm":1}`, ta}); st != 400 {
		t.Errorf("key creating a tenant: %d", st)
	}
	if st, _, _ := do(t, srv, call{"GET", "/admin/v1/tenants/initech", "", ""}); st != 404 {
		t.Errorf("the tenant admin created a tenant: %d", st)
	}
}

// A run of every audited action, then verify passes; every record is
// also one JSON log line; editing one stored record makes verify fail
// naming it.
func TestAudit_EveryActionThenTamper(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			srv, st, _, logs := accessAPI(t, driver)
			opSecret, opID := mint(t, srv, `{"role":"operator"}`)
			viewer, _ := mint(t, srv, `{"role":"viewer"}`)
			steps := []call{
				{"POST", "/admin/v1/tenants", `{"name":"acme"}`, opSecret},
				{"PATCH", "/admin/v1/tenants/acme", `{"rpm":100,"budget_usd":5,"budget_period":"month"}`, opSecret},
				{"POST", "/admin/v1/keys", `{"tenant":"acme","name":"ci"}`, opSecret},
				{"POST", "/admin/v1/channels/openai/reset", "", opSecret},
				{"POST", "/admin/v1/reload", "", opSecret},
				{"POST", "/admin/v1/reload", "", viewer}, // refused, and recorded
				{"POST", "/admin/v1/admin-tokens/" + opID + "/revoke", "", ""},
			}
			var keySecret string
			for _, c := range steps {
				code, m, raw := do(t, srv, c)
				if code >= 300 && c.token != viewer {
					t.Fatalf("%s %s: %d %s", c.method, c.path, code, raw)
				}
				if s, ok := m["secret"].(string); ok && strings.HasPrefix(s, "sk-sy-") {
					keySecret = s
					keyID := m["key"].(map[string]any)["id"].(string)
					_, rotated, _ := do(t, srv, call{"POST", "/admin/v1/keys/" + keyID + "/rotate", "", ""})
					newSecret, _ := rotated["secret"].(string)
					if code, _, raw := do(t, srv, call{"POST", "/admin/v1/keys/revoke", `{"key":"` + newSecret + `"}`, ""}); code != 200 {
						t.Fatalf("revoke by secret: %d %s", code, raw)
					}
				}
			}
			code, page, raw := do(t, srv, call{"GET", "/admin/v1/audit?limit=1000", "", ""})
			if code != 200 {
				t.Fatalf("audit: %d %s", code, raw)
			}
			if strings.Contains(raw, keySecret) || strings.Contains(raw, opSecret) || strings.Contains(logs.String(), "sk-sy-") {
				t.Fatalf("the audit log holds a secret: %s", raw)
			}
			var got []string
			for _, e := range page["data"].([]any) {
				e := e.(map[string]any)
				got = append(got, e["action"].(string)+"/"+e["outcome"].(string))
				if e["subject"] == "" || e["role"] == "" || e["source"] == "" || e["request_id"] == "" || e["hash"] == "" {
					t.Errorf("record missing who, where or hash: %v", e)
				}
			}
			for _, want := range []string{"admin_tokens.write/ok", "tenants.create/ok", "tenants.write/ok", "keys.write/ok",
				"channels.reset/ok", "config.reload/ok", "config.reload/denied"} {
				if !strings.Contains(strings.Join(got, " "), want) {
					t.Errorf("no %s record among %v", want, got)
				}
			}
			// Two tokens created and one revoked, a tenant created and
			// changed, a key created, rotated and revoked, a reset, a
			// reload and a refused reload.
			if len(got) != 11 {
				t.Errorf("%d records, want 11: %v", len(got), got)
			}
			if n := strings.Count(logs.String(), `"msg":"audit"`); n != len(got) {
				t.Errorf("%d audit log lines for %d records:\n%s", n, len(got), logs.String())
			}

			code, v, raw := do(t, srv, call{"GET", "/admin/v1/audit/verify", "", viewer})
			if code != 200 || v["ok"] != true || v["records"] != float64(len(got)) {
				t.Fatalf("verify: %d %s", code, raw)
			}
			// Filters and paging.
			_, f, _ := do(t, srv, call{"GET", "/admin/v1/audit?action=keys.write&limit=2", "", ""})
			if d := f["data"].([]any); len(d) != 2 || f["next_cursor"] == nil {
				t.Errorf("filtered page: %v", f)
			}
			_, f2, _ := do(t, srv, call{"GET", "/admin/v1/audit?action=keys.write&limit=2&cursor=" + f["next_cursor"].(string), "", ""})
			if d := f2["data"].([]any); len(d) != 1 {
				t.Errorf("second page: %v", f2)
			}
			if code, _, _ := do(t, srv, call{"GET", "/admin/v1/audit?cursor=x", "", ""}); code != 400 {
				t.Errorf("bad cursor: %d", code)
			}

			st.ExecForTest(t, `UPDATE audit_log SET target = ? WHERE seq = ?`, "someone-else", 5)
			code, v, raw = do(t, srv, call{"GET", "/admin/v1/audit/verify", "", ""})
			bad, _ := v["first_bad"].(map[string]any)
			if code != 200 || v["ok"] != false || bad["seq"] != 5.0 {
				t.Fatalf("verify after an edit: %d %s", code, raw)
			}
		})
	}
}

func TestRedactedChange(t *testing.T) {
	got := admin.RedactedJSON(map[string]any{"name": "ci", "client_secret": "hunter2", "note": "key sk-sy-abcdefghijklmnopqrstuvwxyz",
		"nested": map[string]any{"api_token": "t"}})
	for _, leak := range []string{"hunter2", "abcdefghijklmnopqrstuvwxyz", `"t"`} {
		if strings.Contains(got, leak) {
			t.Errorf("%s leaks %s", got, leak)
		}
	}
	if !strings.Contains(got, `"name":"ci"`) {
		t.Errorf("%s lost a plain field", got)
	}
}

// Two replicas on one Postgres: a token revoked through one is refused by
// the other from its next request (no cache holds it).
func TestAdminTokens_RevokedOnEveryReplica(t *testing.T) {
	dsn := sqlstore.TestDSN(t, sqlstore.DriverPostgres)
	var srvs []*httptest.Server
	for range 2 {
		st, err := sqlstore.Open(context.Background(), sqlstore.DriverPostgres, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc := &admin.Service{Store: st}
		srv := httptest.NewServer(admin.Handler(admin.Options{Service: svc, Token: token, Authenticators: access.Chain{svc.AdminTokens()}}))
		t.Cleanup(srv.Close)
		srvs = append(srvs, srv)
	}
	a, b := srvs[0], srvs[1]
	secret, id := mint(t, a, `{"role":"viewer"}`)
	if st, _, raw := do(t, b, call{"GET", "/admin/v1/tenants", "", secret}); st != 200 {
		t.Fatalf("replica b before revocation: %d %s", st, raw)
	}
	if st, _, raw := do(t, a, call{"DELETE", "/admin/v1/admin-tokens/" + id, "", ""}); st != 200 {
		t.Fatalf("revoke on a: %d %s", st, raw)
	}
	if st, _, _ := do(t, b, call{"GET", "/admin/v1/tenants", "", secret}); st != 401 {
		t.Errorf("replica b after revocation on a: %d, want 401", st)
	}
	// Both replicas' records are one chain.
	if st, v, raw := do(t, b, call{"GET", "/admin/v1/audit/verify", "", ""}); st != 200 || v["ok"] != true || v["records"] != 2.0 {
		t.Errorf("verify: %d %s", st, raw)
	}
}
