package openai

import (
	"bytes"
	"encoding/json"
	"testing"

	"switchyard/internal/provider/providertest"
)

// goldenLLM is providertest.Golden for llm values, written without their
// zero fields so that the files show what a translation set. They still
// decode back into the same value.
func goldenLLM(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	providertest.Golden(t, path, prune(tree))
}

// prune drops null, false, 0, "" and empty members from decoded JSON.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e = prune(e); isZeroJSON(e) {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
	case []any:
		for i, e := range v {
			v[i] = prune(e)
		}
	}
	return v
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// readFile returns a testdata file's bytes without surrounding space.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	return bytes.TrimSpace(providertest.ReadFile(t, path))
}
