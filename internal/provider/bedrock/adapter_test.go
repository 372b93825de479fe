package bedrock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

var signNow = time.Date(2025, 6, 1, 10, 30, 0, 0, time.UTC)

// upstream is a fake Bedrock endpoint. Every SigV4-signed request is
// checked with VerifySigV4 before handle runs, which proves that the
// adapter's signatures and the verifier agree.
type upstream struct {
	t      *testing.T
	handle func(w http.ResponseWriter, r *http.Request, body []byte)

	mu       sync.Mutex
	requests []capturedRequest
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		u.t.Errorf("reading request body: %v", err)
		return
	}
	u.mu.Lock()
	u.requests = append(u.requests, capturedRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body, r.ProtoMajor})
	u.mu.Unlock()
	if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		id, region, err := VerifySigV4(r, body, testLookup, signNow)
		if err != nil || id != testAccessKeyID || region != testRegion {
			u.t.Errorf("VerifySigV4 = (%q, %q, %v)", id, region, err)
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
			w.WriteHeader(http.StatusForbidden)
			return
		}
	}
	u.handle(w, r, body)
}

func (u *upstream) last() capturedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		u.t.Fatal("no request reached the upstream")
	}
	return u.requests[len(u.requests)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) (*upstream, *httptest.Server) {
	u := &upstream{t: t, handle: handle}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return u, srv
}

func newTestAdapter(t *testing.T, baseURL string, edit func(*Options)) *Adapter {
	t.Helper()
	o := Options{
		Name:        "aws-test",
		Region:      testRegion,
		BaseURL:     baseURL,
		Credentials: Credentials{AccessKeyID: testAccessKeyID, SecretAccessKey: testSecret},
		Now:         func() time.Time { return signNow },
	}
	if edit != nil {
		edit(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func jsonReply(status int, body string, headers ...string) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func chatRequest(model string) *llm.Request {
	t := 0.5
	return &llm.Request{
		Model:       model,
		System:      []llm.Part{llm.Text("Be brief.")},
		Messages:    []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("Weather in Paris?")}}},
		Tools:       []llm.Tool{{Name: "get_weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
		MaxTokens:   100,
		Temperature: &t,
	}
}

func TestAdapter_Chat(t *testing.T) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	u, srv := newUpstream(t, jsonReply(http.StatusOK,
		`{"output":{"message":{"role":"assistant","content":[{"text":"Calling."},{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris"}}}]}},
		  "stopReason":"tool_use","usage":{"inputTokens":20,"outputTokens":9,"totalTokens":29},"metrics":{"latencyMs":300}}`,
		"X-Amzn-RequestId", "7f3e-req"))
	a := newTestAdapter(t, srv.URL, nil)
	got, err := a.Chat(context.Background(), chatRequest(model))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		ID: "7f3e-req", Model: model,
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
			llm.Text("Calling."),
			{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "tooluse_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
		}},
		FinishReason: llm.FinishToolCalls,
		Usage:        llm.Usage{InputTokens: 20, OutputTokens: 9},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}

	req := u.last()
	if req.requestURI != "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse" {
		t.Errorf("path = %q", req.requestURI)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	cr, err := DecodeConverseRequest(req.body)
	if err != nil {
		t.Fatalf("upstream could not decode the body: %v", err)
	}
	back, err := RequestToLLM(cr)
	if err != nil {
		t.Fatal(err)
	}
	back.Model = model
	if diff := cmp.Diff(chatRequest(model), back); diff != "" {
		t.Errorf("request seen upstream (-sent +seen):\n%s", diff)
	}
}

func TestAdapter_ChatStream(t *testing.T) {
	frames := encodeFrames(t, sampleEvents(), time.Second)
	u, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", eventStreamContentType)
		w.Header().Set("X-Amzn-RequestId", "req-1")
		// Write in small pieces with flushes, as the service does.
		for b := frames; len(b) > 0; {
			n := min(len(b), 37)
			w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	})
	a := newTestAdapter(t, srv.URL, nil)
	want := sampleResponse()
	s, err := a.ChatStream(context.Background(), chatRequest(want.Model))
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
	if diff := cmp.Diff(want, acc.Response()); diff != "" {
		t.Errorf("streamed response (-want +got):\n%s", diff)
	}
	req := u.last()
	if !strings.HasSuffix(req.requestURI, "/converse-stream") || req.header.Get("Accept") != eventStreamContentType {
		t.Errorf("request %s with Accept %q", req.requestURI, req.header.Get("Accept"))
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
}

