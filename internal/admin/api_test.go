package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/store/sqlstore"
)

const token = "admin-test-token"

func newAPI(t *testing.T, driver string) (*httptest.Server, *sqlstore.Store) {
	t.Helper()
	st := sqlstore.OpenTestStore(t, driver)
	sealer, err := auth.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st, Sealer: sealer}, Token: token}))
	t.Cleanup(srv.Close)
	return srv, st
}

type call struct {
	method, path, body, token string
}

func do(t *testing.T, srv *httptest.Server, c call) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if c.token != "-" {
		tok := c.token
		if tok == "" {
			tok = token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func TestAdminAPI(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			srv, _ := newAPI(t, driver)

			// Authentication.
			if st, _, _ := do(t, srv, call{"GET", "/admin/v1/tenants", "", "-"}); st != 401 {
				t.Errorf("no token: %d", st)
			}
			if st, _, _ := do(t, srv, call{"GET", "/admin/v1/tenants", "", "wrong"}); st != 401 {
				t.Errorf("wrong token: %d", st)
			}

			// Tenants: create, duplicate, bad fields, update.
			st, body, raw := do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme","rpm":600,"budget_usd":50,"budget_period":"month"}`, ""})
			if st != 201 || body["name"] != "acme" || body["rpm"] != 600.0 {
				t.Fatalf("create tenant: %d %s", st, raw)
			}
			if st, _, _ := do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme"}`, ""}); st != 409 {
				t.Errorf("duplicate: %d", st)
			}
			for _, tc := range []struct{ body, field string }{
				{`{"name":""}`, "name"},
				{`{"name":"x","rpm":"many"}`, "rpm"},
				{`{"name":"x","colour":"red"}`, "colour"},
				{`{"name":"x","budget_usd":5}`, "budget_period"},
			} {
				st, body, raw := do(t, srv, call{"POST", "/admin/v1/tenants", tc.body, ""})
				e, _ := body["error"].(map[string]any)
				if st != 400 || e["field"] != tc.field {
					t.Errorf("%s: %d %s, want 400 naming %q", tc.body, st, raw, tc.field)
				}
			}
			if st, _, _ := do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":`, ""}); st != 400 {
				t.Errorf("malformed: %d", st)
			}
			st, body, raw = do(t, srv, call{"PATCH", "/admin/v1/tenants/acme", `{"tpm":1000,"disabled":true}`, ""})
			if st != 200 || body["tpm"] != 1000.0 || body["disabled"] != true || body["rpm"] != 600.0 {
				t.Errorf("update: %d %s", st, raw)
			}

			// Keys: issue (secret and AWS pair once), list without secrets, rotate, revoke.
			st, body, raw = do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","name":"ci","rpm":10,"allowed_models":["gpt-*"]}`, ""})
			if st != 201 {
				t.Fatalf("issue: %d %s", st, raw)
			}
			secret, _ := body["secret"].(string)
			awsSecret, _ := body["aws_secret_access_key"].(string)
			key := body["key"].(map[string]any)
			id := key["id"].(string)
			if !strings.HasPrefix(secret, "sk-sy-") || awsSecret == "" || body["aws_access_key_id"] == "" {
				t.Errorf("issued %s", raw)
			}
			if st, _, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"ghost"}`, ""}); st != 400 {
				t.Errorf("unknown tenant: %d", st)
			}
			_, _, list := do(t, srv, call{"GET", "/admin/v1/keys?tenant=acme", "", ""})
			if strings.Contains(list, secret) || strings.Contains(list, awsSecret) || !strings.Contains(list, id) {
				t.Errorf("key list leaks a secret or lacks the key: %s", list)
			}
			st, body, raw = do(t, srv, call{"POST", "/admin/v1/keys/" + id + "/rotate", "", ""})
			if st != 201 || body["secret"] == secret {
				t.Errorf("rotate: %d %s", st, raw)
			}
			// The key keeps its ID; its old secret is refused at once.
			newID := body["key"].(map[string]any)["id"].(string)
			if newID != id {
				t.Errorf("rotation changed the key's ID from %s to %s", id, newID)
			}
			if st, _, _ := do(t, srv, call{"POST", "/admin/v1/keys/revoke", `{"key":"` + secret + `"}`, ""}); st != 404 {
				t.Errorf("old secret after a rotation without grace: %d, want 404", st)
			}
			if st, body, _ := do(t, srv, call{"DELETE", "/admin/v1/keys/" + newID, "", ""}); st != 200 || body["revoked_at"] == nil {
				t.Errorf("revoke: %d %v", st, body)
			}
			if st, _, _ := do(t, srv, call{"POST", "/admin/v1/keys/key_nope/revoke", "", ""}); st != 404 {
				t.Errorf("revoke unknown: %d", st)
			}

			// Usage: empty but well-formed; bad parameters named.
			st, body, raw = do(t, srv, call{"GET", "/admin/v1/usage?by=model&since=7d", "", ""})
			if st != 200 || body["by"] != "model" {
				t.Errorf("usage: %d %s", st, raw)
			}
			if st, _, _ := do(t, srv, call{"GET", "/admin/v1/usage?by=colour", "", ""}); st != 400 {
				t.Errorf("bad by: %d", st)
			}
			if st, _, _ := do(t, srv, call{"GET", "/admin/v1/usage?since=yesterday", "", ""}); st != 400 {
				t.Errorf("bad since: %d", st)
			}
		})
	}
}

func TestAdminAPI_DisabledWithoutToken(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st}}))
	defer srv.Close()
	code, _, raw := do(t, srv, call{"GET", "/admin/v1/tenants", "", ""})
	if code != 401 || !strings.Contains(raw, "disabled") {
		t.Errorf("%d %s", code, raw)
	}
	// The refusal names the variable the gateway read.
	srv2 := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st}, TokenEnv: "OPS_ADMIN_TOKEN"}))
	defer srv2.Close()
	code, _, raw = do(t, srv2, call{"GET", "/admin/v1/tenants", "", ""})
	if code != 401 || !strings.Contains(raw, "environment variable OPS_ADMIN_TOKEN (admin.token_env) was empty") {
		t.Errorf("%d %s", code, raw)
	}
}

// An authenticator that cannot judge a credential (its store or identity
// provider is out of reach) makes the call a 503, not a refusal; one that
// does not recognise it leaves it a 401.
func TestAdminAPI_AuthenticatorFailureIs503(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	judge := access.AuthenticatorFunc(func(ctx context.Context, cred string) (access.Principal, error) {
		switch cred {
		case "unjudgeable":
			return access.Principal{}, errors.New("identity provider unreachable")
		case "operator":
			return access.Principal{Subject: "oidc:o", Role: access.Operator}, nil
		}
		return access.Principal{}, access.ErrNoMatch
	})
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st}, Authenticators: access.Chain{judge}}))
	t.Cleanup(srv.Close)
	for cred, want := range map[string]int{"unjudgeable": http.StatusServiceUnavailable, "stranger": http.StatusUnauthorized, "operator": http.StatusOK} {
		if code, _, body := do(t, srv, call{method: "GET", path: "/admin/v1/tenants", token: cred}); code != want {
			t.Errorf("%s: %d %s, want %d", cred, code, body, want)
		}
	}
}
