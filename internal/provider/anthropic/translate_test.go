package anthropic

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider/providertest"
)

func TestRequestToLLM_Golden(t *testing.T) {
	const dir = "testdata/request_to_llm/"
	for _, name := range providertest.Cases(t, dir, ".anthropic.json") {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(dir + name + ".anthropic.json")
			if err != nil {
				t.Fatal(err)
			}
			dec, err := DecodeMessagesRequest(body)
			if err != nil {
				t.Fatalf("DecodeMessagesRequest: %v", err)
			}
			got, err := RequestToLLM(dec, DefaultVersion)
			if err != nil {
				t.Fatalf("RequestToLLM: %v", err)
			}
			providertest.Golden(t, dir+name+".llm.json", got)
		})
	}
}

func TestRequestFromLLM_Golden(t *testing.T) {
	const dir = "testdata/request_from_llm/"
	for _, name := range providertest.Cases(t, dir, ".llm.json") {
		t.Run(name, func(t *testing.T) {
			var in llm.Request
			providertest.ReadJSON(t, dir+name+".llm.json", &in)
			got, err := RequestFromLLM(&in)
			if err != nil {
				t.Fatalf("RequestFromLLM: %v", err)
			}
			providertest.Golden(t, dir+name+".anthropic.json", got)
		})
	}
}

func TestResponseToLLM_Golden(t *testing.T) {
	const dir = "testdata/response_to_llm/"
	for _, name := range providertest.Cases(t, dir, ".anthropic.json") {
		t.Run(name, func(t *testing.T) {
			var in MessagesResponse
			providertest.ReadJSON(t, dir+name+".anthropic.json", &in)
			got, err := ResponseToLLM(&in)
			if err != nil {
				t.Fatalf("ResponseToLLM: %v", err)
			}
			providertest.Golden(t, dir+name+".llm.json", got)
		})
	}
}

func TestResponseFromLLM_Golden(t *testing.T) {
	const dir = "testdata/response_from_llm/"
	for _, name := range providertest.Cases(t, dir, ".llm.json") {
		t.Run(name, func(t *testing.T) {
			var in llm.Response
			providertest.ReadJSON(t, dir+name+".llm.json", &in)
			got := ResponseFromLLM(&in, "claude-gateway")
			providertest.Golden(t, dir+name+".anthropic.json", got)
		})
	}
}

// TestResponseFromLLM_SDK decodes the encoded answer with the official
// SDK's Message type and checks what an SDK user would read.
func TestResponseFromLLM_SDK(t *testing.T) {
	var in llm.Response
	providertest.ReadJSON(t, "testdata/response_from_llm/mixed.llm.json", &in)
	b, err := json.Marshal(ResponseFromLLM(&in, "claude-gateway"))
	if err != nil {
		t.Fatal(err)
	}
	var m anthropic.Message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("SDK decoding: %v", err)
	}
	type block struct{ Type, Text, Thinking, Signature, Data, ID, Name, Input string }
	var got []block
	for _, c := range m.Content {
		got = append(got, block{c.Type, c.Text, c.Thinking, c.Signature, c.Data, c.ID, c.Name, string(c.Input)})
	}
	want := []block{
		{Type: "thinking", Thinking: "Thinking...", Signature: "sig"},
		{Type: "redacted_thinking", Data: "opaque"},
		{Type: "text", Text: "Here you go."},
		{Type: "tool_use", ID: "call_1", Name: "lookup", Input: `{"q":"x"}`},
		// call_2's arguments are cut short: no input can be written for
		// it, so it is left out rather than sent as {}.
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	if m.ID != "msg_gw_1" || m.Model != "claude-gateway" || m.Role != "assistant" || m.StopReason != anthropic.StopReasonToolUse {
		t.Errorf("header = %q %q %q %q", m.ID, m.Model, m.Role, m.StopReason)
	}
	u := m.Usage
	if u.InputTokens != 150 || u.CacheReadInputTokens != 1000 || u.CacheCreationInputTokens != 50 || u.OutputTokens != 80 || u.OutputTokensDetails.ThinkingTokens != 20 {
		t.Errorf("usage = %+v", u)
	}
}

