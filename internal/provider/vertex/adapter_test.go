package vertex_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"switchyard/internal/fakecloud"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/providertest"
	"switchyard/internal/provider/vertex"
)

// cloud is fakecloud on loopback, knowing the test service account, with
// a count of the token requests it answered.
type cloud struct {
	fake   *fakecloud.Server
	url    string
	tokens atomic.Int64
}

func startCloud(t *testing.T) *cloud {
	t.Helper()
	c := &cloud{fake: fakecloud.New(fakecloud.Options{
		ServiceAccounts: map[string]*rsa.PublicKey{testAccount: &testKey().PublicKey},
	})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == fakecloud.VertexTokenPath {
			c.tokens.Add(1)
		}
		c.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// channel builds a channel on c whose credentials are a service-account
// key file signed with key.
func (c *cloud) channel(t *testing.T, key *rsa.PrivateKey) *vertex.Adapter {
	t.Helper()
	ts, err := vertex.Tokens(t.Context(), keyFile(t, c.url+fakecloud.VertexTokenPath, key), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := vertex.New(vertex.Options{Name: "vertex-test", Project: "test-project", Region: "us-east5",
		BaseURL: c.url + "/vertex", Tokens: ts, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func hello(model string) *llm.Request {
	return &llm.Request{Model: model, MaxTokens: 64,
		System:   []llm.Part{llm.Text("Be brief.")},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("Hello?")}}}}
}

func text(r *llm.Response) string {
	var b strings.Builder
	for _, p := range r.Message.Parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

func drain(t *testing.T, s llm.Stream) string {
	t.Helper()
	defer s.Close()
	var text strings.Builder
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return text.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(ev.Text)
	}
}

// TestTokens_ServiceAccountKeyFile: a key file's token_uri is where the
// token comes from, the assertion is checked against the account's public
// key, and one token serves every call until it expires.
func TestTokens_ServiceAccountKeyFile(t *testing.T) {
	c := startCloud(t)
	a := c.channel(t, testKey())
	for _, model := range []string{"gemini-2.5-flash", "claude-sonnet-4-5@20250929"} {
		resp, err := a.Chat(t.Context(), hello(model))
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if got := text(resp); !strings.HasPrefix(got, "Echo: Hello?") {
			t.Errorf("%s answered %q", model, got)
		}
		s, err := a.ChatStream(t.Context(), hello(model))
		if err != nil {
			t.Fatalf("%s stream: %v", model, err)
		}
		if got := drain(t, s); !strings.HasPrefix(got, "Echo: Hello?") {
			t.Errorf("%s streamed %q", model, got)
		}
	}
	if n := c.tokens.Load(); n != 1 {
		t.Errorf("%d token requests for four calls, want 1 (the token is cached)", n)
	}
}

// TestTokens_UnknownKey: an assertion signed by a key the account does not
// have buys no token, and the call fails as an authentication error
// before reaching the model.
func TestTokens_UnknownKey(t *testing.T) {
	c := startCloud(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a := c.channel(t, other)
	_, err = a.Chat(t.Context(), hello("gemini-2.5-flash"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindAuth || pe.Status != http.StatusBadRequest {
		t.Fatalf("Chat with an unknown key: %v, want an authentication error with the token endpoint's 400", err)
	}
	for _, r := range c.fake.Records() {
		if r.Cloud == "vertex" {
			t.Errorf("a request reached the model without a token: %s", r.Path)
		}
	}
}

// TestTokens_FileErrors: a missing, non-JSON or unsupported credentials
// file is refused when the channel is built, naming the file.
func TestTokens_FileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, path := range map[string]string{
		"missing":  dir + "/absent.json",
		"not_json": write("junk.json", "not json"),
		"bad_type": write("url.json", `{"type":"url_sourced","url":"http://example.invalid/"}`),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := vertex.Tokens(t.Context(), path, nil); err == nil || !strings.Contains(err.Error(), "credentials file") {
				t.Errorf("Tokens(%s) = %v, want an error about the credentials file", path, err)
			}
		})
	}
}

// TestGolden_Wire records what reaches Vertex for each publisher and call:
// the URL (project, location, publisher, model, method) and the body, with
// Claude's model moved to the URL and anthropic_version in the body.
func TestGolden_Wire(t *testing.T) {
	c := startCloud(t)
	a := c.channel(t, testKey())
	raw := &llm.Request{Model: "claude-sonnet-4-5@20250929", Raw: &llm.Raw{Dialect: anthropic.Dialect,
		Body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello?"}],"metadata":{"user_id":"u-1"}}`)}}
	cases := []struct {
		name   string
		req    *llm.Request
		stream bool
	}{
		{"gemini_generate", hello("gemini-2.5-flash"), false},
		{"gemini_stream", hello("gemini-2.5-flash"), true},
		{"claude_raw_predict", hello("claude-sonnet-4-5@20250929"), false},
		{"claude_stream_raw_predict", hello("claude-sonnet-4-5@20250929"), true},
		{"claude_anthropic_client_body", raw, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.fake.Reset()
			if tc.stream {
				s, err := a.ChatStream(t.Context(), tc.req)
				if err != nil {
					t.Fatal(err)
				}
				drain(t, s)
			} else if _, err := a.Chat(t.Context(), tc.req); err != nil {
				t.Fatal(err)
			}
			// fakecloud records a stream once its handler has returned,
			// which can be after the client read the last event.
			var recs []fakecloud.Record
			for deadline := time.Now().Add(5 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				for _, r := range c.fake.Records() {
					if r.Cloud == "vertex" {
						recs = append(recs, r)
					}
				}
			}
			if len(recs) != 1 || recs[0].Status != http.StatusOK {
				t.Fatalf("records: %+v, want one answered request", recs)
			}
			var body any
			if err := json.Unmarshal(recs[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, "testdata/"+tc.name+".json", map[string]any{"path": recs[0].Path, "body": body})
		})
	}
}

// TestErrors_BothShapes: Vertex answers platform errors in Google's shape
// and Claude's own errors in Anthropic's; both are classified.
func TestErrors_BothShapes(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		kind       provider.Kind
		message    string
	}{
		{"google_quota", `{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}`,
			429, provider.KindRateLimited, "Quota exceeded"},
		{"google_permission", `{"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' denied","status":"PERMISSION_DENIED"}}`,
			403, provider.KindPermission, "aiplatform.endpoints.predict"},
		{"google_not_found", `{"error":{"code":404,"message":"Publisher Model was not found","status":"NOT_FOUND"}}`,
			404, provider.KindNotFound, "not found"},
		{"claude_overloaded", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			529, provider.KindOverloaded, "Overloaded"},
		{"claude_invalid", `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 300000 tokens > 200000 maximum"}}`,
			400, provider.KindContextLength, "prompt is too long"},
		{"not_json", `<html>bad gateway</html>`, 502, provider.KindUnavailable, "bad gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" {
					t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			a, err := vertex.New(vertex.Options{Name: "v", Project: "p", Region: "global", BaseURL: srv.URL,
				Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})})
			if err != nil {
				t.Fatal(err)
			}
			for _, model := range []string{"gemini-2.5-pro", "claude-opus-4-1@20250805"} {
				_, err := a.Chat(t.Context(), hello(model))
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Status != tc.status || !strings.Contains(pe.Message, tc.message) {
					t.Errorf("%s: %v (kind %v), want %v with status %d and %q", model, err, pe.Kind, tc.kind, tc.status, tc.message)
				}
			}
		})
	}
}

// TestModels_Publisher: Claude models go to Anthropic's publisher, full
// resource names keep theirs, other publishers are refused before any
// request.
func TestModels_Publisher(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	a, err := vertex.New(vertex.Options{Name: "v", Project: "my-proj", Region: "europe-west4", BaseURL: srv.URL,
		Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"gemini-2.5-flash", "models/gemini-2.0-flash-001", "claude-3-5-haiku@20241022", "publishers/google/models/gemini-2.5-pro"} {
		_, _ = a.Chat(t.Context(), hello(m))
	}
	want := []string{
		"/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
		"/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001:generateContent",
		"/v1/projects/my-proj/locations/europe-west4/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict",
		"/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("paths:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	n := len(paths)
	if _, err := a.Chat(t.Context(), hello("publishers/meta/models/llama-4")); !errors.Is(err, llm.ErrUnsupported) {
		t.Errorf("a Meta model: %v, want ErrUnsupported", err)
	}
	if len(paths) != n {
		t.Error("a refused model reached the upstream")
	}
}

func TestBaseURL(t *testing.T) {
	for region, want := range map[string]string{
		"us-east5":     "https://us-east5-aiplatform.googleapis.com",
		"europe-west1": "https://europe-west1-aiplatform.googleapis.com",
		"global":       "https://aiplatform.googleapis.com",
		"us":           "https://aiplatform.us.rep.googleapis.com",
		"eu":           "https://aiplatform.eu.rep.googleapis.com",
	} {
		if got := vertex.BaseURL(region); got != want {
			t.Errorf("BaseURL(%q) = %q, want %q", region, got, want)
		}
	}
}

func TestNew_Required(t *testing.T) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})
	for name, o := range map[string]vertex.Options{
		"project": {Region: "us-east5", Tokens: ts},
		"region":  {Project: "p", Tokens: ts},
		"token":   {Project: "p", Region: "us-east5"},
	} {
		if _, err := vertex.New(o); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("New without %s: %v", name, err)
		}
	}
}
