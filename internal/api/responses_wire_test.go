package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got, as indented JSON, with a file under testdata/, and
// rewrites the file with -update.
func golden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	goldenBytes(t, path, b)
}

func goldenBytes(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// decodedView is what a decoded request is compared as: the items with
// their IDs (store.Item keeps its ID out of JSON).
type decodedView struct {
	Model              string
	Input              []itemView
	Instructions       string
	PreviousResponseID string
	ConversationID     string
	Store              bool
	Stream             bool
	Metadata           map[string]string
	EncryptedReasoning bool
	Base               llm.Request
	Settings           responseSettings
}

type itemView struct {
	ID string
	store.Item
}

func TestDecodeResponsesRequest(t *testing.T) {
	files, err := filepath.Glob("testdata/responses/request/*.request.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no request fixtures (%v)", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".request.json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := decodeResponsesRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			v := decodedView{Model: r.Model, Instructions: r.Instructions, PreviousResponseID: r.PreviousResponseID,
				ConversationID: r.ConversationID, Store: r.Store, Stream: r.Stream, Metadata: r.Metadata,
				EncryptedReasoning: r.EncryptedReasoning, Base: r.Base, Settings: r.Settings}
			for _, it := range r.Input {
				v.Input = append(v.Input, itemView{ID: it.ID, Item: it})
			}
			golden(t, "testdata/responses/request/"+name+".decoded.json", v)
		})
	}
}

