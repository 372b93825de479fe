package sqlstore

import (
	"fmt"
	"os"
	"testing"
	"time"

	"switchyard/internal/store"
	"switchyard/internal/store/storetest"
)

func TestSessionConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) storetest.SessionStoreUnderTest
	}{
		{"sqlite_file", func(t *testing.T) storetest.SessionStoreUnderTest { return OpenTestStore(t, DriverSQLite) }},
		{"sqlite_memory", func(t *testing.T) storetest.SessionStoreUnderTest {
			s, err := Open(t.Context(), DriverSQLite, ":memory:")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(t *testing.T) storetest.SessionStoreUnderTest { return OpenTestStore(t, DriverPostgres) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "postgres" && os.Getenv(PostgresDSNEnv) == "" {
				t.Skipf("skipping postgres session conformance: %s is not set", PostgresDSNEnv)
			}
			storetest.RunSessions(t, tc.open)
		})
	}
}

// TestSessionStore_TwoInstances checks that two stores over one database
// (two gateway replicas) see each other's sessions at once.
func TestSessionStore_TwoInstances(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			a := OpenTestStore(t, driver)
			b, err := Open(t.Context(), driver, sameDatabase(t, a))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			now := a.now()
			first := &store.Response{ID: "resp_1", TenantID: "ten_a", Model: "m", Status: store.ResponseCompleted, ExpiresAt: now.Add(time.Hour),
				Input: []store.Item{{ID: "msg_1", Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputText, Text: "hi"}}}}}
			if err := a.SaveResponse(t.Context(), first); err != nil {
				t.Fatal(err)
			}
			second := &store.Response{ID: "resp_2", TenantID: "ten_a", Model: "m", Status: store.ResponseCompleted, ExpiresAt: now.Add(time.Hour),
				PreviousResponseID: "resp_1",
				Input:              []store.Item{{ID: "msg_2", Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputText, Text: "again"}}}}}
			if err := b.SaveResponse(t.Context(), second); err != nil {
				t.Fatal(err)
			}
			items, err := a.ResponseHistory(t.Context(), "ten_a", "resp_2", now)
			if err != nil || len(items) != 2 || items[0].ID != "msg_1" || items[1].ID != "msg_2" {
				t.Errorf("history seen by the other instance: %v, %v", items, err)
			}
		})
	}
}

// TestSessionStore_ItemJSON pins the stored item format: it is the
// runtime's own, and rows written by one version must read in the next.
func TestSessionStore_ItemJSON(t *testing.T) {
	s := OpenTestStore(t, DriverSQLite)
	now := s.now()
	r := &store.Response{ID: "resp_1", TenantID: "ten_a", Model: "m", Status: store.ResponseCompleted, ExpiresAt: now.Add(time.Hour),
		Output: []store.Item{
			{ID: "fc_1", Type: store.ItemFunctionCall, Status: "completed", CallID: "call_1", Name: "f", Arguments: `{"a":1}`},
			{ID: "msg_1", Type: store.ItemMessage, Status: "completed", Role: "assistant", Content: []store.Content{{Type: store.ContentOutputText, Text: "hi"}}},
		}}
	if err := s.SaveResponse(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.QueryContext(t.Context(), `SELECT data FROM response_items ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	want := []string{
		`{"type":"function_call","status":"completed","call_id":"call_1","name":"f","arguments":"{\"a\":1}"}`,
		`{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"hi"}]}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored item JSON:\n got %s\nwant %s", got, want)
	}
}
