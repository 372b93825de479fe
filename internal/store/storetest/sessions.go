package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
)

// SessionStoreUnderTest is the stateful runtime's store API the session
// suite exercises.
type SessionStoreUnderTest interface {
	SaveResponse(ctx context.Context, r *store.Response) error
	ResponseByID(ctx context.Context, tenantID, id string, sessionNow time.Time) (*store.Response, error)
	ResponseInputItems(ctx context.Context, tenantID, id string, sessionNow time.Time, page store.ItemPage) ([]store.Item, bool, error)
	ResponseHistory(ctx context.Context, tenantID, id string, sessionNow time.Time) ([]store.Item, error)
	DeleteResponse(ctx context.Context, tenantID, id string, sessionNow time.Time) error
	PurgeExpiredResponses(ctx context.Context, sessionNow time.Time) (int64, error)

	CreateConversation(ctx context.Context, c *store.Conversation, items []store.Item) error
	ConversationByID(ctx context.Context, tenantID, id string) (*store.Conversation, error)
	UpdateConversationMetadata(ctx context.Context, tenantID, id string, metadata map[string]string) (*store.Conversation, error)
	DeleteConversation(ctx context.Context, tenantID, id string) error
	AppendConversationItems(ctx context.Context, tenantID, id string, items []store.Item) error
	ConversationItems(ctx context.Context, tenantID, id string, page store.ItemPage) ([]store.Item, bool, error)
	ConversationHistory(ctx context.Context, tenantID, id string) ([]store.Item, error)
	ConversationItem(ctx context.Context, tenantID, id, itemID string) (*store.Item, error)
	DeleteConversationItem(ctx context.Context, tenantID, id, itemID string) error
}

