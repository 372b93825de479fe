package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"switchyard/internal/provider/anthropic"
	"switchyard/internal/route"
)

// benchAnthropicAnswer is a typical non-streamed answer of an Anthropic
// channel, as fakecloud and the API send it.
const benchAnthropicAnswer = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",` +
	`"content":[{"type":"text","text":"Gateways route requests between clients and the services behind them."}],` +
	`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,` +
	`"cache_read_input_tokens":0,"output_tokens":12,"service_tier":"standard"}}`

// BenchmarkChatCompletionsTranslated measures one non-streamed OpenAI
// request through the front door and the gateway to an Anthropic channel:
// the translated path, through the canonical model both ways, with the
// key, limits, metrics and access log of BenchmarkChatCompletions.
func BenchmarkChatCompletionsTranslated(b *testing.B) {
	front, secret := newAnthropicFront(b, &http.Client{Transport: cannedUpstream{benchAnthropicAnswer, ""}}, "http://upstream.invalid",
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	body := `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
	benchFront(b, front, secret, body)
}

// BenchmarkChatCompletionsTranslatedStream measures one streamed OpenAI
// request of 50 content chunks through the gateway to an Anthropic
// channel, as BenchmarkChatCompletionsTranslated does a plain one.
func BenchmarkChatCompletionsTranslatedStream(b *testing.B) {
	var sse strings.Builder
	sse.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\"," +
		"\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-haiku-latest\",\"content\":[],\"stop_reason\":null," +
		"\"stop_sequence\":null,\"usage\":{\"input_tokens\":14,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0," +
		"\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n")
	sse.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	sse.WriteString("event: ping\ndata: {\"type\":\"ping\"}\n\n")
	for i := range 50 {
		fmt.Fprintf(&sse, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"+
			"\"delta\":{\"type\":\"text_delta\",\"text\":\"word%d \"}}\n\n", i)
	}
	sse.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	sse.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}," +
		"\"usage\":{\"output_tokens\":50}}\n\n")
	sse.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	front, secret := newAnthropicFront(b, &http.Client{Transport: cannedUpstream{sse.String(), "text/event-stream"}},
		"http://upstream.invalid", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	body := `{"model":"bench-model","stream":true,"stream_options":{"include_usage":true},` +
		`"messages":[{"role":"user","content":"Say something short about gateways."}]}`
	benchFront(b, front, secret, body)
}

// newAnthropicFront is newOpenAIFront with one Anthropic channel at base,
// serving "bench-model" as claude-3-5-haiku-latest.
func newAnthropicFront(tb testing.TB, hc *http.Client, base string, log *slog.Logger) (http.Handler, string) {
	return newBenchFront(tb, anthropic.New(anthropic.Options{Name: "an", BaseURL: base, APIKey: "k", HTTPClient: hc}),
		"anthropic", "claude-3-5-haiku-latest", route.Price{InputPerMTok: 0.8, OutputPerMTok: 4}, log)
}
