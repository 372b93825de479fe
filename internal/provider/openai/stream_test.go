package openai

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/providertest"
	"switchyard/internal/sse"
)

// decodeStream runs a recorded upstream stream through a StreamDecoder, as
// the adapter does, and returns the events up to the first error.
func decodeStream(stream []byte) ([]llm.Event, error) {
	d := NewStreamDecoder("test")
	rd := sse.NewReader(bytes.NewReader(stream))
	var evs []llm.Event
	for !d.Done() {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return d.End(evs)
		}
		if err != nil {
			return evs, err
		}
		if evs, err = d.Decode(evs, ev.Data); err != nil {
			return evs, err
		}
	}
	return evs, nil
}

func TestStreamDecoder_Golden(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/stream", ".sse") {
		t.Run(name, func(t *testing.T) {
			evs, err := decodeStream(readFile(t, "testdata/stream/"+name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, evs)
			goldenLLM(t, "testdata/stream/"+name+".events.json", evs)
		})
	}
}

// checkEvents checks the llm.Stream contract: EventStart first, EventStop
// last, part indexes numbered densely in order of first appearance, and a
// part's kind never changing.
func checkEvents(t *testing.T, evs []llm.Event) {
	t.Helper()
	if len(evs) < 2 || evs[0].Kind != llm.EventStart || evs[len(evs)-1].Kind != llm.EventStop {
		t.Fatalf("events must run from start to stop: %v", evs)
	}
	if evs[len(evs)-1].Usage == nil {
		t.Errorf("stop event has no usage")
	}
	kinds := map[int]llm.EventKind{}
	for _, ev := range evs[1 : len(evs)-1] {
		if k, seen := kinds[ev.Index]; seen {
			if k != ev.Kind {
				t.Errorf("part %d changes kind from %s to %s", ev.Index, k, ev.Kind)
			}
			continue
		}
		if ev.Index != len(kinds) {
			t.Errorf("part %d appears after %d parts", ev.Index, len(kinds))
		}
		kinds[ev.Index] = ev.Kind
	}
}

func TestStreamDecoder_Accumulates(t *testing.T) {
	evs, err := decodeStream(readFile(t, "testdata/stream/tools_fragments.sse"))
	if err != nil {
		t.Fatal(err)
	}
	var acc llm.Accumulator
	for _, ev := range evs {
		acc.Add(ev)
	}
	want := &llm.Response{
		ID:    "chatcmpl-3",
		Model: "gpt-4o",
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_paris", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_rome", Name: "get_weather", Arguments: `{"city":"Rome"}`}},
		}},
		FinishReason: llm.FinishToolCalls,
		Usage:        llm.Usage{InputTokens: 80, OutputTokens: 40},
	}
	if diff := cmp.Diff(want, acc.Response()); diff != "" {
		t.Errorf("accumulated response (-want +got):\n%s", diff)
	}
}

func TestStreamDecoder_Errors(t *testing.T) {
	const (
		role  = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
		text  = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}` + "\n\n"
		stop  = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
		done  = "data: [DONE]\n\n"
		usage = `data: {"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}` + "\n\n"
	)
	for _, tc := range []struct {
		name    string
		stream  string
		kind    provider.Kind
		message string
		events  int // events returned before the error
	}{
		{"cut_without_finish", role + text, provider.KindBadResponse, "upstream stream ended before [DONE]", 2},
		{"cut_after_finish_without_usage", role + text + stop, provider.KindBadResponse, "upstream stream ended before [DONE]", 2},
		{"done_without_finish", role + text + done, provider.KindBadResponse, "upstream stream ended without a finish reason", 2},
		{"usage_without_finish", role + text + usage, provider.KindBadResponse, "upstream stream ended before [DONE]", 2},
		{"server_error", role + text + `data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n",
			provider.KindUnavailable, "The server had an error while processing your request.", 2},
		{"rate_limited", role + `data: {"error":{"message":"Rate limit reached for key sk-proj-abcdef123456","type":"requests","code":"rate_limit_exceeded"}}` + "\n\n",
			provider.KindRateLimited, "Rate limit reached for key [redacted]", 1},
		{"numeric_code", role + `data: {"error":{"object":"error","message":"bad","type":"BadRequestError","code":400}}` + "\n\n",
			provider.KindBadRequest, "bad", 1},
		{"string_error", `data: {"error":"model crashed"}` + "\n\n", provider.KindBadResponse, "model crashed", 0},
		{"malformed_json", role + `data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"` + "\n\n", provider.KindBadResponse, "upstream malformed stream chunk", 1},
		{"wrong_types", role + `data: {"id":"c","choices":[{"index":0,"delta":{"content":5}}]}` + "\n\n", provider.KindBadResponse, "upstream malformed stream chunk", 1},
		{"second_choice", role + `data: {"id":"c","choices":[{"index":1,"delta":{"content":"x"}}]}` + "\n\n", provider.KindBadResponse, "choice 1", 1},
		{"audio", role + `data: {"id":"c","choices":[{"index":0,"delta":{"audio":{"id":"a","data":"AA=="}}}]}` + "\n\n", provider.KindBadResponse, "audio", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := decodeStream([]byte(tc.stream))
			if len(evs) != tc.events {
				t.Errorf("%d events before the error, want %d: %v", len(evs), tc.events, evs)
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *provider.Error", err)
			}
			if pe.Kind != tc.kind || !strings.Contains(pe.Message, tc.message) || pe.Provider != "test" {
				t.Errorf("error = %+v, want kind %v and a message containing %q", pe, tc.kind, tc.message)
			}
			if strings.Contains(pe.Error(), "sk-proj") {
				t.Errorf("error leaks a key: %v", pe)
			}
		})
	}
}

