package openai

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"switchyard/internal/llm"
)

// BenchmarkResponseFromLLM measures writing a short text answer for an
// OpenAI client, from the canonical answer to its JSON.
func BenchmarkResponseFromLLM(b *testing.B) {
	r := &llm.Response{ID: "msg_1", Message: llm.Message{Role: llm.RoleAssistant,
		Parts: []llm.Part{llm.Text("Gateways route requests between clients and the services behind them.")}},
		FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 14, OutputTokens: 12}}
	created := time.Unix(1733000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(ResponseFromLLM(r, "bench-model", created)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestResponseFromLLM checks the answer written for an OpenAI client:
// text parts joined into content, tool calls, usage with its details.
func TestResponseFromLLM(t *testing.T) {
	created := time.Unix(1733000000, 0)
	for _, tc := range []struct {
		parts []llm.Part
		want  string
	}{
		{nil, `{"id":"chatcmpl-x","object":"chat.completion","created":1733000000,"model":"m","choices":[{"index":0,` +
			`"message":{"role":"assistant","content":null,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":14,"completion_tokens":12,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":4,` +
			`"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,` +
			`"rejected_prediction_tokens":0}}}`},
		{[]llm.Part{llm.Text("one")}, `"content":"one"`},
		{[]llm.Part{llm.Text("one, "), {Kind: llm.PartReasoning, Text: "hmm"}, llm.Text("two")}, `"content":"one, two"`},
		{[]llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c", Name: "f"}}},
			`"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]`},
	} {
		r := &llm.Response{ID: "x", Message: llm.Message{Role: llm.RoleAssistant, Parts: tc.parts}, FinishReason: llm.FinishStop,
			Usage: llm.Usage{InputTokens: 14, OutputTokens: 12, CachedInputTokens: 4, ReasoningTokens: 2}}
		got, err := json.Marshal(ResponseFromLLM(r, "m", created))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got), tc.want) {
			t.Errorf("ResponseFromLLM(%v) = %s, want it to hold %s", tc.parts, got, tc.want)
		}
	}
}
