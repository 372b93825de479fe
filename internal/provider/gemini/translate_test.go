package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider/providertest"
)

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
			providertest.Golden(t, dir+name+".gemini.json", got)
		})
	}
}

func TestResponseToLLM_Golden(t *testing.T) {
	const dir = "testdata/response_to_llm/"
	for _, name := range providertest.Cases(t, dir, ".gemini.json") {
		t.Run(name, func(t *testing.T) {
			var in GenerateContentResponse
			providertest.ReadJSON(t, dir+name+".gemini.json", &in)
			got, err := ResponseToLLM(&in, "k")
			if err != nil {
				t.Fatalf("ResponseToLLM: %v", err)
			}
			providertest.Golden(t, dir+name+".llm.json", got)
		})
	}
}

// TestResponse_HistoryRoundTrip sends an answer back as history: the
// model must get its own parts back, signatures where they were.
func TestResponse_HistoryRoundTrip(t *testing.T) {
	for _, name := range []string{"function_calls", "max_tokens_signature", "text_usage"} {
		t.Run(name, func(t *testing.T) {
			var in GenerateContentResponse
			providertest.ReadJSON(t, "testdata/response_to_llm/"+name+".gemini.json", &in)
			resp, err := ResponseToLLM(&in, "k")
			if err != nil {
				t.Fatal(err)
			}
			req, err := RequestFromLLM(&llm.Request{Model: "m", Messages: []llm.Message{resp.Message}})
			if err != nil {
				t.Fatal(err)
			}
			want := withoutEmptyText(in.Candidates[0].Content.Parts)
			got := req.Contents[0].Parts
			// Calls that came without an id go back with the synthesized one.
			var ids []string
			for _, p := range got {
				if p.FunctionCall != nil {
					ids = append(ids, p.FunctionCall.ID)
				}
			}
			for _, p := range want {
				if fc := p.FunctionCall; fc != nil {
					if fc.ID == "" {
						fc.ID = ids[0]
					}
					if fc.Args == nil {
						fc.Args = json.RawMessage(`{}`) // no args and {} are the same call
					}
					ids = ids[1:]
				}
			}
			if diff := cmp.Diff(normalizeParts(t, want), normalizeParts(t, got)); diff != "" {
				t.Errorf("history (-answer +sent back):\n%s", diff)
			}
		})
	}
}