// RunSessions runs the session suite. open must return a new, empty store
// for each call and release it when t ends; subtests call it once each and
// run in parallel.
func RunSessions(t *testing.T, open func(t *testing.T) SessionStoreUnderTest) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, SessionStoreUnderTest)
	}{
		{"response_save_and_read", testResponseSaveAndRead},
		{"response_tenant_isolation", testResponseTenantIsolation},
		{"response_expiry_and_purge", testResponseExpiryAndPurge},
		{"response_purge_in_batches", testResponsePurgeInBatches},
		{"response_history_chain", testResponseHistoryChain},
		{"response_history_extends_chain_expiry", testResponseHistoryExtendsExpiry},
		{"response_history_missing_ancestor", testResponseHistoryMissingAncestor},
		{"response_conflicts", testResponseConflicts},
		{"response_invalid", testResponseInvalid},
		{"response_input_items_pages", testResponseInputItemsPages},
		{"response_delete", testResponseDelete},
		{"response_in_conversation", testResponseInConversation},
		{"conversation_lifecycle", testConversationLifecycle},
		{"conversation_items", testConversationItems},
		{"conversation_tenant_isolation", testConversationTenantIsolation},
		{"conversation_concurrent_appends", testConversationConcurrentAppends},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// sessionNow is the session suite's clock: responses expire relative to it.
var sessionNow = base.Add(time.Hour)

const day = 24 * time.Hour

func userItem(id, text string) store.Item {
	return store.Item{ID: id, Type: store.ItemMessage, Status: "completed", Role: "user",
		Content: []store.Content{{Type: store.ContentInputText, Text: text}}}
}

func assistantItem(id, text string) store.Item {
	return store.Item{ID: id, Type: store.ItemMessage, Status: "completed", Role: "assistant",
		Content: []store.Content{{Type: store.ContentOutputText, Text: text}}}
}

// everyField is an item list that sets every item field, so that a store
// that loses one fails the round trip.
func everyField() []store.Item {
	return []store.Item{
		{ID: "msg_1", Type: store.ItemMessage, Status: "completed", Role: "user", Content: []store.Content{
			{Type: store.ContentInputText, Text: "What is in this image?"},
			{Type: store.ContentInputImage, ImageURL: "data:image/png;base64,iVBORw0KGgo=", Detail: "low"},
		}},
		{ID: "rs_1", Type: store.ItemReasoning, Status: "completed", Summary: []string{"looked"},
			Content: []store.Content{{Type: store.ContentReasoningText, Text: "a cat, probably"}}, Signature: "sig==", Redacted: "cmVk"},
		{ID: "fc_1", Type: store.ItemFunctionCall, Status: "completed", CallID: "call_1", Name: "lookup", Arguments: `{"q":"cat"}`},
		{ID: "fco_1", Type: store.ItemFunctionCallOutput, CallID: "call_1", Output: "a mammal"},
		{ID: "fco_2", Type: store.ItemFunctionCallOutput, CallID: "call_1", OutputParts: []store.Content{{Type: store.ContentInputText, Text: "part"}}},
		{ID: "msg_2", Type: store.ItemMessage, Status: "incomplete", Role: "assistant", Content: []store.Content{
			{Type: store.ContentOutputText, Text: "A cat"}, {Type: store.ContentRefusal, Text: "no more"},
		}},
	}
}

func mustSave(t *testing.T, s SessionStoreUnderTest, r *store.Response) *store.Response {
	t.Helper()
	if err := s.SaveResponse(t.Context(), r); err != nil {
		t.Fatalf("SaveResponse(%q): %v", r.ID, err)
	}
	return r
}

// turn returns a completed response with one user and one assistant item.
func turn(id, tenant, prev string, n int) *store.Response {
	return &store.Response{ID: id, TenantID: tenant, Model: "m", Status: store.ResponseCompleted, PreviousResponseID: prev,
		CreatedAt: sessionNow, ExpiresAt: sessionNow.Add(day),
		Input:  []store.Item{userItem(fmt.Sprintf("msg_in_%d", n), fmt.Sprintf("question %d", n))},
		Output: []store.Item{assistantItem(fmt.Sprintf("msg_out_%d", n), fmt.Sprintf("answer %d", n))}}
}

func itemIDs(items []store.Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func testResponseSaveAndRead(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	items := everyField()
	completed := base.Add(2 * time.Second)
	in := &store.Response{
		ID: "resp_1", TenantID: "ten_a", Model: "gpt-test", Status: store.ResponseIncomplete,
		PreviousResponseID: "", ConversationID: "",
		Metadata:  map[string]string{"topic": "cats"},
		Settings:  json.RawMessage(`{"instructions":"be brief","temperature":0.5}`),
		Usage:     store.ResponseUsage{InputTokens: 100, CachedInputTokens: 40, OutputTokens: 20, ReasoningTokens: 5},
		ErrorCode: "", ErrorMessage: "", IncompleteReason: "max_output_tokens",
		CreatedAt: base, CompletedAt: &completed, ExpiresAt: sessionNow.Add(day),
		Input: items[:2], Output: items[2:],
	}
	mustSave(t, s, in)
	want := store.Response{
		ID: "resp_1", TenantID: "ten_a", Model: "gpt-test", Status: store.ResponseIncomplete,
		Metadata:         map[string]string{"topic": "cats"},
		Settings:         json.RawMessage(`{"instructions":"be brief","temperature":0.5}`),
		Usage:            store.ResponseUsage{InputTokens: 100, CachedInputTokens: 40, OutputTokens: 20, ReasoningTokens: 5},
		IncompleteReason: "max_output_tokens",
		CreatedAt:        micro(base), CompletedAt: ptr(micro(completed)), ExpiresAt: micro(sessionNow.Add(day)),
		Output: items[2:],
	}
	got, err := s.ResponseByID(ctx, "ten_a", "resp_1", sessionNow)
	if err != nil {
		t.Fatalf("ResponseByID: %v", err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("ResponseByID (-want +got):\n%s", diff)
	}
	inputs, more, err := s.ResponseInputItems(ctx, "ten_a", "resp_1", sessionNow, store.ItemPage{})
	if err != nil || more {
		t.Fatalf("ResponseInputItems: more=%v, %v", more, err)
	}
	if diff := cmp.Diff(items[:2], inputs); diff != "" {
		t.Errorf("ResponseInputItems (-want +got):\n%s", diff)
	}

	// A failed response with no items and no settings reads back empty.
	mustSave(t, s, &store.Response{ID: "resp_2", TenantID: "ten_a", Model: "m", Status: store.ResponseFailed,
		ErrorCode: "server_error", ErrorMessage: "upstream failed", ExpiresAt: sessionNow.Add(day)})
	got, err = s.ResponseByID(ctx, "ten_a", "resp_2", sessionNow)
	if err != nil {
		t.Fatalf("ResponseByID(resp_2): %v", err)
	}
	if got.ErrorCode != "server_error" || got.ErrorMessage != "upstream failed" || len(got.Output) != 0 || got.CompletedAt != nil ||
		got.Metadata != nil || got.CreatedAt.IsZero() {
		t.Errorf("failed response read back as %+v", got)
	}
}

func testResponseTenantIsolation(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	mustSave(t, s, turn("resp_a", "ten_a", "", 1))
	_, err := s.ResponseByID(ctx, "ten_b", "resp_a", sessionNow)
	wantErr(t, "ResponseByID of another tenant", err, store.ErrNotFound)
	_, _, err = s.ResponseInputItems(ctx, "ten_b", "resp_a", sessionNow, store.ItemPage{})
	wantErr(t, "ResponseInputItems of another tenant", err, store.ErrNotFound)
	_, err = s.ResponseHistory(ctx, "ten_b", "resp_a", sessionNow)
	wantErr(t, "ResponseHistory of another tenant", err, store.ErrNotFound)
	wantErr(t, "DeleteResponse of another tenant", s.DeleteResponse(ctx, "ten_b", "resp_a", sessionNow), store.ErrNotFound)
	// Another tenant cannot continue the chain either: its new response
	// would extend nothing, and its history lookup fails.
	mustSave(t, s, turn("resp_b", "ten_b", "resp_a", 2))
	_, err = s.ResponseHistory(ctx, "ten_b", "resp_b", sessionNow)
	var mae *store.MissingAncestorError
	if !errors.As(err, &mae) || mae.AncestorID != "resp_a" {
		t.Errorf("history of a response continuing a foreign one: %v, want a missing ancestor resp_a", err)
	}
	if _, err := s.ResponseByID(ctx, "ten_a", "resp_a", sessionNow); err != nil {
		t.Errorf("owner lost its response: %v", err)
	}
}

func testResponseExpiryAndPurge(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	short := turn("resp_short", "ten_a", "", 1)
	short.ExpiresAt = sessionNow.Add(time.Minute)
	mustSave(t, s, short)
	mustSave(t, s, turn("resp_long", "ten_a", "", 2))
	later := sessionNow.Add(time.Minute)
	_, err := s.ResponseByID(ctx, "ten_a", "resp_short", later)
	wantErr(t, "ResponseByID at expiry", err, store.ErrNotFound)
	_, _, err = s.ResponseInputItems(ctx, "ten_a", "resp_short", later, store.ItemPage{})
	wantErr(t, "ResponseInputItems at expiry", err, store.ErrNotFound)
	_, err = s.ResponseHistory(ctx, "ten_a", "resp_short", later)
	wantErr(t, "ResponseHistory at expiry", err, store.ErrNotFound)
	wantErr(t, "DeleteResponse at expiry", s.DeleteResponse(ctx, "ten_a", "resp_short", later), store.ErrNotFound)
	if _, err := s.ResponseByID(ctx, "ten_a", "resp_short", sessionNow); err != nil {
		t.Errorf("ResponseByID before expiry: %v", err)
	}

	n, err := s.PurgeExpiredResponses(ctx, later)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpiredResponses = %d, %v; want 1", n, err)
	}
	_, err = s.ResponseByID(ctx, "ten_a", "resp_short", sessionNow)
	wantErr(t, "ResponseByID of a purged response", err, store.ErrNotFound)
	if _, err := s.ResponseByID(ctx, "ten_a", "resp_long", later); err != nil {
		t.Errorf("purge removed an unexpired response: %v", err)
	}
	if n, err := s.PurgeExpiredResponses(ctx, later); err != nil || n != 0 {
		t.Errorf("second purge = %d, %v; want 0", n, err)
	}
}

func testResponsePurgeInBatches(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	const n = 1234
	for i := range n {
		r := turn(fmt.Sprintf("resp_%04d", i), "ten_a", "", i)
		r.ExpiresAt = sessionNow.Add(time.Duration(i%2+1) * time.Minute)
		mustSave(t, s, r)
	}
	got, err := s.PurgeExpiredResponses(ctx, sessionNow.Add(time.Minute))
	if err != nil || got != n/2 {
		t.Fatalf("PurgeExpiredResponses = %d, %v; want %d", got, err, n/2)
	}
	got, err = s.PurgeExpiredResponses(ctx, sessionNow.Add(2*time.Minute))
	if err != nil || got != n/2 {
		t.Fatalf("second PurgeExpiredResponses = %d, %v; want %d", got, err, n/2)
	}
}

func testResponseHistoryChain(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	mustSave(t, s, turn("resp_1", "ten_a", "", 1))
	mustSave(t, s, turn("resp_2", "ten_a", "resp_1", 2))
	// A fork: two responses continue resp_2; each sees only its own branch.
	mustSave(t, s, turn("resp_3a", "ten_a", "resp_2", 3))
	mustSave(t, s, turn("resp_3b", "ten_a", "resp_2", 4))
	// A response with no items in the middle of a chain.
	mustSave(t, s, &store.Response{ID: "resp_empty", TenantID: "ten_a", Model: "m", Status: store.ResponseFailed,
		PreviousResponseID: "resp_3a", ExpiresAt: sessionNow.Add(day)})
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"resp_1", []string{"msg_in_1", "msg_out_1"}},
		{"resp_2", []string{"msg_in_1", "msg_out_1", "msg_in_2", "msg_out_2"}},
		{"resp_3a", []string{"msg_in_1", "msg_out_1", "msg_in_2", "msg_out_2", "msg_in_3", "msg_out_3"}},
		{"resp_3b", []string{"msg_in_1", "msg_out_1", "msg_in_2", "msg_out_2", "msg_in_4", "msg_out_4"}},
		{"resp_empty", []string{"msg_in_1", "msg_out_1", "msg_in_2", "msg_out_2", "msg_in_3", "msg_out_3"}},
	} {
		items, err := s.ResponseHistory(ctx, "ten_a", tc.id, sessionNow)
		if err != nil {
			t.Fatalf("ResponseHistory(%s): %v", tc.id, err)
		}
		if diff := cmp.Diff(tc.want, itemIDs(items)); diff != "" {
			t.Errorf("ResponseHistory(%s) item IDs (-want +got):\n%s", tc.id, diff)
		}
	}
	items, err := s.ResponseHistory(ctx, "ten_a", "resp_2", sessionNow)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(assistantItem("msg_out_2", "answer 2"), items[3]); diff != "" {
		t.Errorf("history item content (-want +got):\n%s", diff)
	}
	_, err = s.ResponseHistory(ctx, "ten_a", "resp_missing", sessionNow)
	wantErr(t, "ResponseHistory of an unknown response", err, store.ErrNotFound)

	// A long chain is still one history, in order.
	prev := "resp_2"
	for i := range 50 {
		id := fmt.Sprintf("resp_long_%02d", i)
		mustSave(t, s, turn(id, "ten_a", prev, 100+i))
		prev = id
	}
	items, err = s.ResponseHistory(ctx, "ten_a", prev, sessionNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 104 || items[4].ID != "msg_in_100" || items[103].ID != "msg_out_149" {
		t.Errorf("long chain history: %d items, %v", len(items), itemIDs(items))
	}
}

func testResponseHistoryExtendsExpiry(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	first := turn("resp_1", "ten_a", "", 1)
	first.ExpiresAt = sessionNow.Add(time.Hour)
	mustSave(t, s, first)
	second := turn("resp_2", "ten_a", "resp_1", 2)
	second.ExpiresAt = sessionNow.Add(10 * time.Hour)
	mustSave(t, s, second)
	// Continuing resp_2 keeps resp_1 alive as long as resp_2.
	later := sessionNow.Add(2 * time.Hour)
	got, err := s.ResponseByID(ctx, "ten_a", "resp_1", later)
	if err != nil {
		t.Fatalf("ancestor expired although a continuation uses it: %v", err)
	}
	if !got.ExpiresAt.Equal(micro(second.ExpiresAt)) {
		t.Errorf("ancestor expiry = %v, want %v", got.ExpiresAt, micro(second.ExpiresAt))
	}
	if items, err := s.ResponseHistory(ctx, "ten_a", "resp_2", later); err != nil || len(items) != 4 {
		t.Errorf("ResponseHistory after the first TTL: %d items, %v", len(items), err)
	}
	// A shorter continuation never shortens an ancestor's expiry.
	third := turn("resp_3", "ten_a", "resp_2", 3)
	third.ExpiresAt = sessionNow.Add(5 * time.Hour)
	mustSave(t, s, third)
	got, err = s.ResponseByID(ctx, "ten_a", "resp_2", sessionNow)
	if err != nil || !got.ExpiresAt.Equal(micro(second.ExpiresAt)) {
		t.Errorf("resp_2 expiry after a shorter continuation = %v, %v; want %v", got, err, micro(second.ExpiresAt))
	}
	if n, err := s.PurgeExpiredResponses(ctx, later); err != nil || n != 0 {
		t.Errorf("purge removed %d responses of a live chain (%v)", n, err)
	}
}

func testResponseHistoryMissingAncestor(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	mustSave(t, s, turn("resp_1", "ten_a", "", 1))
	mustSave(t, s, turn("resp_2", "ten_a", "resp_1", 2))
	mustSave(t, s, turn("resp_3", "ten_a", "resp_2", 3))
	if err := s.DeleteResponse(ctx, "ten_a", "resp_2", sessionNow); err != nil {
		t.Fatal(err)
	}
	_, err := s.ResponseHistory(ctx, "ten_a", "resp_3", sessionNow)
	var mae *store.MissingAncestorError
	if !errors.As(err, &mae) || mae.ResponseID != "resp_3" || mae.AncestorID != "resp_2" {
		t.Fatalf("ResponseHistory with a deleted ancestor: %v", err)
	}
	wantErr(t, "missing ancestor", err, store.ErrNotFound)
	if _, err := s.ResponseByID(ctx, "ten_a", "resp_3", sessionNow); err != nil {
		t.Errorf("the continuation itself stays readable: %v", err)
	}
}

func testResponseConflicts(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	mustSave(t, s, turn("resp_1", "ten_a", "", 1))
	wantErr(t, "duplicate response ID", s.SaveResponse(ctx, turn("resp_1", "ten_a", "", 2)), store.ErrConflict)
	wantErr(t, "duplicate response ID of another tenant", s.SaveResponse(ctx, turn("resp_1", "ten_b", "", 2)), store.ErrConflict)
	dup := turn("resp_dup", "ten_a", "", 3)
	dup.Output[0].ID = dup.Input[0].ID
	wantErr(t, "duplicate item ID", s.SaveResponse(ctx, dup), store.ErrConflict)
	_, err := s.ResponseByID(ctx, "ten_a", "resp_dup", sessionNow)
	wantErr(t, "a refused response was stored", err, store.ErrNotFound)
	got, err := s.ResponseByID(ctx, "ten_a", "resp_1", sessionNow)
	if err != nil || got.Output[0].Content[0].Text != "answer 1" {
		t.Errorf("original response after refused duplicates: %+v, %v", got, err)
	}
}

func testResponseInvalid(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		edit func(r *store.Response)
	}{
		{"no_id", func(r *store.Response) { r.ID = "" }},
		{"no_tenant", func(r *store.Response) { r.TenantID = "" }},
		{"no_status", func(r *store.Response) { r.Status = "" }},
		{"no_expiry", func(r *store.Response) { r.ExpiresAt = time.Time{} }},
		{"continues_itself", func(r *store.Response) { r.PreviousResponseID = r.ID }},
		{"settings_not_json", func(r *store.Response) { r.Settings = json.RawMessage(`{`) }},
		{"item_without_id", func(r *store.Response) { r.Input[0].ID = "" }},
		{"item_without_type", func(r *store.Response) { r.Output[0].Type = "" }},
	} {
		r := turn("resp_"+tc.name, "ten_a", "", 1)
		tc.edit(r)
		wantErr(t, tc.name, s.SaveResponse(ctx, r), store.ErrInvalid)
	}
}