func TestAdapter_ModelPaths(t *testing.T) {
	for _, tc := range []struct{ model, path string }{
		{"us.anthropic.claude-3-5-haiku-20241022-v1:0", "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"},
		{"arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
			"/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse"},
		{"amazon.nova-lite-v1:0", "/model/amazon.nova-lite-v1%3A0/converse"},
	} {
		u, srv := newUpstream(t, jsonReply(http.StatusOK, `{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"end_turn"}`))
		a := newTestAdapter(t, srv.URL+"/", nil) // a trailing slash on the base is fine
		if _, err := a.Chat(context.Background(), chatRequest(tc.model)); err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if got := u.last().requestURI; got != tc.path {
			t.Errorf("%s: path = %q, want %q", tc.model, got, tc.path)
		}
	}
}

func TestAdapter_APIKey(t *testing.T) {
	u, srv := newUpstream(t, jsonReply(http.StatusOK, `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn"}`))
	a := newTestAdapter(t, srv.URL, func(o *Options) { o.Credentials = Credentials{}; o.APIKey = "ABSKbedrock-api-key" })
	if _, err := a.Chat(context.Background(), chatRequest("m")); err != nil {
		t.Fatal(err)
	}
	h := u.last().header
	if got := h.Get("Authorization"); got != "Bearer ABSKbedrock-api-key" {
		t.Errorf("Authorization = %q", got)
	}
	if h.Get("X-Amz-Date") != "" {
		t.Error("API-key request carries SigV4 headers")
	}
}