// withoutEmptyText drops the empty text parts an answer may end with.
func withoutEmptyText(parts []Part) []Part {
	var out []Part
	for _, p := range parts {
		if p.Text == "" && p.ThoughtSignature == "" && p.FunctionCall == nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

// normalizeParts merges consecutive text and thought fragments (as the
// gateway stores them) and compares JSON values.
func normalizeParts(t *testing.T, parts []Part) any {
	t.Helper()
	var merged []Part
	for _, p := range parts {
		if n := len(merged); n > 0 && p.FunctionCall == nil && merged[n-1].FunctionCall == nil &&
			merged[n-1].Thought == p.Thought && merged[n-1].ThoughtSignature == "" && (p.Thought || p.ThoughtSignature == "") {
			merged[n-1].Text += p.Text
			merged[n-1].ThoughtSignature = p.ThoughtSignature
			continue
		}
		merged = append(merged, p)
	}
	b, err := json.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRequestFromLLM_Errors(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hi")}}}
	tools := []llm.Tool{{Name: "f"}}
	no, big := false, int64(1)<<40
	img := func(i llm.Image) []llm.Message {
		return []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartImage, Image: &i}}}}
	}
	for _, tc := range []struct {
		name string
		req  llm.Request
		is   error
		want string
	}{
		{"n", llm.Request{Messages: user, N: 2}, llm.ErrUnsupported, "n=2"},
		{"foreign_passthrough", llm.Request{Messages: user, Passthrough: map[string]map[string]json.RawMessage{"anthropic": {"service_tier": json.RawMessage(`"auto"`)}}}, llm.ErrUnsupported, "anthropic.service_tier"},
		{"passthrough_conflict", llm.Request{Messages: user, Passthrough: map[string]map[string]json.RawMessage{"gemini": {"generationConfig": json.RawMessage(`{}`)}}}, llm.ErrInvalid, "gemini.generationConfig conflicts"},
		{"passthrough_invalid", llm.Request{Messages: user, Passthrough: map[string]map[string]json.RawMessage{"gemini": {"labels": json.RawMessage(`{`)}}}, llm.ErrInvalid, "invalid JSON"},
		{"seed_range", llm.Request{Messages: user, Seed: &big}, llm.ErrUnsupported, "32-bit"},
		{"schema_missing", llm.Request{Messages: user, Format: &llm.ResponseFormat{Kind: llm.FormatJSONSchema}}, llm.ErrInvalid, "needs a schema"},
		{"http_image", llm.Request{Messages: img(llm.Image{URL: "http://example.com/a.png"})}, llm.ErrUnsupported, "http image URLs"},
		{"data_image", llm.Request{Messages: img(llm.Image{URL: "data:image/png;base64,AAAA"})}, llm.ErrUnsupported, "data image URLs"},
		{"image_without_type", llm.Request{Messages: img(llm.Image{URL: "https://example.com/image"})}, llm.ErrUnsupported, "without a MIME type"},
		{"image_detail", llm.Request{Messages: img(llm.Image{URL: "https://example.com/a.png", Detail: "low"})}, llm.ErrUnsupported, `detail "low"`},
		{"parallel_off", llm.Request{Messages: user, Tools: tools, ParallelToolCalls: &no}, llm.ErrUnsupported, "parallel tool calls"},
		{"required_without_tools", llm.Request{Messages: user, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, llm.ErrInvalid, "declares none"},
		{"effort_unknown", llm.Request{Messages: user, Reasoning: &llm.Reasoning{Effort: "max"}}, llm.ErrUnsupported, `effort "max"`},
		{"reasoning_empty", llm.Request{Messages: user, Reasoning: &llm.Reasoning{}}, llm.ErrInvalid, "neither"},
		{"system_image", llm.Request{Messages: user, System: []llm.Part{{Kind: llm.PartImage, Image: &llm.Image{URL: "https://x/a.png"}}}}, llm.ErrUnsupported, "system[0]: image parts"},
		{"bad_role", llm.Request{Messages: []llm.Message{{Role: "tool", Parts: []llm.Part{llm.Text("x")}}}}, llm.ErrInvalid, "role"},
		{"call_in_user", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{Name: "f"}}}}}}, llm.ErrInvalid, "tool calls belong in assistant messages"},
		{"result_in_assistant", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "a", Name: "f"}}}}}}, llm.ErrInvalid, "tool results belong in user messages"},
		{"reasoning_in_user", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartReasoning, Text: "x", Signature: "s"}}}}}, llm.ErrInvalid, "reasoning in a user message"},
		{"args_not_object", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "a", Name: "f", Arguments: `"x"`}}}}}}, llm.ErrInvalid, "not a JSON object"},
		{"result_without_name", llm.Request{Messages: []llm.Message{
			{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "a", Name: "f"}}}},
			{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "b"}}}},
		}}, llm.ErrInvalid, `call "b" names no tool`},
		{"result_reasoning", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "a", Name: "f", Content: []llm.Part{{Kind: llm.PartReasoning}}}}}}}}, llm.ErrUnsupported, "reasoning parts in a tool result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestFromLLM(&tc.req)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

