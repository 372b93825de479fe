package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
)

// claudeMessages is Options.Messages as the composition root sets it.
func claudeMessages(o *Options) {
	o.Messages = &Messages{Dialect: anthropic.Dialect, Body: anthropic.MessagesBody,
		Decoder: func(name string) func(string, []byte) ([]llm.Event, error) {
			return anthropic.NewStreamDecoder(name).Decode
		}}
}

// chunks writes Anthropic stream events as an invoke stream's chunk events.
func chunks(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", eventStreamContentType)
	e := NewEventEncoder(w)
	for _, ev := range events {
		payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString([]byte(ev))})
		e.Event("chunk", payload)
	}
}

// An Anthropic client's streamed request to Claude goes through
// InvokeModelWithResponseStream with Anthropic's own body, so that the
// prompt's count arrives with the start event, not only at the end.
func TestAdapter_ChatStreamInvokesClaude(t *testing.T) {
	u, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		chunks(w,
			`{"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"usage":{"input_tokens":21,"output_tokens":1}}}`,
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Sunny."}}`,
			`{"type":"content_block_stop","index":0}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}`,
			`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":21,"outputTokenCount":3}}`)
	})
	a := newTestAdapter(t, srv.URL, claudeMessages)
	req := chatRequest("us.anthropic.claude-sonnet-4-20250514-v1:0")
	req.Stream = true
	req.Raw = &llm.Raw{Dialect: "anthropic.messages", Body: []byte(`{}`)}
	s, err := a.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := s.Next()
	if err != nil || first.Kind != llm.EventStart || first.Usage == nil || first.Usage.InputTokens != 21 {
		t.Fatalf("first event %+v (%v), want the start with 21 input tokens", first, err)
	}
	var acc llm.Accumulator
	acc.Add(first)
	for ev, err := range llm.All(s) {
		if err != nil {
			t.Fatal(err)
		}
		acc.Add(ev)
	}
	got := acc.Response()
	if got.Message.Parts[0].Text != "Sunny." || got.FinishReason != llm.FinishStop || got.Usage.InputTokens != 21 || got.Usage.OutputTokens != 3 {
		t.Errorf("response %+v", got)
	}
	sent := u.last()
	if !strings.HasSuffix(sent.requestURI, "/invoke-with-response-stream") {
		t.Errorf("request went to %s", sent.requestURI)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(sent.body, &body); err != nil {
		t.Fatal(err)
	}
	if string(body["anthropic_version"]) != `"bedrock-2023-05-31"` || body["model"] != nil || body["stream"] != nil || body["messages"] == nil {
		t.Errorf("invoke body %s", sent.body)
	}

	// Another client's request, or another model, goes through
	// ConverseStream; so does every request without Options.Messages.
	if _, ok := (*Messages)(nil).invokeStreamBody(req); ok {
		t.Error("invoked without Options.Messages")
	}
	for _, tc := range []struct{ model, dialect string }{
		{"anthropic.claude-3-5-haiku-20241022-v1:0", Dialect},
		{"meta.llama3-70b-instruct-v1:0", "anthropic.messages"},
	} {
		req := chatRequest(tc.model)
		req.Raw = &llm.Raw{Dialect: tc.dialect, Body: []byte(`{"messages":[]}`)}
		if _, ok := a.msgs.invokeStreamBody(req); ok {
			t.Errorf("%s from %s: invoked, want ConverseStream", tc.model, tc.dialect)
		}
	}
}

func TestAdapter_InvokeStreamFailures(t *testing.T) {
	start := `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"usage":{"input_tokens":2,"output_tokens":1}}}`
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		kind  provider.Kind
	}{
		{"throttled", func(w http.ResponseWriter) {
			chunks(w, start)
			NewEventEncoder(w).Exception("throttlingException", []byte(`{"message":"slow"}`))
		}, provider.KindRateLimited},
		{"cut", func(w http.ResponseWriter) { chunks(w, start) }, provider.KindBadResponse},
		{"overloaded_event", func(w http.ResponseWriter) {
			chunks(w, start, `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`)
		}, provider.KindOverloaded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { tc.write(w) })
			req := chatRequest("anthropic.claude-3-5-haiku-20241022-v1:0")
			req.Raw = &llm.Raw{Dialect: "anthropic.messages", Body: []byte(`{}`)}
			s, err := newTestAdapter(t, srv.URL, claudeMessages).ChatStream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var last error
			for _, err := range llm.All(s) {
				if err != nil {
					last = err
					break
				}
			}
			var pe *provider.Error
			if !errors.As(last, &pe) || pe.Kind != tc.kind {
				t.Fatalf("stream error = %v, want kind %v", last, tc.kind)
			}
			if _, again := s.Next(); again != last || errors.Is(again, io.EOF) {
				t.Errorf("Next after the error = %v, want the same error", again)
			}
		})
	}
}