func TestAdapter_DefaultCredentialChain(t *testing.T) {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      testAccessKeyID,
		"AWS_SECRET_ACCESS_KEY":                  testSecret,
		"AWS_SESSION_TOKEN":                      "session-token",
		"AWS_CONFIG_FILE":                        t.TempDir() + "/none",
		"AWS_SHARED_CREDENTIALS_FILE":            t.TempDir() + "/none",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_PROFILE":                            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_ROLE_ARN":                           "",
	} {
		t.Setenv(k, v)
	}
	u, srv := newUpstream(t, jsonReply(http.StatusOK, `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn"}`))
	a := newTestAdapter(t, srv.URL, func(o *Options) { o.Credentials = Credentials{} })
	for range 2 { // the second call reuses the loaded chain
		if _, err := a.Chat(context.Background(), chatRequest("m")); err != nil {
			t.Fatal(err)
		}
	}
	if got := u.last().header.Get("X-Amz-Security-Token"); got != "session-token" {
		t.Errorf("X-Amz-Security-Token = %q", got)
	}

	// Without keys anywhere the chain fails, and the call with it.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	b := newTestAdapter(t, srv.URL, func(o *Options) { o.Credentials = Credentials{} })
	before := u.count()
	_, err := b.Chat(context.Background(), chatRequest("m"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindAuth {
		t.Fatalf("error = %v, want an auth provider error", err)
	}
	if u.count() != before {
		t.Error("a request was sent without credentials")
	}
}

func TestAdapter_RawFastPath(t *testing.T) {
	raw := []byte(`{"messages":[{"role":"user","content":[{"document":{"format":"txt","name":"n","source":{"bytes":"aGk="}}},{"text":"sum up"}]}],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1"}}`)
	u, srv := newUpstream(t, jsonReply(http.StatusOK, `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn"}`))
	a := newTestAdapter(t, srv.URL, nil)
	req := &llm.Request{Model: "m", Raw: &llm.Raw{Dialect: Dialect, Body: raw}}
	if _, err := a.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := u.last().body; !bytes.Equal(got, raw) {
		t.Errorf("body = %s, want the client's bytes", got)
	}
}

func TestAdapter_TranslationErrorSendsNothing(t *testing.T) {
	u, srv := newUpstream(t, jsonReply(http.StatusOK, `{}`))
	a := newTestAdapter(t, srv.URL, nil)
	req := chatRequest("m")
	req.N = 3
	if _, err := a.Chat(context.Background(), req); !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("Chat error = %v, want llm.ErrUnsupported", err)
	}
	if _, err := a.ChatStream(context.Background(), req); !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("ChatStream error = %v, want llm.ErrUnsupported", err)
	}
	if _, err := a.Chat(context.Background(), &llm.Request{}); !errors.Is(err, llm.ErrInvalid) {
		t.Errorf("Chat without a model: error = %v, want llm.ErrInvalid", err)
	}
	if n := u.count(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestAdapter_HTTPErrors(t *testing.T) {
	const hdr = "X-Amzn-ErrorType"
	for _, tc := range []struct {
		name       string
		status     int
		headers    []string
		body       string
		wantKind   provider.Kind
		wantRetry  time.Duration
		wantMsg    string
		notWantMsg string
	}{
		{"throttling", 429, []string{hdr, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", "Retry-After", "2"},
			`{"message":"Too many requests, please wait before trying again."}`, provider.KindRateLimited, 2 * time.Second, "rate limit", ""},
		{"validation_body_type", 400, nil, `{"__type":"com.amazon.coral.validate#ValidationException","message":"The provided model identifier is invalid."}`,
			provider.KindBadRequest, 0, "model identifier is invalid", ""},
		{"context_length", 400, []string{hdr, "ValidationException"}, `{"message":"Input is too long for requested model."}`,
			provider.KindContextLength, 0, "too long", ""},
		{"access_denied", 403, []string{hdr, "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
			`{"message":"User: arn:aws:sts::123456789012:assumed-role/gw/i-0 is not authorized to perform: bedrock:InvokeModel"}`,
			provider.KindPermission, 0, "credentials", "123456789012"},
		{"unrecognized_client_code", 403, nil, `{"code":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`,
			provider.KindAuth, 0, "", "token"},
		{"expired_token", 403, []string{hdr, "ExpiredTokenException"}, `{"message":"expired"}`, provider.KindAuth, 0, "", ""},
		{"not_found", 404, []string{hdr, "ResourceNotFoundException"}, `{"message":"Model not found."}`, provider.KindNotFound, 0, "Model not found", ""},
		{"model_timeout", 408, []string{hdr, "ModelTimeoutException"}, `{"message":"timed out"}`, provider.KindTimeout, 0, "", ""},
		{"model_error", 424, []string{hdr, "ModelErrorException"}, `{"message":"boom"}`, provider.KindUnavailable, 0, "", ""},
		{"model_not_ready", 429, []string{hdr, "ModelNotReadyException"}, `{"message":"warming"}`, provider.KindUnavailable, 0, "", ""},
		{"quota", 400, []string{hdr, "ServiceQuotaExceededException"}, `{"message":"quota"}`, provider.KindRateLimited, 0, "", ""},
		{"internal", 500, []string{hdr, "InternalServerException"}, `{"message":"oops"}`, provider.KindUnavailable, 0, "", ""},
		{"unavailable", 503, []string{hdr, "ServiceUnavailableException"}, `{"message":"busy"}`, provider.KindOverloaded, 0, "", ""},
		{"unknown_code_uses_status", 502, nil, `<html>Bad Gateway</html>`, provider.KindUnavailable, 0, "", ""},
		{"bare_429", 429, nil, ``, provider.KindRateLimited, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newUpstream(t, jsonReply(tc.status, tc.body, tc.headers...))
			a := newTestAdapter(t, srv.URL, nil)
			check := func(op string, err error) {
				t.Helper()
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("%s error = %v, want *provider.Error", op, err)
				}
				if pe.Kind != tc.wantKind || pe.Status != tc.status || pe.RetryAfter != tc.wantRetry || pe.Provider != "aws-test" {
					t.Errorf("%s: kind %v status %d retry %v provider %q; want %v %d %v", op, pe.Kind, pe.Status, pe.RetryAfter, pe.Provider, tc.wantKind, tc.status, tc.wantRetry)
				}
				if !strings.Contains(pe.Message, tc.wantMsg) {
					t.Errorf("%s: message %q does not contain %q", op, pe.Message, tc.wantMsg)
				}
				if tc.notWantMsg != "" && strings.Contains(pe.Message, tc.notWantMsg) {
					t.Errorf("%s: client message %q leaks %q", op, pe.Message, tc.notWantMsg)
				}
			}
			_, err := a.Chat(context.Background(), chatRequest("m"))
			check("Chat", err)
			_, err = a.ChatStream(context.Background(), chatRequest("m"))
			check("ChatStream", err)
		})
	}
}

func TestAdapter_StreamExceptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		write    func(*EventEncoder)
		wantKind provider.Kind
	}{
		{"throttling", func(e *EventEncoder) { e.Exception("throttlingException", []byte(`{"message":"slow"}`)) }, provider.KindRateLimited},
		{"service_unavailable", func(e *EventEncoder) { e.Exception("serviceUnavailableException", []byte(`{"message":"busy"}`)) }, provider.KindOverloaded},
		{"internal", func(e *EventEncoder) { e.Exception("internalServerException", []byte(`{"message":"oops"}`)) }, provider.KindUnavailable},
		{"model_stream_error", func(e *EventEncoder) { e.Exception("modelStreamErrorException", []byte(`{"message":"x"}`)) }, provider.KindUnavailable},
		{"validation", func(e *EventEncoder) { e.Exception("validationException", []byte(`{"message":"bad"}`)) }, provider.KindBadRequest},
		{"validation_too_long", func(e *EventEncoder) {
			e.Exception("validationException", []byte(`{"message":"prompt is too long: 210000 tokens > 200000 maximum"}`))
		}, provider.KindContextLength},
		{"unknown_exception", func(e *EventEncoder) { e.Exception("newException", []byte(`{}`)) }, provider.KindUnavailable},
		{"error_frame", func(e *EventEncoder) { e.Error("InternalFailure", "x") }, provider.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", eventStreamContentType)
				e := NewEventEncoder(w)
				e.Event(eventMessageStart, []byte(`{"role":"assistant"}`))
				e.Event(eventContentBlockDelta, []byte(`{"contentBlockIndex":0,"delta":{"text":"partial"}}`))
				tc.write(e)
			})
			s, err := newTestAdapter(t, srv.URL, nil).ChatStream(context.Background(), chatRequest("m"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var last error
			n := 0
			for _, err := range llm.All(s) {
				if err != nil {
					last = err
					break
				}
				n++
			}
			var pe *provider.Error
			if !errors.As(last, &pe) || pe.Kind != tc.wantKind {
				t.Fatalf("stream error = %v, want kind %v", last, tc.wantKind)
			}
			if n != 2 {
				t.Errorf("%d events before the error, want 2", n)
			}
			if _, again := s.Next(); again != last {
				t.Errorf("Next after the error = %v, want the same error", again)
			}
		})
	}
}