func TestStreamDecoder_NumbersPartsByFirstEvent(t *testing.T) {
	d := NewStreamDecoder("test")
	var evs []llm.Event
	for _, payload := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"function":{"arguments":""}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"Checking."}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		"[DONE]",
	} {
		var err error
		if evs, err = d.Decode(evs, []byte(payload)); err != nil {
			t.Fatalf("Decode(%s): %v", payload, err)
		}
	}
	checkEvents(t, evs)
	want := []llm.Event{
		{Kind: llm.EventStart, ID: "c"},
		{Kind: llm.EventTextDelta, Index: 0, Text: "Checking."},
		{Kind: llm.EventToolCallDelta, Index: 1, ToolCall: &llm.ToolCallDelta{ID: "call_1", Name: "f", Arguments: "{}"}},
		{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{}},
	}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestStreamDecoder_IgnoresAfterDone(t *testing.T) {
	d := NewStreamDecoder("test")
	var evs []llm.Event
	for _, payload := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}`, "[DONE]", `{"error":{"message":"late"}}`, "garbage",
	} {
		var err error
		if evs, err = d.Decode(evs, []byte(payload)); err != nil {
			t.Fatalf("Decode(%s): %v", payload, err)
		}
	}
	if evs, err := d.End(evs); err != nil || len(evs) != 3 {
		t.Errorf("End = %v, %v; want start, text and stop", evs, err)
	}
}

func TestStreamEncoder_Sequence(t *testing.T) {
	events := []llm.Event{
		{Kind: llm.EventStart, ID: "msg_01", Model: "claude-upstream"},
		{Kind: llm.EventReasoningDelta, Index: 0, Text: "thinking"},
		{Kind: llm.EventTextDelta, Index: 1, Text: "Hel"},
		{Kind: llm.EventTextDelta, Index: 1, Text: ""},
		{Kind: llm.EventTextDelta, Index: 1, Text: "lo"},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{ID: "call_1", Name: "get_weather"}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `{"city":`}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `"Paris"}`}},
		{Kind: llm.EventToolCallDelta, Index: 3, ToolCall: &llm.ToolCallDelta{ID: "call_2", Name: "get_time", Arguments: `{"tz":"UTC"}`}},
		{Kind: llm.EventToolCallDelta, Index: 4, ToolCall: &llm.ToolCallDelta{ID: "call_3", Name: "ping"}},
		{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{InputTokens: 10, OutputTokens: 5, CachedInputTokens: 4, ReasoningTokens: 2}},
	}
	const head = `{"id":"chatcmpl-msg_01","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test","choices":[{"index":0,`
	chunk := func(delta, finish string) string {
		return head + `"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}]}`
	}
	want := []string{
		chunk(`{"role":"assistant","content":""}`, "null"),
		chunk(`{"content":"Hel"}`, "null"),
		chunk(`{"content":"lo"}`, "null"),
		chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null"),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`, "null"),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, "null"),
		chunk(`{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]}`, "null"),
		chunk(`{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"UTC\"}"}}]}`, "null"),
		chunk(`{"tool_calls":[{"index":2,"id":"call_3","type":"function","function":{"name":"ping","arguments":""}}]}`, "null"),
		chunk(`{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]}`, "null"),
		chunk(`{}`, `"tool_calls"`),
	}
	usage := `{"id":"chatcmpl-msg_01","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test","choices":[],` +
		`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},` +
		`"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`
	for _, tc := range []struct {
		name         string
		includeUsage bool
		want         []string
	}{
		{"without_usage", false, append(want, "[DONE]")},
		{"with_usage", true, append(withNullUsage(want), usage, "[DONE]")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := NewStreamEncoder("msg_01", "gpt-test", testCreated, tc.includeUsage)
			payloads, err := encodeAll(enc, events)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range payloads {
				got = append(got, string(p))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("payloads (-want +got):\n%s", diff)
			}
		})
	}
}

