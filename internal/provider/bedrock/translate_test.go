package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
)

func TestDecodeConverseRequest_Invalid(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantField string
	}{
		{"not_object", `[1]`, "decoding"},
		{"null_body", `null`, "JSON object"},
		{"messages_type", `{"messages":{}}`, "messages"},
		{"text_type", `{"messages":[{"role":"user","content":[{"text":5}]}]}`, "messages"},
		{"unknown_block_member", `{"messages":[{"role":"user","content":[{"txt":"a"}]}]}`, "txt"},
		{"unknown_message_member", `{"messages":[{"role":"user","content":[],"name":"x"}]}`, "name"},
		{"max_tokens_float", `{"inferenceConfig":{"maxTokens":1.5}}`, "inferenceConfig"},
		{"temperature_string", `{"inferenceConfig":{"temperature":"hot"}}`, "inferenceConfig"},
		{"image_bytes_not_base64", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"!!"}}}]}]}`, "messages"},
		{"tool_choice_unknown", `{"toolConfig":{"tools":[],"toolChoice":{"none":{}}}}`, "toolConfig"},
		{"additional_fields_array", `{"additionalModelRequestFields":[1]}`, "additionalModelRequestFields"},
		{"guardrail_string", `{"guardrailConfig":"gr"}`, "guardrailConfig"},
		{"metadata_number", `{"requestMetadata":{"a":1}}`, "requestMetadata"},
		{"field_paths_object", `{"additionalModelResponseFieldPaths":{"a":1}}`, "additionalModelResponseFieldPaths"},
		{"trailing_garbage", `{"messages":[]} x`, "decoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeConverseRequest([]byte(tc.body))
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error = %v, want llm.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantField) {
				t.Errorf("error %q does not name %q", err, tc.wantField)
			}
		})
	}
}

func TestDecodeConverseRequest_NullsAndExtra(t *testing.T) {
	cr, err := DecodeConverseRequest([]byte(`{"system":null,"guardrailConfig":null,"messages":[],"x-new":{"a":[1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cr.System != nil || cr.GuardrailConfig != nil || string(cr.Extra["x-new"]) != `{"a":[1]}` {
		t.Errorf("decoded %+v", cr)
	}
}

func TestRequestToLLM_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error
		wantText   string
	}{
		{"document_block", `{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"a","source":{"bytes":"AA=="}}}]}]}`, llm.ErrUnsupported, "document"},
		{"video_block", `{"messages":[{"role":"user","content":[{"video":{}}]}]}`, llm.ErrUnsupported, "video"},
		{"guard_content", `{"messages":[{"role":"user","content":[{"guardContent":{"text":{"text":"x"}}}]}]}`, llm.ErrUnsupported, "guardContent"},
		{"system_guard_content", `{"system":[{"guardContent":{"text":{"text":"x"}}}]}`, llm.ErrUnsupported, "guardContent"},
		{"s3_image", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"s3Location":{"uri":"s3://b/k"}}}}]}]}`, llm.ErrUnsupported, "S3"},
		{"tool_cache_point", `{"toolConfig":{"tools":[{"toolSpec":{"name":"a","inputSchema":{"json":{}}}},{"cachePoint":{"type":"default"}}]}}`, llm.ErrUnsupported, "cachePoint"},
		{"system_tool", `{"toolConfig":{"tools":[{"systemTool":{"name":"web"}}]}}`, llm.ErrUnsupported, "systemTool"},
		{"cache_ttl_1h", `{"messages":[{"role":"user","content":[{"text":"a"},{"cachePoint":{"type":"default","ttl":"1h"}}]}]}`, llm.ErrUnsupported, "1h"},
		{"tool_result_document", `{"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"document":{}}]}}]}]}`, llm.ErrUnsupported, "document"},
		{"server_tool_use", `{"messages":[{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"n","input":{},"type":"server_tool_use"}}]}]}`, llm.ErrUnsupported, "server_tool_use"},
		{"two_members", `{"messages":[{"role":"user","content":[{"text":"a","image":{"format":"png","source":{"bytes":"AA=="}}}]}]}`, llm.ErrInvalid, "exactly one"},
		{"empty_block", `{"messages":[{"role":"user","content":[{}]}]}`, llm.ErrInvalid, "exactly one"},
		{"bad_role", `{"messages":[{"role":"system","content":[{"text":"a"}]}]}`, llm.ErrInvalid, "role"},
		{"leading_cache_point", `{"messages":[{"role":"user","content":[{"cachePoint":{"type":"default"}}]}]}`, llm.ErrInvalid, "cachePoint"},
		{"cache_point_type", `{"system":[{"text":"a"},{"cachePoint":{"type":"ephemeral"}}]}`, llm.ErrInvalid, "type"},
		{"image_format", `{"messages":[{"role":"user","content":[{"image":{"format":"bmp","source":{"bytes":"AA=="}}}]}]}`, llm.ErrInvalid, "format"},
		{"tool_use_no_id", `{"messages":[{"role":"assistant","content":[{"toolUse":{"toolUseId":"","name":"n","input":{}}}]}]}`, llm.ErrInvalid, "toolUseId"},
		{"tool_status", `{"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[],"status":"ok"}}]}]}`, llm.ErrInvalid, "status"},
		{"redacted_not_base64", `{"messages":[{"role":"assistant","content":[{"reasoningContent":{"redactedContent":"%%%"}}]}]}`, llm.ErrInvalid, "redactedContent"},
		{"reasoning_both", `{"messages":[{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"a"},"redactedContent":"AA=="}}]}]}`, llm.ErrInvalid, "exactly one"},
		{"tool_choice_two", `{"toolConfig":{"tools":[],"toolChoice":{"auto":{},"any":{}}}}`, llm.ErrInvalid, "toolChoice"},
		{"effort_number", `{"outputConfig":{"effort":3}}`, llm.ErrInvalid, "effort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr, err := DecodeConverseRequest([]byte(tc.body))
			if err == nil {
				_, err = RequestToLLM(cr)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
			if errors.Is(tc.want, llm.ErrUnsupported) && !strings.Contains(err.Error(), "bedrock") {
				t.Errorf("error %q does not name the channel", err)
			}
		})
	}
}

