package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/providertest"
	"switchyard/internal/sse"
)

// streamResult is what decoding a recorded stream yields, for goldens.
type streamResult struct {
	Events []llm.Event
	Error  *streamError `json:",omitempty"`
}

type streamError struct {
	Kind    string
	Message string
	Err     string
}

// decodeStream runs the SSE reader and the decoder over a recorded
// upstream body, as the adapter's stream does.
func decodeStream(body []byte) streamResult {
	var res streamResult
	rd := sse.NewReader(bytes.NewReader(body))
	dec := NewStreamDecoder("test")
	fail := func(err error) streamResult {
		var pe *provider.Error
		if errors.As(err, &pe) {
			res.Error = &streamError{Kind: pe.Kind.String(), Message: pe.Message, Err: fmt.Sprint(pe.Err)}
		} else {
			res.Error = &streamError{Kind: "not a provider error", Err: err.Error()}
		}
		return res
	}
	for !dec.Stopped() {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if err := dec.End(); err != nil {
				return fail(err)
			}
			break
		}
		if err != nil {
			return fail(err)
		}
		evs, err := dec.Decode(ev.Type, ev.Data)
		if err != nil {
			return fail(err)
		}
		res.Events = append(res.Events, evs...)
	}
	return res
}

func TestStreamDecoder_Golden(t *testing.T) {
	const dir = "testdata/stream/"
	for _, name := range providertest.Cases(t, dir, ".sse") {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(dir + name + ".sse")
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, dir+name+".events.json", decodeStream(body))
		})
	}
}

func TestStreamDecoder_ErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		errType string
		kind    provider.Kind
	}{
		{"overloaded_error", provider.KindOverloaded},
		{"rate_limit_error", provider.KindRateLimited},
		{"api_error", provider.KindUnavailable},
		{"timeout_error", provider.KindTimeout},
		{"invalid_request_error", provider.KindBadRequest},
		{"authentication_error", provider.KindAuth},
		{"permission_error", provider.KindPermission},
		{"billing_error", provider.KindPermission},
		{"not_found_error", provider.KindNotFound},
		{"request_too_large", provider.KindBadRequest},
		{"brand_new_error", provider.KindUnavailable},
	} {
		t.Run(tc.errType, func(t *testing.T) {
			dec := NewStreamDecoder("anthropic-main")
			_, err := dec.Decode("error", fmt.Appendf(nil, `{"type":"error","error":{"type":%q,"message":"m"}}`, tc.errType))
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Provider != "anthropic-main" {
				t.Errorf("err = %#v, want kind %v", err, tc.kind)
			}
		})
	}
}

func TestStreamDecoder_EventsAfterStopIgnored(t *testing.T) {
	body, err := os.ReadFile("testdata/stream/text_with_pings.sse")
	if err != nil {
		t.Fatal(err)
	}
	dec := NewStreamDecoder("t")
	rd := sse.NewReader(bytes.NewReader(body))
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if _, err := dec.Decode(ev.Type, ev.Data); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := dec.Decode("content_block_delta", []byte(`garbage`))
	if evs != nil || err != nil {
		t.Errorf("after stop: %v, %v; want nothing", evs, err)
	}
}

// sampleEvents is a stream with every kind of block, in the canonical
// model.
func sampleEvents() []llm.Event {
	return []llm.Event{
		{Kind: llm.EventStart, ID: "msg_gw", Model: "upstream-model"},
		{Kind: llm.EventReasoningDelta, Index: 0, Text: "Let me "},
		{Kind: llm.EventReasoningDelta, Index: 0, Text: "think."},
		{Kind: llm.EventReasoningDelta, Index: 0, Signature: "sig-1"},
		{Kind: llm.EventTextDelta, Index: 1, Text: ""},
		{Kind: llm.EventTextDelta, Index: 1, Text: "Hello <b>&</b>"},
		{Kind: llm.EventTextDelta, Index: 1, Text: " world"},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{ID: "call_1", Name: "get_weather"}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `{"city":`}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `"Paris"}`}},
		{Kind: llm.EventToolCallDelta, Index: 3, ToolCall: &llm.ToolCallDelta{ID: "call_2", Name: "get_time", Arguments: `{}`}},
		{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{InputTokens: 1100, OutputTokens: 40, CachedInputTokens: 1000, CacheWriteTokens: 60, ReasoningTokens: 12}},
	}
}