// encodeAll encodes a whole stream: the payloads of every event, then
// those that end the stream.
func encodeAll(enc *StreamEncoder, events []llm.Event) ([][]byte, error) {
	var out [][]byte
	for _, ev := range events {
		payloads, err := enc.Encode(ev)
		if err != nil {
			return nil, fmt.Errorf("encoding %v: %w", ev, err)
		}
		out = append(out, payloads...)
	}
	return append(out, enc.Done()...), nil
}

// withNullUsage adds "usage":null to every chunk, as OpenAI does when the
// client asked for usage.
func withNullUsage(chunks []string) []string {
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = strings.TrimSuffix(c, "}") + `,"usage":null}`
	}
	return out
}

func TestStreamEncoder_Errors(t *testing.T) {
	enc := NewStreamEncoder("chatcmpl-1", "m", time.Unix(0, 0), false)
	if _, err := enc.Encode(llm.Event{Kind: llm.EventToolCallDelta, Index: 0, ToolCall: &llm.ToolCallDelta{Arguments: "{}"}}); err == nil {
		t.Error("a tool call without a name was encoded")
	}
	if _, err := enc.Encode(llm.Event{Kind: llm.EventKind(99)}); err == nil {
		t.Error("an unknown event kind was encoded")
	}
	if _, err := enc.Encode(llm.Event{Kind: llm.EventStop, FinishReason: llm.FinishStop}); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(llm.Event{Kind: llm.EventTextDelta, Text: "late"}); err == nil {
		t.Error("an event after the stop was encoded")
	}
}

func TestErrorChunk(t *testing.T) {
	for _, tc := range []struct {
		name, code, want string
	}{
		{"with_code", "rate_limit_exceeded", `{"error":{"message":"Slow down.","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{"without_code", "", `{"error":{"message":"Slow down.","type":"rate_limit_error","param":null,"code":null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(ErrorChunk("Slow down.", "rate_limit_error", tc.code)); got != tc.want {
				t.Errorf("ErrorChunk = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFinishFromLLM(t *testing.T) {
	for in, want := range map[llm.FinishReason]string{
		llm.FinishStop: "stop", llm.FinishStopSequence: "stop", llm.FinishLength: "length", llm.FinishToolCalls: "tool_calls",
		llm.FinishContentFilter: "content_filter", llm.FinishRefusal: "content_filter", "": "stop", "other": "stop",
	} {
		if got := finishFromLLM(in); got != want {
			t.Errorf("finishFromLLM(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTextChunkIsMarshal checks that a content delta's chunk, written
// around the text, is byte for byte the chunk encoding/json writes.
func TestTextChunkIsMarshal(t *testing.T) {
	created := time.Unix(1733000000, 0)
	for _, id := range []string{"chatcmpl-1", `odd "id" <&>`} {
		for _, model := range []string{"gpt-4o-mini", "m\u2028\xff"} {
			for _, usage := range []bool{false, true} {
				e := NewStreamEncoder(id, model, created, usage)
				for _, text := range []string{"word ", `"delta":{"content":""}`, "<b>\n\t\x00é🎉\u2029\xff", "x"} {
					got := e.textChunk(text)
					want := e.chunk(&Delta{Content: &text}, nil)
					if string(got) != string(want) {
						t.Errorf("textChunk(%q) with id %q, model %q, usage %v:\n got %s\nwant %s", text, id, model, usage, got, want)
					}
				}
			}
		}
	}
}
