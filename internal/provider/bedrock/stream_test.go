package bedrock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
)

// sampleResponse is a response with every part kind a stream can carry.
func sampleResponse() *llm.Response {
	return &llm.Response{
		ID:    "req-1",
		Model: "anthropic.claude-3-7-sonnet-20250219-v1:0",
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Kind: llm.PartReasoning, Text: "Need weather.", Signature: "sig-1"},
			{Kind: llm.PartText, Text: "Checking Paris."},
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "tooluse_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "tooluse_2", Name: "now", Arguments: `{}`}},
		}},
		FinishReason: llm.FinishToolCalls,
		Usage:        llm.Usage{InputTokens: 1300, OutputTokens: 45, CachedInputTokens: 1000, CacheWriteTokens: 200},
	}
}

// sampleEvents streams sampleResponse the way an upstream would: text and
// arguments in fragments, a tool call without arguments.
func sampleEvents() []llm.Event {
	r := sampleResponse()
	u := r.Usage
	return []llm.Event{
		{Kind: llm.EventStart, ID: r.ID, Model: r.Model},
		{Kind: llm.EventReasoningDelta, Index: 0, Text: "Need "},
		{Kind: llm.EventReasoningDelta, Index: 0, Text: "weather."},
		{Kind: llm.EventReasoningDelta, Index: 0, Signature: "sig-1"},
		{Kind: llm.EventTextDelta, Index: 1, Text: "Checking "},
		{Kind: llm.EventTextDelta, Index: 1, Text: "Paris."},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{ID: "tooluse_1", Name: "get_weather"}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `{"city":`}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `"Paris"}`}},
		{Kind: llm.EventToolCallDelta, Index: 3, ToolCall: &llm.ToolCallDelta{ID: "tooluse_2", Name: "now"}},
		{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &u},
	}
}