func testResponseInputItemsPages(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	r := &store.Response{ID: "resp_1", TenantID: "ten_a", Model: "m", Status: store.ResponseCompleted, ExpiresAt: sessionNow.Add(day),
		Output: []store.Item{assistantItem("msg_out", "done")}}
	for i := range 5 {
		r.Input = append(r.Input, userItem(fmt.Sprintf("msg_%d", i), "q"))
	}
	mustSave(t, s, r)
	for _, tc := range []struct {
		name     string
		page     store.ItemPage
		want     []string
		wantMore bool
	}{
		{"all", store.ItemPage{}, []string{"msg_0", "msg_1", "msg_2", "msg_3", "msg_4"}, false},
		{"first_two", store.ItemPage{Limit: 2}, []string{"msg_0", "msg_1"}, true},
		{"after", store.ItemPage{After: "msg_1", Limit: 2}, []string{"msg_2", "msg_3"}, true},
		{"last_page", store.ItemPage{After: "msg_2", Limit: 2}, []string{"msg_3", "msg_4"}, false},
		{"exact_fit", store.ItemPage{Limit: 5}, []string{"msg_0", "msg_1", "msg_2", "msg_3", "msg_4"}, false},
		{"desc", store.ItemPage{Descending: true, Limit: 3}, []string{"msg_4", "msg_3", "msg_2"}, true},
		{"desc_after", store.ItemPage{Descending: true, After: "msg_2"}, []string{"msg_1", "msg_0"}, false},
		{"after_last", store.ItemPage{After: "msg_4"}, nil, false},
	} {
		items, more, err := s.ResponseInputItems(ctx, "ten_a", "resp_1", sessionNow, tc.page)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, itemIDs(items), cmpopts.EquateEmpty()); diff != "" || more != tc.wantMore {
			t.Errorf("%s: more = %v (want %v), IDs (-want +got):\n%s", tc.name, more, tc.wantMore, diff)
		}
	}
	_, _, err := s.ResponseInputItems(ctx, "ten_a", "resp_1", sessionNow, store.ItemPage{After: "msg_out"})
	wantErr(t, "cursor on an output item", err, store.ErrNotFound)
	_, _, err = s.ResponseInputItems(ctx, "ten_a", "resp_1", sessionNow, store.ItemPage{After: "msg_unknown"})
	wantErr(t, "unknown cursor", err, store.ErrNotFound)
}