func TestAdapter_BadStreams(t *testing.T) {
	whole := encodeFrames(t, sampleEvents(), 0)
	corrupt := bytes.Clone(whole)
	corrupt[len(corrupt)-10] ^= 0xff // inside the last frame's payload: its checksum fails
	for _, tc := range []struct {
		name        string
		contentType string
		body        []byte
		wantMsg     string
	}{
		{"cut_mid_frame", eventStreamContentType, whole[:len(whole)-20], "ended early"},
		{"cut_before_stop", eventStreamContentType, frameSeq(t, eventMessageStart, `{"role":"assistant"}`), "ended early"},
		{"corrupt_frame", eventStreamContentType, corrupt, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", tc.contentType)
				w.Write(tc.body)
			})
			s, err := newTestAdapter(t, srv.URL, nil).ChatStream(context.Background(), chatRequest("m"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var last error
			for _, err := range llm.All(s) {
				last = err
			}
			var pe *provider.Error
			if !errors.As(last, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, tc.wantMsg) {
				t.Fatalf("stream error = %v (%+v), want a bad response %q", last, pe, tc.wantMsg)
			}
		})
	}

	t.Run("not_an_event_stream", func(t *testing.T) {
		_, srv := newUpstream(t, jsonReply(http.StatusOK, `{"output":{}}`))
		_, err := newTestAdapter(t, srv.URL, nil).ChatStream(context.Background(), chatRequest("m"))
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse {
			t.Fatalf("error = %v, want a bad response", err)
		}
	})
}