// TestRequestFromLLM_ToolResultNameFromLatestCall checks that a result
// finds the nearest earlier call when synthesized ids repeat across turns.
func TestRequestFromLLM_ToolResultNameFromLatestCall(t *testing.T) {
	call := func(name string) llm.Message {
		return llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_0", Name: name}}}}
	}
	result := llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_0", Content: []llm.Part{llm.Text("ok")}}}}}
	r, err := RequestFromLLM(&llm.Request{Messages: []llm.Message{call("first"), result, call("second"), result}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := r.Contents[1].Parts[0].FunctionResponse.Name, r.Contents[3].Parts[0].FunctionResponse.Name; a != "first" || b != "second" {
		t.Errorf("names = %q, %q; want first, second", a, b)
	}
}

func TestResponseToLLM_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		is   error
		want string
	}{
		{"no_candidates", `{"usageMetadata":{"promptTokenCount":1}}`, nil, "without candidates"},
		{"malformed_call", `{"candidates":[{"content":{"parts":[]},"finishReason":"MALFORMED_FUNCTION_CALL","finishMessage":"bad"}]}`, nil, "MALFORMED_FUNCTION_CALL"},
		{"too_many_calls", `{"candidates":[{"finishReason":"TOO_MANY_TOOL_CALLS"}]}`, nil, "TOO_MANY_TOOL_CALLS"},
		{"no_finish", `{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}`, nil, "without a finish reason"},
		{"code_execution", `{"candidates":[{"content":{"parts":[{"executableCode":{"language":"PYTHON","code":"1"}}]},"finishReason":"STOP"}]}`, llm.ErrUnsupported, "code execution"},
		{"inline_media", `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]},"finishReason":"STOP"}]}`, llm.ErrUnsupported, "media"},
		{"args_array", `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}}]},"finishReason":"STOP"}]}`, nil, "not a JSON object"},
		{"call_without_name", `{"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]},"finishReason":"STOP"}]}`, nil, "without a name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in GenerateContentResponse
			if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
				t.Fatal(err)
			}
			_, err := ResponseToLLM(&in, "k")
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFinishToLLM(t *testing.T) {
	for _, tc := range []struct {
		reason  string
		sawCall bool
		want    llm.FinishReason
	}{
		{"STOP", false, llm.FinishStop},
		{"STOP", true, llm.FinishToolCalls},
		{"MAX_TOKENS", true, llm.FinishLength},
		{"SAFETY", false, llm.FinishContentFilter},
		{"RECITATION", false, llm.FinishContentFilter},
		{"BLOCKLIST", false, llm.FinishContentFilter},
		{"PROHIBITED_CONTENT", false, llm.FinishContentFilter},
		{"SPII", false, llm.FinishContentFilter},
		{"LANGUAGE", false, llm.FinishContentFilter},
		{"OTHER", false, llm.FinishStop},
		{"FINISH_REASON_UNSPECIFIED", false, llm.FinishStop},
	} {
		if got := finishToLLM(tc.reason, tc.sawCall); got != tc.want {
			t.Errorf("finishToLLM(%q, %v) = %q, want %q", tc.reason, tc.sawCall, got, tc.want)
		}
	}
}

func TestPart_MarshalSignatureOnly(t *testing.T) {
	b, err := json.Marshal(Part{ThoughtSignature: "c2ln"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"text":"","thoughtSignature":"c2ln"}` {
		t.Errorf("got %s", b)
	}
	b, _ = json.Marshal(Part{FunctionCall: &FunctionCall{Name: "f"}, ThoughtSignature: "c2ln"})
	if string(b) != `{"thoughtSignature":"c2ln","functionCall":{"name":"f"}}` {
		t.Errorf("got %s", b)
	}
}

// TestResponseToLLM_CallIDs checks that calls without an id get ids that
// differ between answers: Anthropic and Bedrock refuse a history with a
// repeated tool call id.
func TestResponseToLLM_CallIDs(t *testing.T) {
	answer := func(responseID string) *GenerateContentResponse {
		return &GenerateContentResponse{ResponseID: responseID, Candidates: []Candidate{{
			Content: &Content{Role: RoleModel, Parts: []Part{
				{FunctionCall: &FunctionCall{Name: "f"}},
				{FunctionCall: &FunctionCall{Name: "g", ID: "given"}},
				{FunctionCall: &FunctionCall{Name: "h"}},
			}},
			FinishReason: "STOP",
		}}}
	}
	ids := func(r *GenerateContentResponse, fallback string) []string {
		t.Helper()
		resp, err := ResponseToLLM(r, fallback)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range resp.Message.Parts {
			out = append(out, p.ToolCall.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		responseID string
		fallback   string
		want       []string
	}{
		{"response_id", "r-1", "k", []string{"call_r-1_0", "given", "call_r-1_2"}},
		{"fallback_key", "", "K2", []string{"call_K2_0", "given", "call_K2_2"}},
		{"no_key", "", "", []string{"call_0", "given", "call_2"}},
		{"foreign_characters", "a.b/c=d", "", []string{"call_a_b_c_d_0", "given", "call_a_b_c_d_2"}},
		{"long_key", strings.Repeat("x", 100), "", []string{"call_" + strings.Repeat("x", maxCallKey) + "_0", "given", "call_" + strings.Repeat("x", maxCallKey) + "_2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ids(answer(tc.responseID), tc.fallback)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	if a, b := ids(answer("r-1"), "k"), ids(answer("r-2"), "k"); a[0] == b[0] {
		t.Errorf("two answers share call id %q", a[0])
	}
}
