package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
)

func TestEmbeddingRequestToLLM(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       *llm.EmbedRequest
	}{
		{"string", `{"model":"e","input":"hello"}`, &llm.EmbedRequest{Model: "e", Inputs: []string{"hello"}}},
		{"strings", `{"model":"e","input":["a","b"],"dimensions":256,"user":"u1","encoding_format":"base64"}`,
			&llm.EmbedRequest{Model: "e", Inputs: []string{"a", "b"}, Dimensions: 256, User: "u1"}},
		{"tokens", `{"model":"e","input":[1,2,3],"encoding_format":"float"}`, &llm.EmbedRequest{Model: "e", Tokens: [][]int{{1, 2, 3}}}},
		{"token_arrays", `{"model":"e","input":[[1,2],[3]]}`, &llm.EmbedRequest{Model: "e", Tokens: [][]int{{1, 2}, {3}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			er, err := DecodeEmbeddingRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := EmbeddingRequestToLLM(er)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmbeddingRequestToLLM_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		kind       error
		want       string
	}{
		{"input_number", `{"model":"e","input":5}`, llm.ErrInvalid,
			"input: expected string, array of strings, array of integers or array of integer arrays, got number"},
		{"input_objects", `{"model":"e","input":[{"text":"a"}]}`, llm.ErrInvalid, "got an array of objects"},
		{"input_mixed", `{"model":"e","input":["a",1]}`, llm.ErrInvalid, "got an array whose elements differ"},
		{"input_missing", `{"model":"e"}`, llm.ErrInvalid, "input: required"},
		{"input_empty", `{"model":"e","input":[]}`, llm.ErrInvalid, "input: must not be empty"},
		{"token_array_empty", `{"model":"e","input":[[1],[]]}`, llm.ErrInvalid, "input[1]: must not be empty"},
		{"model_missing", `{"input":"a"}`, llm.ErrInvalid, "model: you must provide a model parameter"},
		{"format_unknown", `{"model":"e","input":"a","encoding_format":"int8"}`, llm.ErrInvalid, `encoding_format: unknown format "int8"`},
		{"dimensions_zero", `{"model":"e","input":"a","dimensions":0}`, llm.ErrInvalid, "dimensions: must be at least 1"},
		{"dimensions_type", `{"model":"e","input":"a","dimensions":"256"}`, llm.ErrInvalid, "dimensions: expected integer, got string"},
		{"unknown_field", `{"model":"e","input":"a","truncate":true}`, llm.ErrUnsupported, "truncate: unknown field"},
		{"syntax", `{"model":"e","input":`, llm.ErrInvalid, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			er, err := DecodeEmbeddingRequest([]byte(tc.body))
			if err == nil {
				_, err = EmbeddingRequestToLLM(er)
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(fmtErr(err), tc.want) {
				t.Errorf("error = %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

func TestEmbeddingResponseFromLLM(t *testing.T) {
	resp := &llm.EmbedResponse{Model: "upstream", Vectors: [][]float32{{0.25, -1.5}, {}}, Usage: llm.Usage{InputTokens: 4}}
	for _, tc := range []struct {
		format, want string
	}{
		{"float", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-1.5]},{"object":"embedding","index":1,"embedding":[]}],` +
			`"model":"emb","usage":{"prompt_tokens":4,"total_tokens":4}}`},
		{"base64", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPgAAwL8="},{"object":"embedding","index":1,"embedding":""}],` +
			`"model":"emb","usage":{"prompt_tokens":4,"total_tokens":4}}`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			got, err := json.Marshal(EmbeddingResponseFromLLM(resp, "emb", tc.format))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
