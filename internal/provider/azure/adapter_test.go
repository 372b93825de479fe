package azure

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
)

// seen is what the fake Azure resource received.
type seen struct {
	Path, RawQuery string
	Header         http.Header
	Body           []byte
}

// fakeAzure starts a server that records each request and answers with h.
func fakeAzure(t *testing.T, h http.HandlerFunc) (url string, last func() seen) {
	t.Helper()
	var mu sync.Mutex
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = seen{Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
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

func jsonAnswer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const okAnswer = `{"id":"chatcmpl-az","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop","content_filter_results":{}}],` +
	`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},"prompt_filter_results":[]}`

func request(model string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("Hello")}}}}
}

func TestAdapter_URLs(t *testing.T) {
	for _, tc := range []struct {
		name, version, deployment, path, query string
	}{
		{"default_version", "", "gpt-4o-prod", "/openai/deployments/gpt-4o-prod/chat/completions", "api-version=2024-10-21"},
		{"preview_version", "2025-04-01-preview", "gpt-4o-prod", "/openai/deployments/gpt-4o-prod/chat/completions", "api-version=2025-04-01-preview"},
		{"escaped_deployment", "2024-10-21", "team a/gpt?4", "/openai/deployments/team%20a%2Fgpt%3F4/chat/completions", "api-version=2024-10-21"},
		{"v1", "v1", "gpt-4o-prod", "/openai/v1/chat/completions", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, last := fakeAzure(t, jsonAnswer(200, okAnswer))
			a := New(Options{Name: "az", BaseURL: url + "/", APIKey: "azure-key", APIVersion: tc.version})
			resp, err := a.Chat(context.Background(), request(tc.deployment))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Message.Parts[0].Text != "Hi" {
				t.Errorf("response %+v", resp)
			}
			s := last()
			if s.Path != tc.path || s.RawQuery != tc.query {
				t.Errorf("request to %s?%s, want %s?%s", s.Path, s.RawQuery, tc.path, tc.query)
			}
			var body struct{ Model string }
			if err := json.Unmarshal(s.Body, &body); err != nil || body.Model != tc.deployment {
				t.Errorf("body model = %q (%v), want the deployment", body.Model, err)
			}
		})
	}
}

func TestAdapter_Auth(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          Options
		apiKey     string
		authHeader string
	}{
		{"api_key", Options{APIKey: "azure-key"}, "azure-key", ""},
		{"entra_token", Options{APIKey: "azure-key", TokenSource: func(context.Context) (string, error) { return "eyJ.token", nil }}, "", "Bearer eyJ.token"},
		{"none", Options{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, last := fakeAzure(t, jsonAnswer(200, okAnswer))
			tc.o.Name, tc.o.BaseURL = "az", url
			if _, err := New(tc.o).Chat(context.Background(), request("d")); err != nil {
				t.Fatal(err)
			}
			h := last().Header
			if h.Get("Api-Key") != tc.apiKey || h.Get("Authorization") != tc.authHeader {
				t.Errorf("api-key %q, Authorization %q; want %q, %q", h.Get("Api-Key"), h.Get("Authorization"), tc.apiKey, tc.authHeader)
			}
		})
	}
}

