package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider/providertest"
)

func decodeToLLM(t *testing.T, body []byte) *llm.Request {
	t.Helper()
	cr, err := DecodeChatRequest(body)
	if err != nil {
		t.Fatalf("DecodeChatRequest: %v", err)
	}
	req, err := RequestToLLM(cr)
	if err != nil {
		t.Fatalf("RequestToLLM: %v", err)
	}
	return req
}

func TestRequestToLLM_Golden(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/request", ".client.json") {
		t.Run(name, func(t *testing.T) {
			req := decodeToLLM(t, readFile(t, "testdata/request/"+name+".client.json"))
			goldenLLM(t, "testdata/request/"+name+".llm.json", req)
		})
	}
}

func TestRequestFromLLM_Golden(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/request", ".client.json") {
		t.Run(name, func(t *testing.T) {
			var in llm.Request
			if err := json.Unmarshal(readFile(t, "testdata/request/"+name+".llm.json"), &in); err != nil {
				t.Fatal(err)
			}
			out, err := RequestFromLLM(&in)
			if err != nil {
				t.Fatalf("RequestFromLLM: %v", err)
			}
			providertest.Golden(t, "testdata/request/"+name+".upstream.json", out)
		})
	}
}

// TestRequest_RoundTrip checks that what RequestFromLLM writes reads back
// into the same canonical request: the translation loses nothing that
// the canonical model holds.
func TestRequest_RoundTrip(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/request", ".client.json") {
		t.Run(name, func(t *testing.T) {
			first := decodeToLLM(t, readFile(t, "testdata/request/"+name+".client.json"))
			out, err := RequestFromLLM(first)
			if err != nil {
				t.Fatal(err)
			}
			body, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			second := decodeToLLM(t, body)
			if diff := cmp.Diff(first, second, compactJSON); diff != "" {
				t.Errorf("canonical request changed on the round trip (-first +second):\n%s", diff)
			}
		})
	}
}

