package fakecloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genai"
)

// vertexTokens is a token source over fakecloud's OAuth endpoint, as a
// service account's would be over Google's: it buys an access token with
// an assertion once and sends it as the bearer token of every call.
type vertexTokens struct {
	tokenURL string
	mu       sync.Mutex
	token    string
}

func (v *vertexTokens) get() (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.token != "" {
		return v.token, nil
	}
	seg := func(x any) string {
		b, _ := json.Marshal(x)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	// With no registered accounts fakecloud takes any signature.
	assertion := seg(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		seg(map[string]any{"iss": "sdk@test.iam.gserviceaccount.com", "aud": v.tokenURL, "scope": cloudPlatformScope, "iat": now, "exp": now + 3600}) +
		"." + base64.RawURLEncoding.EncodeToString([]byte("sig"))
	resp, err := http.PostForm(v.tokenURL, url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", err
	}
	v.token = tok.AccessToken
	return v.token, nil
}

func (v *vertexTokens) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := v.get()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return http.DefaultTransport.RoundTrip(r)
}

// TestVertex_GenAISDK drives the official Gen AI SDK in Vertex AI mode
// against the /vertex prefix: the URLs it builds, the bodies it sends and
// the answers it parses are those of the wire the Vertex channel is tested
// against.
func TestVertex_GenAISDK(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	ctx := context.Background()
	c, err := genai.NewClient(ctx, &genai.ClientConfig{Backend: genai.BackendVertexAI, Project: "test-project", Location: "us-central1",
		HTTPClient:  &http.Client{Transport: &vertexTokens{tokenURL: ts.URL + VertexTokenPath}},
		HTTPOptions: genai.HTTPOptions{BaseURL: ts.URL + "/vertex/"}})
	if err != nil {
		t.Fatal(err)
	}
	const model = "gemini-2.5-flash"
	cfg := &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser)}
	prompt := genai.Text("Hello Vertex")

	resp, err := c.Models.GenerateContent(ctx, model, prompt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Text(); !strings.HasPrefix(got, "Echo: Hello Vertex") {
		t.Errorf("text %q", got)
	}
	if u := resp.UsageMetadata; u == nil || u.PromptTokenCount <= 0 || u.CandidatesTokenCount <= 0 {
		t.Errorf("usage %+v", resp.UsageMetadata)
	}
	recs := s.Records()
	want := "/vertex/v1beta1/projects/test-project/locations/us-central1/publishers/google/models/" + model + ":generateContent"
	if last := recs[len(recs)-1]; last.Cloud != "vertex" || last.Path != want || last.Status != http.StatusOK {
		t.Errorf("record %+v, want %s", last, want)
	}

	var streamed strings.Builder
	chunks := 0
	for chunk, err := range c.Models.GenerateContentStream(ctx, model, prompt, cfg) {
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		streamed.WriteString(chunk.Text())
	}
	if chunks < 2 || streamed.String() != resp.Text() {
		t.Errorf("%d chunks of %q, want the answer %q in pieces", chunks, streamed.String(), resp.Text())
	}

	count, err := c.Models.CountTokens(ctx, model, prompt, &genai.CountTokensConfig{SystemInstruction: cfg.SystemInstruction})
	if err != nil {
		t.Fatal(err)
	}
	if count.TotalTokens != resp.UsageMetadata.PromptTokenCount {
		t.Errorf("countTokens %d, the same prompt's usage %d", count.TotalTokens, resp.UsageMetadata.PromptTokenCount)
	}

	// A function call and its result, round trip.
	tools := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: "get_weather", Description: "Current weather in a city",
		ParametersJsonSchema: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
	}}}}, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}}}
	ask := genai.Text("What is the weather in Paris?")
	call, err := c.Models.GenerateContent(ctx, model, ask, tools)
	if err != nil {
		t.Fatal(err)
	}
	fcs := call.FunctionCalls()
	if len(fcs) != 1 || fcs[0].Name != "get_weather" {
		t.Fatalf("function calls %+v", fcs)
	}
	history := append(ask, call.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("get_weather", map[string]any{"result": "sunny"}, genai.RoleUser))
	tools.ToolConfig = nil
	final, err := c.Models.GenerateContent(ctx, model, history, tools)
	if err != nil {
		t.Fatal(err)
	}
	if final.Text() == "" {
		t.Errorf("no answer after the function result: %+v", final.Candidates)
	}

	// A token fakecloud did not issue is Google's 401, which the SDK reports as an APIError.
	bad, err := genai.NewClient(ctx, &genai.ClientConfig{Backend: genai.BackendVertexAI, Project: "test-project", Location: "us-central1",
		HTTPClient:  &http.Client{Transport: &vertexTokens{tokenURL: ts.URL + VertexTokenPath, token: "ya29.made-up"}},
		HTTPOptions: genai.HTTPOptions{BaseURL: ts.URL + "/vertex/"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Models.GenerateContent(ctx, model, prompt, nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusUnauthorized || apiErr.Status != "UNAUTHENTICATED" {
		t.Errorf("an unissued token: %v, want 401 UNAUTHENTICATED", err)
	}
}

// TestVertex_ClaudeCountTokens: count-tokens:rawPredict counts a Messages
// body naming its model as rawPredict bills the same conversation, and
// refuses one without a model.
func TestVertex_ClaudeCountTokens(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	tok, err := (&vertexTokens{tokenURL: ts.URL + VertexTokenPath}).get()
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	base := ts.URL + "/vertex/v1/projects/p/locations/us-east5/publishers/anthropic/models/"
	const msgs = `"system":"Be brief.","messages":[{"role":"user","content":"How many tokens is this?"}]`
	status, _, b := do(t, "POST", base+"claude-sonnet-4-5@20250929:rawPredict", auth, `{"anthropic_version":"vertex-2023-10-16","max_tokens":20,`+msgs+`}`)
	if status != http.StatusOK {
		t.Fatalf("rawPredict: %d %s", status, b)
	}
	billed := decode(t, b)["usage"].(map[string]any)["input_tokens"]
	status, _, b = do(t, "POST", base+"count-tokens:rawPredict", auth, `{"model":"claude-sonnet-4-5@20250929",`+msgs+`}`)
	if status != http.StatusOK || decode(t, b)["input_tokens"] != billed {
		t.Errorf("count-tokens: %d %s, want input_tokens %v", status, b, billed)
	}
	if status, _, b = do(t, "POST", base+"count-tokens:rawPredict", auth, `{`+msgs+`}`); status != http.StatusBadRequest {
		t.Errorf("without a model: %d %s, want 400", status, b)
	}
	if status, _, _ = do(t, "POST", base+"count-tokens:rawPredict", nil, `{"model":"m",`+msgs+`}`); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", status)
	}
}
