package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUnsupportedFeature_NamesChannel checks that a feature no channel of
// the model can express fails with a 400, in the client's dialect, that
// names the feature and every channel that refused it, and that nothing
// reached the clouds.
func TestUnsupportedFeature_NamesChannel(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, path, body string
		header           []string
		want             []string
	}{
		{"openai_to_bedrock", "/v1/chat/completions", `{"model":"via-bedrock","seed":7,"messages":[{"role":"user","content":"hi"}]}`, nil,
			[]string{`channel \"bedrock-sim\" (bedrock) cannot serve this request`, "seed"}},
		{"openai_to_sonnet", "/v1/chat/completions", `{"model":"` + sonnet + `","seed":7,"messages":[{"role":"user","content":"hi"}]}`, nil,
			[]string{`channel \"anthropic-sim\" (anthropic)`, `channel \"bedrock-sim\" (bedrock)`, "seed"}},
		{"anthropic_to_bedrock", "/v1/messages", `{"model":"via-bedrock","max_tokens":10,"messages":[{"role":"user","content":"hi"}],` +
			`"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"tools":[{"name":"f","input_schema":{"type":"object"}}]}`,
			[]string{"Anthropic-Version", "2023-06-01"}, []string{`channel \"bedrock-sim\" (bedrock) cannot serve this request`, "parallel_tool_calls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+h.key.Secret)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !json.Valid(b) {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body lacks %s: %s", w, b)
				}
			}
			if recs := h.cloud.Records(); len(recs) != 0 {
				t.Errorf("clouds received %d requests: %+v", len(recs), recs)
			}
		})
	}
}