// TestRequest_RoundTrip checks that a client request survives ingress and
// egress with its meaning intact.
func TestRequest_RoundTrip(t *testing.T) {
	for _, name := range []string{"full", "passthrough", "text_only"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile("testdata/request_to_llm/" + name + ".anthropic.json")
			if err != nil {
				t.Fatal(err)
			}
			dec, err := DecodeMessagesRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			canon, err := RequestToLLM(dec, DefaultVersion)
			if err != nil {
				t.Fatal(err)
			}
			back, err := RequestFromLLM(canon)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalize(t, body), normalize(t, got)); diff != "" {
				t.Errorf("round trip (-client +sent):\n%s", diff)
			}
		})
	}
}

// normalize decodes JSON into generic values and rewrites the spellings
// that mean the same thing to the API: string content is a text block,
// custom tools have no type, null and empty fields are absent, 5m is the
// default cache ttl, thinking disabled is the default.
func normalize(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if e == nil || k == "ttl" && e == "5m" || k == "type" && e == "custom" {
					delete(x, k)
					continue
				}
				if arr, ok := e.([]any); ok && len(arr) == 0 {
					delete(x, k)
					continue
				}
				x[k] = walk(k, e)
				if m, ok := x[k].(map[string]any); ok && len(m) == 0 && k != "input" && k != "properties" {
					delete(x, k)
				}
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = walk("", e)
			}
			return x
		case string:
			if key == "content" || key == "system" {
				return []any{map[string]any{"type": "text", "text": x}}
			}
		}
		return v
	}
	return walk("", v)
}

