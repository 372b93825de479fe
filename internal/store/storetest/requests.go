package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
)

// RequestLogUnderTest is the request-log API the suite exercises on top of
// StoreUnderTest: listing and reading request records, and pruning
// captured payloads.
type RequestLogUnderTest interface {
	StoreUnderTest
	ListRequests(ctx context.Context, f store.RequestFilter) ([]store.UsageRecord, string, error)
	GetRequest(ctx context.Context, requestID string) (*store.UsageRecord, error)
	PrunePayloads(ctx context.Context, before time.Time) (int64, error)
}

// runRequests runs the request-log cases.
func runRequests(t *testing.T, open func(t *testing.T) StoreUnderTest) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, RequestLogUnderTest)
	}{
		{"requests_list_pages", testRequestsListPages},
		{"requests_get_detail_and_payload", testRequestsGet},
		{"requests_bad_cursor", testRequestsBadCursor},
		{"requests_payload_prune", testRequestsPayloadPrune},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			l, ok := s.(RequestLogUnderTest)
			if !ok {
				t.Fatalf("%T does not implement storetest.RequestLogUnderTest", s)
			}
			tc.fn(t, l)
		})
	}
}

// requestFixture is usageFixture where every third record shares its
// creation time with the one before, so that paging must order ties.
func requestFixture(n int) []store.UsageRecord {
	recs := usageFixture(n, "req")
	for i := range recs {
		if i%3 == 2 {
			recs[i].CreatedAt = recs[i-1].CreatedAt
		}
	}
	return recs
}

func testRequestsListPages(t *testing.T, s RequestLogUnderTest) {
	ctx := context.Background()
	recs := requestFixture(230)
	// Inserted in two batches, the second older, so that insertion order
	// is not creation order.
	if err := s.InsertUsage(ctx, recs[100:]); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertUsage(ctx, recs[:100]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    store.RequestFilter
		keep func(r *store.UsageRecord) bool
	}{
		{"all", store.RequestFilter{}, func(*store.UsageRecord) bool { return true }},
		{"tenant", store.RequestFilter{TenantID: "ten_b"}, func(r *store.UsageRecord) bool { return r.TenantID == "ten_b" }},
		{"key", store.RequestFilter{KeyID: "ten_a_key0"}, func(r *store.UsageRecord) bool { return r.KeyID == "ten_a_key0" }},
		{"model_and_channel", store.RequestFilter{Model: "gpt-5", Provider: "azure-eastus"},
			func(r *store.UsageRecord) bool { return r.Model == "gpt-5" && r.Provider == "azure-eastus" }},
		{"status", store.RequestFilter{Status: 429}, func(r *store.UsageRecord) bool { return r.Status == 429 }},
		{"window", store.RequestFilter{Since: base.Add(30 * time.Minute), Until: base.Add(150 * time.Minute)},
			func(r *store.UsageRecord) bool {
				return !r.CreatedAt.Before(micro(base.Add(30*time.Minute))) && r.CreatedAt.Before(micro(base.Add(150*time.Minute)))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			// Newest first; ties in the reverse of insertion order, which
			// for the fixture's batches is: recs[100:] before recs[:100].
			order := slices.Clone(recs)
			for i := range order {
				order[i].CreatedAt = micro(order[i].CreatedAt)
			}
			rank := func(id string) int { // insertion position
				var n int
				fmt.Sscanf(id, "req-%05d", &n)
				if n >= 100 {
					return n - 100
				}
				return n + 130
			}
			slices.SortStableFunc(order, func(a, b store.UsageRecord) int {
				if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
					return c
				}
				return rank(b.RequestID) - rank(a.RequestID)
			})
			for i := range order {
				if tc.keep(&order[i]) {
					want = append(want, order[i].RequestID)
				}
			}
			var got []string
			f := tc.f
			f.Limit = 7
			for pages := 0; ; pages++ {
				if pages > len(recs) {
					t.Fatal("paging does not end")
				}
				page, next, err := s.ListRequests(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > 7 {
					t.Fatalf("page of %d records, limit 7", len(page))
				}
				for _, r := range page {
					got = append(got, r.RequestID)
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listed request IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func testRequestsGet(t *testing.T, s RequestLogUnderTest) {
	ctx := context.Background()
	recs := usageFixture(3, "get")
	recs[1].TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	recs[1].Error = "upstream rate limit exceeded"
	recs[1].Strategy = "priority"
	recs[1].Candidates = []store.RouteCandidate{
		{Channel: "azure-eastus", UpstreamModel: "gpt-5"},
		{Channel: "openai", UpstreamModel: "gpt-5-2025", Skipped: "breaker_open", Detail: "breaker open until 10:00"},
	}
	recs[1].AttemptLog = []store.Attempt{
		{Channel: "azure-eastus", UpstreamModel: "gpt-5", Status: 429, ErrorKind: "rate limited", Duration: 1500 * time.Microsecond, Fallback: "rate limited"},
		{Channel: "aws", UpstreamModel: "gpt-5", Status: 200, Duration: 3 * time.Millisecond},
	}
	recs[1].Attempts = 2
	recs[1].Payload = &store.Payload{Request: `{"model":"gpt-5"}`, Response: "Hello [REDACTED:email]", RequestBytes: 17,
		ResponseBytes: 2000, Truncated: true}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// A retried batch keeps the first payload.
	again := slices.Clone(recs)
	again[1].Payload = &store.Payload{Request: "other"}
	if err := s.InsertUsage(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRequest(ctx, recs[1].RequestID)
	if err != nil {
		t.Fatal(err)
	}
	want := recs[1]
	want.CreatedAt = micro(want.CreatedAt)
	if diff := cmp.Diff(&want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("GetRequest (-want +got):\n%s", diff)
	}
	plain, err := s.GetRequest(ctx, recs[0].RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Payload != nil || plain.AttemptLog != nil || plain.Strategy != "" {
		t.Errorf("record without detail read back with %+v", plain)
	}
	// Listings never carry payloads.
	page, _, err := s.ListRequests(ctx, store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page {
		if r.Payload != nil {
			t.Errorf("listing of %s carries a payload", r.RequestID)
		}
	}
	_, err = s.GetRequest(ctx, "no-such-request")
	wantErr(t, "GetRequest of an unknown ID", err, store.ErrNotFound)
	// A payload without a request ID cannot be found again: refused.
	bad := usageFixture(1, "bad")
	bad[0].RequestID = ""
	bad[0].Payload = &store.Payload{Request: "x"}
	wantErr(t, "payload without a request ID", s.InsertUsage(ctx, bad), store.ErrInvalid)
}

func testRequestsBadCursor(t *testing.T, s RequestLogUnderTest) {
	for _, c := range []string{"x", "12", "12_", "_3", "1_-4", "a_b"} {
		_, _, err := s.ListRequests(context.Background(), store.RequestFilter{Cursor: c})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("cursor %q: got %v, want store.ErrInvalid", c, err)
		}
	}
}

func testRequestsPayloadPrune(t *testing.T, s RequestLogUnderTest) {
	ctx := context.Background()
	recs := usageFixture(20, "prune")
	for i := range recs {
		recs[i].Payload = &store.Payload{Request: fmt.Sprint(i)}
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	n, err := s.PrunePayloads(ctx, recs[12].CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 {
		t.Errorf("pruned %d payloads, want 12", n)
	}
	for i, r := range recs {
		got, err := s.GetRequest(ctx, r.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if kept := got.Payload != nil; kept != (i >= 12) {
			t.Errorf("record %d: payload kept %v, want %v", i, kept, i >= 12)
		}
	}
}
