package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/responses"
)

func TestConversations_Lifecycle(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	conv, err := c.Conversations.New(ctx, conversations.ConversationNewParams{
		Items: []responses.ResponseInputItemUnionParam{
			responses.ResponseInputItemParamOfMessage("Remember: my name is Ada.", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfMessage("Noted, Ada.", responses.EasyInputMessageRoleAssistant),
		},
		Metadata: map[string]string{"project": "demo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conv.ID, "conv_") || conv.Object != "conversation" || conv.CreatedAt == 0 ||
		!strings.Contains(conv.RawJSON(), `"metadata":{"project":"demo"}`) {
		t.Fatalf("conversation %s", conv.RawJSON())
	}

	// Turns in the conversation see its items and add theirs, on any
	// channel, stored or not.
	ref := func(id string) responses.ResponseNewParamsConversationUnion {
		return responses.ResponseNewParamsConversationUnion{OfString: openaisdk.String(id)}
	}
	r1, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-bedrock", Input: userInput("What is my name?"), Conversation: ref(conv.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Conversation.ID != conv.ID || !strings.Contains(r1.OutputText(), "turns=2") {
		t.Errorf("first turn: conversation %q, answer %q", r1.Conversation.ID, r1.OutputText())
	}
	r2, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-anthropic", Input: userInput("And again?"), Store: openaisdk.Bool(false),
		Conversation: responses.ResponseNewParamsConversationUnion{OfConversationObject: &responses.ResponseConversationParam{ID: conv.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r2.OutputText(), "turns=3") {
		t.Errorf("second turn answer %q", r2.OutputText())
	}

	page, err := c.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Order: conversations.ItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range page.Data {
		got = append(got, it.Role+": "+firstText(t, it.RawJSON()))
	}
	want := []string{"user: Remember: my name is Ada.", "assistant: Noted, Ada.", "user: What is my name?", "assistant: " + r1.OutputText(),
		"user: And again?", "assistant: " + r2.OutputText()}
	if diff := cmp.Diff(want, got); diff != "" || page.HasMore {
		t.Errorf("conversation items, has_more %v (-want +got):\n%s", page.HasMore, diff)
	}
	// The stored turn's output item is the same item in the conversation.
	if page.Data[3].ID != r1.Output[0].ID {
		t.Errorf("conversation item %s, response output item %s", page.Data[3].ID, r1.Output[0].ID)
	}

	added, err := c.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("A note added by hand.", responses.EasyInputMessageRoleUser),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(added.Data) != 1 || !strings.HasPrefix(added.Data[0].ID, "msg_") || added.FirstID != added.Data[0].ID || added.HasMore {
		t.Fatalf("added %s", added.RawJSON())
	}
	item, err := c.Conversations.Items.Get(ctx, conv.ID, added.Data[0].ID, conversations.ItemGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if item.ID != added.Data[0].ID || item.Type != "message" || firstText(t, item.RawJSON()) != "A note added by hand." {
		t.Errorf("item %s", item.RawJSON())
	}
	newest, err := c.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Limit: openaisdk.Int(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(newest.Data) != 1 || newest.Data[0].ID != item.ID || !newest.HasMore || newest.LastID != item.ID {
		t.Errorf("newest item %s", newest.RawJSON())
	}
	after, err := c.Conversations.Items.Delete(ctx, conv.ID, item.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != conv.ID {
		t.Errorf("delete item returned %s", after.RawJSON())
	}
	if _, err := c.Conversations.Items.Get(ctx, conv.ID, item.ID, conversations.ItemGetParams{}); sdkError(t, err).StatusCode != 404 {
		t.Errorf("deleted item: %v", err)
	}

	updated, err := c.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: map[string]string{"project": "renamed"}})
	if err != nil {
		t.Fatal(err)
	}
	if fetched, err := c.Conversations.Get(ctx, conv.ID); err != nil || !strings.Contains(fetched.RawJSON(), `"project":"renamed"`) ||
		updated.CreatedAt != conv.CreatedAt {
		t.Errorf("after update: %v, %v", fetched, err)
	}

	gone, err := c.Conversations.Delete(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !gone.Deleted || gone.ID != conv.ID || gone.Object != "conversation.deleted" {
		t.Errorf("delete %s", gone.RawJSON())
	}
	if _, err := c.Conversations.Get(ctx, conv.ID); sdkError(t, err).StatusCode != 404 {
		t.Errorf("get after delete: %v", err)
	}
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-bedrock", Input: userInput("hello?"), Conversation: ref(conv.ID)})
	if e := sdkError(t, err); e.StatusCode != 404 || e.Param != "conversation" {
		t.Errorf("turn in a deleted conversation: %d %+v", e.StatusCode, e)
	}
	// The stored turn outlives its conversation.
	if _, err := c.Responses.Get(ctx, r1.ID, responses.ResponseGetParams{}); err != nil {
		t.Errorf("stored turn after its conversation was deleted: %v", err)
	}
}

func TestConversations_TenantIsolation(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	ctx := context.Background()
	owner := respClient(url, s.a.Secret)
	conv, err := owner.Conversations.New(ctx, conversations.ConversationNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("private", responses.EasyInputMessageRoleUser),
	}})
	if err != nil {
		t.Fatal(err)
	}
	items, err := owner.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
	if err != nil {
		t.Fatal(err)
	}
	itemID := items.Data[0].ID
	other := respClient(url, s.b.Secret)
	for name, call := range map[string]func() error{
		"get": func() error { _, err := other.Conversations.Get(ctx, conv.ID); return err },
		"update": func() error {
			_, err := other.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: map[string]string{"a": "b"}})
			return err
		},
		"delete": func() error { _, err := other.Conversations.Delete(ctx, conv.ID); return err },
		"list": func() error {
			_, err := other.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
			return err
		},
		"add": func() error {
			_, err := other.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
				responses.ResponseInputItemParamOfMessage("x", responses.EasyInputMessageRoleUser)}})
			return err
		},
		"get_item": func() error {
			_, err := other.Conversations.Items.Get(ctx, conv.ID, itemID, conversations.ItemGetParams{})
			return err
		},
		"delete_item": func() error { _, err := other.Conversations.Items.Delete(ctx, conv.ID, itemID); return err },
		"respond_in": func() error {
			_, err := other.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("read it"),
				Conversation: responses.ResponseNewParamsConversationUnion{OfString: openaisdk.String(conv.ID)}})
			return err
		},
	} {
		if e := sdkError(t, call()); e.StatusCode != 404 {
			t.Errorf("%s by another tenant: %d %s", name, e.StatusCode, e.Message)
		}
	}
	after, err := owner.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
	if err != nil || len(after.Data) != 1 {
		t.Errorf("owner's conversation items changed: %v, %v", after, err)
	}
	if got, err := owner.Conversations.Get(ctx, conv.ID); err != nil || !strings.Contains(got.RawJSON(), `"metadata":{}`) {
		t.Errorf("owner's conversation changed: %v, %v", got, err)
	}
	if len(s.cloud.Records()) != 0 {
		t.Errorf("a foreign conversation reached a cloud")
	}
}

