package gemini

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

const testKey = "AIzaSyTestSecretKey0123456789abcdef"

func userRequest(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text(text)}}}}
}

func newTestAdapter(t *testing.T, h http.HandlerFunc, o Options) *Adapter {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o.Name, o.BaseURL, o.APIKey, o.HTTPClient = "gemini-test", srv.URL, testKey, srv.Client()
	return New(o)
}

func TestAdapter_Chat(t *testing.T) {
	var got struct {
		method, uri string
		header      http.Header
		body        GenerateContentRequest
	}
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		got.method, got.uri, got.header = r.Method, r.URL.RequestURI(), r.Header.Clone()
		json.NewDecoder(r.Body).Decode(&got.body)
		io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi!"}]},"finishReason":"STOP"}],
			"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2},"modelVersion":"gemini-2.5-flash-001","responseId":"r1"}`)
	}, Options{})
	resp, err := a.Chat(context.Background(), userRequest("gemini-2.5-flash", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.uri != "/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("request = %s %s", got.method, got.uri)
	}
	if got.header.Get("X-Goog-Api-Key") != testKey || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", got.header)
	}
	if len(got.body.Contents) != 1 || got.body.Contents[0].Parts[0].Text != "hello" {
		t.Errorf("body = %+v", got.body)
	}
	want := &llm.Response{ID: "r1", Model: "gemini-2.5-flash-001", FinishReason: llm.FinishStop,
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("Hi!")}},
		Usage:   llm.Usage{InputTokens: 3, OutputTokens: 2}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestAdapter_Paths(t *testing.T) {
	for _, tc := range []struct {
		name, model, version, want string
	}{
		{"models_prefix", "models/gemini-2.5-pro", "", "/v1beta/models/gemini-2.5-pro:generateContent"},
		{"tuned_model_v1", "tunedModels/my-model-1", "v1", "/v1/tunedModels/my-model-1:generateContent"},
		{"escaped", "gemini 2/x", "", "/v1beta/models/gemini%202%2Fx:generateContent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var uri string
			a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
				uri = r.URL.EscapedPath()
				io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}`)
			}, Options{APIVersion: tc.version})
			if _, err := a.Chat(context.Background(), userRequest(tc.model, "x")); err != nil {
				t.Fatal(err)
			}
			if uri != tc.want {
				t.Errorf("path = %s, want %s", uri, tc.want)
			}
		})
	}
	a := New(Options{})
	if _, err := a.Chat(context.Background(), userRequest("", "x")); !errors.Is(err, llm.ErrInvalid) {
		t.Errorf("empty model: err = %v, want ErrInvalid", err)
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
		{"resource_exhausted", 429, nil, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}`,
			provider.KindRateLimited, 34 * time.Second, "exhausted"},
		{"retry_after_header_wins", 429, http.Header{"Retry-After": {"3"}}, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}`, provider.KindRateLimited, 3 * time.Second, "q"},
		{"unavailable", 503, nil, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`, provider.KindOverloaded, 0, "overloaded"},
		{"invalid_argument", 400, nil, `{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`, provider.KindBadRequest, 0, "Invalid JSON payload"},
		{"failed_precondition", 400, nil, `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`, provider.KindBadRequest, 0, "location"},
		{"bad_key", 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`, provider.KindAuth, 0, "API key not valid"},
		{"context_length", 400, nil, `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`, provider.KindContextLength, 0, "exceeds the maximum"},
		{"permission", 403, nil, `{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}`, provider.KindPermission, 0, "Permission denied"},
		{"unauthenticated", 401, nil, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`, provider.KindAuth, 0, "credentials"},
		{"not_found", 404, nil, `{"error":{"code":404,"message":"models/gemini-9 is not found","status":"NOT_FOUND"}}`, provider.KindNotFound, 0, "gemini-9"},
		{"internal", 500, nil, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`, provider.KindUnavailable, 0, "internal error"},
		{"deadline", 504, nil, `{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}`, provider.KindTimeout, 0, "Deadline"},
		{"plain_text_502", 502, nil, `Bad Gateway`, provider.KindUnavailable, 0, "Bad Gateway"},
		{"echoed_key", 400, nil, `{"error":{"code":400,"message":"API key not valid: ` + testKey + `","status":"INVALID_ARGUMENT"}}`, provider.KindAuth, 0, "[redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}, Options{})
			_, err := a.Chat(context.Background(), userRequest("gemini-2.5-flash", "x"))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != tc.kind || pe.Status != tc.status || pe.RetryAfter != tc.retryAfter || pe.Provider != "gemini-test" {
				t.Errorf("error = kind %v status %d retry %v provider %q; want %v %d %v", pe.Kind, pe.Status, pe.RetryAfter, pe.Provider, tc.kind, tc.status, tc.retryAfter)
			}
			if !strings.Contains(pe.Message, tc.message) || strings.Contains(pe.Message, testKey) {
				t.Errorf("message = %q, want it to contain %q and no key", pe.Message, tc.message)
			}
		})
	}
}

func TestAdapter_UnusableAnswer(t *testing.T) {
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL","finishMessage":"bad call"}]}`)
	}, Options{})
	_, err := a.Chat(context.Background(), userRequest("m", "x"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !pe.Kind.Retryable() {
		t.Errorf("err = %v, want a retryable KindBadResponse", err)
	}
}

func TestAdapter_BodyCap(t *testing.T) {
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"`+strings.Repeat("x", 4096)+`"}]},"finishReason":"STOP"}]}`)
	}, Options{MaxResponseBytes: 1024})
	_, err := a.Chat(context.Background(), userRequest("m", "x"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, "too large") {
		t.Errorf("err = %v, want a too-large bad response", err)
	}
}

func TestAdapter_TranslationErrorIsNotUpstream(t *testing.T) {
	called := false
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) { called = true }, Options{})
	req := userRequest("m", "x")
	req.N = 2
	_, err := a.Chat(context.Background(), req)
	var pe *provider.Error
	if !errors.Is(err, llm.ErrUnsupported) || errors.As(err, &pe) || called {
		t.Errorf("err = %v, called = %v; want a plain ErrUnsupported and no upstream call", err, called)
	}
}

func TestAdapter_ChatStream(t *testing.T) {
	body, err := os.ReadFile("testdata/stream/thinking_then_call.sse")
	if err != nil {
		t.Fatal(err)
	}
	var uri string
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		uri = r.URL.RequestURI()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write(body)
	}, Options{})
	s, err := a.ChatStream(context.Background(), userRequest("gemini-2.5-pro", "x"))
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
	if uri != "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse" {
		t.Errorf("uri = %s", uri)
	}
	r := acc.Response()
	if !acc.Stopped() || r.FinishReason != llm.FinishToolCalls || len(r.Message.Parts) != 5 || r.Message.Parts[4].ToolCall.Arguments != `{"city":"Rome"}` {
		t.Errorf("response = %+v", r)
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after stop = %v, want io.EOF", err)
	}
}

func TestAdapter_ChatStreamErrors(t *testing.T) {
	sse := func(path string) http.HandlerFunc {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(body)
		}
	}
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		kind provider.Kind
	}{
		{"status_429", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`)
		}, provider.KindRateLimited},
		{"error_in_stream", sse("testdata/stream/error_in_stream.sse"), provider.KindOverloaded},
		{"cut", sse("testdata/stream/cut.sse"), provider.KindBadResponse},
		{"malformed", sse("testdata/stream/malformed.sse"), provider.KindBadResponse},
		{"empty", sse("testdata/stream/empty.sse"), provider.KindBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, tc.h, Options{})
			s, err := a.ChatStream(context.Background(), userRequest("m", "x"))
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