// encodeFrames runs events through a StreamEncoder and an EventEncoder.
func encodeFrames(t testing.TB, events []llm.Event, latency time.Duration) []byte {
	t.Helper()
	var buf bytes.Buffer
	fe := NewEventEncoder(&buf)
	se := NewStreamEncoder()
	se.Latency = latency
	for _, ev := range events {
		out, err := se.Encode(ev)
		if err != nil {
			t.Fatalf("Encode(%v): %v", ev.Kind, err)
		}
		for _, e := range out {
			if err := fe.Event(e.EventType, e.Payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.Bytes()
}

func TestStreamEncoder_Events(t *testing.T) {
	var got []string
	se := NewStreamEncoder()
	se.Latency = 1500 * time.Millisecond
	for _, ev := range sampleEvents() {
		out, err := se.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out {
			got = append(got, e.EventType+" "+string(e.Payload))
		}
	}
	want := []string{
		`messageStart {"role":"assistant"}`,
		`contentBlockDelta {"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Need "}}}`,
		`contentBlockDelta {"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"weather."}}}`,
		`contentBlockDelta {"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig-1"}}}`,
		`contentBlockStop {"contentBlockIndex":0}`,
		`contentBlockDelta {"contentBlockIndex":1,"delta":{"text":"Checking "}}`,
		`contentBlockDelta {"contentBlockIndex":1,"delta":{"text":"Paris."}}`,
		`contentBlockStop {"contentBlockIndex":1}`,
		`contentBlockStart {"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather"}}}`,
		`contentBlockDelta {"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"city\":"}}}`,
		`contentBlockDelta {"contentBlockIndex":2,"delta":{"toolUse":{"input":"\"Paris\"}"}}}`,
		`contentBlockStop {"contentBlockIndex":2}`,
		`contentBlockStart {"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"tooluse_2","name":"now"}}}`,
		`contentBlockDelta {"contentBlockIndex":3,"delta":{"toolUse":{"input":"{}"}}}`,
		`contentBlockStop {"contentBlockIndex":3}`,
		`messageStop {"stopReason":"tool_use"}`,
		`metadata {"usage":{"inputTokens":100,"outputTokens":45,"totalTokens":1345,"cacheReadInputTokens":1000,"cacheWriteInputTokens":200},"metrics":{"latencyMs":1500}}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// The empty delta an Anthropic channel's content_block_start becomes is
// not sent: Bedrock starts a text block with its first text. A block that
// stays empty still gets one delta before its stop.
func TestStreamEncoder_EmptyTextDelta(t *testing.T) {
	var got []string
	se := NewStreamEncoder()
	for _, ev := range []llm.Event{
		{Kind: llm.EventStart},
		{Kind: llm.EventTextDelta, Index: 0},
		{Kind: llm.EventTextDelta, Index: 0, Text: "Hi"},
		{Kind: llm.EventTextDelta, Index: 1},
		{Kind: llm.EventStop, FinishReason: llm.FinishStop},
	} {
		out, err := se.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out {
			if e.EventType != eventMetadata {
				got = append(got, e.EventType+" "+string(e.Payload))
			}
		}
	}
	want := []string{
		`messageStart {"role":"assistant"}`,
		`contentBlockDelta {"contentBlockIndex":0,"delta":{"text":"Hi"}}`,
		`contentBlockStop {"contentBlockIndex":0}`,
		`contentBlockDelta {"contentBlockIndex":1,"delta":{"text":""}}`,
		`contentBlockStop {"contentBlockIndex":1}`,
		`messageStop {"stopReason":"end_turn"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestStreamEncoder_Errors(t *testing.T) {
	text := func(i int) llm.Event { return llm.Event{Kind: llm.EventTextDelta, Index: i, Text: "x"} }
	for _, tc := range []struct {
		name   string
		events []llm.Event
	}{
		{"closed_block", []llm.Event{text(0), text(1), text(0)}},
		{"kind_change", []llm.Event{text(0), {Kind: llm.EventToolCallDelta, Index: 0, ToolCall: &llm.ToolCallDelta{ID: "a"}}}},
		{"after_stop", []llm.Event{{Kind: llm.EventStop}, text(0)}},
		{"unknown_kind", []llm.Event{{Kind: 99}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se := NewStreamEncoder()
			var err error
			for _, ev := range tc.events {
				if _, err = se.Encode(ev); err != nil {
					break
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestStreamEncoder_SDKClient serves the encoder's frames to the real
// aws-sdk-go-v2 client and checks what its ConverseStream hands the caller.
func TestStreamEncoder_SDKClient(t *testing.T) {
	frames := encodeFrames(t, sampleEvents(), 1500*time.Millisecond)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/converse-stream") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", eventStreamContentType)
		w.Write(frames)
	}))
	defer srv.Close()
	c := newSDKClient(t, srv.URL, srv.Client(), testAccessKeyID, testSecret)
	out, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String("anthropic.claude-3-7-sonnet-20250219-v1:0"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Hi"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	es := out.GetStream()
	defer es.Close()
	var got []string
	for ev := range es.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			got = append(got, "start "+string(v.Value.Role))
		case *types.ConverseStreamOutputMemberContentBlockStart:
			tu := v.Value.Start.(*types.ContentBlockStartMemberToolUse)
			got = append(got, fmt.Sprintf("block_start %d %s %s", *v.Value.ContentBlockIndex, *tu.Value.ToolUseId, *tu.Value.Name))
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			i := *v.Value.ContentBlockIndex
			switch d := v.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				got = append(got, fmt.Sprintf("text %d %q", i, d.Value))
			case *types.ContentBlockDeltaMemberToolUse:
				got = append(got, fmt.Sprintf("tool_input %d %q", i, *d.Value.Input))
			case *types.ContentBlockDeltaMemberReasoningContent:
				switch r := d.Value.(type) {
				case *types.ReasoningContentBlockDeltaMemberText:
					got = append(got, fmt.Sprintf("reasoning %d %q", i, r.Value))
				case *types.ReasoningContentBlockDeltaMemberSignature:
					got = append(got, fmt.Sprintf("signature %d %q", i, r.Value))
				default:
					t.Errorf("unexpected reasoning delta %T", r)
				}
			default:
				t.Errorf("unexpected delta %T", d)
			}
		case *types.ConverseStreamOutputMemberContentBlockStop:
			got = append(got, fmt.Sprintf("block_stop %d", *v.Value.ContentBlockIndex))
		case *types.ConverseStreamOutputMemberMessageStop:
			got = append(got, "stop "+string(v.Value.StopReason))
		case *types.ConverseStreamOutputMemberMetadata:
			u := v.Value.Usage
			got = append(got, fmt.Sprintf("metadata in=%d out=%d total=%d read=%d write=%d latency=%d",
				*u.InputTokens, *u.OutputTokens, *u.TotalTokens, *u.CacheReadInputTokens, *u.CacheWriteInputTokens, *v.Value.Metrics.LatencyMs))
		default:
			t.Errorf("unexpected event %T", v)
		}
	}
	if err := es.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	want := []string{
		"start assistant",
		`reasoning 0 "Need "`, `reasoning 0 "weather."`, `signature 0 "sig-1"`, "block_stop 0",
		`text 1 "Checking "`, `text 1 "Paris."`, "block_stop 1",
		"block_start 2 tooluse_1 get_weather", `tool_input 2 "{\"city\":"`, `tool_input 2 "\"Paris\"}"`, "block_stop 2",
		"block_start 3 tooluse_2 now", `tool_input 3 "{}"`, "block_stop 3",
		"stop tool_use",
		"metadata in=100 out=45 total=1345 read=1000 write=200 latency=1500",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SDK events (-want +got):\n%s", diff)
	}
}

// TestStreamEncoder_SDKException checks that an exception frame written
// with EventEncoder reaches SDK callers as the typed error.
func TestStreamEncoder_SDKException(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", eventStreamContentType)
		fe := NewEventEncoder(w)
		fe.Event(eventMessageStart, []byte(`{"role":"assistant"}`))
		fe.Exception("throttlingException", []byte(`{"message":"Too many tokens, please wait before trying again."}`))
	}))
	defer srv.Close()
	c := newSDKClient(t, srv.URL, srv.Client(), testAccessKeyID, testSecret)
	out, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	es := out.GetStream()
	for range es.Events() {
	}
	var te *types.ThrottlingException
	if err := es.Err(); !errors.As(err, &te) || !strings.Contains(te.ErrorMessage(), "Too many tokens") {
		t.Fatalf("stream error = %v, want *types.ThrottlingException", err)
	}
}

func TestStream_RoundTrip(t *testing.T) {
	frames := encodeFrames(t, sampleEvents(), 0)
	want := sampleResponse()
	dec := NewStreamDecoder(bytes.NewReader(frames), want.ID, want.Model)
	var acc llm.Accumulator
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		acc.Add(ev)
	}
	if !acc.Stopped() {
		t.Fatal("no stop event")
	}
	if diff := cmp.Diff(want, acc.Response()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// frameSeq builds an event stream from (event type, payload) pairs.
func frameSeq(t *testing.T, pairs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	fe := NewEventEncoder(&buf)
	for i := 0; i < len(pairs); i += 2 {
		if err := fe.Event(pairs[i], []byte(pairs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestStreamDecoder(t *testing.T) {
	start := []string{eventMessageStart, `{"role":"assistant","p":"abcdef"}`}
	stop := []string{eventMessageStop, `{"stopReason":"end_turn"}`}
	seq := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	textEv := func(i int, s string) llm.Event { return llm.Event{Kind: llm.EventTextDelta, Index: i, Text: s} }
	startEv := llm.Event{Kind: llm.EventStart, ID: "rid", Model: "m"}
	for _, tc := range []struct {
		name    string
		frames  []string
		want    []llm.Event
		wantErr func(error) bool
	}{
		{
			name: "text_usage",
			frames: seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"x"}`,
				eventContentBlockStop, `{"contentBlockIndex":0}`}, stop,
				[]string{eventMetadata, `{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4},"metrics":{"latencyMs":9}}`}),
			want: []llm.Event{startEv, textEv(0, "Hi"), {Kind: llm.EventStop, FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 3, OutputTokens: 1}}},
		},
		{
			name: "indexes_renumbered",
			frames: seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":4,"delta":{"text":"a"}}`,
				eventContentBlockDelta, `{"contentBlockIndex":7,"delta":{"text":"b"}}`}, stop,
				[]string{eventMetadata, `{}`}),
			want: []llm.Event{startEv, textEv(0, "a"), textEv(1, "b"), {Kind: llm.EventStop, FinishReason: llm.FinishStop}},
		},
		{
			name: "stop_without_metadata",
			frames: seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"text":"a"}}`},
				[]string{eventMessageStop, `{"stopReason":"max_tokens"}`}),
			want: []llm.Event{startEv, textEv(0, "a"), {Kind: llm.EventStop, FinishReason: llm.FinishLength}},
		},
		{
			name:   "stop_sequence",
			frames: seq(start, []string{eventMessageStop, `{"stopReason":"stop_sequence","additionalModelResponseFields":{"stop_sequence":"END"}}`}, []string{eventMetadata, `{}`}),
			want:   []llm.Event{startEv, {Kind: llm.EventStop, FinishReason: llm.FinishStopSequence, StopSequence: "END"}},
		},
		{
			name:   "no_message_start",
			frames: seq([]string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"text":"a"}}`}, stop),
			want:   []llm.Event{startEv, textEv(0, "a"), {Kind: llm.EventStop, FinishReason: llm.FinishStop}},
		},
		{
			name:    "cut_before_stop",
			frames:  seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"text":"a"}}`}),
			want:    []llm.Event{startEv, textEv(0, "a")},
			wantErr: func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) },
		},
		{
			name:    "redacted_reasoning",
			frames:  seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"reasoningContent":{"redactedContent":"AA=="}}}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return errors.Is(err, llm.ErrUnsupported) },
		},
		{
			name:    "citation_delta",
			frames:  seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"citation":{}}}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return errors.Is(err, llm.ErrUnsupported) },
		},
		{
			name: "kind_change",
			frames: seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"text":"a"}}`,
				eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{}"}}}`}),
			want:    []llm.Event{startEv, textEv(0, "a")},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "content block 0") },
		},
		{
			name:    "unknown_event",
			frames:  seq(start, []string{"futureEvent", `{}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "futureEvent") },
		},
		{
			name:    "bad_payload",
			frames:  seq(start, []string{eventContentBlockDelta, `{"contentBlockIndex":"zero"}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "contentBlockDelta") },
		},
		{
			name:    "malformed_tool_use",
			frames:  seq(start, []string{eventMessageStop, `{"stopReason":"malformed_tool_use"}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "malformed_tool_use") },
		},
		{
			name:    "metadata_before_stop",
			frames:  seq(start, []string{eventMetadata, `{}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "before messageStop") },
		},
		{
			name:    "content_after_stop",
			frames:  seq(start, stop, []string{eventContentBlockDelta, `{"contentBlockIndex":0,"delta":{"text":"a"}}`}),
			want:    []llm.Event{startEv},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "after messageStop") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := NewStreamDecoder(bytes.NewReader(frameSeq(t, tc.frames...)), "rid", "m")
			var got []llm.Event
			var err error
			for {
				var ev llm.Event
				if ev, err = dec.Next(); err != nil {
					break
				}
				got = append(got, ev)
			}
			if tc.wantErr == nil && !errors.Is(err, io.EOF) {
				t.Fatalf("error = %v, want io.EOF", err)
			}
			if tc.wantErr != nil && !tc.wantErr(err) {
				t.Fatalf("unexpected error %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if _, again := dec.Next(); !errors.Is(again, io.EOF) {
				t.Errorf("Next after the end = %v, want io.EOF", again)
			}
		})
	}
}