func TestDecodeMessagesRequest_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		is   error
		want string // substring of the error
	}{
		{"not_object", `[1]`, llm.ErrInvalid, "expected an object"},
		{"max_tokens_type", `{"model":"m","max_tokens":"10","messages":[]}`, llm.ErrInvalid, "max_tokens: expected an integer"},
		{"max_tokens_fraction", `{"max_tokens":1.5}`, llm.ErrInvalid, "max_tokens: expected an integer"},
		{"temperature_type", `{"temperature":"hot"}`, llm.ErrInvalid, "temperature: expected a number"},
		{"messages_type", `{"messages":{}}`, llm.ErrInvalid, "messages: expected an array"},
		{"text_type", `{"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, llm.ErrInvalid, "messages[0].content[0].text: expected a string"},
		{"content_type", `{"messages":[{"role":"user","content":7}]}`, llm.ErrInvalid, "messages[0].content: expected a string or an array"},
		{"block_without_type", `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`, llm.ErrInvalid, "messages[0].content[0]: type: required"},
		{"tool_input_not_object", `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":"{}"}]}]}`, llm.ErrInvalid, "content[0].input: expected an object"},
		{"image_source_type", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"ftp"}}]}]}`, llm.ErrInvalid, "source: type: want base64, url or file"},
		{"system_image", `{"system":[{"type":"image","source":{"type":"url","url":"https://x"}}]}`, llm.ErrInvalid, "system[0]: image block not allowed"},
		{"tool_result_document", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"document","source":{}}]}]}]}`, llm.ErrUnsupported, `"document" blocks`},
		{"document_block", `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"x"}}]}]}`, llm.ErrUnsupported, `messages[0].content[0]: "document" blocks`},
		{"citations", `{"messages":[{"role":"user","content":[{"type":"text","text":"x","citations":[{"type":"char_location"}]}]}]}`, llm.ErrUnsupported, "citations"},
		{"server_tool", `{"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}]}`, llm.ErrUnsupported, `tools[0]: server tool "web_search_20250305"`},
		{"stop_sequences_type", `{"stop_sequences":"END"}`, llm.ErrInvalid, "stop_sequences: expected an array of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessagesRequest([]byte(tc.body))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestRequestToLLM_Errors(t *testing.T) {
	const base = `"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name    string
		body    string
		version string
		is      error
		want    string
	}{
		{"missing_max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, DefaultVersion, llm.ErrInvalid, "max_tokens: required"},
		{"missing_model", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, DefaultVersion, llm.ErrInvalid, "model: required"},
		{"no_messages", `{"model":"m","max_tokens":5,"messages":[]}`, DefaultVersion, llm.ErrInvalid, "messages: at least one"},
		{"bad_role", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, DefaultVersion, llm.ErrInvalid, "messages[0].role"},
		{"missing_version", `{` + base + `}`, "", llm.ErrInvalid, "anthropic-version"},
		{"temperature_2026", `{` + base + `,"temperature":1}`, "2026-10-21", llm.ErrInvalid, "temperature: not accepted with anthropic-version 2026-10-21"},
		{"top_k_2026", `{` + base + `,"top_k":5}`, "2026-10-21", llm.ErrInvalid, "top_k"},
		{"top_p_later", `{` + base + `,"top_p":0.5}`, "2027-01-01", llm.ErrInvalid, "top_p"},
		{"tool_result_in_assistant", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, DefaultVersion, llm.ErrInvalid, "tool_result blocks belong in user messages"},
		{"tool_use_in_user", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}`, DefaultVersion, llm.ErrInvalid, "tool_use blocks belong in assistant messages"},
		{"bad_base64", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"@@"}}]}]}`, DefaultVersion, llm.ErrInvalid, "invalid base64"},
		{"file_image", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]}`, DefaultVersion, llm.ErrUnsupported, "file image sources"},
		{"ttl_1h", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`, DefaultVersion, llm.ErrUnsupported, `ttl "1h"`},
		{"tool_cache_control", `{` + base + `,"tools":[{"name":"a","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]}`, DefaultVersion, llm.ErrUnsupported, "tools[0].cache_control"},
		{"tool_without_schema", `{` + base + `,"tools":[{"name":"a"}]}`, DefaultVersion, llm.ErrInvalid, "tools[0].input_schema: required"},
		{"tool_choice_tool_no_name", `{` + base + `,"tool_choice":{"type":"tool"}}`, DefaultVersion, llm.ErrInvalid, "tool_choice.name"},
		{"tool_choice_bad", `{` + base + `,"tool_choice":{"type":"sometimes"}}`, DefaultVersion, llm.ErrInvalid, "tool_choice.type"},
		{"thinking_no_budget", `{` + base + `,"thinking":{"type":"enabled"}}`, DefaultVersion, llm.ErrInvalid, "budget_tokens"},
		{"output_format_type", `{` + base + `,"output_config":{"format":{"type":"xml","schema":{}}}}`, DefaultVersion, llm.ErrInvalid, "output_config.format.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := DecodeMessagesRequest([]byte(tc.body))
			if err != nil {
				t.Fatalf("DecodeMessagesRequest: %v", err)
			}
			_, err = RequestToLLM(dec, tc.version)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestRequestToLLM_Version20261021(t *testing.T) {
	dec, err := DecodeMessagesRequest([]byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RequestToLLM(dec, "2026-10-21"); err != nil {
		t.Errorf("request without sampling parameters: %v", err)
	}
}

func TestRequestToLLM_ToolResultName(t *testing.T) {
	body := `{"model":"m","max_tokens":10,"messages":[
		{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"lookup","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"},{"type":"tool_result","tool_use_id":"t9"}]}]}`
	dec, err := DecodeMessagesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	r, err := RequestToLLM(dec, DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	parts := r.Messages[1].Parts
	if parts[0].ToolResult.Name != "lookup" || parts[1].ToolResult.Name != "" {
		t.Errorf("names = %q, %q; want lookup and empty", parts[0].ToolResult.Name, parts[1].ToolResult.Name)
	}
}

func TestRequestFromLLM_Errors(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hi")}}}
	seed := int64(1)
	for _, tc := range []struct {
		name string
		req  llm.Request
		is   error
		want string
	}{
		{"n", llm.Request{Messages: user, N: 2}, llm.ErrUnsupported, "n=2"},
		{"seed", llm.Request{Messages: user, Seed: &seed}, llm.ErrUnsupported, "seed"},
		{"json_object", llm.Request{Messages: user, Format: &llm.ResponseFormat{Kind: llm.FormatJSONObject}}, llm.ErrUnsupported, "json_object"},
		{"json_schema_without_schema", llm.Request{Messages: user, Format: &llm.ResponseFormat{Kind: llm.FormatJSONSchema}}, llm.ErrInvalid, "needs a schema"},
		{"foreign_passthrough", llm.Request{Messages: user, Passthrough: map[string]map[string]json.RawMessage{
			"openai": {"logit_bias": json.RawMessage(`{}`), "store": json.RawMessage(`true`)}, "anthropic": {"service_tier": json.RawMessage(`"auto"`)}}},
			llm.ErrUnsupported, "openai.logit_bias, openai.store"},
		{"passthrough_conflict", llm.Request{Messages: user, Passthrough: map[string]map[string]json.RawMessage{"anthropic": {"max_tokens": json.RawMessage(`5`)}}}, llm.ErrInvalid, "anthropic.max_tokens conflicts"},
		{"passthrough_thinking_conflict", llm.Request{Messages: user, Reasoning: &llm.Reasoning{BudgetTokens: 2000},
			Passthrough: map[string]map[string]json.RawMessage{"anthropic": {"thinking": json.RawMessage(`{"type":"adaptive"}`)}}}, llm.ErrInvalid, "thinking conflicts"},
		{"passthrough_format_conflict", llm.Request{Messages: user, Format: &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Schema: json.RawMessage(`{}`)},
			Passthrough: map[string]map[string]json.RawMessage{"anthropic": {"output_config": json.RawMessage(`{"format":{"type":"json_schema","schema":{}}}`)}}}, llm.ErrInvalid, "format conflicts"},
		{"passthrough_invalid_json", llm.Request{Messages: user, Passthrough: map[string]map[string]json.RawMessage{"anthropic": {"x": json.RawMessage(`{`)}}}, llm.ErrInvalid, "invalid JSON"},
		{"effort_unknown", llm.Request{Messages: user, Reasoning: &llm.Reasoning{Effort: "extreme"}}, llm.ErrUnsupported, `effort "extreme"`},
		{"effort_small_max_tokens", llm.Request{Messages: user, MaxTokens: 800, Reasoning: &llm.Reasoning{Effort: "low"}}, llm.ErrInvalid, "max tokens above 1024"},
		{"image_gs_url", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartImage, Image: &llm.Image{URL: "gs://b/o.png"}}}}}}, llm.ErrUnsupported, "gs image URLs"},
		{"image_detail", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartImage, Image: &llm.Image{URL: "https://x/y.png", Detail: "high"}}}}}}, llm.ErrUnsupported, `detail "high"`},
		{"tool_args_not_object", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "a", Name: "f", Arguments: "[1]"}}}}}}, llm.ErrInvalid, "not a JSON object"},
		{"system_image", llm.Request{Messages: user, System: []llm.Part{{Kind: llm.PartImage, Image: &llm.Image{URL: "https://x"}}}}, llm.ErrUnsupported, "system[0]: image parts"},
		{"tool_result_reasoning", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "a", Content: []llm.Part{{Kind: llm.PartReasoning, Text: "x"}}}}}}}}, llm.ErrUnsupported, "reasoning parts in a tool result"},
		{"bad_role", llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.Text("x")}}}}, llm.ErrInvalid, "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestFromLLM(&tc.req)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestRequestFromLLM_ThinkingBudget(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hi")}}}
	for _, tc := range []struct {
		name          string
		req           llm.Request
		budget, limit int
	}{
		{"effort_medium_default_limit", llm.Request{Reasoning: &llm.Reasoning{Effort: "medium"}}, 4096, 4096 + 4096},
		{"effort_low", llm.Request{MaxTokens: 5000, Reasoning: &llm.Reasoning{Effort: "low"}}, 1024, 5000},
		{"effort_high_capped", llm.Request{MaxTokens: 3000, Reasoning: &llm.Reasoning{Effort: "high"}}, 2999, 3000},
		{"budget", llm.Request{MaxTokens: 9000, Reasoning: &llm.Reasoning{BudgetTokens: 2500}}, 2500, 9000},
		{"effort_none", llm.Request{Reasoning: &llm.Reasoning{Effort: "none"}}, 0, DefaultMaxTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Messages = user
			got, err := RequestFromLLM(&tc.req)
			if err != nil {
				t.Fatal(err)
			}
			budget := 0
			if got.Thinking != nil {
				budget = got.Thinking.BudgetTokens
			}
			if budget != tc.budget || got.MaxTokens != tc.limit {
				t.Errorf("budget, max_tokens = %d, %d; want %d, %d", budget, got.MaxTokens, tc.budget, tc.limit)
			}
		})
	}
}

