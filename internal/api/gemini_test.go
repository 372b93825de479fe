package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genai"

	"switchyard/internal/admin"
)

// headerCatcher keeps the headers of the last answer an SDK got, which
// genai's APIError does not carry.
type headerCatcher struct {
	mu   sync.Mutex
	last http.Header
}

func (c *headerCatcher) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.last = resp.Header.Clone()
		c.mu.Unlock()
	}
	return resp, err
}

// askLimitGemini asks through the Gemini door with the official Go SDK.
// retries is not passed on: genai retries only when configured to, and its
// retries read neither Retry-After nor x-should-retry, so a client that
// turns them on retries a spent budget too (see docs/compatibility.md).
func askLimitGemini(t *testing.T, url string, key *admin.Issued, stream bool, retries int) (http.Header, error) {
	t.Helper()
	hc := &headerCatcher{}
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key.Secret, Backend: genai.BackendGeminiAPI,
		HTTPClient: &http.Client{Transport: hc}, HTTPOptions: genai.HTTPOptions{BaseURL: url + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if stream {
		for _, err = range c.Models.GenerateContentStream(context.Background(), "via-openai", genai.Text("Hello"), nil) {
			if err != nil {
				break
			}
		}
	} else {
		_, err = c.Models.GenerateContent(context.Background(), "via-openai", genai.Text("Hello"), nil)
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.last == nil {
		t.Fatalf("no answer: %v", err)
	}
	return hc.last, err
}

func geminiAPIError(t *testing.T, err error) genai.APIError {
	t.Helper()
	var e genai.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a genai.APIError", err, err)
	}
	return e
}

func checkLimitGemini(t *testing.T, err error, budget bool) {
	t.Helper()
	e := geminiAPIError(t, err)
	word := "Rate limit"
	if budget {
		word = "budget"
	}
	if e.Code != http.StatusTooManyRequests || e.Status != "RESOURCE_EXHAUSTED" || !strings.Contains(e.Message, word) {
		t.Errorf("error %d %s %q, want 429 RESOURCE_EXHAUSTED saying %q", e.Code, e.Status, e.Message, word)
	}
	// A retryable refusal carries RetryInfo, as the API's do; a spent
	// budget is not retryable.
	hasRetry := false
	for _, d := range e.Details {
		hasRetry = hasRetry || d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
	}
	if hasRetry == budget {
		t.Errorf("details %v: RetryInfo present %v on a budget refusal %v", e.Details, hasRetry, budget)
	}
}

func checkOverloadGemini(t *testing.T, err error) {
	t.Helper()
	e := geminiAPIError(t, err)
	if e.Code != http.StatusServiceUnavailable || e.Status != "UNAVAILABLE" || e.Message == "" {
		t.Errorf("error %d %s %q, want 503 UNAVAILABLE", e.Code, e.Status, e.Message)
	}
}

// geminiPost sends a raw request to the Gemini door.
func geminiPost(t *testing.T, h *harness, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestGemini_ClientBytesToGeminiChannels checks the same-dialect path: a
// Gemini channel gets the client's body as sent, safety settings and all,
// while another channel gets a translation without them.
func TestGemini_ClientBytesToGeminiChannels(t *testing.T) {
	h := newHarness(t)
	body := `{"contents":[{"role":"user","parts":[{"text":"Hello"}]}],` +
		`"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_ONLY_HIGH"}],` +
		`"generationConfig":{"temperature":0.5}}`
	for _, model := range []string{"via-gemini", "via-openai"} {
		resp, b := geminiPost(t, h, "/v1beta/models/"+model+":generateContent", body, "X-Goog-Api-Key", h.key.Secret)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", model, resp.StatusCode, b)
		}
		rec := h.records(t, 1)[0]
		sent := strings.Contains(string(rec.Body), "BLOCK_ONLY_HIGH")
		if model == "via-gemini" {
			var got, want any
			_ = json.Unmarshal(rec.Body, &got)
			_ = json.Unmarshal([]byte(body), &want)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) || rec.Model != "gemini-2.5-flash" {
				t.Errorf("gemini channel got %s for model %q, want the client's body", rec.Body, rec.Model)
			}
		} else if sent {
			t.Errorf("openai channel got the safety settings: %s", rec.Body)
		}
	}
}

// TestGemini_KeyPlacesAndRefusals checks the key in x-goog-api-key, ?key=
// and Authorization, and the refusals of each kind in Google's shape.
func TestGemini_KeyPlacesAndRefusals(t *testing.T) {
	h := newHarness(t)
	const body = `{"contents":[{"parts":[{"text":"Hello"}]}]}`
	const path = "/v1beta/models/via-anthropic:generateContent"
	for _, tc := range []struct {
		name   string
		path   string
		hdr    []string
		code   int
		status string
	}{
		{"header", path, []string{"X-Goog-Api-Key", h.key.Secret}, 200, ""},
		{"query", path + "?key=" + h.key.Secret, nil, 200, ""},
		{"bearer", path, []string{"Authorization", "Bearer " + h.key.Secret}, 200, ""},
		{"v1_prefix", "/v1/models/via-anthropic:generateContent", []string{"X-Goog-Api-Key", h.key.Secret}, 200, ""},
		{"missing", path, nil, 401, "UNAUTHENTICATED"},
		{"wrong", path, []string{"X-Goog-Api-Key", "sk-sy-nope"}, 401, "UNAUTHENTICATED"},
		{"unknown_model", "/v1beta/models/nope:generateContent", []string{"X-Goog-Api-Key", h.key.Secret}, 404, "NOT_FOUND"},
		{"unknown_method", "/v1beta/models/via-anthropic:frobnicate", []string{"X-Goog-Api-Key", h.key.Secret}, 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := geminiPost(t, h, tc.path, body, tc.hdr...)
			if tc.code == 200 {
				if resp.StatusCode != 200 || !strings.Contains(string(b), `"finishReason":"STOP"`) {
					t.Errorf("%d %s", resp.StatusCode, b)
				}
				h.records(t, 1)
				return
			}
			var e struct {
				Error struct {
					Code    int
					Message string
					Status  string
				}
			}
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != tc.code || e.Error.Code != tc.code || e.Error.Status != tc.status || e.Error.Message == "" {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, b, tc.code, tc.status)
			}
			noUpstream(t, h)
		})
	}

	// A key the tenant may not use for a model is PERMISSION_DENIED.
	narrow := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "narrow", AllowedModels: []string{"via-openai"}})
	resp, b := geminiPost(t, h, path, body, "X-Goog-Api-Key", narrow.Secret)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), `"PERMISSION_DENIED"`) {
		t.Errorf("not allowed: %d %s", resp.StatusCode, b)
	}
	noUpstream(t, h)
}