func TestRequestFromLLM_Errors(t *testing.T) {
	user := func(parts ...llm.Part) []llm.Message { return []llm.Message{{Role: llm.RoleUser, Parts: parts}} }
	seed := int64(7)
	no := false
	for _, tc := range []struct {
		name     string
		req      llm.Request
		want     error
		wantText string
	}{
		{"n_choices", llm.Request{N: 2}, llm.ErrUnsupported, "n>1"},
		{"seed", llm.Request{Seed: &seed}, llm.ErrUnsupported, "seed"},
		{"no_parallel_tools", llm.Request{ParallelToolCalls: &no}, llm.ErrUnsupported, "parallel_tool_calls"},
		{"foreign_passthrough", llm.Request{Passthrough: map[string]map[string]json.RawMessage{"openai": {"logprobs": json.RawMessage(`true`)}}},
			llm.ErrUnsupported, "openai (logprobs)"},
		{"image_url", llm.Request{Messages: user(llm.Part{Kind: llm.PartImage, Image: &llm.Image{URL: "https://x/cat.png"}})}, llm.ErrUnsupported, "image URL"},
		{"image_detail", llm.Request{Messages: user(llm.Part{Kind: llm.PartImage, Image: &llm.Image{MIMEType: "image/png", Data: []byte{1}, Detail: "high"}})},
			llm.ErrUnsupported, "detail"},
		{"image_type", llm.Request{Messages: user(llm.Part{Kind: llm.PartImage, Image: &llm.Image{MIMEType: "image/tiff", Data: []byte{1}}})},
			llm.ErrUnsupported, "image/tiff"},
		{"system_image", llm.Request{System: []llm.Part{{Kind: llm.PartImage}}}, llm.ErrUnsupported, "system"},
		{"tool_result_with_tool_call", llm.Request{Messages: user(llm.Part{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "a",
			Content: []llm.Part{{Kind: llm.PartToolCall}}}})}, llm.ErrUnsupported, "tool result"},
		{"effort_minimal", llm.Request{Reasoning: &llm.Reasoning{Effort: "minimal"}}, llm.ErrUnsupported, "minimal"},
		{"tool_choice_none_with_history", llm.Request{
			Tools:      []llm.Tool{{Name: "t"}},
			ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceNone},
			Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall,
				ToolCall: &llm.ToolCall{ID: "a", Name: "t", Arguments: "{}"}}}}},
		}, llm.ErrUnsupported, "none"},
		{"bad_role", llm.Request{Messages: []llm.Message{{Role: "system"}}}, llm.ErrInvalid, "role"},
		{"bad_arguments", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall,
			ToolCall: &llm.ToolCall{ID: "a", Name: "t", Arguments: "{"}}}}}}, llm.ErrInvalid, "arguments"},
		{"choice_without_tools", llm.Request{ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, llm.ErrInvalid, "needs tools"},
		{"choice_unknown_tool", llm.Request{Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "b"}},
			llm.ErrInvalid, `"b"`},
		{"bad_schema", llm.Request{Tools: []llm.Tool{{Name: "a", Parameters: json.RawMessage(`{`)}}}, llm.ErrInvalid, "parameters"},
		{"user_and_metadata_user", llm.Request{User: "u", Metadata: map[string]string{"user": "v"}}, llm.ErrInvalid, "user"},
		{"passthrough_conflict", llm.Request{TopK: new(int), Passthrough: map[string]map[string]json.RawMessage{
			"bedrock": {"additionalModelRequestFields": json.RawMessage(`{"top_k":3}`)}}}, llm.ErrInvalid, "top_k"},
		{"passthrough_owned_member", llm.Request{Passthrough: map[string]map[string]json.RawMessage{
			"bedrock": {"messages": json.RawMessage(`[]`)}}}, llm.ErrInvalid, "messages"},
		{"passthrough_not_object", llm.Request{Passthrough: map[string]map[string]json.RawMessage{
			"bedrock": {"outputConfig": json.RawMessage(`[]`)}}}, llm.ErrInvalid, "outputConfig"},
		{"redacted_and_text", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartReasoning, Text: "a", Redacted: "AA=="}}}}},
			llm.ErrInvalid, "redacted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestFromLLM(&tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
			if errors.Is(tc.want, llm.ErrUnsupported) && !strings.Contains(err.Error(), "bedrock") {
				t.Errorf("error %q does not name the channel", err)
			}
		})
	}
}