func TestResponseToLLM_UnknownBlock(t *testing.T) {
	r := &MessagesResponse{Content: []ContentBlock{{Type: "web_search_tool_result"}}}
	if _, err := ResponseToLLM(r); !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
}

func TestFinishReasons(t *testing.T) {
	for _, tc := range []struct {
		wire string
		llm  llm.FinishReason
		back string
	}{
		{StopEndTurn, llm.FinishStop, StopEndTurn},
		{StopMaxTokens, llm.FinishLength, StopMaxTokens},
		{StopStopSequence, llm.FinishStopSequence, StopStopSequence},
		{StopToolUse, llm.FinishToolCalls, StopToolUse},
		{StopRefusal, llm.FinishRefusal, StopRefusal},
		{StopPauseTurn, llm.FinishLength, StopMaxTokens},
		{StopModelContextWindowExceeded, llm.FinishLength, StopMaxTokens},
		{"something_new", llm.FinishStop, StopEndTurn},
	} {
		t.Run(tc.wire, func(t *testing.T) {
			got := finishToLLM(tc.wire)
			if got != tc.llm {
				t.Errorf("finishToLLM(%q) = %q, want %q", tc.wire, got, tc.llm)
			}
			if back := finishFromLLM(got); back != tc.back {
				t.Errorf("finishFromLLM(%q) = %q, want %q", got, back, tc.back)
			}
		})
	}
	if got := finishFromLLM(llm.FinishContentFilter); got != StopRefusal {
		t.Errorf("content_filter → %q, want refusal", got)
	}
}