func TestAdapter_BadJSONResponses(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"not_json", `{"output":`},
		{"no_message", `{"output":{},"stopReason":"end_turn"}`},
		{"malformed_model_output", `{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"malformed_model_output"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newUpstream(t, jsonReply(http.StatusOK, tc.body))
			_, err := newTestAdapter(t, srv.URL, nil).Chat(context.Background(), chatRequest("m"))
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !pe.Kind.Retryable() {
				t.Fatalf("error = %v, want a retryable bad response", err)
			}
		})
	}
}

// blockingUpstream sends the first stream event and then waits for the
// client to go away, reporting when it does.
func blockingUpstream(t *testing.T) (*httptest.Server, <-chan struct{}) {
	gone := make(chan struct{})
	_, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", eventStreamContentType)
		NewEventEncoder(w).Event(eventMessageStart, []byte(`{"role":"assistant"}`))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-time.After(10 * time.Second):
		}
	})
	return srv, gone
}

func TestAdapter_CancelClosesUpstream(t *testing.T) {
	srv, gone := blockingUpstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := newTestAdapter(t, srv.URL, nil).ChatStream(ctx, chatRequest("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.Next(); err != nil || ev.Kind != llm.EventStart {
		t.Fatalf("first event = %v, %v", ev, err)
	}
	cancel()
	_, err = s.Next()
	var pe *provider.Error
	if !errors.As(err, &pe) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel = %v, want a provider error wrapping context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream connection still open after cancellation")
	}
}

func TestAdapter_CloseClosesUpstream(t *testing.T) {
	srv, gone := blockingUpstream(t)
	s, err := newTestAdapter(t, srv.URL, nil).ChatStream(context.Background(), chatRequest("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream connection still open after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestAdapter_Timeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	a := newTestAdapter(t, srv.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	for name, call := range map[string]func() error{
		"chat":   func() error { _, err := a.Chat(context.Background(), chatRequest("m")); return err },
		"stream": func() error { _, err := a.ChatStream(context.Background(), chatRequest("m")); return err },
	} {
		var pe *provider.Error
		if err := call(); !errors.As(err, &pe) || pe.Kind != provider.KindTimeout {
			t.Errorf("%s: error = %v, want a timeout", name, err)
		}
	}
}

// TestAdapter_StreamOutlivesTimeout checks that Timeout bounds only the
// wait for a stream's headers, not the stream.
func TestAdapter_StreamOutlivesTimeout(t *testing.T) {
	frames := encodeFrames(t, sampleEvents(), 0)
	_, srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", eventStreamContentType)
		w.Write(frames[:30])
		w.(http.Flusher).Flush()
		time.Sleep(150 * time.Millisecond)
		w.Write(frames[30:])
	})
	a := newTestAdapter(t, srv.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	s, err := a.ChatStream(context.Background(), chatRequest("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, err := range llm.All(s) {
		if err != nil {
			t.Fatalf("stream failed after the header timeout: %v", err)
		}
	}
}

func TestNew(t *testing.T) {
	creds := Credentials{AccessKeyID: "a", SecretAccessKey: "b"}
	for _, tc := range []struct {
		name    string
		o       Options
		wantErr string
		wantURL string
	}{
		{"default_endpoint", Options{Name: "n", Region: "eu-central-1", Credentials: creds}, "", "https://bedrock-runtime.eu-central-1.amazonaws.com"},
		{"default_chain", Options{Name: "n", Region: "us-east-1"}, "", "https://bedrock-runtime.us-east-1.amazonaws.com"},
		{"api_key_custom_endpoint_no_region", Options{Name: "n", APIKey: "k", BaseURL: "http://127.0.0.1:9/"}, "", "http://127.0.0.1:9"},
		{"no_name", Options{Region: "r"}, "name", ""},
		{"no_region", Options{Name: "n", Credentials: creds}, "region", ""},
		{"half_credentials", Options{Name: "n", Region: "r", Credentials: Credentials{AccessKeyID: "a"}}, "secret", ""},
		{"token_only", Options{Name: "n", Region: "r", Credentials: Credentials{SessionToken: "t"}}, "access key", ""},
		{"keys_and_api_key", Options{Name: "n", Region: "r", Credentials: creds, APIKey: "k"}, "not both", ""},
		{"bad_scheme", Options{Name: "n", Region: "r", BaseURL: "ftp://x"}, "base URL", ""},
		{"query", Options{Name: "n", Region: "r", BaseURL: "https://x/?a=1"}, "base URL", ""},
		{"negative_timeout", Options{Name: "n", Region: "r", Timeout: -time.Second}, "timeout", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.base != tc.wantURL || a.Name() != "n" {
				t.Errorf("base = %q, name = %q", a.base, a.Name())
			}
		})
	}
}