func TestRequestFromLLM_ReasoningKey(t *testing.T) {
	for _, tc := range []struct{ model, key string }{
		{"anthropic.claude-3-7-sonnet-20250219-v1:0", "thinking"},
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", "thinking"},
		{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0", "thinking"},
		{"deepseek.r1-v1:0", "reasoning_config"},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", "reasoning_config"},
	} {
		got, err := RequestFromLLM(&llm.Request{Model: tc.model, Reasoning: &llm.Reasoning{BudgetTokens: 1024}})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"` + tc.key + `":{"budget_tokens":1024,"type":"enabled"}}`
		if string(got.AdditionalModelRequestFields) != want {
			t.Errorf("%s: additionalModelRequestFields = %s, want %s", tc.model, got.AdditionalModelRequestFields, want)
		}
	}
}

func TestResponseToLLM_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error
	}{
		{"no_message", `{"output":{},"stopReason":"end_turn"}`, nil},
		{"citations", `{"output":{"message":{"role":"assistant","content":[{"citationsContent":{}}]}},"stopReason":"end_turn"}`, llm.ErrUnsupported},
		{"unknown_block", `{"output":{"message":{"role":"assistant","content":[{"audioOut":{}}]}},"stopReason":"end_turn"}`, nil},
		{"malformed_tool_use", `{"output":{"message":{"role":"assistant","content":[{"text":"a"}]}},"stopReason":"malformed_tool_use"}`, nil},
		{"malformed_output", `{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"malformed_model_output"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cr ConverseResponse
			if err := json.Unmarshal([]byte(tc.body), &cr); err != nil {
				t.Fatal(err)
			}
			_, err := ResponseToLLM(&cr)
			if err == nil {
				t.Fatal("ResponseToLLM succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name string
		in   TokenUsage
		want llm.Usage
	}{
		{"no_cache", TokenUsage{InputTokens: 10, OutputTokens: 5, TotalTokens: 15}, llm.Usage{InputTokens: 10, OutputTokens: 5}},
		{"cache_excluded_from_input", TokenUsage{InputTokens: 14, OutputTokens: 287, TotalTokens: 4459, CacheReadInputTokens: i(4158), CacheWriteInputTokens: i(0)},
			llm.Usage{InputTokens: 4172, OutputTokens: 287, CachedInputTokens: 4158}},
		{"cache_write", TokenUsage{InputTokens: 5, OutputTokens: 1, TotalTokens: 106, CacheWriteInputTokens: i(100)},
			llm.Usage{InputTokens: 105, OutputTokens: 1, CacheWriteTokens: 100}},
		{"cache_included_in_input", TokenUsage{InputTokens: 120, OutputTokens: 10, TotalTokens: 130, CacheReadInputTokens: i(100)},
			llm.Usage{InputTokens: 120, OutputTokens: 10, CachedInputTokens: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := usageToLLM(&tc.in)
			if got != tc.want {
				t.Errorf("usageToLLM = %+v, want %+v", got, tc.want)
			}
			back := usageToLLM(usageFromLLM(got))
			if back != got {
				t.Errorf("usage round trip = %+v, want %+v", back, got)
			}
		})
	}
}

func TestConverseRequest_MarshalExtra(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   ConverseRequest
		want string
	}{
		{"empty_with_extra", ConverseRequest{Extra: map[string]json.RawMessage{"b": json.RawMessage(`2`), "a": json.RawMessage(`"x"`)}}, `{"a":"x","b":2}`},
		{"known_and_extra", ConverseRequest{Messages: []Message{{Role: "user", Content: []ContentBlock{}}}, Extra: map[string]json.RawMessage{"z": json.RawMessage(`null`)}},
			`{"messages":[{"role":"user","content":[]}],"z":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Marshal = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := json.Marshal(&ConverseRequest{Extra: map[string]json.RawMessage{"a": json.RawMessage(`{`)}}); err == nil {
		t.Error("Marshal accepted invalid extra JSON")
	}
}

func FuzzDecodeConverseRequest(f *testing.F) {
	paths, _ := filepath.Glob("testdata/request_to_llm/*.converse.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"cachePoint":{"type":"default"}}]}]}`))
	f.Add([]byte(`{"system":[{}],"toolConfig":{"tools":[{}],"toolChoice":{}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, err := DecodeConverseRequest(body)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("decode error %v does not wrap llm.ErrInvalid", err)
			}
			return
		}
		req, err := RequestToLLM(cr)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("RequestToLLM error %v wraps neither ErrInvalid nor ErrUnsupported", err)
			}
			return
		}
		req.Model = "anthropic.claude"
		if back, err := RequestFromLLM(req); err == nil {
			if _, err := json.Marshal(back); err != nil {
				t.Fatalf("encoding translated request: %v", err)
			}
		}
	})
}

func FuzzResponseToLLM(f *testing.F) {
	paths, _ := filepath.Glob("testdata/response_to_llm/*.converse.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"output":{"message":{"content":[{"toolUse":{"input":"x"}}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var cr ConverseResponse
		if json.Unmarshal(body, &cr) != nil {
			return
		}
		resp, err := ResponseToLLM(&cr)
		if err != nil {
			return
		}
		for _, p := range resp.Message.Parts {
			if p.Kind == llm.PartToolCall && !json.Valid([]byte(p.ToolCall.Arguments)) {
				t.Fatalf("tool arguments %q are not JSON", p.ToolCall.Arguments)
			}
		}
		if _, err := json.Marshal(ResponseFromLLM(resp, 0)); err != nil {
			t.Fatalf("encoding response: %v", err)
		}
	})
}

// TestResponseFromLLM_DecodesWithSDKShapes checks that our response JSON
// round-trips through our own decoder unchanged (the SDK-level check is in
// the adapter and stream tests).
func TestResponseFromLLM_RoundTrip(t *testing.T) {
	in := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Kind: llm.PartReasoning, Text: "r", Signature: "s"},
			{Kind: llm.PartText, Text: "t"},
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "1", Name: "f", Arguments: `{"a":1}`}},
		}},
		FinishReason: llm.FinishToolCalls,
		StopSequence: "",
		Usage:        llm.Usage{InputTokens: 50, OutputTokens: 7, CachedInputTokens: 20, CacheWriteTokens: 10},
	}
	b, err := json.Marshal(ResponseFromLLM(in, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var cr ConverseResponse
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&cr); err != nil {
		t.Fatal(err)
	}
	got, err := ResponseToLLM(&cr)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
}