func testResponseDelete(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	mustSave(t, s, turn("resp_1", "ten_a", "", 1))
	if err := s.DeleteResponse(ctx, "ten_a", "resp_1", sessionNow); err != nil {
		t.Fatalf("DeleteResponse: %v", err)
	}
	_, err := s.ResponseByID(ctx, "ten_a", "resp_1", sessionNow)
	wantErr(t, "ResponseByID after delete", err, store.ErrNotFound)
	_, _, err = s.ResponseInputItems(ctx, "ten_a", "resp_1", sessionNow, store.ItemPage{})
	wantErr(t, "ResponseInputItems after delete", err, store.ErrNotFound)
	wantErr(t, "second delete", s.DeleteResponse(ctx, "ten_a", "resp_1", sessionNow), store.ErrNotFound)
	// The ID and item IDs are free again.
	mustSave(t, s, turn("resp_1", "ten_a", "", 1))
}

func testResponseInConversation(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	c := &store.Conversation{TenantID: "ten_a"}
	if err := s.CreateConversation(ctx, c, []store.Item{userItem("msg_seed", "hello")}); err != nil {
		t.Fatal(err)
	}
	r := turn("resp_1", "ten_a", "", 1)
	r.ConversationID = c.ID
	mustSave(t, s, r)
	got, err := s.ResponseByID(ctx, "ten_a", "resp_1", sessionNow)
	if err != nil || got.ConversationID != c.ID {
		t.Fatalf("ResponseByID = %+v, %v; want conversation %s", got, err, c.ID)
	}
	hist, err := s.ConversationHistory(ctx, "ten_a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"msg_seed", "msg_in_1", "msg_out_1"}, itemIDs(hist)); diff != "" {
		t.Errorf("conversation after a response (-want +got):\n%s", diff)
	}

	// A conversation of another tenant refuses the response as a whole.
	foreign := turn("resp_2", "ten_b", "", 2)
	foreign.ConversationID = c.ID
	wantErr(t, "response in a foreign conversation", s.SaveResponse(ctx, foreign), store.ErrNotFound)
	_, err = s.ResponseByID(ctx, "ten_b", "resp_2", sessionNow)
	wantErr(t, "refused response", err, store.ErrNotFound)

	// An item ID already in the conversation refuses it too.
	again := turn("resp_3", "ten_a", "", 1)
	again.ConversationID = c.ID
	wantErr(t, "item already in the conversation", s.SaveResponse(ctx, again), store.ErrConflict)
	_, err = s.ResponseByID(ctx, "ten_a", "resp_3", sessionNow)
	wantErr(t, "refused response", err, store.ErrNotFound)
	if hist, _ := s.ConversationHistory(ctx, "ten_a", c.ID); len(hist) != 3 {
		t.Errorf("conversation has %d items after refused saves, want 3", len(hist))
	}
}