// TestGemini_StreamFailsInShape checks a failure after the stream began:
// the error is the stream's last element, in both stream forms.
func TestGemini_StreamFailsInShape(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.maxStream = 40 })
	const body = `{"contents":[{"parts":[{"text":"a long answer that runs well past the cap of this gateway"}]}]}`
	for _, sse := range []bool{true, false} {
		path := "/v1beta/models/via-openai:streamGenerateContent"
		if sse {
			path += "?alt=sse"
		}
		resp, b := geminiPost(t, h, path, body, "X-Goog-Api-Key", h.key.Secret)
		h.records(t, 1)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		var last map[string]json.RawMessage
		if sse {
			lines := strings.Split(strings.TrimSpace(string(b)), "\r\n\r\n")
			if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[len(lines)-1], "data: ")), &last); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
		} else {
			var all []map[string]json.RawMessage
			if err := json.Unmarshal(b, &all); err != nil || len(all) < 2 {
				t.Fatalf("not a JSON array of chunks (%v): %s", err, b)
			}
			last = all[len(all)-1]
		}
		if !strings.Contains(string(last["error"]), `"status":"`) {
			t.Errorf("sse %v: last element %s is not an error", sse, b)
		}
	}
}

// TestGemini_Models lists and reads models in Gemini's shape, also at
// OpenAI's /v1/models when the request carries a Gemini key.
func TestGemini_Models(t *testing.T) {
	h := newHarness(t)
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, h.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path string
		hdr        []string
		code       int
		want       string
	}{
		{"list", "/v1beta/models", []string{"X-Goog-Api-Key", h.key.Secret}, 200, `"name":"models/via-gemini"`},
		{"list_v1_query_key", "/v1/models?key=" + h.key.Secret, nil, 200, `"name":"models/via-openai"`},
		{"list_v1_openai", "/v1/models", []string{"Authorization", "Bearer " + h.key.Secret}, 200, `"object":"list"`},
		{"get", "/v1beta/models/via-bedrock", []string{"X-Goog-Api-Key", h.key.Secret}, 200, `"supportedGenerationMethods":["generateContent"`},
		{"get_unknown", "/v1beta/models/nope", []string{"X-Goog-Api-Key", h.key.Secret}, 404, `"status":"NOT_FOUND"`},
		{"no_key", "/v1beta/models", nil, 401, `"status":"UNAUTHENTICATED"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.path, tc.hdr...)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d with %s", code, body, tc.code, tc.want)
			}
		})
	}
}

// TestGemini_EmbedAndCountBodies checks what the small bodies refuse, each
// naming the member.
func TestGemini_EmbedAndCountBodies(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		batch      bool
		msg        string
	}{
		{"other_model", `{"requests":[{"model":"models/b","content":{"parts":[{"text":"x"}]}}]}`, true, "requests[0].model"},
		{"dimensions_differ", `{"requests":[{"content":{"parts":[{"text":"x"}]},"outputDimensionality":8},{"content":{"parts":[{"text":"y"}]}}]}`, true, "requests[1].outputDimensionality"},
		{"task_type", `{"content":{"parts":[{"text":"x"}]},"taskType":"RETRIEVAL_DOCUMENT"}`, false, "taskType"},
		{"unknown_member", `{"content":{"parts":[{"text":"x"}]},"autoTruncate":true}`, false, "autoTruncate"},
		{"no_text", `{"content":{"parts":[]}}`, false, "no text"},
		{"empty_batch", `{"requests":[]}`, true, "at least one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := embedBody([]byte(tc.body), "a", tc.batch)
			if err == nil || classify(err).Status != http.StatusBadRequest || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want a 400 naming %q", err, tc.msg)
			}
		})
	}
	if _, err := countTokensBody([]byte(`{"contents":[{"parts":[{"text":"x"}]}],"generateContentRequest":{"contents":[]}}`), "a"); err == nil {
		t.Error("contents and generateContentRequest together were accepted")
	}
	req, err := countTokensBody([]byte(`{"generateContentRequest":{"model":"models/a","contents":[{"parts":[{"text":"x"}]}],"systemInstruction":{"parts":[{"text":"s"}]}}}`), "a")
	if err != nil || len(req.System) != 1 || len(req.Messages) != 1 {
		t.Errorf("generateContentRequest: %+v, %v", req, err)
	}
}