func encodeAll(t *testing.T, enc *StreamEncoder, evs []llm.Event) []Frame {
	t.Helper()
	var frames []Frame
	for _, ev := range evs {
		f, err := enc.Encode(ev)
		if err != nil {
			t.Fatalf("Encode(%v): %v", ev.Kind, err)
		}
		frames = append(frames, f...)
	}
	return frames
}

func sseBytes(frames []Frame) []byte {
	var buf bytes.Buffer
	for _, f := range frames {
		fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", f.Event, f.Data)
	}
	return buf.Bytes()
}

// sdkServer serves frames (streaming) or body (JSON) to the official SDK.
func sdkServer(t *testing.T, frames []Frame, body any) anthropic.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/messages" {
			http.NotFound(w, r)
			return
		}
		if frames != nil {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(sseBytes(frames))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0), option.WithHTTPClient(srv.Client()))
}

var sdkParams = anthropic.MessageNewParams{
	Model:     "claude-gateway",
	MaxTokens: 100,
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
}

// sdkStream reads a stream with the official SDK client and accumulates
// it the way its documentation says to.
func sdkStream(t *testing.T, frames []Frame) (anthropic.Message, []string, error) {
	t.Helper()
	client := sdkServer(t, frames, nil)
	stream := client.Messages.NewStreaming(context.Background(), sdkParams)
	defer stream.Close()
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			return msg, types, err
		}
	}
	return msg, types, stream.Err()
}

type sdkBlock struct{ Type, Text, Thinking, Signature, ID, Name, Input string }

func sdkBlocks(m anthropic.Message) []sdkBlock {
	var out []sdkBlock
	for _, c := range m.Content {
		out = append(out, sdkBlock{c.Type, c.Text, c.Thinking, c.Signature, c.ID, c.Name, string(c.Input)})
	}
	return out
}

func TestStreamEncoder_SDK(t *testing.T) {
	frames := encodeAll(t, NewStreamEncoder("claude-gateway"), sampleEvents())
	msg, types, err := sdkStream(t, frames)
	if err != nil {
		t.Fatalf("SDK stream: %v", err)
	}
	wantTypes := []string{
		"message_start",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop",
	}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("event order (-want +got):\n%s", diff)
	}
	want := []sdkBlock{
		{Type: "thinking", Thinking: "Let me think.", Signature: "sig-1"},
		{Type: "text", Text: "Hello <b>&</b> world"},
		{Type: "tool_use", ID: "call_1", Name: "get_weather", Input: `{"city":"Paris"}`},
		{Type: "tool_use", ID: "call_2", Name: "get_time", Input: `{}`},
	}
	if diff := cmp.Diff(want, sdkBlocks(msg)); diff != "" {
		t.Errorf("accumulated content (-want +got):\n%s", diff)
	}
	if msg.ID != "msg_gw" || msg.Model != "claude-gateway" || msg.StopReason != anthropic.StopReasonToolUse {
		t.Errorf("message = %q %q %q", msg.ID, msg.Model, msg.StopReason)
	}
	u := msg.Usage
	if u.InputTokens != 40 || u.CacheReadInputTokens != 1000 || u.CacheCreationInputTokens != 60 || u.OutputTokens != 40 || u.OutputTokensDetails.ThinkingTokens != 12 {
		t.Errorf("usage = in %d read %d write %d out %d thinking %d", u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens, u.OutputTokensDetails.ThinkingTokens)
	}
}