// firstThenHang sends one chunk and waits for the client to go away,
// reporting when it did.
func firstThenHang(gone chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n")
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
			a := newTestAdapter(t, firstThenHang(gone), Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := a.ChatStream(ctx, userRequest("m", "x"))
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := s.Next(); err != nil || ev.Kind != llm.EventStart {
				t.Fatalf("first event = %v, %v", ev, err)
			}
			if how == "cancel" {
				cancel()
				for {
					if _, err := s.Next(); err != nil {
						break
					}
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
	a := newTestAdapter(t, firstThenHang(gone), Options{Timeout: 100 * time.Millisecond})
	s, err := a.ChatStream(context.Background(), userRequest("m", "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last error
	for {
		if _, err := s.Next(); err != nil {
			last = err
			break
		}
	}
	var pe *provider.Error
	if !errors.As(last, &pe) || pe.Kind != provider.KindTimeout {
		t.Errorf("err = %v, want KindTimeout", last)
	}
}

func TestAdapter_Embed(t *testing.T) {
	var uri string
	var got BatchEmbedContentsRequest
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		uri = r.URL.RequestURI()
		json.NewDecoder(r.Body).Decode(&got)
		io.WriteString(w, `{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,-0.4]}]}`)
	}, Options{})
	resp, err := a.Embed(context.Background(), &llm.EmbedRequest{Model: "gemini-embedding-001", Inputs: []string{"a", "b"}, Dimensions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if uri != "/v1beta/models/gemini-embedding-001:batchEmbedContents" {
		t.Errorf("uri = %s", uri)
	}
	wantReq := BatchEmbedContentsRequest{Requests: []EmbedContentRequest{
		{Model: "models/gemini-embedding-001", Content: Content{Parts: []Part{{Text: "a"}}}, OutputDimensionality: 2},
		{Model: "models/gemini-embedding-001", Content: Content{Parts: []Part{{Text: "b"}}}, OutputDimensionality: 2},
	}}
	if diff := cmp.Diff(wantReq, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	want := &llm.EmbedResponse{Model: "gemini-embedding-001", Vectors: [][]float32{{0.1, 0.2}, {0.3, -0.4}}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestAdapter_EmbedErrors(t *testing.T) {
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"embeddings":[{"values":[0.1]}]}`)
	}, Options{})
	ctx := context.Background()
	if _, err := a.Embed(ctx, &llm.EmbedRequest{Model: "m", Tokens: [][]int{{1, 2}}}); !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("tokens: err = %v, want ErrUnsupported", err)
	}
	if _, err := a.Embed(ctx, &llm.EmbedRequest{Model: "m"}); !errors.Is(err, llm.ErrInvalid) {
		t.Errorf("no inputs: err = %v, want ErrInvalid", err)
	}
	_, err := a.Embed(ctx, &llm.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse {
		t.Errorf("count mismatch: err = %v, want KindBadResponse", err)
	}
}

// TestAdapter_CallIDsWithoutResponseID checks that answers without a
// responseId, streamed or not, still name their calls uniquely.
func TestAdapter_CallIDsWithoutResponseID(t *testing.T) {
	const answer = `{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},"finishReason":"STOP"}]}`
	a := newTestAdapter(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, ":streamGenerateContent") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: "+answer+"\n\n")
			return
		}
		io.WriteString(w, answer)
	}, Options{})
	seen := map[string]bool{}
	for i := range 4 {
		var resp *llm.Response
		if i%2 == 0 {
			var err error
			if resp, err = a.Chat(context.Background(), userRequest("m", "x")); err != nil {
				t.Fatal(err)
			}
		} else {
			s, err := a.ChatStream(context.Background(), userRequest("m", "x"))
			if err != nil {
				t.Fatal(err)
			}
			var acc llm.Accumulator
			for ev, err := range llm.All(s) {
				if err != nil {
					t.Fatal(err)
				}
				acc.Add(ev)
			}
			s.Close()
			resp = acc.Response()
		}
		id := resp.Message.Parts[0].ToolCall.ID
		if !strings.HasPrefix(id, "call_") || seen[id] {
			t.Fatalf("answer %d: call id %q (seen: %v)", i, id, seen)
		}
		seen[id] = true
	}
}
