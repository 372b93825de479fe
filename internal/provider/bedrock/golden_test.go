package bedrock_test

// The golden tests live in the external test package: providertest runs
// the conformance suite against fakecloud, which imports this package, so
// only an external test may import providertest.

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider/bedrock"
	"switchyard/internal/provider/providertest"
)

func TestRequestToLLM_Golden(t *testing.T) {
	dir := "testdata/request_to_llm"
	for _, name := range providertest.Cases(t, dir, ".converse.json") {
		t.Run(name, func(t *testing.T) {
			body := providertest.ReadFile(t, filepath.Join(dir, name+".converse.json"))
			cr, err := bedrock.DecodeConverseRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bedrock.RequestToLLM(cr)
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, filepath.Join(dir, name+".llm.json"), got)
		})
	}
}

func TestRequestFromLLM_Golden(t *testing.T) {
	dir := "testdata/request_from_llm"
	for _, name := range providertest.Cases(t, dir, ".llm.json") {
		t.Run(name, func(t *testing.T) {
			var in llm.Request
			providertest.ReadJSON(t, filepath.Join(dir, name+".llm.json"), &in)
			got, err := bedrock.RequestFromLLM(&in)
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, filepath.Join(dir, name+".converse.json"), got)
		})
	}
}

func TestResponseToLLM_Golden(t *testing.T) {
	dir := "testdata/response_to_llm"
	for _, name := range providertest.Cases(t, dir, ".converse.json") {
		t.Run(name, func(t *testing.T) {
			var in bedrock.ConverseResponse
			providertest.ReadJSON(t, filepath.Join(dir, name+".converse.json"), &in)
			got, err := bedrock.ResponseToLLM(&in)
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, filepath.Join(dir, name+".llm.json"), got)
		})
	}
}

func TestResponseFromLLM_Golden(t *testing.T) {
	dir := "testdata/response_from_llm"
	for _, name := range providertest.Cases(t, dir, ".llm.json") {
		t.Run(name, func(t *testing.T) {
			var in llm.Response
			providertest.ReadJSON(t, filepath.Join(dir, name+".llm.json"), &in)
			providertest.Golden(t, filepath.Join(dir, name+".converse.json"), bedrock.ResponseFromLLM(&in, 42*time.Millisecond))
		})
	}
}

// TestRequest_RoundTrip checks that a Converse request survives ingress and
// egress translation: what the canonical model lifts comes back in the
// same place, and the passthrough restores the rest.
func TestRequest_RoundTrip(t *testing.T) {
	dir := "testdata/request_to_llm"
	for _, name := range providertest.Cases(t, dir, ".converse.json") {
		t.Run(name, func(t *testing.T) {
			body := providertest.ReadFile(t, filepath.Join(dir, name+".converse.json"))
			cr, err := bedrock.DecodeConverseRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			req, err := bedrock.RequestToLLM(cr)
			if err != nil {
				t.Fatal(err)
			}
			req.Model = "anthropic.claude-3-7-sonnet-20250219-v1:0"
			back, err := bedrock.RequestFromLLM(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalize(t, body), normalize(t, got)); diff != "" {
				t.Errorf("round trip changed the request (-in +out):\n%s", diff)
			}
		})
	}
}

// normalize decodes JSON into generic values and rewrites the few forms
// that are equivalent on the wire: a toolResult's "success" status (the
// default, left out on egress because some models reject it), a text
// block holding a JSON object (a json tool-result block comes back as its
// text), the default cache TTL and a
// reasoning_config budget (sent as thinking to an Anthropic model).
func normalize(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if x["status"] == "success" {
				delete(x, "status")
			}
			if x["ttl"] == "5m" {
				delete(x, "ttl")
			}
			if s, ok := x["text"].(string); ok && len(x) == 1 {
				var obj map[string]any
				if json.Unmarshal([]byte(s), &obj) == nil {
					return map[string]any{"json": obj}
				}
			}
			if rc, ok := x["reasoning_config"]; ok {
				if _, dup := x["thinking"]; !dup {
					delete(x, "reasoning_config")
					x["thinking"] = rc
				}
			}
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	return walk(v)
}
