package anthropic

import (
	"encoding/json"
	"testing"

	"switchyard/internal/llm"
)

// benchAnswer is a typical non-streamed text answer.
var benchAnswer = []byte(`{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",` +
	`"content":[{"type":"text","text":"Gateways route requests between clients and the services behind them."}],` +
	`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,` +
	`"cache_read_input_tokens":0,"output_tokens":12,"service_tier":"standard"}}`)

// BenchmarkDecodeAnswer measures reading a text answer, as Chat does,
// and with encoding/json alone.
func BenchmarkDecodeAnswer(b *testing.B) {
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var mr MessagesResponse
			if !decodeTextAnswer(benchAnswer, &mr) {
				b.Fatal("not read")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var mr MessagesResponse
			if err := json.Unmarshal(benchAnswer, &mr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRequestBody measures the translation of a short canonical
// request into a Messages body.
func BenchmarkRequestBody(b *testing.B) {
	a := New(Options{Name: "bench"})
	req := &llm.Request{Model: "claude-3-5-haiku-latest", System: []llm.Part{llm.Text("Answer briefly.")},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("Say something short about gateways.")}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.body(req, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecode measures reading a text delta event.
func BenchmarkStreamDecode(b *testing.B) {
	d := NewStreamDecoder("bench")
	start := []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],` +
		`"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":14,"output_tokens":1}}}`)
	if _, err := d.Decode(EventMessageStart, start); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Decode(EventContentBlockStart, []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)); err != nil {
		b.Fatal(err)
	}
	delta := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word "}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(EventContentBlockDelta, delta); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBodyIsMarshal checks that a translated request body is byte for
// byte what json.Marshal writes for the translated request.
func TestBodyIsMarshal(t *testing.T) {
	a := New(Options{Name: "t"})
	temp := 0.5
	for _, req := range []*llm.Request{
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hi")}}}},
		{Model: "m<&>", System: []llm.Part{llm.Text("be <brief> & \u2028 kind\xff"), {Kind: llm.PartText, Text: "cached", CacheHint: true}},
			Temperature: &temp, Stop: []string{"</end>"}, User: "u&1",
			Messages: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("a\n\"b\"\t<c>")}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("ok"), {Kind: llm.PartToolCall,
					ToolCall: &llm.ToolCall{ID: "c1", Name: "f", Arguments: `{"q":"<x>"}`}}}},
				{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "c1",
					Content: []llm.Part{llm.Text("42 & <more>")}}}}},
			},
			Tools: []llm.Tool{{Name: "f", Description: "find <things>", Parameters: []byte(`{"type":"object","properties":{"q":{"type":"string","description":"<q>"}}}`)}}},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("x")}}},
			Passthrough: map[string]map[string]json.RawMessage{"anthropic": {"service_tier": json.RawMessage(`"auto<"`)}}},
	} {
		for _, stream := range []bool{false, true} {
			got, err := a.body(req, stream)
			if err != nil {
				t.Fatal(err)
			}
			r := *req
			r.Stream = stream
			mr, err := requestFromLLM(&r, a.maxTokens)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(mr)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("body:\n got %s\nwant %s", got, want)
			}
		}
	}
}