// TestRequestFromLLM_Canonical covers canonical requests that no OpenAI
// client sends but other front doors do: reasoning history, thinking
// budgets, failed tool results, cache hints, inline images, unnamed
// schemas.
func TestRequestFromLLM_Canonical(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n")
	for _, tc := range []struct {
		name string
		in   *llm.Request
	}{
		{"from_other_dialect", &llm.Request{
			Model:  "gpt-4o",
			System: []llm.Part{{Kind: llm.PartText, Text: "Be brief.", CacheHint: true}, llm.Text("Use tools.")},
			Messages: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("Look:"), {Kind: llm.PartImage, Image: &llm.Image{MIMEType: "image/png", Data: png}}}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Kind: llm.PartReasoning, Text: "The user wants the time.", Signature: "sig"},
					llm.Text("Checking."),
					{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "toolu_1", Name: "get_time"}},
				}},
				{Role: llm.RoleUser, Parts: []llm.Part{
					llm.Text("Hurry."),
					{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "toolu_1", Name: "get_time", IsError: true, Content: []llm.Part{llm.Text("clock unavailable")}}},
				}},
			},
			Tools:      []llm.Tool{{Name: "get_time", Description: "Current time"}},
			ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "get_time"},
			MaxTokens:  1024,
			Stop:       []string{"END"},
			Format:     &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`)},
			Reasoning:  &llm.Reasoning{BudgetTokens: 8000},
			Stream:     true,
		}},
		{"empty_tool_result_error", &llm.Request{
			Model: "gpt-4o",
			Messages: []llm.Message{
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c1", Name: "f", Arguments: "{}"}}}},
				{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "c1", IsError: true}}}},
			},
			Reasoning: &llm.Reasoning{Effort: "low", BudgetTokens: 30000},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := RequestFromLLM(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, "testdata/request/canonical_"+tc.name+".upstream.json", out)
		})
	}
}

func TestDecodeChatRequest_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		kind       error
		want       string
	}{
		{"model_type", `{"model":5,"messages":[]}`, llm.ErrInvalid, "model: expected string, got number"},
		{"messages_type", `{"model":"m","messages":{}}`, llm.ErrInvalid, "messages: expected array, got object"},
		{"content_type", `{"model":"m","messages":[{"role":"user","content":42}]}`, llm.ErrInvalid,
			"messages[0].content: expected string or array, got number"},
		{"image_url_type", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":7}}]}]}`,
			llm.ErrInvalid, "messages[0].content[1].image_url.url: expected string, got number"},
		{"temperature_type", `{"model":"m","messages":[],"temperature":"hot"}`, llm.ErrInvalid, "temperature: expected number, got string"},
		{"integer_fraction", `{"model":"m","messages":[],"max_tokens":1.5}`, llm.ErrInvalid, "max_tokens: expected integer, got 1.5"},
		{"integer_overflow", `{"model":"m","messages":[],"seed":99999999999999999999}`, llm.ErrInvalid, "seed: expected integer, got 99999999999999999999"},
		{"passthrough_type", `{"model":"m","messages":[],"logprobs":"yes"}`, llm.ErrInvalid, "logprobs: expected boolean, got string"},
		{"metadata_value", `{"model":"m","messages":[],"metadata":{"team":1}}`, llm.ErrInvalid, "metadata.team: expected string, got number"},
		{"tool_choice_type", `{"model":"m","messages":[],"tool_choice":true}`, llm.ErrInvalid, "tool_choice: expected string or object, got boolean"},
		{"stop_elements", `{"model":"m","messages":[],"stop":["a",1]}`, llm.ErrInvalid, "stop[1]: expected string, got number"},
		{"syntax", `{"model":"m",}`, llm.ErrInvalid, "invalid JSON at byte"},
		{"truncated", `{"model":"m","messages":[`, llm.ErrInvalid, "invalid JSON: unexpected end of input"},
		{"empty", ``, llm.ErrInvalid, "invalid JSON: unexpected end of input"},
		{"trailing", `{"model":"m"} {}`, llm.ErrInvalid, "unexpected data after the top-level value"},
		{"not_object", `["model"]`, llm.ErrInvalid, "expected object, got array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeChatRequest([]byte(tc.body))
			if !errors.Is(err, tc.kind) || !strings.Contains(fmtErr(err), tc.want) {
				t.Errorf("error = %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

// An assistant message exactly as an answer carries it (openai-go's
// ChatCompletionMessage members: annotations, refusal, audio and
// function_call null) is accepted back and means what it says without them.
func TestRequestToLLM_EchoedAnswerMessage(t *testing.T) {
	const call = `"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]`
	echoed := decodeToLLM(t, []byte(`{"model":"m","messages":[{"role":"user","content":"x"},`+
		`{"role":"assistant","content":null,"refusal":null,"annotations":[{"type":"url_citation","url_citation":{"url":"https://e.x","title":"t","start_index":0,"end_index":1}}],`+
		`"audio":null,"function_call":null,`+call+`},{"role":"tool","tool_call_id":"call_1","content":"r"}]}`))
	plain := decodeToLLM(t, []byte(`{"model":"m","messages":[{"role":"user","content":"x"},`+
		`{"role":"assistant",`+call+`},{"role":"tool","tool_call_id":"call_1","content":"r"}]}`))
	if diff := cmp.Diff(plain, echoed); diff != "" {
		t.Errorf("echoed answer message (-plain +echoed):\n%s", diff)
	}
}

// A member no wire type declares, nested in a message, is not refused by
// the front door: the fast path carries it in the client's bytes, and a
// translating channel refuses it by its path.
func TestUnknownNestedMember(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"x","cache_control":{"type":"ephemeral"}},` +
		`{"role":"assistant","content":"y","reasoning_content":"z"}]}`)
	req := decodeToLLM(t, body)
	want := map[string]json.RawMessage{
		"messages[0].cache_control":     json.RawMessage(`{"type":"ephemeral"}`),
		"messages[1].reasoning_content": json.RawMessage(`"z"`),
	}
	if diff := cmp.Diff(want, req.Passthrough[RawDialectChat]); diff != "" {
		t.Errorf("Passthrough[%q] (-want +got):\n%s", RawDialectChat, diff)
	}
	fast, err := rawChatBody(body, "up", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fast, []byte(`"cache_control":{"type":"ephemeral"}`)) || !bytes.Contains(fast, []byte(`"reasoning_content":"z"`)) {
		t.Errorf("fast path body %s lost a member", fast)
	}
	_, err = RequestFromLLM(req)
	if !errors.Is(err, llm.ErrUnsupported) || !strings.Contains(fmtErr(err), "messages[0].cache_control, messages[1].reasoning_content") {
		t.Errorf("translated: error = %v, want unsupported naming both members", err)
	}
	// Member names are matched exactly: "Role" is not role.
	cr, err := DecodeChatRequest([]byte(`{"model":"m","messages":[{"Role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RequestToLLM(cr); !errors.Is(err, llm.ErrInvalid) || !strings.Contains(fmtErr(err), "messages[0].role: required") {
		t.Errorf("case: error = %v, want messages[0].role: required", err)
	}
}

func TestDecodeChatRequest_KeepsUnknown(t *testing.T) {
	cr, err := DecodeChatRequest([]byte(`{"model":"m","messages":[],"future":{"x":[1, 2]},"logprobs":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"future": json.RawMessage(`{"x":[1, 2]}`), "logprobs": json.RawMessage(`null`)}
	if diff := cmp.Diff(want, cr.Extra); diff != "" {
		t.Errorf("Extra (-want +got):\n%s", diff)
	}
}

// compactJSON compares raw JSON without its insignificant whitespace.
var compactJSON = cmp.Transformer("compact", func(r json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, r); err != nil {
		return string(r)
	}
	return b.String()
})

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestRequestToLLM_Errors(t *testing.T) {
	const tools = `"tools":[{"type":"function","function":{"name":"f"}}]`
	user := func(content string) string { return `{"role":"user","content":` + content + `}` }
	body := func(msgs string, rest ...string) string {
		s := `{"model":"m","messages":[` + msgs + `]`
		for _, r := range rest {
			s += "," + r
		}
		return s + "}"
	}
	for _, tc := range []struct {
		name, body string
		kind       error
		want       string
	}{
		{"no_model", `{"messages":[` + user(`"x"`) + `]}`, llm.ErrInvalid, "model: you must provide a model parameter"},
		{"no_messages", body(""), llm.ErrInvalid, "messages: at least one message is required"},
		{"unknown_role", body(user(`"x"`) + `,{"role":"user","content":"y"},{"role":"foo","content":"z"}`), llm.ErrInvalid,
			`messages[2].role: unknown role "foo"`},
		{"no_role", body(`{"content":"x"}`), llm.ErrInvalid, "messages[0].role: required"},
		{"function_role", body(`{"role":"function","name":"f","content":"x"}`), llm.ErrUnsupported, `messages[0].role: role "function"`},
		{"participant_name", body(`{"role":"user","name":"ada","content":"x"}`), llm.ErrUnsupported, "messages[0].name: participant names are not supported"},
		{"no_content", body(`{"role":"user"}`), llm.ErrInvalid, "messages[0].content: required"},
		{"empty_parts", body(user(`[]`)), llm.ErrInvalid, "messages[0].content: must not be empty"},
		{"text_part_without_text", body(user(`[{"type":"text"}]`)), llm.ErrInvalid, "messages[0].content[0].text: required"},
		{"audio_part", body(user(`[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]`)), llm.ErrUnsupported,
			`messages[0].content[0].type: "input_audio" parts are not supported`},
		{"unknown_part", body(user(`[{"type":"video"}]`)), llm.ErrInvalid, `messages[0].content[0].type: unknown content part type "video"`},
		{"image_in_system", body(`{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`), llm.ErrInvalid,
			`messages[0].content[0].type: system messages take only text parts`},
		{"data_url_not_base64", body(user(`[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]`)), llm.ErrInvalid,
			"messages[0].content[0].image_url.url: data URL must be base64-encoded"},
		{"data_url_bad_base64", body(user(`[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]`)), llm.ErrInvalid,
			"data URL payload is not valid base64"},
		{"image_scheme", body(user(`[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]`)), llm.ErrInvalid,
			"must be an http(s) URL or a base64 data URL"},
		{"image_detail", body(user(`[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"ultra"}}]`)), llm.ErrInvalid,
			`messages[0].content[0].image_url.detail: unknown detail "ultra"`},
		{"tool_without_id", body(user(`"x"`) + `,{"role":"tool","content":"r"}`), llm.ErrInvalid, "messages[1].tool_call_id: required"},
		{"user_tool_calls", body(`{"role":"user","content":"x","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}`),
			llm.ErrInvalid, "messages[0].tool_calls: only assistant messages carry tool calls"},
		{"empty_assistant", body(user(`"x"`) + `,{"role":"assistant","content":null}`), llm.ErrInvalid,
			"messages[1].content: required unless tool_calls is set"},
		{"tool_call_without_id", body(`{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}`),
			llm.ErrInvalid, "messages[0].tool_calls[0].id: required"},
		{"custom_tool_call", body(`{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"f","input":"x"}}]}`),
			llm.ErrUnsupported, `messages[0].tool_calls[0].type: "custom" tool calls are not supported`},
		{"assistant_audio", body(`{"role":"assistant","audio":{"id":"a1"}}`), llm.ErrUnsupported, "messages[0].audio: audio is not supported"},
		{"custom_tool", body(user(`"x"`), `"tools":[{"type":"custom","custom":{"name":"g"}}]`), llm.ErrUnsupported,
			`tools[0].type: "custom" tools are not supported`},
		{"tool_without_function", body(user(`"x"`), `"tools":[{"type":"function"}]`), llm.ErrInvalid, "tools[0].function: required"},
		{"tool_parameters_not_object", body(user(`"x"`), `"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]`),
			llm.ErrInvalid, "tools[0].function.parameters: must be a JSON Schema object"},
		{"named_unknown_tool", body(user(`"x"`), tools, `"tool_choice":{"type":"function","function":{"name":"g"}}`), llm.ErrInvalid,
			`tool_choice.function.name: no tool named "g" is declared`},
		{"required_without_tools", body(user(`"x"`), `"tool_choice":"required"`), llm.ErrInvalid, `tool_choice: "required" needs tools`},
		{"unknown_tool_choice", body(user(`"x"`), tools, `"tool_choice":"always"`), llm.ErrInvalid, `tool_choice: unknown mode "always"`},
		{"allowed_tools", body(user(`"x"`), tools, `"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}`),
			llm.ErrUnsupported, `tool_choice.type: "allowed_tools" is not supported`},
		{"max_tokens_zero", body(user(`"x"`), `"max_completion_tokens":0`), llm.ErrInvalid, "max_completion_tokens: must be at least 1"},
		{"max_tokens_conflict", body(user(`"x"`), `"max_completion_tokens":10`, `"max_tokens":20`), llm.ErrInvalid,
			"max_tokens: conflicts with max_completion_tokens"},
		{"n_zero", body(user(`"x"`), `"n":0`), llm.ErrInvalid, "n: must be at least 1"},
		{"schema_without_name", body(user(`"x"`), `"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}}`),
			llm.ErrInvalid, "response_format.json_schema.name: required"},
		{"schema_description", body(user(`"x"`), `"response_format":{"type":"json_schema","json_schema":{"name":"p","description":"a person"}}`),
			llm.ErrUnsupported, "response_format.json_schema.description: schema descriptions are not supported"},
		{"format_unknown", body(user(`"x"`), `"response_format":{"type":"grammar"}`), llm.ErrUnsupported,
			`response_format.type: "grammar" is not supported`},
		{"legacy_functions", body(user(`"x"`), `"functions":[{"name":"f"}]`), llm.ErrUnsupported,
			"functions: legacy function calling is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr, err := DecodeChatRequest([]byte(tc.body))
			if err == nil {
				_, err = RequestToLLM(cr)
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(fmtErr(err), tc.want) {
				t.Errorf("error = %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

func TestRequestToLLM_ToolTurns(t *testing.T) {
	req := decodeToLLM(t, []byte(`{"model":"m","messages":[
		{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"one"},
		{"role":"tool","tool_call_id":"c9","name":"g","content":"two"},
		{"role":"user","content":"three"},
		{"role":"user","content":"four"}]}`))
	want := []llm.Message{
		{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c1", Name: "f", Arguments: "{}"}}}},
		{Role: llm.RoleUser, Parts: []llm.Part{
			{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "c1", Name: "f", Content: []llm.Part{llm.Text("one")}}},
			{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "c9", Name: "g", Content: []llm.Part{llm.Text("two")}}},
			llm.Text("three"),
		}},
		{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("four")}},
	}
	if diff := cmp.Diff(want, req.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestRequestFromLLM_Errors(t *testing.T) {
	user := func(parts ...llm.Part) []llm.Message { return []llm.Message{{Role: llm.RoleUser, Parts: parts}} }
	img := llm.Part{Kind: llm.PartImage, Image: &llm.Image{URL: "https://x/y.png"}}
	topK := 5
	for _, tc := range []struct {
		name string
		in   llm.Request
		kind error
		want string
	}{
		{"several_choices", llm.Request{N: 2, Messages: user(llm.Text("x"))}, llm.ErrUnsupported, "openai: several choices (n > 1)"},
		{"top_k", llm.Request{TopK: &topK, Messages: user(llm.Text("x"))}, llm.ErrUnsupported, "openai: top_k is not supported"},
		{"other_dialect_fields", llm.Request{Messages: user(llm.Text("x")), Passthrough: map[string]map[string]json.RawMessage{
			"anthropic": {"top_k": json.RawMessage("5"), "anthropic_beta": json.RawMessage(`["x"]`)}}},
			llm.ErrUnsupported, "openai: fields only anthropic understands are not supported: anthropic_beta, top_k"},
		{"passthrough_collision", llm.Request{Messages: user(llm.Text("x")), Passthrough: map[string]map[string]json.RawMessage{
			"openai": {"temperature": json.RawMessage("1")}}}, llm.ErrInvalid, `passthrough field "temperature" collides`},
		{"image_in_system", llm.Request{System: []llm.Part{img}, Messages: user(llm.Text("x"))}, llm.ErrUnsupported,
			"openai: image parts in the system prompt are not supported"},
		{"image_in_tool_result", llm.Request{Messages: user(llm.Part{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "c", Content: []llm.Part{img}}})},
			llm.ErrUnsupported, "openai: image parts in tool results (messages[0]) are not supported"},
		{"image_in_assistant", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{img}}}}, llm.ErrUnsupported,
			"images in assistant messages are not supported"},
		{"inline_image_without_type", llm.Request{Messages: user(llm.Part{Kind: llm.PartImage, Image: &llm.Image{Data: []byte{1}}})}, llm.ErrInvalid,
			"inline image without a media type"},
		{"tool_call_from_user", llm.Request{Messages: user(llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c", Name: "f"}})},
			llm.ErrInvalid, "user messages cannot hold tool_call parts"},
		{"unknown_role", llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.Text("x")}}}}, llm.ErrInvalid,
			`messages[0]: unknown role "system"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestFromLLM(&tc.in)
			if !errors.Is(err, tc.kind) || !strings.Contains(fmtErr(err), tc.want) {
				t.Errorf("error = %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

var testCreated = time.Unix(1700000000, 0)

func TestResponseToLLM_Golden(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/response", ".upstream.json") {
		t.Run(name, func(t *testing.T) {
			var cr ChatResponse
			if err := json.Unmarshal(readFile(t, "testdata/response/"+name+".upstream.json"), &cr); err != nil {
				t.Fatal(err)
			}
			resp, err := ResponseToLLM(&cr)
			if err != nil {
				t.Fatalf("ResponseToLLM: %v", err)
			}
			goldenLLM(t, "testdata/response/"+name+".llm.json", resp)
		})
	}
}

func TestResponseFromLLM_Golden(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/response", ".upstream.json") {
		t.Run(name, func(t *testing.T) {
			var resp llm.Response
			if err := json.Unmarshal(readFile(t, "testdata/response/"+name+".llm.json"), &resp); err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, "testdata/response/"+name+".client.json", ResponseFromLLM(&resp, "gpt-test", testCreated))
		})
	}
}

func TestResponseToLLM_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body  string
		unsupported bool
		want        string
	}{
		{"no_choices", `{"id":"x","choices":[]}`, false, "no choices"},
		{"two_choices", `{"choices":[{"index":0,"message":{"role":"assistant","content":"a"}},{"index":1,"message":{"role":"assistant","content":"b"}}]}`,
			false, "2 choices, expected one"},
		{"audio", `{"choices":[{"message":{"role":"assistant","content":null,"audio":{"id":"a","data":"AA=="}},"finish_reason":"stop"}]}`,
			true, "audio output"},
		{"legacy_function_call", `{"choices":[{"message":{"role":"assistant","function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`,
			false, "legacy function_call"},
		{"custom_tool_call", `{"choices":[{"message":{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"f","input":"x"}}]},"finish_reason":"tool_calls"}]}`,
			false, "tool call 0 is not a function call"},
		{"image_part", `{"choices":[{"message":{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://x"}}]},"finish_reason":"stop"}]}`,
			false, `content part of type "image_url"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cr ChatResponse
			if err := json.Unmarshal([]byte(tc.body), &cr); err != nil {
				t.Fatal(err)
			}
			_, err := ResponseToLLM(&cr)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, llm.ErrUnsupported) != tc.unsupported {
				t.Errorf("error = %v, want one containing %q (unsupported: %v)", err, tc.want, tc.unsupported)
			}
		})
	}
}
