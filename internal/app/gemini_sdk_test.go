package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/genai"

	"switchyard/internal/admin"
)

// geminiConfig serves the same conversation from every kind of channel:
// fakecloud answers a conversation the same way on every cloud, so a
// Gemini client must get the same answer whichever channel serves it.
const geminiConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: gemini-sim, type: gemini, base_url: FAKECLOUD/gemini, api_key_env: SIM_KEY}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
  - {name: anthropic-sim, type: anthropic, base_url: FAKECLOUD/anthropic, api_key_env: SIM_KEY}
  - {name: bedrock-sim, type: bedrock, base_url: FAKECLOUD/bedrock, region: us-east-1, access_key_id_env: SIM_AWS_ID, secret_access_key_env: SIM_AWS_SECRET}
models:
  - name: gemini-2.5-flash
    offerings: [{provider: gemini-sim, price: {input_per_mtok: 0.3, output_per_mtok: 2.5}}]
  - name: gpt-4o-mini
    offerings: [{provider: openai-sim, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}]
  - name: claude-sonnet-4
    offerings: [{provider: anthropic-sim, upstream_model: claude-sonnet-4-20250514, price: {input_per_mtok: 3, output_per_mtok: 15}}]
  - name: nova-pro
    offerings: [{provider: bedrock-sim, upstream_model: amazon.nova-pro-v1:0, price: {input_per_mtok: 0.8, output_per_mtok: 3.2}}]
  - name: text-embedding-3-small
    offerings: [{provider: openai-sim, price: {input_per_mtok: 0.02}}]
