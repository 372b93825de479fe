package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store/sqlstore"
)

// TestWhatIf_Endpoint checks what the admin API itself decides about a
// what-if: the window, the body and how a bad proposal is answered.
func TestWhatIf_Endpoint(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	type got struct {
		body         string
		since, until time.Time
	}
	var last got
	hook := func(_ context.Context, proposed []byte, since, until time.Time) (any, error) {
		last = got{string(proposed), since, until}
		if strings.Contains(string(proposed), "broken") {
			return nil, fmt.Errorf("%w: models[0]: name is required", admin.ErrBadProposal)
		}
		return map[string]any{"exact": true}, nil
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st}, Token: token, WhatIf: hook}))
	t.Cleanup(srv.Close)

	status, m, raw := do(t, srv, call{method: "POST", path: "/admin/v1/whatif?since=2026-11-23T00:00:00Z&until=2026-11-30T00:00:00Z", body: "models: []\n"})
	if status != http.StatusOK || m["exact"] != true {
		t.Fatalf("status %d, body %s", status, raw)
	}
	wantUntil := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	if last.body != "models: []\n" || !last.until.Equal(wantUntil) || last.until.Sub(last.since) != 7*24*time.Hour {
		t.Errorf("hook got %+v", last)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"no_body", "/admin/v1/whatif", "", 400, "required as the body"},
		{"bad_since", "/admin/v1/whatif?since=yesterday", "x: 1", 400, "since"},
		{"reversed", "/admin/v1/whatif?since=2026-12-01T00:00:00Z&until=2026-11-01T00:00:00Z", "x: 1", 400, "before until"},
		{"too_large", "/admin/v1/whatif", strings.Repeat("#", 2<<20), 413, "1 MiB"},
		{"bad_proposal", "/admin/v1/whatif", "broken: true", 422, "name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, raw := do(t, srv, call{method: "POST", path: tc.path, body: tc.body})
			if status != tc.status || !strings.Contains(raw, tc.message) {
				t.Errorf("status %d, body %s; want %d mentioning %q", status, raw, tc.status, tc.message)
			}
		})
	}

	off := httptest.NewServer(admin.Handler(admin.Options{Service: &admin.Service{Store: st}, Token: token}))
	t.Cleanup(off.Close)
	if status, _, raw := do(t, off, call{method: "POST", path: "/admin/v1/whatif", body: "x: 1"}); status != 404 {
		t.Errorf("without a what-if hook: status %d, body %s; want 404", status, raw)
	}
}

// TestUpdateTenant_Labels: labels set single metadata entries and keep
// the others; an empty value removes one.
func TestUpdateTenant_Labels(t *testing.T) {
	srv, _ := newAPI(t, sqlstore.DriverSQLite)
	if status, _, raw := do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme","metadata":{"team":"search","env":"prod"}}`, ""}); status != 201 && status != 200 {
		t.Fatalf("create: %d %s", status, raw)
	}
	status, body, raw := do(t, srv, call{"PATCH", "/admin/v1/tenants/acme", `{"labels":{"cost_centre":"cc-42","env":""}}`, ""})
	if status != 200 {
		t.Fatalf("update: %d %s", status, raw)
	}
	md, _ := body["metadata"].(map[string]any)
	if len(md) != 2 || md["team"] != "search" || md["cost_centre"] != "cc-42" {
		t.Errorf("metadata after labels: %v", md)
	}
	if status, _, raw := do(t, srv, call{"PATCH", "/admin/v1/tenants/acme", `{"labels":{"":"x"}}`, ""}); status != 400 {
		t.Errorf("an unnamed label: %d %s", status, raw)
	}
}

// FuzzExportQuery: any query is a window and label or a field error,
// never a panic.
func FuzzExportQuery(f *testing.F) {
	f.Add("label:cost_centre", "2026-11-01", "2026-12-01", "csv")
	f.Add("label:", "30d", "", "json")
	f.Add("tenant", "2026-11-01T00:00:00Z", "bad", "xml")
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, by, since, until, format string) {
		label, from, to, err := admin.ExportQuery{By: by, Since: since, Until: until, Format: format}.Parse(now)
		if err != nil {
			var fe *admin.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a field error", err)
			}
			return
		}
		if label == "" || !from.Before(to) || "label:"+label != by {
			t.Fatalf("accepted %q %q %q: label %q, %v .. %v", by, since, until, label, from, to)
		}
	})
}