func testConversationLifecycle(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	c := &store.Conversation{TenantID: "ten_a", Metadata: map[string]string{"topic": "cats"}, CreatedAt: base}
	items := everyField()
	if err := s.CreateConversation(ctx, c, items); err != nil {
		t.Fatalf("CreateConversation: %v", err)
	}
	if len(c.ID) < 10 || c.ID[:5] != "conv_" {
		t.Errorf("generated ID %q, want conv_…", c.ID)
	}
	want := store.Conversation{ID: c.ID, TenantID: "ten_a", Metadata: map[string]string{"topic": "cats"}, CreatedAt: micro(base)}
	if diff := cmp.Diff(want, *c); diff != "" {
		t.Errorf("conversation after create (-want +got):\n%s", diff)
	}
	got, err := s.ConversationByID(ctx, "ten_a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("ConversationByID (-want +got):\n%s", diff)
	}
	hist, err := s.ConversationHistory(ctx, "ten_a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(items, hist); diff != "" {
		t.Errorf("ConversationHistory (-want +got):\n%s", diff)
	}

	updated, err := s.UpdateConversationMetadata(ctx, "ten_a", c.ID, map[string]string{"topic": "dogs", "n": "2"})
	if err != nil {
		t.Fatal(err)
	}
	want.Metadata = map[string]string{"topic": "dogs", "n": "2"}
	if diff := cmp.Diff(want, *updated); diff != "" {
		t.Errorf("UpdateConversationMetadata (-want +got):\n%s", diff)
	}
	if updated, err = s.UpdateConversationMetadata(ctx, "ten_a", c.ID, nil); err != nil || updated.Metadata != nil {
		t.Errorf("clearing metadata: %+v, %v", updated, err)
	}

	// A caller-chosen ID is kept, a zero time set, and no items is fine.
	own := &store.Conversation{ID: "conv_own", TenantID: "ten_a"}
	if err := s.CreateConversation(ctx, own, nil); err != nil {
		t.Fatal(err)
	}
	if own.CreatedAt.IsZero() {
		t.Error("CreatedAt left zero")
	}
	if hist, err := s.ConversationHistory(ctx, "ten_a", "conv_own"); err != nil || len(hist) != 0 {
		t.Errorf("empty conversation history: %v, %v", hist, err)
	}
	wantErr(t, "duplicate conversation ID", s.CreateConversation(ctx, &store.Conversation{ID: "conv_own", TenantID: "ten_a"}, nil), store.ErrConflict)
	wantErr(t, "no tenant", s.CreateConversation(ctx, &store.Conversation{}, nil), store.ErrInvalid)
	wantErr(t, "item without ID", s.CreateConversation(ctx, &store.Conversation{TenantID: "ten_a"}, []store.Item{{Type: store.ItemMessage}}), store.ErrInvalid)
	dup := []store.Item{userItem("msg_x", "a"), userItem("msg_x", "b")}
	wantErr(t, "duplicate item IDs", s.CreateConversation(ctx, &store.Conversation{ID: "conv_dup", TenantID: "ten_a"}, dup), store.ErrConflict)
	_, err = s.ConversationByID(ctx, "ten_a", "conv_dup")
	wantErr(t, "refused conversation", err, store.ErrNotFound)

	if err := s.DeleteConversation(ctx, "ten_a", c.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConversationByID(ctx, "ten_a", c.ID)
	wantErr(t, "ConversationByID after delete", err, store.ErrNotFound)
	_, err = s.ConversationHistory(ctx, "ten_a", c.ID)
	wantErr(t, "ConversationHistory after delete", err, store.ErrNotFound)
	_, err = s.ConversationItem(ctx, "ten_a", c.ID, "msg_1")
	wantErr(t, "ConversationItem after delete", err, store.ErrNotFound)
	wantErr(t, "second delete", s.DeleteConversation(ctx, "ten_a", c.ID), store.ErrNotFound)
}

func testConversationItems(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	c := &store.Conversation{TenantID: "ten_a"}
	if err := s.CreateConversation(ctx, c, []store.Item{userItem("msg_0", "a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendConversationItems(ctx, "ten_a", c.ID, []store.Item{assistantItem("msg_1", "b"), userItem("msg_2", "c")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendConversationItems(ctx, "ten_a", c.ID, []store.Item{assistantItem("msg_3", "d")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "append a duplicate item", s.AppendConversationItems(ctx, "ten_a", c.ID, []store.Item{userItem("msg_4", "e"), userItem("msg_1", "f")}), store.ErrConflict)
	wantErr(t, "append to an unknown conversation", s.AppendConversationItems(ctx, "ten_a", "conv_missing", []store.Item{userItem("msg_9", "x")}), store.ErrNotFound)
	for _, tc := range []struct {
		name     string
		page     store.ItemPage
		want     []string
		wantMore bool
	}{
		{"all", store.ItemPage{}, []string{"msg_0", "msg_1", "msg_2", "msg_3"}, false},
		{"desc_limit", store.ItemPage{Descending: true, Limit: 2}, []string{"msg_3", "msg_2"}, true},
		{"desc_after", store.ItemPage{Descending: true, After: "msg_2", Limit: 2}, []string{"msg_1", "msg_0"}, false},
		{"asc_after", store.ItemPage{After: "msg_0", Limit: 1}, []string{"msg_1"}, true},
	} {
		items, more, err := s.ConversationItems(ctx, "ten_a", c.ID, tc.page)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, itemIDs(items)); diff != "" || more != tc.wantMore {
			t.Errorf("%s: more = %v (want %v), IDs (-want +got):\n%s", tc.name, more, tc.wantMore, diff)
		}
	}
	_, _, err := s.ConversationItems(ctx, "ten_a", c.ID, store.ItemPage{After: "msg_missing"})
	wantErr(t, "unknown cursor", err, store.ErrNotFound)

	it, err := s.ConversationItem(ctx, "ten_a", c.ID, "msg_2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(userItem("msg_2", "c"), *it); diff != "" {
		t.Errorf("ConversationItem (-want +got):\n%s", diff)
	}
	if err := s.DeleteConversationItem(ctx, "ten_a", c.ID, "msg_2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConversationItem(ctx, "ten_a", c.ID, "msg_2")
	wantErr(t, "deleted item", err, store.ErrNotFound)
	wantErr(t, "delete it again", s.DeleteConversationItem(ctx, "ten_a", c.ID, "msg_2"), store.ErrNotFound)
	hist, err := s.ConversationHistory(ctx, "ten_a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"msg_0", "msg_1", "msg_3"}, itemIDs(hist)); diff != "" {
		t.Errorf("history after deleting an item (-want +got):\n%s", diff)
	}
	// Appends continue after the last position, even after a deletion.
	if err := s.AppendConversationItems(ctx, "ten_a", c.ID, []store.Item{userItem("msg_2", "again")}); err != nil {
		t.Fatal(err)
	}
	hist, _ = s.ConversationHistory(ctx, "ten_a", c.ID)
	if diff := cmp.Diff([]string{"msg_0", "msg_1", "msg_3", "msg_2"}, itemIDs(hist)); diff != "" {
		t.Errorf("history after re-adding an item (-want +got):\n%s", diff)
	}
}

func testConversationTenantIsolation(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	c := &store.Conversation{TenantID: "ten_a"}
	if err := s.CreateConversation(ctx, c, []store.Item{userItem("msg_0", "secret")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.ConversationByID(ctx, "ten_b", c.ID)
	wantErr(t, "ConversationByID", err, store.ErrNotFound)
	_, err = s.UpdateConversationMetadata(ctx, "ten_b", c.ID, map[string]string{"x": "y"})
	wantErr(t, "UpdateConversationMetadata", err, store.ErrNotFound)
	wantErr(t, "AppendConversationItems", s.AppendConversationItems(ctx, "ten_b", c.ID, []store.Item{userItem("msg_1", "x")}), store.ErrNotFound)
	_, _, err = s.ConversationItems(ctx, "ten_b", c.ID, store.ItemPage{})
	wantErr(t, "ConversationItems", err, store.ErrNotFound)
	_, err = s.ConversationHistory(ctx, "ten_b", c.ID)
	wantErr(t, "ConversationHistory", err, store.ErrNotFound)
	_, err = s.ConversationItem(ctx, "ten_b", c.ID, "msg_0")
	wantErr(t, "ConversationItem", err, store.ErrNotFound)
	wantErr(t, "DeleteConversationItem", s.DeleteConversationItem(ctx, "ten_b", c.ID, "msg_0"), store.ErrNotFound)
	wantErr(t, "DeleteConversation", s.DeleteConversation(ctx, "ten_b", c.ID), store.ErrNotFound)
	hist, err := s.ConversationHistory(ctx, "ten_a", c.ID)
	if err != nil || len(hist) != 1 {
		t.Errorf("owner's conversation after foreign attempts: %v, %v", hist, err)
	}
	if got, _ := s.ConversationByID(ctx, "ten_a", c.ID); got == nil || got.Metadata != nil {
		t.Errorf("owner's conversation metadata changed: %+v", got)
	}
}

func testConversationConcurrentAppends(t *testing.T, s SessionStoreUnderTest) {
	ctx := t.Context()
	c := &store.Conversation{TenantID: "ten_a"}
	if err := s.CreateConversation(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	const (
		writers = 6
		appends = 10
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				items := []store.Item{userItem(fmt.Sprintf("msg_%d_%d_q", w, i), "q"), assistantItem(fmt.Sprintf("msg_%d_%d_a", w, i), "a")}
				if err := s.AppendConversationItems(ctx, "ten_a", c.ID, items); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	hist, err := s.ConversationHistory(ctx, "ten_a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != writers*appends*2 {
		t.Fatalf("history has %d items, want %d", len(hist), writers*appends*2)
	}
	// Each append's two items stay adjacent and in order.
	for i := 0; i < len(hist); i += 2 {
		q, a := hist[i].ID, hist[i+1].ID
		if q[len(q)-2:] != "_q" || a != q[:len(q)-2]+"_a" {
			t.Fatalf("items %d and %d are %s and %s: appends interleaved", i, i+1, q, a)
		}
	}
}