`

// geminiChannels are the models of geminiConfig, one per channel type.
var geminiChannels = []string{"gemini-2.5-flash", "gpt-4o-mini", "claude-sonnet-4", "nova-pro"}

func geminiClient(t *testing.T, g *testGateway, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: g.base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tag is fakecloud's "[turns=N history=H ...]" suffix, which names the
// conversation the upstream saw.
var tagRE = regexp.MustCompile(`\[turns=\d+ history=[0-9a-f]{8}[^\]]*\]`)

func TestGeminiSDK_TextOnEveryChannel(t *testing.T) {
	g := startGateway(t, geminiConfig)
	c := geminiClient(t, g, g.key)
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser),
		SafetySettings: []*genai.SafetySetting{{Category: genai.HarmCategoryHarassment, Threshold: genai.HarmBlockThresholdBlockOnlyHigh}}}
	var tags []string
	for _, model := range geminiChannels {
		t.Run(model, func(t *testing.T) {
			resp, err := c.Models.GenerateContent(ctx, model, genai.Text("Hello from Gemini"), cfg)
			if err != nil {
				t.Fatal(err)
			}
			text := resp.Text()
			if !strings.HasPrefix(text, "Echo: Hello from Gemini ") {
				t.Fatalf("text = %q", text)
			}
			tags = append(tags, tagRE.FindString(text))
			cand := resp.Candidates[0]
			if cand.FinishReason != genai.FinishReasonStop || cand.Content.Role != genai.RoleModel {
				t.Errorf("finish %q role %q", cand.FinishReason, cand.Content.Role)
			}
			u := resp.UsageMetadata
			if u == nil || u.PromptTokenCount <= 0 || u.CandidatesTokenCount <= 0 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
				t.Errorf("usage = %+v", u)
			}
			if resp.ModelVersion != model || resp.ResponseID == "" {
				t.Errorf("modelVersion %q responseId %q", resp.ModelVersion, resp.ResponseID)
			}
		})
	}
	// The system instruction reached every channel: the same conversation
	// everywhere, and not the one without it.
	for _, tag := range tags[1:] {
		if tag != tags[0] {
			t.Errorf("channels saw different conversations: %q", tags)
		}
	}
	bare, err := c.Models.GenerateContent(ctx, "gpt-4o-mini", genai.Text("Hello from Gemini"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tagRE.FindString(bare.Text()) == tags[0] {
		t.Errorf("the system instruction did not reach the channel: %q", bare.Text())
	}
	// Usage reached the ledger and the access log (both flushed by
	// shutdown), as from the other front doors.
	if err := g.inst.Shutdown(); err != nil {
		t.Fatal(err)
	}
	sums, err := reopenStore(t, g).SumUsage(ctx, usageFilterAll(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Requests != int64(len(geminiChannels)+1) || sums[0].CostUSD <= 0 {
		t.Errorf("ledger summary %+v, want %d requests with cost", sums, len(geminiChannels)+1)
	}
	logs := g.logs.String()
	if !strings.Contains(logs, `"dialect":"gemini"`) || strings.Contains(logs, g.key) {
		t.Errorf("the access log names no gemini dialect, or holds the key:\n%s", logs)
	}
}

func TestGeminiSDK_Stream(t *testing.T) {
	g := startGateway(t, geminiConfig)
	c := geminiClient(t, g, g.key)
	ctx := context.Background()
	for _, model := range geminiChannels {
		t.Run(model, func(t *testing.T) {
			whole, err := c.Models.GenerateContent(ctx, model, genai.Text("stream these words please"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			var last *genai.GenerateContentResponse
			chunks := 0
			for resp, err := range c.Models.GenerateContentStream(ctx, model, genai.Text("stream these words please"), nil) {
				if err != nil {
					t.Fatal(err)
				}
				chunks++
				text.WriteString(resp.Text())
				last = resp
			}
			if text.String() != whole.Text() || chunks < 3 {
				t.Errorf("streamed %q in %d chunks, want %q in several", text.String(), chunks, whole.Text())
			}
			if last == nil || last.Candidates[0].FinishReason != genai.FinishReasonStop || last.UsageMetadata == nil ||
				last.UsageMetadata.CandidatesTokenCount != whole.UsageMetadata.CandidatesTokenCount {
				t.Errorf("last chunk = %+v", last)
			}
		})
	}

	// Without alt=sse the API streams one JSON array.
	req, _ := http.NewRequest(http.MethodPost, g.base+"/v1beta/models/claude-sonnet-4:streamGenerateContent?key="+g.key,
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"stream these words please"}]}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var chunks []genai.GenerateContentResponse
	if err := json.NewDecoder(resp.Body).Decode(&chunks); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	var text strings.Builder
	for _, ch := range chunks {
		text.WriteString(ch.Text())
	}
	if !strings.HasPrefix(text.String(), "Echo: stream these words please [") || len(chunks) < 3 ||
		chunks[len(chunks)-1].Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Errorf("array stream: %q in %d chunks", text.String(), len(chunks))
	}
}

func weatherDecl() *genai.Tool {
	return &genai.Tool{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: "get_weather", Description: "Current weather for a city",
		Parameters: &genai.Schema{Type: genai.TypeObject, Required: []string{"city"},
			Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}},
	}}}
}

// TestGeminiSDK_FunctionCalling runs the SDK's tool loop on every channel:
// the call comes back with an id, and the function response, with or
// without that id, answers it.
func TestGeminiSDK_FunctionCalling(t *testing.T) {
	g := startGateway(t, geminiConfig)
	c := geminiClient(t, g, g.key)
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{weatherDecl()}}
	for _, model := range geminiChannels {
		for _, withID := range []bool{true, false} {
			name := model + "/without_id"
			if withID {
				name = model + "/with_id"
			}
			t.Run(name, func(t *testing.T) {
				history := genai.Text("call get_weather for the city")
				resp, err := c.Models.GenerateContent(ctx, model, history, cfg)
				if err != nil {
					t.Fatal(err)
				}
				calls := resp.FunctionCalls()
				if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" || calls[0].ID == "" {
					t.Fatalf("calls = %+v", calls)
				}
				history = append(history, resp.Candidates[0].Content)
				fr := genai.NewPartFromFunctionResponse("get_weather", map[string]any{"result": "sunny, 21C"})
				if withID {
					fr.FunctionResponse.ID = calls[0].ID
				}
				history = append(history, genai.NewContentFromParts([]*genai.Part{fr}, genai.RoleUser))
				final, err := c.Models.GenerateContent(ctx, model, history, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if got := final.Text(); !strings.HasPrefix(got, "Tool get_weather returned: sunny, 21C [turns=2 ") {
					t.Errorf("final answer = %q", got)
				}
			})
		}
	}
	// A streamed call arrives whole, in one part.
	var calls []*genai.FunctionCall
	for resp, err := range c.Models.GenerateContentStream(ctx, "gpt-4o-mini", genai.Text("call get_weather"), cfg) {
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, resp.FunctionCalls()...)
	}
	if len(calls) != 1 || calls[0].Args["city"] != "Paris" {
		t.Errorf("streamed calls = %+v", calls)
	}
}

// onePixelPNG is a 1x1 PNG.
var onePixelPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

func TestGeminiSDK_ImageAndJSONSchema(t *testing.T) {
	g := startGateway(t, geminiConfig)
	c := geminiClient(t, g, g.key)
	ctx := context.Background()
	contents := []*genai.Content{genai.NewContentFromParts([]*genai.Part{
		genai.NewPartFromText("What is in this picture?"), genai.NewPartFromBytes(onePixelPNG, "image/png"),
	}, genai.RoleUser)}
	schema := &genai.Schema{Type: genai.TypeObject, Required: []string{"city", "days"}, Properties: map[string]*genai.Schema{
		"city": {Type: genai.TypeString}, "days": {Type: genai.TypeInteger, Minimum: genai.Ptr(1.0)}}}
	for _, model := range geminiChannels {
		t.Run(model, func(t *testing.T) {
			resp, err := c.Models.GenerateContent(ctx, model, contents, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resp.Text(), " images=1]") {
				t.Errorf("the image did not reach the channel: %q", resp.Text())
			}
			for _, cfg := range []*genai.GenerateContentConfig{
				{ResponseMIMEType: "application/json", ResponseSchema: schema},
				{ResponseMIMEType: "application/json", ResponseJsonSchema: map[string]any{"type": "object", "required": []string{"city", "days"},
					"properties": map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer", "minimum": 1}}}},
			} {
				resp, err := c.Models.GenerateContent(ctx, model, genai.Text("Plan a trip"), cfg)
				if err != nil {
					t.Fatal(err)
				}
				var out struct {
					City *string `json:"city"`
					Days *int    `json:"days"`
				}
				if err := json.Unmarshal([]byte(resp.Text()), &out); err != nil || out.City == nil || out.Days == nil || *out.Days < 1 {
					t.Errorf("JSON answer %q: %v", resp.Text(), err)
				}
			}
		})
	}
}

func TestGeminiSDK_EmbeddingsCountTokensModels(t *testing.T) {
	g := startGateway(t, geminiConfig)
	c := geminiClient(t, g, g.key)
	ctx := context.Background()
	emb, err := c.Models.EmbedContent(ctx, "text-embedding-3-small",
		[]*genai.Content{genai.NewContentFromText("first", genai.RoleUser), genai.NewContentFromText("second", genai.RoleUser)},
		&genai.EmbedContentConfig{OutputDimensionality: genai.Ptr[int32](16)})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Embeddings) != 2 || len(emb.Embeddings[0].Values) != 16 || slicesEqual(emb.Embeddings[0].Values, emb.Embeddings[1].Values) {
		t.Errorf("embeddings = %+v", emb.Embeddings)
	}

	// countTokens gives the Anthropic door's count of the same prompt.
	ct, err := c.Models.CountTokens(ctx, "claude-sonnet-4", genai.Text("How many tokens are in this sentence?"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/messages/count_tokens",
		strings.NewReader(`{"model":"claude-sonnet-4","messages":[{"role":"user","content":"How many tokens are in this sentence?"}]}`))
	req.Header.Set("X-Api-Key", g.key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var anth struct {
		InputTokens int32 `json:"input_tokens"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&anth)
	resp.Body.Close()
	if ct.TotalTokens <= 0 || ct.TotalTokens != anth.InputTokens {
		t.Errorf("countTokens %d, Anthropic count_tokens %d", ct.TotalTokens, anth.InputTokens)
	}

	var names []string
	for m, err := range c.Models.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Name)
	}
	if len(names) != 5 || names[0] != "models/gemini-2.5-flash" {
		t.Errorf("models = %q", names)
	}
	m, err := c.Models.Get(ctx, "nova-pro", nil)
	if err != nil || m.Name != "models/nova-pro" {
		t.Errorf("get = %+v, %v", m, err)
	}
}

