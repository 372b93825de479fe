package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

const testKey = "sk-ant-test-secret-key"

func userRequest(text string) *llm.Request {
	return &llm.Request{Model: "claude-test", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text(text)}}}}
}

func newTestAdapter(t *testing.T, h http.HandlerFunc, o Options) *Adapter {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o.Name, o.BaseURL, o.APIKey, o.HTTPClient = "anthropic-test", srv.URL, testKey, srv.Client()
	return New(o)
}

func TestAdapter_Chat(t *testing.T) {
	var got struct {
		method, path string
		header       http.Header
		body         map[string]any
	}
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.header = r.Method, r.URL.Path, r.Header.Clone()
		json.NewDecoder(r.Body).Decode(&got.body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-test-2025","content":[{"type":"text","text":"Hi!"}],
			"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"cache_read_input_tokens":7,"output_tokens":2}}`)
	}, Options{Beta: []string{"a-2025", "b-2026"}, MaxTokensDefault: 777})

	resp, err := a.Chat(context.Background(), userRequest("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.path != "/v1/messages" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	for k, want := range map[string]string{
		"X-Api-Key": testKey, "Anthropic-Version": DefaultVersion, "Anthropic-Beta": "a-2025,b-2026", "Content-Type": "application/json",
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if got.body["model"] != "claude-test" || got.body["max_tokens"] != float64(777) || got.body["stream"] != nil {
		t.Errorf("body = %v", got.body)
	}
	want := &llm.Response{ID: "msg_1", Model: "claude-test-2025", FinishReason: llm.FinishStop,
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("Hi!")}},
		Usage:   llm.Usage{InputTokens: 10, OutputTokens: 2, CachedInputTokens: 7}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestAdapter_ChatErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       provider.Kind
		retryAfter time.Duration
		message    string
	}{
		{"overloaded_529", 529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, provider.KindOverloaded, 0, "Overloaded"},
		{"rate_limited", 429, http.Header{"Retry-After": {"7"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, provider.KindRateLimited, 7 * time.Second, "per-minute"},
		{"rate_limited_ms", 429, http.Header{"Retry-After-Ms": {"1500"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`, provider.KindRateLimited, 1500 * time.Millisecond, "slow"},
		{"auth", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, provider.KindAuth, 0, "invalid x-api-key"},
		{"permission", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"no access"}}`, provider.KindPermission, 0, "no access"},
		{"billing", 402, nil, `{"type":"error","error":{"type":"billing_error","message":"credit balance too low"}}`, provider.KindPermission, 0, "credit"},
		{"not_found", 404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}`, provider.KindNotFound, 0, "claude-x"},
		{"too_large", 413, nil, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}`, provider.KindBadRequest, 0, "maximum size"},
		{"bad_request", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: field required"}}`, provider.KindBadRequest, 0, "messages: field required"},
		{"context_length", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`, provider.KindContextLength, 0, "prompt is too long"},
		{"api_error", 500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, provider.KindUnavailable, 0, "Internal server error"},
		{"gateway_timeout", 504, nil, `{"type":"error","error":{"type":"timeout_error","message":"timed out"}}`, provider.KindTimeout, 0, "timed out"},
		{"html_502", 502, nil, `<html>bad gateway</html>`, provider.KindUnavailable, 0, "<html>bad gateway</html>"},
		{"echoed_key", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"bad key ` + testKey + `"}}`, provider.KindAuth, 0, "bad key [redacted]"},
		{"error_with_200", 200, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, provider.KindOverloaded, 0, "Overloaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}, Options{})
			_, err := a.Chat(context.Background(), userRequest("x"))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != tc.kind || pe.Status != tc.status || pe.RetryAfter != tc.retryAfter || pe.Provider != "anthropic-test" {
				t.Errorf("error = kind %v status %d retry %v provider %q; want %v %d %v", pe.Kind, pe.Status, pe.RetryAfter, pe.Provider, tc.kind, tc.status, tc.retryAfter)
			}
			if !strings.Contains(pe.Message, tc.message) || strings.Contains(pe.Message, testKey) {
				t.Errorf("message = %q, want it to contain %q and no key", pe.Message, tc.message)
			}
		})
	}
}

func TestAdapter_ChatTranslationErrorIsNotUpstream(t *testing.T) {
	called := false
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) { called = true }, Options{})
	req := userRequest("x")
	req.N = 3
	_, err := a.Chat(context.Background(), req)
	var pe *provider.Error
	if !errors.Is(err, llm.ErrUnsupported) || errors.As(err, &pe) || called {
		t.Errorf("err = %v, called = %v; want a plain ErrUnsupported and no upstream call", err, called)
	}
}

func TestAdapter_Version20261021RefusesSampling(t *testing.T) {
	called := false
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) { called = true }, Options{Version: "2026-10-21"})
	req := userRequest("x")
	temp := 0.5
	req.Temperature = &temp
	if _, err := a.Chat(context.Background(), req); !errors.Is(err, llm.ErrUnsupported) || called {
		t.Errorf("err = %v, called = %v; want ErrUnsupported before any call", err, called)
	}
}