func TestStreamDecoder_Exceptions(t *testing.T) {
	var buf bytes.Buffer
	fe := NewEventEncoder(&buf)
	fe.Event(eventMessageStart, []byte(`{"role":"assistant"}`))
	fe.Exception("modelStreamErrorException", []byte(`{"message":"boom","originalStatusCode":500}`))
	dec := NewStreamDecoder(&buf, "", "")
	if _, err := dec.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := dec.Next()
	var ee *ExceptionError
	if !errors.As(err, &ee) || ee.Type != "modelStreamErrorException" || ee.Message != "boom" || !ee.Modeled {
		t.Fatalf("error = %#v", err)
	}

	buf.Reset()
	fe.Error("InternalFailure", "unmodeled")
	_, err = NewStreamDecoder(&buf, "", "").Next()
	if !errors.As(err, &ee) || ee.Type != "InternalFailure" || ee.Message != "unmodeled" || ee.Modeled {
		t.Fatalf("error = %#v", err)
	}
}

func FuzzStreamDecoder(f *testing.F) {
	f.Add(encodeFrames(f, sampleEvents(), time.Second))
	var buf bytes.Buffer
	fe := NewEventEncoder(&buf)
	fe.Event(eventContentBlockStart, []byte(`{"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"a","name":"b"}}}`))
	fe.Event(eventContentBlockStop, []byte(`{"contentBlockIndex":3}`))
	fe.Exception("throttlingException", []byte(`{}`))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewStreamDecoder(bytes.NewReader(data), "id", "model")
		var acc llm.Accumulator
		for range 1000 {
			ev, err := dec.Next()
			if err != nil {
				return
			}
			if ev.Kind == llm.EventStop && acc.Stopped() {
				t.Fatal("two stop events")
			}
			acc.Add(ev)
		}
		t.Fatal("decoder did not end")
	})
}
