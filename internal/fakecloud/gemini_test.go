package fakecloud

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/sse"
)

// geminiResponse is the part of a GenerateContentResponse the tests read.
type geminiResponse struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         string `json:"text"`
				Thought      bool   `json:"thought"`
				FunctionCall *struct {
					Name string          `json:"name"`
					Args json.RawMessage `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
		ThoughtsTokenCount   int `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
	ResponseID string `json:"responseId"`
}

func (g geminiResponse) text() string {
	var b strings.Builder
	for _, c := range g.Candidates {
		for _, p := range c.Content.Parts {
			if !p.Thought {
				b.WriteString(p.Text)
			}
		}
	}
	return b.String()
}

func geminiGenerate(t *testing.T, url, body string) geminiResponse {
	t.Helper()
	status, _, b := do(t, "POST", url, map[string]string{"x-goog-api-key": testKey}, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, b)
	}
	var r geminiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// geminiStream reads an alt=sse stream into its chunks.
func geminiStream(t *testing.T, url, body string) []geminiResponse {
	t.Helper()
	status, h, b := do(t, "POST", url, map[string]string{"x-goog-api-key": testKey}, body)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s: %s", status, h.Get("Content-Type"), b)
	}
	rd := sse.NewReader(bytes.NewReader(b))
	var out []geminiResponse
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if ev.Type != "" {
			t.Errorf("Gemini events have no event line, got %q", ev.Type)
		}
		var r geminiResponse
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestGemini_Generate(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	base := ts.URL + "/gemini/v1beta/models/gemini-2.5-flash"
	body := `{"systemInstruction":{"parts":[{"text":"Be brief."}]},"contents":[{"role":"user","parts":[{"text":"Hello Gemini"}]}]}`
	r := geminiGenerate(t, base+":generateContent", body)
	got := r.text()
	if !strings.HasPrefix(got, "Echo: Hello Gemini [turns=1 history=") || r.Candidates[0].FinishReason != "STOP" || r.Candidates[0].Content.Role != "model" {
		t.Fatalf("answer %q finish %q", got, r.Candidates[0].FinishReason)
	}
	u := r.UsageMetadata
	if u.CandidatesTokenCount != len(words(got)) || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
		t.Errorf("usage = %+v", u)
	}

	// snake_case field names are the same request to the API.
	snake := `{"system_instruction":{"parts":[{"text":"Be brief."}]},"contents":[{"role":"user","parts":[{"text":"Hello Gemini"}]}]}`
	if r2 := geminiGenerate(t, base+":generateContent?key="+testKey, snake); r2.text() != got {
		t.Errorf("snake_case answer %q, want %q", r2.text(), got)
	}

	chunks := geminiStream(t, base+":streamGenerateContent?alt=sse", body)
	var streamed strings.Builder
	for i, c := range chunks {
		streamed.WriteString(c.text())
		last := i == len(chunks)-1
		if (c.Candidates[0].FinishReason != "") != last {
			t.Errorf("chunk %d finishReason %q", i, c.Candidates[0].FinishReason)
		}
	}
	if streamed.String() != got || len(chunks) != len(words(got)) {
		t.Errorf("streamed %q in %d chunks", streamed.String(), len(chunks))
	}
	if final := chunks[len(chunks)-1].UsageMetadata; final != u {
		t.Errorf("final stream usage %+v, want %+v", final, u)
	}

	// Without alt=sse the stream is one JSON array.
	status, _, b := do(t, "POST", base+":streamGenerateContent", map[string]string{"x-goog-api-key": testKey}, body)
	var arr []geminiResponse
	if err := json.Unmarshal(b, &arr); status != http.StatusOK || err != nil || len(arr) != len(chunks) {
		t.Errorf("JSON array stream: %d %v %s", status, err, b)
	}
}

