package admin_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/syncbuf"
)

// failingStore is a real store whose key lookups by hash and revocations
// can be made to fail.
type failingStore struct {
	*sqlstore.Store
	mu           sync.Mutex
	lookupErr    error
	revokeErrFor map[string]error // by key ID
}

func (f *failingStore) KeyByHash(ctx context.Context, hash []byte) (*store.Key, error) {
	f.mu.Lock()
	err := f.lookupErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Store.KeyByHash(ctx, hash)
}

func (f *failingStore) RevokeKey(ctx context.Context, id string, at time.Time) error {
	f.mu.Lock()
	err := f.revokeErrFor[id]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.RevokeKey(ctx, id, at)
}

// TestAdminAPI_SecretsNeverLoggedOrEchoed names keys by their secret in
// paths that fail (500 and 404) and checks that neither the log nor the
// response carries the secret; the body forms revoke and rotate without
// a secret in any URL.
func TestAdminAPI_SecretsNeverLoggedOrEchoed(t *testing.T) {
	fs := &failingStore{Store: sqlstore.OpenTestStore(t, sqlstore.DriverSQLite), revokeErrFor: map[string]error{}}
	svc := &admin.Service{Store: fs}
	logs := &syncbuf.Buffer{}
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: svc, Token: token,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}))
	t.Cleanup(srv.Close)
	iss, err := svc.IssueKey(t.Context(), admin.KeySpec{Tenant: "acme", CreateTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	secret := iss.Secret

	var responses []string
	fs.mu.Lock()
	fs.lookupErr = errors.New("database is down")
	fs.mu.Unlock()
	for _, c := range []call{
		{"GET", "/admin/v1/keys/" + secret, "", ""},
		{"POST", "/admin/v1/keys/" + secret + "/revoke", "", ""},
		{"POST", "/admin/v1/keys/revoke", `{"key":"` + secret + `"}`, ""},
	} {
		st, _, raw := do(t, srv, c)
		if st != 500 {
			t.Errorf("%s %s with the store down: %d %s, want 500", c.method, "…", st, raw)
		}
		responses = append(responses, raw)
	}
	fs.mu.Lock()
	fs.lookupErr = nil
	fs.mu.Unlock()
	st, _, raw := do(t, srv, call{"GET", "/admin/v1/nothing/" + secret, "", ""})
	if st != 404 {
		t.Errorf("unknown endpoint: %d %s", st, raw)
	}
	responses = append(responses, raw)
	if !strings.Contains(logs.String(), "admin request failed") {
		t.Fatalf("no failure logged:\n%s", logs)
	}
	for _, out := range append(responses, logs.String()) {
		if strings.Contains(out, secret) || strings.Contains(out, secret[10:]) {
			t.Errorf("secret in %s", out)
		}
	}

	// By body: revoke works without the secret in the URL.
	st, body, raw := do(t, srv, call{"POST", "/admin/v1/keys/revoke", `{"key":"` + secret + `"}`, ""})
	if st != 200 || body["revoked_at"] == nil || body["id"] != iss.Key.ID {
		t.Errorf("revoke by body: %d %s", st, raw)
	}
	if st, body, raw := do(t, srv, call{"POST", "/admin/v1/keys/revoke", `{}`, ""}); st != 400 || body["error"].(map[string]any)["field"] != "key" {
		t.Errorf("revoke without key: %d %s", st, raw)
	}
}

func TestAdminAPI_RotateByBody(t *testing.T) {
	srv, _ := newAPI(t, sqlstore.DriverSQLite)
	_, _, _ = do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme"}`, ""})
	_, body, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","rpm":7}`, ""})
	secret := body["secret"].(string)
	st, body, raw := do(t, srv, call{"POST", "/admin/v1/keys/rotate", `{"key":"` + secret + `","grace":"1h"}`, ""})
	if st != 201 || body["secret"] == secret || body["key"].(map[string]any)["rpm"] != 7.0 || body["key"].(map[string]any)["previous"] == nil {
		t.Errorf("rotate by body: %d %s", st, raw)
	}
}

// TestAdminAPI_BadValueNamesField: a value its type refuses (a malformed
// time) is a 400 naming the field.
func TestAdminAPI_BadValueNamesField(t *testing.T) {
	srv, _ := newAPI(t, sqlstore.DriverSQLite)
	_, _, _ = do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme"}`, ""})
	st, body, raw := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","expires_at":"nope"}`, ""})
	e, _ := body["error"].(map[string]any)
	if st != 400 || e["field"] != "expires_at" || !strings.Contains(raw, "RFC 3339") {
		t.Errorf("bad expires_at: %d %s, want 400 naming expires_at", st, raw)
	}
	if st, _, raw := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":`, ""}); st != 400 || !strings.Contains(raw, "malformed JSON") {
		t.Errorf("malformed: %d %s", st, raw)
	}
}