func TestDecodeResponsesRequest_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body  string
		param       string
		message     string
		unsupported bool
	}{
		{"not_an_object", `[1]`, "", "body: expected an object, got an array", false},
		{"instructions_list", `{"model":"m","instructions":[{"role":"system"}]}`, "instructions", "instructions: only a string is supported", true},
		{"stream_options_member", `{"model":"m","stream_options":{"include_usage":true}}`, "stream_options.include_usage",
			"stream_options.include_usage: unknown or unsupported parameter", true},
		{"conversation_without_id", `{"model":"m","conversation":{}}`, "conversation.id", "conversation.id: required", false},
		{"too_much_metadata", `{"model":"m","metadata":{"1":"","2":"","3":"","4":"","5":"","6":"","7":"","8":"","9":"","10":"","11":"","12":"","13":"","14":"","15":"","16":"","17":""}}`,
			"metadata", "metadata: at most 16 keys are allowed, got 17", false},
		{"temperature_range", `{"model":"m","temperature":3}`, "temperature", "temperature: must be between 0 and 2", false},
		{"max_output_tokens_zero", `{"model":"m","max_output_tokens":0}`, "max_output_tokens", "max_output_tokens: must be at least 1", false},
		{"tool_without_name", `{"model":"m","tools":[{"type":"function"}]}`, "tools[0].name", "tools[0].name: required", false},
		{"tool_parameters_not_object", `{"model":"m","tools":[{"type":"function","name":"f","parameters":"x"}]}`, "tools[0].parameters",
			"tools[0].parameters: must be a JSON Schema object", false},
		{"tool_extra_member", `{"model":"m","tools":[{"type":"function","name":"f","defer_loading":true}]}`, "tools[0].defer_loading",
			"tools[0].defer_loading: unknown or unsupported parameter", true},
		{"tool_choice_unknown_function", `{"model":"m","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`,
			"tool_choice.name", `tool_choice.name: no function tool is named "g"`, false},
		{"tool_choice_hosted", `{"model":"m","tool_choice":{"type":"web_search_preview"}}`, "tool_choice.type",
			`tool_choice.type: "web_search_preview" is not supported; use auto, none, required or a function`, true},
		{"tool_choice_mode", `{"model":"m","tool_choice":"any"}`, "tool_choice", `tool_choice: "any" is not one of auto, none, required`, false},
		{"format_description", `{"model":"m","text":{"format":{"type":"json_schema","name":"n","schema":{},"description":"d"}}}`,
			"text.format.description", "text.format.description: schema descriptions are not supported", true},
		{"format_without_schema", `{"model":"m","text":{"format":{"type":"json_schema","name":"n"}}}`, "text.format.schema",
			"text.format.schema: must be a JSON Schema object", false},
		{"verbosity", `{"model":"m","text":{"verbosity":"low"}}`, "text.verbosity",
			`text.verbosity: "low" is not supported on every channel; leave it unset`, true},
		{"reasoning_summary", `{"model":"m","reasoning":{"effort":"low","summary":"auto"}}`, "reasoning.summary",
			"reasoning.summary: reasoning summaries are not supported", true},
		{"include_logprobs", `{"model":"m","include":["message.output_text.logprobs"]}`, "include[0]",
			`include[0]: "message.output_text.logprobs" is not supported`, true},
		{"truncation_auto", `{"model":"m","truncation":"auto"}`, "truncation", `truncation: "auto" is not supported; the whole history is sent`, true},
		{"service_tier_flex", `{"model":"m","service_tier":"flex"}`, "service_tier", `service_tier: "flex" is not supported`, true},
		{"top_logprobs", `{"model":"m","top_logprobs":3}`, "top_logprobs", "top_logprobs: log probabilities are not supported", true},
		{"input_number", `{"model":"m","input":3}`, "input", "input: expected a string or an array of items, got a number", false},
		{"item_not_object", `{"model":"m","input":["hi"]}`, "input[0]", "input[0]: expected an item object", false},
		{"item_without_type", `{"model":"m","input":[{"content":"x"}]}`, "input[0].type", "input[0].type: required", false},
		{"message_role_tool", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role",
			`input[0].role: "tool" is not one of user, assistant, system, developer`, false},
		{"message_member", `{"model":"m","input":[{"role":"user","content":"x","phase":"final"}]}`, "input[0].phase",
			"input[0].phase: unknown or unsupported parameter", true},
		{"message_content_number", `{"model":"m","input":[{"role":"user","content":1}]}`, "input[0].content",
			"input[0].content: expected a string or an array of content parts", false},
		{"output_text_from_user", `{"model":"m","input":[{"role":"user","content":[{"type":"output_text","text":"x"}]}]}`,
			"input[0].content[0].type", "input[0].content[0].type: output_text is only allowed in assistant messages", false},
		{"refusal_from_user", `{"model":"m","input":[{"role":"user","content":[{"type":"refusal","refusal":"no"}]}]}`,
			"input[0].content[0].type", "input[0].content[0].type: refusal is only allowed in assistant messages", false},
		{"annotations", `{"model":"m","input":[{"role":"assistant","content":[{"type":"output_text","text":"x","annotations":[{"type":"url_citation"}]}]}]}`,
			"input[0].content[0].annotations", "input[0].content[0].annotations: annotations are not supported", true},
		{"image_file", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`,
			"input[0].content[0].file_id", "input[0].content[0].file_id: file inputs are not supported; send an image_url", true},
		{"image_detail", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png","detail":"max"}]}]}`,
			"input[0].content[0].detail", `input[0].content[0].detail: "max" is not one of auto, low, high`, false},
		{"image_without_url", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image"}]}]}`,
			"input[0].content[0].image_url", "input[0].content[0].image_url: required", false},
		{"call_without_name", `{"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]}`,
			"input[0]", "input[0]: call_id and name are required", false},
		{"output_without_call_id", `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`,
			"input[0].call_id", "input[0].call_id: required", false},
		{"output_object", `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":{"a":1}}]}`,
			"input[0].output", "input[0].output: expected a string or an array of content parts", false},
		{"reasoning_summary_type", `{"model":"m","input":[{"type":"reasoning","summary":[{"type":"text","text":"x"}]}]}`,
			"input[0].summary[0].type", "input[0].summary[0].type: expected summary_text", false},
		{"foreign_encrypted_content", `{"model":"m","input":[{"type":"reasoning","summary":[],"encrypted_content":"gAAAAB"}]}`,
			"input[0].encrypted_content", "input[0].encrypted_content: not produced by this gateway", false},
		{"item_reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type",
			"input[0]: item references are not supported; send the item itself", true},
		{"item_status", `{"model":"m","input":[{"role":"user","content":"x","status":"done"}]}`, "input[0].status",
			`input[0].status: "done" is not one of in_progress, completed, incomplete`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeResponsesRequest([]byte(tc.body))
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v, want an API error", err)
			}
			if ae.Status != 400 || ae.Param != tc.param || ae.Message != tc.message {
				t.Errorf("got %d param %q message %q\nwant 400 param %q message %q", ae.Status, ae.Param, ae.Message, tc.param, tc.message)
			}
			want := llm.ErrInvalid
			if tc.unsupported {
				want = llm.ErrUnsupported
			}
			if !errors.Is(err, want) {
				t.Errorf("error does not wrap %v", want)
			}
		})
	}
}

