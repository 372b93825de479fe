package fakecloud

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	anthropic2 "github.com/anthropics/anthropic-sdk-go/v2"
	option2 "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"
)

func newAnthropicClient(ts string, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{
		option.WithBaseURL(ts + "/anthropic"),
		option.WithAPIKey(testKey),
		option.WithMaxRetries(0),
	}, opts...)...)
}

func anthropicWeatherTool() anthropic.ToolUnionParam {
	schema := mustJSON(weatherSchema)
	return anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
		Name:        "get_weather",
		Description: anthropic.String("Current weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: schema["properties"], Required: []string{"city", "unit"}},
	}}
}

func TestAnthropic_Plain(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAnthropicClient(ts.URL)
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model:       "claude-sonnet-4-5",
		MaxTokens:   1024,
		System:      []anthropic.TextBlockParam{{Text: "Be brief."}},
		Temperature: anthropic.Float(0.2),
		Messages:    []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello Claude"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || !strings.HasPrefix(msg.Content[0].Text, "Echo: Hello Claude [turns=1 history=") {
		t.Fatalf("content = %+v", msg.Content)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || msg.Model != "claude-sonnet-4-5" || !strings.HasPrefix(msg.ID, "msg_") {
		t.Errorf("stop %q model %q id %q", msg.StopReason, msg.Model, msg.ID)
	}
	if msg.Usage.InputTokens <= 0 || msg.Usage.OutputTokens != int64(len(words(msg.Content[0].Text))) {
		t.Errorf("usage = %+v", msg.Usage)
	}
}

func TestAnthropic_StreamAccumulate(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAnthropicClient(ts.URL)
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 1024,
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("first")),
			anthropic.NewAssistantMessage(anthropic.NewTextBlock("answer")),
			anthropic.NewUserMessage(anthropic.NewTextBlock("second question here")),
		},
	}
	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	plain, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plain.Content[0].Text, acc.Content[0].Text); diff != "" || !strings.Contains(acc.Content[0].Text, "[turns=2 ") {
		t.Errorf("streamed %q, plain %q", acc.Content[0].Text, plain.Content[0].Text)
	}
	if acc.Usage.OutputTokens != plain.Usage.OutputTokens || acc.Usage.InputTokens != plain.Usage.InputTokens || acc.StopReason != "end_turn" {
		t.Errorf("streamed usage %+v stop %q; plain usage %+v", acc.Usage, acc.StopReason, plain.Usage)
	}
	wantTypes := []string{"message_start", "content_block_start"}
	for range words(plain.Content[0].Text) {
		wantTypes = append(wantTypes, "content_block_delta")
	}
	wantTypes = append(wantTypes, "content_block_stop", "message_delta", "message_stop")
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("event order (-want +got):\n%s", diff)
	}

	// Pings and event lines are on the wire even though the SDK hides pings.
	status, _, raw := do(t, "POST", ts.URL+"/anthropic/v1/messages", map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"},
		`{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK || !strings.Contains(string(raw), "event: ping\ndata: {\"type\":\"ping\"}") || strings.Contains(string(raw), "\n\ndata:") {
		t.Errorf("raw stream:\n%s", raw)
	}
	// The ping comes where the API sends it: after the first
	// content_block_start, before the deltas.
	s := string(raw)
	if ping := strings.Index(s, "event: ping"); ping < strings.Index(s, "event: content_block_start") || ping > strings.Index(s, "event: content_block_delta") {
		t.Errorf("ping out of place:\n%s", raw)
	}
}

func TestAnthropic_ToolUse(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAnthropicClient(ts.URL)
	ctx := context.Background()
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Weather please, use get_weather"))}
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: msgs, Tools: []anthropic.ToolUnionParam{anthropicWeatherTool()}}
	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.StopReason != anthropic.StopReasonToolUse || len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" {
		t.Fatalf("stop %q content %+v", acc.StopReason, acc.Content)
	}
	use := acc.Content[0]
	if use.Name != "get_weather" || string(use.Input) != weatherArgs || !strings.HasPrefix(use.ID, "toolu_") {
		t.Fatalf("tool_use = %s %s %s", use.ID, use.Name, use.Input)
	}

	params.Messages = append(msgs, acc.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "sunny, 21C", false)))
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Content[0].Text; !strings.HasPrefix(got, "Tool get_weather returned: sunny, 21C [turns=2 history=") {
		t.Errorf("after the tool result: %q", got)
	}

	// A tool result that answers no tool_use is refused, as Anthropic does.
	params.Messages = append(msgs, acc.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_other", "x", false)))
	_, err = client.Messages.New(ctx, params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Type() != "invalid_request_error" {
		t.Errorf("mismatched tool result: %v", err)
	}
}

func TestAnthropic_Thinking(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAnthropicClient(ts.URL)
	ctx := context.Background()
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Think, then answer"))}
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 4096, Messages: msgs, Thinking: anthropic.ThinkingConfigParamOfEnabled(2048)}
	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 2 || acc.Content[0].Type != "thinking" || acc.Content[1].Type != "text" {
		t.Fatalf("content = %+v", acc.Content)
	}
	th := acc.Content[0]
	if !strings.Contains(th.Thinking, `"Think, then answer"`) || th.Signature == "" {
		t.Errorf("thinking %q signature %q", th.Thinking, th.Signature)
	}
	if acc.Usage.OutputTokensDetails.ThinkingTokens != int64(len(words(th.Thinking))) ||
		acc.Usage.OutputTokens != int64(len(words(th.Thinking))+len(words(acc.Content[1].Text))) {
		t.Errorf("usage = %+v", acc.Usage)
	}

	// The thinking block goes back in history with its signature intact.
	params.Messages = append(msgs, acc.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("and again")))
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Content[1].Text; !strings.HasPrefix(got, "Echo: and again [turns=2") {
		t.Errorf("second answer %q", got)
	}
	tampered := acc.ToParam()
	tampered.Content[0].OfThinking.Thinking += " (edited)"
	params.Messages = append(msgs, tampered, anthropic.NewUserMessage(anthropic.NewTextBlock("and again")))
	_, err = client.Messages.New(ctx, params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("tampered thinking: %v", err)
	}

	params.Messages = msgs
	params.Thinking = anthropic.ThinkingConfigParamOfEnabled(100)
	if _, err := client.Messages.New(ctx, params); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("budget below 1024: %v", err)
	}
}

func TestAnthropic_V2SDK(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	client := anthropic2.NewClient(option2.WithBaseURL(ts.URL+"/anthropic"), option2.WithAPIKey(testKey), option2.WithMaxRetries(0))
	ctx := context.Background()
	params := anthropic2.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 256,
		Messages:  []anthropic2.MessageParam{anthropic2.NewUserMessage(anthropic2.NewTextBlock("Hi from v2"))},
	}
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Content[0].Text, "Echo: Hi from v2 [turns=1") {
		t.Errorf("content = %q", msg.Content[0].Text)
	}
	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic2.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || acc.Content[0].Text != msg.Content[0].Text {
		t.Errorf("stream: %v, %+v", err, acc.Content)
	}
	// The v2 SDK has no temperature field any more; sent anyway, it is refused.
	_, err = client.Messages.New(ctx, params, option2.WithJSONSet("temperature", 1))
	var apiErr *anthropic2.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Error(), "temperature") {
		t.Errorf("temperature on 2026-10-21: %v", err)
	}
	recs := s.Records()
	if len(recs) != 3 || recs[0].Model != "claude-sonnet-4-5" || recs[1].Stream != true || recs[2].Status != http.StatusBadRequest {
		t.Errorf("records = %+v", recs)
	}
}

func TestAnthropic_CountTokens(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAnthropicClient(ts.URL)
	ctx := context.Background()
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("count these words please"))}
	n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-haiku-4-5", Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-haiku-4-5", MaxTokens: 100, Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens != 4 || n.InputTokens != msg.Usage.InputTokens {
		t.Errorf("count_tokens %d, messages input %d, want 4", n.InputTokens, msg.Usage.InputTokens)
	}
}

func TestAnthropic_PromptCache(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAnthropicClient(ts.URL)
	ctx := context.Background()
	long := strings.Repeat("You are a helpful assistant with a long system prompt. ", 20)
	params := func(question string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{
			Model:     "claude-sonnet-4-5",
			MaxTokens: 100,
			System:    []anthropic.TextBlockParam{{Text: long, CacheControl: anthropic.NewCacheControlEphemeralParam()}},
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(question))},
		}
	}
	first, err := client.Messages.New(ctx, params("one"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := client.Messages.New(ctx, params("two"))
	if err != nil {
		t.Fatal(err)
	}
	systemTokens := int64(countTokens(long))
	if first.Usage.CacheCreationInputTokens != systemTokens || first.Usage.CacheReadInputTokens != 0 || first.Usage.InputTokens != 1 {
		t.Errorf("first usage = %+v, want %d written", first.Usage, systemTokens)
	}
	if second.Usage.CacheReadInputTokens != systemTokens || second.Usage.CacheCreationInputTokens != 0 || second.Usage.InputTokens != 1 {
		t.Errorf("second usage = %+v, want %d read", second.Usage, systemTokens)
	}
}

func TestAnthropic_Errors(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	url := ts.URL + "/anthropic/v1/messages"
	good := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name    string
		header  map[string]string
		body    string
		status  int
		errType string
	}{
		{"no_key", map[string]string{"anthropic-version": "2023-06-01"}, good, 401, "authentication_error"},
		{"wrong_key", map[string]string{"x-api-key": "nope", "anthropic-version": "2023-06-01"}, good, 401, "authentication_error"},
		{"no_version", map[string]string{"x-api-key": testKey}, good, 400, "invalid_request_error"},
		{"bad_version", map[string]string{"x-api-key": testKey, "anthropic-version": "1999-01-01"}, good, 400, "invalid_request_error"},
		{"malformed", map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}, `{"model":`, 400, "invalid_request_error"},
		{"no_max_tokens", map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"},
		{"extra_field", map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}, `{"model":"m","max_tokens":10,"n":2,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"},
		{"server_tool", map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}, `{"model":"m","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"},
		{"bearer_ok", map[string]string{"Authorization": "Bearer " + testKey, "anthropic-version": "2026-10-21"}, good, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := do(t, "POST", url, tc.header, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.errType == "" {
				return
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Type != tc.errType || e.Error.Message == "" {
				t.Errorf("error body %s", body)
			}
			if h.Get("Request-Id") == "" {
				t.Error("no request-id header")
			}
		})
	}
}

// TestAnthropic_DuplicateToolUseIDs checks that a history repeating a
// tool_use id is refused, as the Messages API does, and that distinct ids
// pass.
func TestAnthropic_DuplicateToolUseIDs(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	header := map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}
	tools := `"tools":[{"name":"get_weather","input_schema":` + weatherSchema + `}]`
	turn := func(id string) string {
		return `{"role":"assistant","content":[{"type":"tool_use","id":"` + id + `","name":"get_weather","input":` + weatherArgs + `}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + id + `","content":"sunny"}]}`
	}
	body := func(a, b string) string {
		return `{"model":"m","max_tokens":50,` + tools + `,"messages":[{"role":"user","content":"weather?"},` + turn(a) + `,` + turn(b) + `]}`
	}
	for _, tc := range []struct {
		name   string
		a, b   string
		status int
		msg    string
	}{
		{"distinct", "toolu_1", "toolu_2", 200, ""},
		{"repeated", "toolu_1", "toolu_1", 400, "messages.3.content.0: `tool_use` ids must be unique"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := do(t, "POST", ts.URL+"/anthropic/v1/messages", header, body(tc.a, tc.b))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			if tc.msg == "" {
				return
			}
			e := decode(t, b)["error"].(map[string]any)
			if e["type"] != "invalid_request_error" || e["message"] != tc.msg {
				t.Errorf("error = %v, want invalid_request_error %q", e, tc.msg)
			}
		})
	}
}