func TestAdapter_TokenSourceError(t *testing.T) {
	url, last := fakeAzure(t, jsonAnswer(200, okAnswer))
	a := New(Options{Name: "az", BaseURL: url, TokenSource: func(context.Context) (string, error) {
		return "", errors.New("AADSTS700016: application not found")
	}})
	_, err := a.Chat(context.Background(), request("d"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindAuth || !strings.Contains(pe.Error(), "AADSTS700016") {
		t.Errorf("error = %v, want an auth error carrying the cause", err)
	}
	if last().Path != "" {
		t.Error("a request was sent without credentials")
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
	}{
		{"deployment_not_found", 404, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`,
			nil, provider.KindNotFound, 0},
		{"missing_api_version", 404, `{"error":{"code":"404","message":"Resource not found"}}`, nil, provider.KindNotFound, 0},
		{"rate_limited", 429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit. Please retry after 12 seconds."}}`,
			[]string{"Retry-After", "12"}, provider.KindRateLimited, 12 * time.Second},
		{"content_filter", 400, `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,` +
			`"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}`,
			nil, provider.KindContentFiltered, 0},
		{"bad_key", 401, `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}`,
			nil, provider.KindAuth, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := fakeAzure(t, jsonAnswer(tc.status, tc.body, tc.header...))
			_, err := New(Options{Name: "az", BaseURL: url, APIKey: "k"}).Chat(context.Background(), request("d"))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *provider.Error", err)
			}
			if pe.Kind != tc.kind || pe.Status != tc.status || pe.RetryAfter != tc.retryAfter || pe.Provider != "az" {
				t.Errorf("error = %+v, want kind %v, status %d, retry after %v", pe, tc.kind, tc.status, tc.retryAfter)
			}
		})
	}
}

// TestAdapter_ChatStream plays a recorded Azure stream, with its leading
// prompt-filter chunk and a delta-less content-filter chunk.
func TestAdapter_ChatStream(t *testing.T) {
	stream, err := os.ReadFile("testdata/filter_chunks.sse")
	if err != nil {
		t.Fatal(err)
	}
	url, last := fakeAzure(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(stream)
	})
	s, err := New(Options{Name: "az", BaseURL: url, APIKey: "k"}).ChatStream(context.Background(), request("gpt-4o-prod"))
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
	want := &llm.Response{ID: "chatcmpl-az", Model: "gpt-4o-2024-08-06",
		Message:      llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("Bonjour")}},
		FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 9, OutputTokens: 2}}
	if diff := cmp.Diff(want, acc.Response()); diff != "" || !acc.Stopped() {
		t.Errorf("accumulated (-want +got):\n%s", diff)
	}
	if s := last(); s.Path != "/openai/deployments/gpt-4o-prod/chat/completions" || !strings.Contains(string(s.Body), `"stream_options":{"include_usage":true}`) {
		t.Errorf("sent %s %s", s.Path, s.Body)
	}
}

func TestAdapter_Embed(t *testing.T) {
	url, last := fakeAzure(t, jsonAnswer(200, `{"object":"list","model":"text-embedding-3-large","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.5]}],"usage":{"prompt_tokens":2,"total_tokens":2}}`))
	got, err := New(Options{Name: "az", BaseURL: url, APIKey: "k", APIVersion: "2024-10-21"}).
		Embed(context.Background(), &llm.EmbedRequest{Model: "emb-prod", Inputs: []string{"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]float32{{0.5, -0.5}}, got.Vectors); diff != "" {
		t.Errorf("vectors (-want +got):\n%s", diff)
	}
	if s := last(); s.Path != "/openai/deployments/emb-prod/embeddings" || s.RawQuery != "api-version=2024-10-21" {
		t.Errorf("sent to %s?%s", s.Path, s.RawQuery)
	}
}

// TestAdapter_RawFastPath checks that an OpenAI client's body goes to a
// deployment with only its model replaced.
func TestAdapter_RawFastPath(t *testing.T) {
	url, last := fakeAzure(t, jsonAnswer(200, okAnswer))
	req := request("gpt-4o-prod")
	req.Raw = &llm.Raw{Dialect: openai.RawDialectChat, Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}],"data_sources":[{"type":"azure_search"}]}`)}
	if _, err := New(Options{Name: "az", BaseURL: url, APIKey: "k"}).Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := `{"model":"gpt-4o-prod","messages":[{"role":"user","content":"Hello"}],"data_sources":[{"type":"azure_search"}]}`
	if got := string(last().Body); got != want {
		t.Errorf("forwarded %s, want %s", got, want)
	}
}