func slicesEqual(a, b []float32) bool { return bytes.Equal(f32bytes(a), f32bytes(b)) }

func f32bytes(v []float32) []byte { b, _ := json.Marshal(v); return b }

// TestGeminiSDK_Errors checks that the SDK reads every refusal as the API's
// error: HTTP code, canonical status and message.
func TestGeminiSDK_Errors(t *testing.T) {
	g := startGateway(t, geminiConfig)
	ctx := context.Background()
	limited, err := g.inst.admin.IssueKey(ctx, admin.KeySpec{Tenant: "acme", Name: "limited", Limits: admin.Limits{RPM: 1}})
	if err != nil {
		t.Fatal(err)
	}
	lc := geminiClient(t, g, limited.Secret)
	if _, err := lc.Models.GenerateContent(ctx, "gpt-4o-mini", genai.Text("one"), nil); err != nil {
		t.Fatal(err)
	}
	_, rateErr := lc.Models.GenerateContent(ctx, "gpt-4o-mini", genai.Text("two"), nil)
	_, badKey := geminiClient(t, g, "sk-sy-wrong").Models.GenerateContent(ctx, "gpt-4o-mini", genai.Text("hi"), nil)
	_, unknown := geminiClient(t, g, g.key).Models.GenerateContent(ctx, "gemini-9-ultra", genai.Text("hi"), nil)
	var streamErr error
	for _, err := range geminiClient(t, g, g.key).Models.GenerateContentStream(ctx, "gemini-9-ultra", genai.Text("hi"), nil) {
		if err != nil {
			streamErr = err
			break
		}
	}
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		status string
	}{
		{"bad_key", badKey, 401, "UNAUTHENTICATED"},
		{"unknown_model", unknown, 404, "NOT_FOUND"},
		{"unknown_model_stream", streamErr, 404, "NOT_FOUND"},
		{"rate_limit", rateErr, 429, "RESOURCE_EXHAUSTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ae genai.APIError
			if !errors.As(tc.err, &ae) {
				t.Fatalf("err = %v", tc.err)
			}
			if ae.Code != tc.code || ae.Status != tc.status || ae.Message == "" {
				t.Errorf("got %d %s %q, want %d %s", ae.Code, ae.Status, ae.Message, tc.code, tc.status)
			}
		})
	}

	raw := func(path, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(body))
		req.Header.Set("X-Goog-Api-Key", g.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path, body string
		code             int
		status, msg      string
	}{
		{"malformed_json", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":`, 400, "INVALID_ARGUMENT", "invalid JSON payload"},
		{"wrong_type", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":"hi"}`, 400, "INVALID_ARGUMENT", "contents"},
		{"no_contents", "/v1beta/models/gpt-4o-mini:generateContent", `{}`, 400, "INVALID_ARGUMENT", "contents"},
		{"not_carried", "/v1beta/models/gpt-4o-mini:generateContent",
			`{"contents":[{"parts":[{"text":"hi"}]}],"tools":[{"googleSearch":{}}]}`, 400, "INVALID_ARGUMENT", "tools[0].googleSearch"},
		{"unknown_method", "/v1beta/models/gpt-4o-mini:predict", `{}`, 404, "NOT_FOUND", "Unknown endpoint"},
		{"oversized", "/v1beta/models/gpt-4o-mini:generateContent",
			`{"contents":[{"parts":[{"text":"` + strings.Repeat("x", 11<<20) + `"}]}]}`, 413, "INVALID_ARGUMENT", "larger than the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(tc.path, tc.body)
			var shape struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &shape); err != nil || code != tc.code || shape.Error.Code != tc.code ||
				shape.Error.Status != tc.status || !strings.Contains(shape.Error.Message, tc.msg) {
				t.Errorf("got %d %s, want %d %s containing %q", code, body, tc.code, tc.status, tc.msg)
			}
		})
	}
}

// TestGeminiSDK_Demo uses the demo key as a Gemini API key, as the
// banner's Gemini line does, and finds the requests in the metrics.
func TestGeminiSDK_Demo(t *testing.T) {
	d := startDemo(t)
	info := d.info
	if !strings.Contains(d.out.String(), "curl -s http://"+info.Listen+"/v1beta/models/claude-sonnet-4:generateContent") {
		t.Errorf("no Gemini line in:\n%s", d.out.String())
	}
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: info.APIKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: "http://" + info.Listen + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"claude-sonnet-4", "gemini-2.5-flash"} {
		resp, err := c.Models.GenerateContent(context.Background(), model, genai.Text("Hello from a Gemini client"), nil)
		if err != nil || !strings.HasPrefix(resp.Text(), "Echo: Hello from a Gemini client") {
			t.Fatalf("%s: %v", model, err)
		}
	}
	metrics, err := http.Get("http://" + info.AdminListen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(mb), `switchyard_requests_total{dialect="gemini",model="gemini-2.5-flash",provider="gemini-direct",status="200"} 1`) {
		t.Errorf("metrics lack the Gemini request:\n%s", mb)
	}
}