func TestUsage_RoundTrip(t *testing.T) {
	wire := Usage{InputTokens: 20, OutputTokens: 55, CacheCreationInputTokens: 100, CacheReadInputTokens: 1000, OutputTokensDetails: &OutputTokensDetails{ThinkingTokens: 30}}
	canon := usageToLLM(wire)
	want := llm.Usage{InputTokens: 1120, OutputTokens: 55, CachedInputTokens: 1000, CacheWriteTokens: 100, ReasoningTokens: 30}
	if canon != want {
		t.Errorf("usageToLLM = %+v, want %+v", canon, want)
	}
	if diff := cmp.Diff(wire, usageFromLLM(canon)); diff != "" {
		t.Errorf("usageFromLLM (-want +got):\n%s", diff)
	}
}

func TestCountTokens(t *testing.T) {
	r := &llm.Request{
		System: []llm.Part{llm.Text("You are helpful.")}, // 16 bytes
		Messages: []llm.Message{
			{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("What is 2+2?"), {Kind: llm.PartImage, Image: &llm.Image{URL: "https://x"}}}},                // 12 bytes
			{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c1", Name: "add", Arguments: `{"a":2}`}}}}, // 12 bytes
		},
		Tools: []llm.Tool{{Name: "add", Description: "adds", Parameters: json.RawMessage(`{"type":"object"}`)}}, // 24 bytes
	}
	// 64 bytes → 16 tokens; 2 messages × 3; 1 tool × 8; 1 image × 1600.
	if got, want := CountTokens(r), 16+6+8+1600; got != want {
		t.Errorf("CountTokens = %d, want %d", got, want)
	}
	if CountTokens(r) != CountTokens(r) {
		t.Error("CountTokens is not deterministic")
	}
}

func TestMessagesRequest_ExtraShadowing(t *testing.T) {
	r := MessagesRequest{Model: "m", Extra: map[string]json.RawMessage{"model": json.RawMessage(`"x"`)}}
	if _, err := json.Marshal(r); err == nil {
		t.Error("marshalling an Extra field that shadows model succeeded")
	}
}

// A field the gateway does not model, nested in the request, is not
// refused by the front door: the fast path carries it in the client's
// bytes, and a channel that translates refuses it by its path.
func TestDecodeMessagesRequest_UnknownNested(t *testing.T) {
	body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"x","weight":2}],"name":"bob"},` +
		`{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s","cache_control":{"type":"ephemeral"}}]}],` +
		`"tools":[{"name":"a","input_schema":{},"defer_loading":true}],"metadata":{"user_id":"u","tags":["a"]}}`
	mr, err := DecodeMessagesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"messages[0].content[0].weight", "messages[0].name", "messages[1].content[0].cache_control", "metadata.tags", "tools[0].defer_loading"}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(mr.Unknown))); diff != "" {
		t.Errorf("unknown fields (-want +got):\n%s", diff)
	}
	req, err := RequestToLLM(mr, "2023-06-01")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RequestFromLLM(req); !errors.Is(err, llm.ErrUnsupported) || !strings.Contains(err.Error(), strings.Join(want, ", ")) {
		t.Errorf("translated: err = %v, want unsupported naming %v", err, want)
	}
	fast, err := rewriteRaw([]byte(body), "up", false)
	if err != nil || !strings.Contains(string(fast), `"defer_loading":true`) || !strings.Contains(string(fast), `"weight":2`) {
		t.Errorf("fast path body %s (%v) lost a field", fast, err)
	}
}