func TestReasoningEnvelope(t *testing.T) {
	it := &store.Item{Signature: "c2ln", Redacted: "cmVk"}
	sealed := sealReasoning(it)
	sig, red, ok := openReasoning(sealed)
	if !ok || sig != it.Signature || red != it.Redacted || !strings.HasPrefix(sealed, reasoningEnvelopePrefix) {
		t.Errorf("sealed %q opened as %q %q %v", sealed, sig, red, ok)
	}
	if sealReasoning(&store.Item{}) != "" {
		t.Error("unsigned reasoning got an envelope")
	}
	for _, bad := range []string{"", "sy1.", "sy1.!!", "sy1." + "bm90IGpzb24", "sy2.e30"} {
		if _, _, ok := openReasoning(bad); ok {
			t.Errorf("openReasoning(%q) accepted it", bad)
		}
	}
}

// TestRenderItems pins the wire shape of every item kind.
func TestRenderItems(t *testing.T) {
	items := []store.Item{
		{ID: "msg_1", Type: store.ItemMessage, Status: "completed", Role: "user", Content: []store.Content{
			{Type: store.ContentInputText, Text: "look"}, {Type: store.ContentInputImage, ImageURL: "https://x/y.png"}}},
		{ID: "msg_2", Type: store.ItemMessage, Status: "incomplete", Role: "assistant", Content: []store.Content{
			{Type: store.ContentOutputText, Text: "a cat"}, {Type: store.ContentRefusal, Text: "no more"}}},
		{ID: "rs_1", Type: store.ItemReasoning, Status: "completed", Content: []store.Content{{Type: store.ContentReasoningText, Text: "hmm"}},
			Summary: []string{"thought"}, Signature: "sig"},
		{ID: "fc_1", Type: store.ItemFunctionCall, Status: "completed", CallID: "call_1", Name: "f", Arguments: `{"a":1}`},
		{ID: "fco_1", Type: store.ItemFunctionCallOutput, Status: "completed", CallID: "call_1", Output: "done"},
		{ID: "fco_2", Type: store.ItemFunctionCallOutput, Status: "completed", CallID: "call_1",
			OutputParts: []store.Content{{Type: store.ContentInputText, Text: "part"}}},
	}
	var buf bytes.Buffer
	for _, encrypted := range []bool{false, true} {
		for _, w := range wireItems(items, encrypted) {
			b, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
	}
	goldenBytes(t, "testdata/responses/items.jsonl", buf.Bytes())
	if _, err := json.Marshal(wireItem{it: &store.Item{ID: "x", Type: "web_search_call"}}); err == nil {
		t.Error("rendering an unknown item type succeeded")
	}
}

// FuzzDecodeResponsesRequest: any body either fails with a client error
// or decodes into items every store accepts and every renderer can show.
func FuzzDecodeResponsesRequest(f *testing.F) {
	files, _ := filepath.Glob("testdata/responses/request/*.request.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"x"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponsesRequest(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 || !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if r.Model == "" {
			t.Fatal("decoded a request without a model")
		}
		if _, err := json.Marshal(r.Settings); err != nil {
			t.Fatalf("settings do not encode: %v", err)
		}
		for i := range r.Input {
			it := &r.Input[i]
			it.ID = "x"
			if it.Type == "" || it.Status == "" {
				t.Fatalf("item %d without type or status: %+v", i, it)
			}
			if _, err := json.Marshal(wireItem{it: it, encrypted: true}); err != nil {
				t.Fatalf("item %d does not render: %v", i, err)
			}
		}
	})
}