// TestStreamEncoder_MatchesResponseFromLLM checks that streaming an answer
// and sending it whole give an SDK user the same message.
func TestStreamEncoder_MatchesResponseFromLLM(t *testing.T) {
	resp := &llm.Response{
		ID: "msg_x", Model: "up",
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Kind: llm.PartReasoning, Text: "hmm", Signature: "s"},
			llm.Text("The answer"),
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c", Name: "f", Arguments: `{"a":[1,2]}`}},
		}},
		FinishReason: llm.FinishStopSequence, StopSequence: "###",
		Usage: llm.Usage{InputTokens: 30, OutputTokens: 9, CachedInputTokens: 10},
	}
	streamed, _, err := sdkStream(t, encodeAll(t, NewStreamEncoder("claude-gateway"), llm.ResponseEvents(resp)))
	if err != nil {
		t.Fatal(err)
	}
	client := sdkServer(t, nil, ResponseFromLLM(resp, "claude-gateway"))
	whole, err := client.Messages.New(context.Background(), sdkParams)
	if err != nil {
		t.Fatalf("SDK Messages.New: %v", err)
	}
	if diff := cmp.Diff(sdkBlocks(*whole), sdkBlocks(streamed)); diff != "" {
		t.Errorf("content (-whole +streamed):\n%s", diff)
	}
	type summary struct {
		ID, Model, StopReason, StopSequence string
		In, Out, Read, Write                int64
	}
	sum := func(m anthropic.Message) summary {
		return summary{m.ID, m.Model, string(m.StopReason), m.StopSequence, m.Usage.InputTokens, m.Usage.OutputTokens, m.Usage.CacheReadInputTokens, m.Usage.CacheCreationInputTokens}
	}
	if diff := cmp.Diff(sum(*whole), sum(streamed)); diff != "" {
		t.Errorf("message (-whole +streamed):\n%s", diff)
	}
	if got := sum(streamed); got.StopReason != "stop_sequence" || got.StopSequence != "###" || got.In != 20 || got.Read != 10 {
		t.Errorf("streamed = %+v", got)
	}
}

// TestStream_RoundTrip decodes the encoder's frames with the decoder: a
// gateway in front of a gateway sees the same answer.
func TestStream_RoundTrip(t *testing.T) {
	evs := sampleEvents()
	res := decodeStream(sseBytes(encodeAll(t, NewStreamEncoder("m"), evs)))
	if res.Error != nil {
		t.Fatalf("decoding: %+v", res.Error)
	}
	var want, got llm.Accumulator
	for _, ev := range evs {
		want.Add(ev)
	}
	for _, ev := range res.Events {
		got.Add(ev)
	}
	w, g := want.Response(), got.Response()
	w.Model = "m"
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestStreamEncoder_ImplicitStart(t *testing.T) {
	frames := encodeAll(t, NewStreamEncoder("m"), []llm.Event{
		{Kind: llm.EventTextDelta, Index: 0, Text: "hi"},
		{Kind: llm.EventStop, FinishReason: llm.FinishStop},
	})
	msg, _, err := sdkStream(t, frames)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]sdkBlock{{Type: "text", Text: "hi"}}, sdkBlocks(msg)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("stop reason = %q", msg.StopReason)
	}
}