// TestConversations_TwoInstances: a conversation started on one replica
// continues on another.
func TestConversations_TwoInstances(t *testing.T) {
	s := newRespStack(t)
	one, two := respClient(s.serve(), s.a.Secret), respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	conv, err := one.Conversations.New(ctx, conversations.ConversationNewParams{})
	if err != nil {
		t.Fatal(err)
	}
	ref := responses.ResponseNewParamsConversationUnion{OfString: openaisdk.String(conv.ID)}
	if _, err := one.Responses.New(ctx, responses.ResponseNewParams{Model: "via-azure", Input: userInput("on one"), Conversation: ref}); err != nil {
		t.Fatal(err)
	}
	r, err := two.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("on two"), Conversation: ref})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.OutputText(), "turns=2") {
		t.Errorf("the second replica did not see the conversation: %q", r.OutputText())
	}
}

func TestConversations_BadRequests(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	c := respClient(url, s.a.Secret)
	conv, err := c.Conversations.New(context.Background(), conversations.ConversationNewParams{})
	if err != nil {
		t.Fatal(err)
	}
	tooMany := `{"items":[` + strings.TrimSuffix(strings.Repeat(`{"role":"user","content":"x"},`, 21), ",") + `]}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"too_many_items", "POST", "/v1/conversations", tooMany, 400, "items: at most 20 items may be added at a time, got 21"},
		{"unknown_member", "POST", "/v1/conversations", `{"items":[],"name":"x"}`, 400, "name: unknown or unsupported parameter"},
		{"metadata_too_big", "POST", "/v1/conversations", `{"metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, 400,
			`metadata: keys are at most 64 characters and values at most 512 ("` + strings.Repeat("k", 65) + `")`},
		{"update_without_metadata", "POST", "/v1/conversations/" + conv.ID, `{}`, 400, "metadata: required"},
		{"add_nothing", "POST", "/v1/conversations/" + conv.ID + "/items", `{"items":[]}`, 400, "items: give at least one item"},
		{"add_bad_item", "POST", "/v1/conversations/" + conv.ID + "/items", `{"items":[{"type":"web_search_call","id":"ws_1"}]}`, 400,
			`items[0].type: "web_search_call" items are not supported`},
		{"add_duplicate_ids", "POST", "/v1/conversations/" + conv.ID + "/items",
			`{"items":[{"id":"msg_1","role":"user","content":"a"},{"id":"msg_1","role":"user","content":"b"}]}`, 400,
			"Duplicate item ID 'msg_1' in the input."},
		{"bad_limit", "GET", "/v1/conversations/" + conv.ID + "/items?limit=101", "", 400, "limit: must be an integer from 1 to 100"},
		{"bad_order", "GET", "/v1/conversations/" + conv.ID + "/items?order=up", "", 400, `order: "up" is not one of asc, desc`},
		{"unknown_cursor", "GET", "/v1/conversations/" + conv.ID + "/items?after=msg_nope", "", 400, "No item with id 'msg_nope' in this list."},
		{"unknown_conversation", "GET", "/v1/conversations/conv_nope", "", 404, "No conversation found with id 'conv_nope'."},
		{"unknown_item", "GET", "/v1/conversations/" + conv.ID + "/items/msg_nope", "", 404, "No item found with id 'msg_nope'."},
		{"unsupported_include", "GET", "/v1/conversations/" + conv.ID + "/items?include[]=message.output_text.logprobs", "", 400,
			`include: "message.output_text.logprobs" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+s.a.Secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), `"message":`+quote(tc.message)) {
				t.Errorf("got %d %s\nwant %d %q", resp.StatusCode, body, tc.status, tc.message)
			}
		})
	}
}

// TestConversations_Off: without a session store the stateful endpoints
// say so.
func TestConversations_Off(t *testing.T) {
	s := newRespStack(t)
	front := New(Options{Auth: s.authenticator()})
	for _, path := range []string{"/v1/conversations", "/v1/responses", "/v1/responses/resp_1"} {
		method := http.MethodPost
		if strings.Count(path, "/") == 3 {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+s.a.Secret)
		rec := httptest.NewRecorder()
		front.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotImplemented || !strings.Contains(rec.Body.String(), "without a session store") {
			t.Errorf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
}
