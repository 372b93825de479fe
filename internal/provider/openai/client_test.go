package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// seen is what the fake upstream received.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// fakeUpstream starts a server that records each request and answers it
// with h; last returns the most recent request.
func fakeUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (url string, last func() seen) {
	t.Helper()
	var mu sync.Mutex
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() seen {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// answer replies with a status, headers and a body.
func answer(status int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// streamAnswer replies with a recorded event stream.
func streamAnswer(stream []byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(stream)
	}
}

func newTestAdapter(url string) *Adapter {
	return New(Options{Name: "oai", BaseURL: url + "/v1/", APIKey: "sk-test-key", Organization: "org-1", Project: "proj-1",
		Headers: map[string]string{"X-Extra": "yes"}, Dialect: "openai"})
}

func chatRequest() *llm.Request {
	return &llm.Request{
		Model:    "gpt-4o",
		System:   []llm.Part{llm.Text("Be brief.")},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("Weather in Paris and Rome?")}}},
		Tools:    []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}},
	}
}

// drain reads a stream to its end.
func drain(s llm.Stream) ([]llm.Event, error) {
	var evs []llm.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestAdapter_Chat(t *testing.T) {
	upstreamBody := readFile(t, "testdata/response/tool_calls.upstream.json")
	url, last := fakeUpstream(t, answer(200, string(upstreamBody)))
	req := chatRequest()
	got, err := newTestAdapter(url).Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var cr ChatResponse
	if err := json.Unmarshal(upstreamBody, &cr); err != nil {
		t.Fatal(err)
	}
	want, _ := ResponseToLLM(&cr)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}

	s := last()
	if s.Method != http.MethodPost || s.Path != "/v1/chat/completions" {
		t.Errorf("request %s %s", s.Method, s.Path)
	}
	for k, v := range map[string]string{
		"Authorization": "Bearer sk-test-key", "Openai-Organization": "org-1", "Openai-Project": "proj-1",
		"X-Extra": "yes", "Content-Type": "application/json", "Accept": "application/json",
	} {
		if got := s.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	translated, _ := RequestFromLLM(req)
	wantBody, _ := json.Marshal(translated)
	if diff := cmp.Diff(string(wantBody), string(s.Body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestAdapter_NoAPIKey(t *testing.T) {
	url, last := fakeUpstream(t, answer(200, string(readFile(t, "testdata/response/text.upstream.json"))))
	a := New(Options{Name: "vllm", BaseURL: url + "/v1", Dialect: "openai-compatible"})
	if _, err := a.Chat(context.Background(), chatRequest()); err != nil {
		t.Fatal(err)
	}
	if h := last().Header; h.Get("Authorization") != "" || h.Get("Openai-Organization") != "" {
		t.Errorf("credentials sent without an API key: %v", h)
	}
	if a.Name() != "vllm" {
		t.Errorf("Name() = %q", a.Name())
	}
}

func TestAdapter_ChatStream(t *testing.T) {
	stream := readFile(t, "testdata/stream/tools_fragments.sse")
	url, last := fakeUpstream(t, streamAnswer(stream))
	s, err := newTestAdapter(url).ChatStream(context.Background(), chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := drain(s)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	sent := last()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(sent.Body, &body); err != nil {
		t.Fatal(err)
	}
	if string(body["stream"]) != "true" || string(body["stream_options"]) != `{"include_usage":true}` {
		t.Errorf("stream members: stream=%s stream_options=%s", body["stream"], body["stream_options"])
	}
	if sent.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("Accept = %q", sent.Header.Get("Accept"))
	}
}

func TestAdapter_RawFastPath(t *testing.T) {
	const raw = `{"model":"client-alias","messages":[{"role":"user","content":"<b>Hi</b> & bye"}],` +
		`"future_knob":{"level":3,"list":[1,2.50,"x"]},"logit_bias":{"1":-100},"stream":STREAM,"stream_options":OPTIONS}`
	for _, tc := range []struct {
		name           string
		stream         bool
		rawStream      string
		rawOptions     string
		wantStream     string
		wantOptions    string
		optionsAbsence bool
	}{
		{"chat", false, "false", "null", "false", "null", false},
		{"chat_client_asked_stream", false, "true", `{"include_usage":false}`, "false", "", true},
		{"stream_with_options", true, "true", `{"include_obfuscation":false}`, "true", `{"include_obfuscation":false,"include_usage":true}`, false},
		{"stream_usage_refused", true, "true", `{"include_usage":false}`, "true", `{"include_usage":true}`, false},
		{"stream_without_options", true, "true", "null", "true", `{"include_usage":true}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := answer(200, string(readFile(t, "testdata/response/text.upstream.json")))
			if tc.stream {
				h = streamAnswer(readFile(t, "testdata/stream/plain.sse"))
			}
			url, last := fakeUpstream(t, h)
			body := strings.NewReplacer("STREAM", tc.rawStream, "OPTIONS", tc.rawOptions).Replace(raw)
			req := chatRequest()
			req.Model, req.Stream = "gpt-4o-2024-08-06", tc.stream
			req.Raw = &llm.Raw{Dialect: RawDialectChat, Body: []byte(body)}
			a := newTestAdapter(url)
			var err error
			if tc.stream {
				var s llm.Stream
				if s, err = a.ChatStream(context.Background(), req); err == nil {
					_, err = drain(s)
					s.Close()
				}
			} else {
				_, err = a.Chat(context.Background(), req)
			}
			if err != nil {
				t.Fatal(err)
			}
			var sent map[string]json.RawMessage
			if err := json.Unmarshal(last().Body, &sent); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"model":       `"gpt-4o-2024-08-06"`,
				"messages":    `[{"role":"user","content":"<b>Hi</b> & bye"}]`,
				"future_knob": `{"level":3,"list":[1,2.50,"x"]}`,
				"logit_bias":  `{"1":-100}`,
				"stream":      tc.wantStream,
			}
			if !tc.optionsAbsence {
				want["stream_options"] = tc.wantOptions
			}
			got := map[string]string{}
			for k, v := range sent {
				got[k] = string(v)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("forwarded body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdapter_Errors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		header     []string
		kind       provider.Kind
		retryAfter time.Duration
		message    string
	}{
		{"context_length", 400, `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			nil, provider.KindContextLength, 0, "maximum context length is 128000 tokens"},
		{"content_filter", 400, `{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
			nil, provider.KindContentFiltered, 0, "The response was filtered"},
		{"bad_request", 400, `{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":null}}`,
			nil, provider.KindBadRequest, 0, "Invalid value for 'temperature'."},
		{"auth_key_echoed", 401, `{"error":{"message":"Incorrect API key provided: sk-proj-abc1***********************xyz9. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			nil, provider.KindAuth, 0, "Incorrect API key provided: [redacted]. You can find"},
		{"permission", 403, `{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}`,
			nil, provider.KindPermission, 0, "not supported"},
		{"not_found", 404, `{"error":{"message":"The model 'gpt-9' does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			nil, provider.KindNotFound, 0, "does not exist"},
		{"rate_limited", 429, `{"error":{"message":"Rate limit reached for gpt-4o","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			[]string{"Retry-After", "7"}, provider.KindRateLimited, 7 * time.Second, "Rate limit reached"},
		{"rate_limited_ms", 429, `{"error":{"message":"slow down","type":"requests"}}`,
			[]string{"Retry-After-Ms", "1500"}, provider.KindRateLimited, 1500 * time.Millisecond, "slow down"},
		{"server_error", 500, `{"error":{"message":"The server had an error","type":"server_error"}}`, nil, provider.KindUnavailable, 0, "The server had an error"},
		{"overloaded", 503, `{"error":{"message":"The engine is currently overloaded","type":"server_error"}}`,
			[]string{"Retry-After", "2"}, provider.KindOverloaded, 2 * time.Second, "overloaded"},
		{"html_gateway", 502, `<html><body>Bad Gateway</body></html>`, []string{"Content-Type", "text/html"}, provider.KindUnavailable, 0, "upstream answered HTTP 502"},
		{"bare_vllm_error", 400, `{"object":"error","message":"max_tokens must be at least 1","type":"BadRequestError","param":null,"code":400}`,
			nil, provider.KindBadRequest, 0, "max_tokens must be at least 1"},
		{"ok_with_error", 200, `{"error":{"message":"internal failure","type":"server_error","code":null}}`, nil, provider.KindUnavailable, 0, "internal failure"},
		{"ok_with_string_error", 200, `{"error":"model is loading"}`, nil, provider.KindBadResponse, 0, "model is loading"},
	} {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				url, _ := fakeUpstream(t, answer(tc.status, tc.body, tc.header...))
				a := newTestAdapter(url)
				var err error
				if stream {
					var s llm.Stream
					if s, err = a.ChatStream(context.Background(), chatRequest()); s != nil {
						s.Close()
						t.Fatal("stream started on an error answer")
					}
				} else {
					_, err = a.Chat(context.Background(), chatRequest())
				}
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("error = %v, want a *provider.Error", err)
				}
				if pe.Kind != tc.kind || pe.Status != tc.status || pe.RetryAfter != tc.retryAfter || pe.Provider != "oai" {
					t.Errorf("error = %+v, want kind %v, status %d, retry after %v", pe, tc.kind, tc.status, tc.retryAfter)
				}
				if !strings.Contains(pe.Message, tc.message) {
					t.Errorf("Message = %q, want it to contain %q", pe.Message, tc.message)
				}
				if strings.Contains(pe.Message, "sk-") || strings.Contains(pe.Error(), "sk-") {
					t.Errorf("error leaks a key: %q / %q", pe.Message, pe.Error())
				}
			})
		}
	}
}

func TestAdapter_BadResponses(t *testing.T) {
	for _, tc := range []struct {
		name, body, message string
	}{
		{"malformed", `{"id":"x","choices":[`, "malformed response body"},
		{"no_choices", `{"id":"x","object":"chat.completion","choices":[]}`, "unusable response"},
		{"wrong_types", `{"id":"x","choices":[{"message":{"content":5}}]}`, "malformed response body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := fakeUpstream(t, answer(200, tc.body))
			_, err := newTestAdapter(url).Chat(context.Background(), chatRequest())
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, tc.message) {
				t.Errorf("error = %v, want a bad response: %q", err, tc.message)
			}
		})
	}
}

func TestClient_ResponseSizeCap(t *testing.T) {
	body := string(readFile(t, "testdata/response/text.upstream.json"))
	for _, tc := range []struct {
		name    string
		padding int
		ok      bool
	}{
		{"at_cap", 2048 - len(body), true},
		{"over_cap", 2049 - len(body), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := fakeUpstream(t, answer(200, body+strings.Repeat(" ", tc.padding)))
			c := NewClient(ClientOptions{Name: "capped", URL: func(op Operation, _ string) string { return url + "/v1/" + string(op) },
				MaxResponseBytes: 2048})
			_, err := c.Chat(context.Background(), chatRequest())
			var pe *provider.Error
			switch {
			case tc.ok && err != nil:
				t.Fatalf("body at the cap refused: %v", err)
			case !tc.ok && (!errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, "larger than 2048 bytes")):
				t.Fatalf("error = %v, want the body refused as too large", err)
			}
		})
	}
}

func TestAdapter_StreamErrors(t *testing.T) {
	const (
		role = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}` + "\n\n"
	)
	for _, tc := range []struct {
		name    string
		h       func(http.ResponseWriter, *http.Request)
		kind    provider.Kind
		message string
	}{
		{"cut", streamAnswer([]byte(role)), provider.KindBadResponse, "ended before [DONE]"},
		{"error_payload", streamAnswer([]byte(role + `data: {"error":{"message":"overloaded","type":"overloaded_error"}}` + "\n\n")),
			provider.KindOverloaded, "overloaded"},
		{"oversized_event", streamAnswer([]byte(role + "data: " + strings.Repeat("x", sse.DefaultMaxEvent+1) + "\n\n")),
			provider.KindBadResponse, "oversized stream event"},
		{"json_instead_of_events", answer(200, `{"id":"x","choices":[]}`), provider.KindBadResponse, "expected an event stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := fakeUpstream(t, tc.h)
			s, err := newTestAdapter(url).ChatStream(context.Background(), chatRequest())
			var evs []llm.Event
			if err == nil {
				evs, err = drain(s)
				s.Close()
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind || !strings.Contains(pe.Message, tc.message) {
				t.Fatalf("error = %v after %d events, want %v containing %q", err, len(evs), tc.kind, tc.message)
			}
		})
	}
}

// TestAdapter_StreamCancel checks that the upstream sees its connection
// closed when the caller cancels mid-stream, and when it closes the stream.
func TestAdapter_StreamCancel(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			gone := make(chan struct{})
			url, _ := fakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}`+"\n\n")
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
				close(gone)
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := newTestAdapter(url).ChatStream(ctx, chatRequest())
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := s.Next(); err != nil || ev.Kind != llm.EventStart {
				t.Fatalf("first event = %v, %v", ev, err)
			}
			if how == "cancel" {
				cancel()
				for {
					_, err := s.Next()
					if err == nil {
						continue
					}
					var pe *provider.Error
					if !errors.As(err, &pe) || pe.Kind != provider.KindTimeout {
						t.Errorf("error after cancel = %v, want a timeout-kind provider error", err)
					}
					break
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

func TestAdapter_Timeouts(t *testing.T) {
	url, _ := fakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	a := New(Options{Name: "slow", BaseURL: url + "/v1", Timeout: 50 * time.Millisecond})
	_, err := a.Chat(context.Background(), chatRequest())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindTimeout {
		t.Errorf("Chat error = %v, want a timeout", err)
	}
	_, err = a.ChatStream(context.Background(), chatRequest())
	if !errors.As(err, &pe) || pe.Kind != provider.KindTimeout || pe.Message != "upstream timed out" {
		t.Errorf("ChatStream error = %v, want a timeout", err)
	}
}

func TestAdapter_TransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := New(Options{Name: "down", BaseURL: url + "/v1"}).Chat(context.Background(), chatRequest())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindUnavailable {
		t.Errorf("error = %v, want an unavailable upstream", err)
	}
}

func TestAdapter_TranslationErrorSendsNothing(t *testing.T) {
	url, last := fakeUpstream(t, answer(200, `{}`))
	req := chatRequest()
	req.N = 2
	_, err := newTestAdapter(url).Chat(context.Background(), req)
	if !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("error = %v, want llm.ErrUnsupported", err)
	}
	req.Raw = &llm.Raw{Dialect: RawDialectChat, Body: []byte(`{"model":"m","messages":[],"n":2}`)}
	if _, err := newTestAdapter(url).ChatStream(context.Background(), req); !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("raw error = %v, want llm.ErrUnsupported", err)
	}
	if last().Method != "" {
		t.Error("a request was sent")
	}
}

func TestAdapter_Embed(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
	}{
		{"float", `{"object":"list","model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5},"data":[` +
			`{"object":"embedding","index":1,"embedding":[1,0,-0.125]},{"object":"embedding","index":0,"embedding":[0.25,-1.5,3e-7]}]}`},
		// AACAPgAAwL+wD6E0 is 0.25, -1.5, 3e-7 and AACAPwAAAAAAAAC+ is 1, 0, -0.125 as little-endian float32s.
		{"base64", `{"object":"list","model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5},"data":[` +
			`{"object":"embedding","index":0,"embedding":"AACAPgAAwL+wD6E0"},{"object":"embedding","index":1,"embedding":"AACAPwAAAAAAAAC+"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, last := fakeUpstream(t, answer(200, tc.answer))
			got, err := newTestAdapter(url).Embed(context.Background(), &llm.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"a", "b"}, Dimensions: 3})
			if err != nil {
				t.Fatal(err)
			}
			want := &llm.EmbedResponse{Model: "text-embedding-3-small", Vectors: [][]float32{{0.25, -1.5, 3e-7}, {1, 0, -0.125}}, Usage: llm.Usage{InputTokens: 5}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			s := last()
			if s.Path != "/v1/embeddings" || string(s.Body) != `{"model":"text-embedding-3-small","input":["a","b"],"dimensions":3}` {
				t.Errorf("sent %s %s", s.Path, s.Body)
			}
		})
	}
}

func TestAdapter_EmbedRaw(t *testing.T) {
	url, last := fakeUpstream(t, answer(200, `{"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":"AACAPw=="}],"usage":{"prompt_tokens":1,"total_tokens":1}}`))
	req := &llm.EmbedRequest{Model: "upstream-emb", Inputs: []string{"x"},
		Raw: &llm.Raw{Dialect: RawDialectEmbeddings, Body: []byte(`{"model":"alias","input":"x","encoding_format":"base64","truncate_prompt_tokens":8}`)}}
	got, err := newTestAdapter(url).Embed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]float32{{1}}, got.Vectors); diff != "" {
		t.Errorf("vectors (-want +got):\n%s", diff)
	}
	// The client's own bytes, in its order, with only the model renamed.
	if want := `{"model":"upstream-emb","input":"x","encoding_format":"base64","truncate_prompt_tokens":8}`; string(last().Body) != want {
		t.Errorf("forwarded %s, want %s", last().Body, want)
	}
}

func TestAdapter_EmbedBadResponses(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
	}{
		{"missing_vector", `{"data":[{"index":0,"embedding":[1]}]}`},
		{"repeated_index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`},
		{"index_out_of_range", `{"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[2]}]}`},
		{"base64_length", `{"data":[{"index":0,"embedding":"AAA="},{"index":1,"embedding":[2]}]}`},
		{"base64_not_finite", `{"data":[{"index":0,"embedding":"AADAfw=="},{"index":1,"embedding":[2]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := fakeUpstream(t, answer(200, tc.answer))
			_, err := newTestAdapter(url).Embed(context.Background(), &llm.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}})
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse {
				t.Errorf("error = %v, want a bad response", err)
			}
		})
	}
}

// A channel with a static key shares one request header between its
// calls: the key still wins over a configured Authorization, and a client
// with a cookie jar, which writes cookies into the request's header, gets
// a header of its own each call (a shared one would gather a cookie a
// call).
func TestAdapter_SharedHeader(t *testing.T) {
	url, last := fakeUpstream(t, answer(200, string(readFile(t, "testdata/response/text.upstream.json"))))
	a := New(Options{Name: "oai", BaseURL: url + "/v1", APIKey: "sk-test-key", Dialect: "openai",
		Headers: map[string]string{"Authorization": "Bearer configured"}})
	for range 2 {
		if _, err := a.Chat(context.Background(), chatRequest()); err != nil {
			t.Fatal(err)
		}
		if got := last().Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer sk-test-key" {
			t.Errorf("Authorization = %q, want the key's", got)
		}
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := neturl.Parse(url)
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "1"}})
	a = New(Options{Name: "oai", BaseURL: url + "/v1", APIKey: "sk-test-key", Dialect: "openai",
		HTTPClient: &http.Client{Jar: jar}})
	for range 3 {
		if _, err := a.Chat(context.Background(), chatRequest()); err != nil {
			t.Fatal(err)
		}
		h := last().Header
		if got := h.Values("Cookie"); len(got) != 1 || got[0] != "session=1" {
			t.Errorf("Cookie = %q, want one session cookie", got)
		}
		if got := h.Get("Authorization"); got != "Bearer sk-test-key" {
			t.Errorf("Authorization = %q", got)
		}
	}
}