func TestStreamEncoder_Errors(t *testing.T) {
	start := llm.Event{Kind: llm.EventStart, ID: "m"}
	for _, tc := range []struct {
		name string
		evs  []llm.Event
		want string
	}{
		{"closed_part", []llm.Event{start, {Kind: llm.EventTextDelta, Index: 0, Text: "a"}, {Kind: llm.EventTextDelta, Index: 1, Text: "b"}, {Kind: llm.EventTextDelta, Index: 0, Text: "c"}}, "after part 1 started"},
		{"kind_change", []llm.Event{start, {Kind: llm.EventTextDelta, Index: 0, Text: "a"}, {Kind: llm.EventReasoningDelta, Index: 0, Text: "b"}}, "whose block is text_delta"},
		{"after_stop", []llm.Event{start, {Kind: llm.EventStop}, {Kind: llm.EventTextDelta, Text: "late"}}, "after stop"},
		{"second_start", []llm.Event{start, start}, "second start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := NewStreamEncoder("m")
			var err error
			for _, ev := range tc.evs {
				if _, err = enc.Encode(ev); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestErrorFrame_SDK(t *testing.T) {
	enc := NewStreamEncoder("m")
	frames := encodeAll(t, enc, []llm.Event{{Kind: llm.EventStart, ID: "x"}, {Kind: llm.EventTextDelta, Text: "part"}})
	frames = append(frames, ErrorFrame("overloaded_error", "Upstream overloaded"))
	_, _, err := sdkStream(t, frames)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *anthropic.Error", err)
	}
	if apiErr.Type() != anthropic.ErrorTypeOverloadedError || !strings.Contains(apiErr.RawJSON(), "Upstream overloaded") {
		t.Errorf("error type %q, body %s", apiErr.Type(), apiErr.RawJSON())
	}
}

// goldenFrame is a Frame as its golden file shows it.
type goldenFrame struct {
	Event string
	Data  json.RawMessage
}

// TestStreamEncoder_Golden pins the frames of a stream whose start event
// carries the input counts: message_start reports them (input_tokens
// without the cached part), and a ping follows the first
// content_block_start, as the API sends it.
func TestStreamEncoder_Golden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start *llm.Usage
	}{
		{"start_usage", &llm.Usage{InputTokens: 1100, CachedInputTokens: 1000, CacheWriteTokens: 60}},
		{"no_start_usage", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := sampleEvents()
			evs[0].Usage = tc.start
			var got []goldenFrame
			for _, f := range encodeAll(t, NewStreamEncoder("claude-gateway"), evs) {
				got = append(got, goldenFrame{f.Event, f.Data})
			}
			providertest.Golden(t, "testdata/stream_encoder/"+tc.name+".frames.json", got)
		})
	}
}

// TestStreamEncoder_Ping checks the ping's place in the frames: right
// after the first content_block_start, once, whatever the first block is.
func TestStreamEncoder_Ping(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []llm.Event
		want []string
	}{
		{"text", []llm.Event{{Kind: llm.EventStart, ID: "m"}, {Kind: llm.EventTextDelta, Text: "a"}, {Kind: llm.EventTextDelta, Index: 1, Text: "b"}, {Kind: llm.EventStop}},
			[]string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}},
		{"tool_call_first", []llm.Event{{Kind: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{ID: "c", Name: "f", Arguments: "{}"}}, {Kind: llm.EventStop}},
			[]string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}},
		{"no_content", []llm.Event{{Kind: llm.EventStart, ID: "m"}, {Kind: llm.EventStop}},
			[]string{"message_start", "message_delta", "message_stop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range encodeAll(t, NewStreamEncoder("m"), tc.evs) {
				got = append(got, f.Event)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStream_StartUsageRoundTrip checks that the input counts of an
// upstream message_start reach a client's message_start through the
// decoder and the encoder, and that the SDK reads them there.
func TestStream_StartUsageRoundTrip(t *testing.T) {
	body := providertest.ReadFile(t, "testdata/stream/text_with_pings.sse")
	res := decodeStream(body)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if u := res.Events[0].Usage; res.Events[0].Kind != llm.EventStart || u == nil || u.InputTokens != 42 || u.CachedInputTokens != 30 || u.OutputTokens != 0 {
		t.Fatalf("start event %+v", res.Events[0])
	}
	frames := encodeAll(t, NewStreamEncoder("claude-gateway"), res.Events)
	var start struct {
		Message struct {
			Usage Usage `json:"usage"`
		} `json:"message"`
	}
	if err := json.Unmarshal(frames[0].Data, &start); err != nil {
		t.Fatal(err)
	}
	if want := (Usage{InputTokens: 12, CacheReadInputTokens: 30, OutputTokens: 1}); start.Message.Usage != want {
		t.Errorf("message_start usage %+v, want %+v", start.Message.Usage, want)
	}
	client := sdkServer(t, frames, nil)
	stream := client.Messages.NewStreaming(context.Background(), sdkParams)
	defer stream.Close()
	if !stream.Next() {
		t.Fatal(stream.Err())
	}
	if u := stream.Current().AsMessageStart().Message.Usage; u.InputTokens != 12 || u.CacheReadInputTokens != 30 {
		t.Errorf("SDK message_start usage in %d read %d", u.InputTokens, u.CacheReadInputTokens)
	}
}
