package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

func TestAdminAPI_Requests(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			srv, st := newAPI(t, driver)
			ctx := context.Background()
			ten := &store.Tenant{Name: "acme"}
			if err := st.CreateTenant(ctx, ten); err != nil {
				t.Fatal(err)
			}
			at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
			var recs []store.UsageRecord
			for i := range 5 {
				recs = append(recs, store.UsageRecord{RequestID: fmt.Sprintf("req_%d", i), TenantID: ten.ID, KeyID: "key_1",
					Model: "m", Provider: "a", Status: 200, Strategy: "priority", Route: "strategy=priority; attempts=a",
					Candidates:  []store.RouteCandidate{{Channel: "a", UpstreamModel: "up"}},
					AttemptLog:  []store.Attempt{{Channel: "a", UpstreamModel: "up", Status: 200, Duration: time.Millisecond}},
					InputTokens: 10, CostUSD: 0.5, CreatedAt: at.Add(time.Duration(i) * time.Second)})
			}
			recs[3].Status, recs[3].ErrorKind, recs[3].Error = 429, "rate limited", "Rate limit reached."
			recs[4].Payload = &store.Payload{Request: `{"q":"[REDACTED:email]"}`, Response: "hi", RequestBytes: 20, ResponseBytes: 2}
			if err := st.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}

			code, body, raw := do(t, srv, call{method: "GET", path: "/admin/v1/requests?tenant=acme&limit=2"})
			if code != 200 {
				t.Fatalf("list: %d %s", code, raw)
			}
			data := body["data"].([]any)
			if len(data) != 2 || data[0].(map[string]any)["id"] != "req_4" || body["next_cursor"] == "" {
				t.Fatalf("first page: %s", raw)
			}
			if strings.Contains(raw, "payload") {
				t.Errorf("a listing carries a payload: %s", raw)
			}
			code, body, raw = do(t, srv, call{method: "GET", path: "/admin/v1/requests?tenant=acme&limit=2&cursor=" + body["next_cursor"].(string)})
			if code != 200 || len(body["data"].([]any)) != 2 || body["data"].([]any)[0].(map[string]any)["id"] != "req_2" {
				t.Fatalf("second page: %d %s", code, raw)
			}
			code, body, raw = do(t, srv, call{method: "GET", path: "/admin/v1/requests?status=429"})
			if code != 200 || len(body["data"].([]any)) != 1 || body["data"].([]any)[0].(map[string]any)["error"] != "Rate limit reached." {
				t.Fatalf("status filter: %d %s", code, raw)
			}
			code, body, raw = do(t, srv, call{method: "GET", path: "/admin/v1/requests/req_4"})
			if code != 200 {
				t.Fatalf("get: %d %s", code, raw)
			}
			p, _ := body["payload"].(map[string]any)
			route, _ := body["route"].(map[string]any)
			if p["request"] != `{"q":"[REDACTED:email]"}` || route["strategy"] != "priority" || len(body["attempts"].([]any)) != 1 {
				t.Errorf("get: %s", raw)
			}
			for _, tc := range []struct {
				path string
				code int
			}{
				{"/admin/v1/requests/nope", 404},
				{"/admin/v1/requests?status=abc", 400},
				{"/admin/v1/requests?limit=5000", 400},
				{"/admin/v1/requests?cursor=zz", 400},
				{"/admin/v1/requests?since=yesterday", 400},
				{"/admin/v1/requests?tenant=nobody", 404},
			} {
				if code, _, raw := do(t, srv, call{method: "GET", path: tc.path}); code != tc.code {
					t.Errorf("%s: %d %s, want %d", tc.path, code, raw, tc.code)
				}
			}
			if code, _, _ := do(t, srv, call{method: "GET", path: "/admin/v1/requests", token: "-"}); code != 401 {
				t.Errorf("without a token: %d", code)
			}
		})
	}
}