func TestAdapter_BodyCap(t *testing.T) {
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"msg_1","type":"message","content":[{"type":"text","text":"`+strings.Repeat("x", 4096)+`"}]}`)
	}, Options{MaxResponseBytes: 1024})
	_, err := a.Chat(context.Background(), userRequest("x"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, "too large") {
		t.Errorf("err = %v, want a too-large bad response", err)
	}
}

func TestAdapter_MalformedAnswer(t *testing.T) {
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"id":`) }, Options{})
	_, err := a.Chat(context.Background(), userRequest("x"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse {
		t.Errorf("err = %v, want KindBadResponse", err)
	}
}

func TestAdapter_TransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	a := New(Options{Name: "x", BaseURL: url})
	_, err := a.Chat(context.Background(), userRequest("x"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindUnavailable {
		t.Errorf("err = %v, want KindUnavailable", err)
	}
}

func TestAdapter_ChatTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, Options{Timeout: 50 * time.Millisecond})
	_, err := a.Chat(context.Background(), userRequest("x"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindTimeout {
		t.Errorf("err = %v, want KindTimeout", err)
	}
}

func TestAdapter_RawFastPath(t *testing.T) {
	var body map[string]json.RawMessage
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&body)
		io.WriteString(w, `{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
	}, Options{})
	req := userRequest("ignored")
	req.Model = "claude-upstream-id"
	req.Raw = &llm.Raw{Dialect: Dialect, Body: []byte(`{"model":"alias","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}],"brand_new_field":{"k":1}}`)}
	if _, err := a.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if string(body["model"]) != `"claude-upstream-id"` || body["stream"] != nil || string(body["brand_new_field"]) != `{"k":1}` || string(body["messages"]) != `[{"role":"user","content":"hi"}]` {
		t.Errorf("forwarded body = %s", body)
	}
}

func sseHandler(events string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, events)
	}
}

func TestAdapter_ChatStream(t *testing.T) {
	var streamFlag any
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		json.NewDecoder(r.Body).Decode(&b)
		streamFlag = b["stream"]
		sseHandler(string(mustRead(t, "testdata/stream/tool_use_partial_json.sse")))(w, r)
	}, Options{})
	s, err := a.ChatStream(context.Background(), userRequest("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var acc llm.Accumulator
	for ev, err := range llm.All(s) {
		if err != nil {
			t.Fatal(err)
		}
		acc.Add(ev)
	}
	if streamFlag != true {
		t.Errorf("stream flag sent = %v", streamFlag)
	}
	if !acc.Stopped() {
		t.Fatal("no stop event")
	}
	r := acc.Response()
	if len(r.Message.Parts) != 3 || r.Message.Parts[1].ToolCall.Arguments != `{"city": "Paris"}` || r.Message.Parts[2].ToolCall.Arguments != `{}` || r.FinishReason != llm.FinishToolCalls {
		t.Errorf("response = %+v", r)
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after stop = %v, want io.EOF", err)
	}
}

func TestAdapter_ChatStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		kind provider.Kind
	}{
		{"status_429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
			io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`)
		}, provider.KindRateLimited},
		{"error_event", sseHandler(string(mustRead(t, "testdata/stream/error_event.sse"))), provider.KindOverloaded},
		{"cut", sseHandler(string(mustRead(t, "testdata/stream/cut_before_stop.sse"))), provider.KindBadResponse},
		{"malformed", sseHandler(string(mustRead(t, "testdata/stream/malformed_json.sse"))), provider.KindBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, tc.h, Options{})
			s, err := a.ChatStream(context.Background(), userRequest("x"))
			if err == nil {
				defer s.Close()
				for _, err = range llm.All(s) {
					if err != nil {
						break
					}
				}
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind {
				t.Errorf("err = %v, want kind %v", err, tc.kind)
			}
		})
	}
}

func TestAdapter_StreamEventTooLarge(t *testing.T) {
	big := `event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"` + strings.Repeat("x", 4096) + `"}}` + "\n\n"
	a := newTestAdapter(t, sseHandler(big), Options{MaxResponseBytes: 1024})
	s, err := a.ChatStream(context.Background(), userRequest("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Next()
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse {
		t.Errorf("err = %v, want KindBadResponse", err)
	}
}

// startThenHang sends message_start and then waits for the client to go
// away, reporting when it did.
func startThenHang(gone chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":1}}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-time.After(10 * time.Second):
		}
	}
}

func TestAdapter_StreamCancelClosesUpstream(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			gone := make(chan struct{})
			a := newTestAdapter(t, startThenHang(gone), Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := a.ChatStream(ctx, userRequest("x"))
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := s.Next(); err != nil || ev.Kind != llm.EventStart {
				t.Fatalf("first event = %v, %v", ev, err)
			}
			if how == "cancel" {
				cancel()
				if _, err := s.Next(); err == nil {
					t.Error("Next after cancel succeeded")
				}
			}
			s.Close()
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("upstream connection still open")
			}
		})
	}
}

func TestAdapter_StreamIdleTimeout(t *testing.T) {
	gone := make(chan struct{})
	a := newTestAdapter(t, startThenHang(gone), Options{Timeout: 100 * time.Millisecond})
	s, err := a.ChatStream(context.Background(), userRequest("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Next()
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindTimeout {
		t.Errorf("err = %v, want KindTimeout", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
