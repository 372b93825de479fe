package openai

import (
	"encoding/json"
	"testing"
)

// BenchmarkRawChatBody measures the fast path's edit of a typical chat
// request body (model renamed, usage asked for on a stream).
func BenchmarkRawChatBody(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},` +
		`{"role":"user","content":"Say something short about gateways, and mention one thing they do well."}],` +
		`"temperature":0.2,"max_tokens":256,"tools":[{"type":"function","function":{"name":"lookup","description":"Look a word up",` +
		`"parameters":{"type":"object","properties":{"word":{"type":"string"}},"required":["word"]}}}]}`)
	for _, stream := range []bool{false, true} {
		name := "plain"
		if stream {
			name = "stream"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := rawChatBody(body, "gpt-4o-mini-prod", stream); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeChatRequest measures the front door's strict decoding of
// a typical chat request.
func BenchmarkDecodeChatRequest(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},` +
		`{"role":"user","content":[{"type":"text","text":"Say something short about gateways."}]}],` +
		`"temperature":0.2,"max_tokens":256,"tools":[{"type":"function","function":{"name":"lookup","description":"Look a word up",` +
		`"parameters":{"type":"object","properties":{"word":{"type":"string"}},"required":["word"]}}}]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeChatRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAnswer compares reading a typical text answer by walking
// its bytes (decodeTextAnswer) with encoding/json.
func BenchmarkDecodeAnswer(b *testing.B) {
	body := []byte(textAnswers[0])
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !decodeTextAnswer(body, new(ChatResponse)) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var cr ChatResponse
			if err := json.Unmarshal(body, &cr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