func TestGemini_FunctionCalling(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	url := ts.URL + "/gemini/v1beta/models/gemini-2.5-pro:generateContent"
	tools := `"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"unit":{"type":"STRING","enum":["celsius","fahrenheit"]}},"required":["city","unit"]}},{"name":"get_time","parametersJsonSchema":` + timeSchema + `}]}]`
	r := geminiGenerate(t, url, `{"contents":[{"role":"user","parts":[{"text":"call get_weather and get_time"}]}],`+tools+`}`)
	parts := r.Candidates[0].Content.Parts
	if len(parts) != 2 || parts[0].FunctionCall == nil || parts[1].FunctionCall == nil || r.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("parts = %+v", parts)
	}
	if parts[0].FunctionCall.Name != "get_weather" || string(parts[0].FunctionCall.Args) != weatherArgs ||
		parts[1].FunctionCall.Name != "get_time" || string(parts[1].FunctionCall.Args) != `{"timezone":"Europe/Paris"}` {
		t.Errorf("calls %s %s, %s %s", parts[0].FunctionCall.Name, parts[0].FunctionCall.Args, parts[1].FunctionCall.Name, parts[1].FunctionCall.Args)
	}

	history := `{"contents":[{"role":"user","parts":[{"text":"call get_weather and get_time"}]},` +
		`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":` + weatherArgs + `}},{"functionCall":{"name":"get_time","args":{"timezone":"Europe/Paris"}}}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":21}}},{"functionResponse":{"name":"get_time","response":{"result":"09:30"}}}]}],` + tools + `}`
	r = geminiGenerate(t, url, history)
	if got := r.text(); !strings.HasPrefix(got, `Tool get_weather returned: {"temp":21}; Tool get_time returned: 09:30 [turns=2 history=`) {
		t.Errorf("after the results: %q", got)
	}

	forced := `{"contents":[{"role":"user","parts":[{"text":"hello"}]}],` + tools + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time"]}}}`
	r = geminiGenerate(t, url, forced)
	if p := r.Candidates[0].Content.Parts; len(p) != 1 || p[0].FunctionCall == nil || p[0].FunctionCall.Name != "get_time" {
		t.Errorf("forced call = %+v", p)
	}
}

func TestGemini_JSONThinkingAndLimits(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	url := ts.URL + "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
	r := geminiGenerate(t, url, `{"contents":[{"parts":[{"text":"list"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"ARRAY","items":{"type":"STRING","format":"date-time"},"minItems":2,"uniqueItems":true}}}`)
	if got := r.text(); got != `["2025-06-15T09:30:00Z","2025-06-16T09:30:00Z"]` {
		t.Errorf("JSON answer %s", got)
	}

	r = geminiGenerate(t, url, `{"contents":[{"parts":[{"text":"think"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":512}}}`)
	parts := r.Candidates[0].Content.Parts
	if len(parts) != 2 || !parts[0].Thought || parts[1].Thought {
		t.Fatalf("parts = %+v", parts)
	}
	u := r.UsageMetadata
	if u.ThoughtsTokenCount != len(words(parts[0].Text)) || u.CandidatesTokenCount != len(words(parts[1].Text)) ||
		u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount+u.ThoughtsTokenCount {
		t.Errorf("usage = %+v", u)
	}

	r = geminiGenerate(t, url, `{"contents":[{"parts":[{"text":"a b c d e f"}]}],"generationConfig":{"maxOutputTokens":2}}`)
	if r.text() != "Echo: a " || r.Candidates[0].FinishReason != "MAX_TOKENS" {
		t.Errorf("max tokens: %q %s", r.text(), r.Candidates[0].FinishReason)
	}
}

func TestGemini_CountTokens(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	status, _, b := do(t, "POST", ts.URL+"/gemini/v1beta/models/gemini-2.5-flash:countTokens", map[string]string{"x-goog-api-key": testKey},
		`{"contents":[{"parts":[{"text":"three small words"}]}]}`)
	if status != http.StatusOK || decode(t, b)["totalTokens"] != 3.0 {
		t.Errorf("countTokens: %d %s", status, b)
	}
}

func TestGemini_Errors(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	good := `{"contents":[{"parts":[{"text":"hi"}]}]}`
	for _, tc := range []struct {
		name, path, key, body string
		status                int
		code                  string
	}{
		{"no_key", "gemini-2.5-flash:generateContent", "", good, 401, "UNAUTHENTICATED"},
		{"wrong_key", "gemini-2.5-flash:generateContent", "nope", good, 401, "UNAUTHENTICATED"},
		{"malformed", "gemini-2.5-flash:generateContent", testKey, `{"contents":`, 400, "INVALID_ARGUMENT"},
		{"unknown_field", "gemini-2.5-flash:generateContent", testKey, `{"contents":[{"parts":[{"text":"x"}]}],"bogus":1}`, 400, "INVALID_ARGUMENT"},
		{"bad_role", "gemini-2.5-flash:generateContent", testKey, `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, 400, "INVALID_ARGUMENT"},
		{"search_tool", "gemini-2.5-flash:generateContent", testKey, `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"googleSearch":{}}]}`, 400, "INVALID_ARGUMENT"},
		{"unknown_method", "gemini-2.5-flash:embedContent", testKey, good, 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.key != "" {
				h["x-goog-api-key"] = tc.key
			}
			status, _, b := do(t, "POST", ts.URL+"/gemini/v1beta/models/"+tc.path, h, tc.body)
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]any{tc.status, tc.status, tc.code}, []any{status, e.Error.Code, e.Error.Status}); diff != "" || e.Error.Message == "" {
				t.Errorf("(-want +got):\n%s%s", diff, b)
			}
		})
	}
}
