package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"switchyard/internal/admin"
)

// openAPIDoc is the part of the description the structural checks read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title, Version string
	} `json:"info"`
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			Name, In string
			Required bool
		} `json:"parameters"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
}

func readSpec(t *testing.T) ([]byte, openAPIDoc) {
	t.Helper()
	spec, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	dec := json.NewDecoder(bytes.NewReader(spec))
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return spec, doc
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// The description names every endpoint the admin handler registers and no
// other: both lists come from their one source (the route table and the
// embedded file).
func TestOpenAPI_NamesEveryRoute(t *testing.T) {
	_, doc := readSpec(t)
	var described []string
	for path, item := range doc.Paths {
		for method := range item {
			if slices.Contains(methods, method) {
				described = append(described, strings.ToUpper(method)+" "+path)
			}
		}
	}
	registered := admin.RoutePatterns()
	for _, p := range registered {
		if !slices.Contains(described, p) {
			t.Errorf("route %q is registered but missing from openapi.json", p)
		}
	}
	for _, p := range described {
		if !slices.Contains(registered, p) {
			t.Errorf("openapi.json describes %q, which the admin handler does not register", p)
		}
	}
}

// The document is structurally sound OpenAPI 3.1: its version, an info
// block, an operation id and responses on every operation, every path
// parameter declared (in: path, required), only known members under a path,
// and every $ref pointing at a component that exists.
func TestOpenAPI_WellFormed(t *testing.T) {
	spec, doc := readSpec(t)
	if doc.OpenAPI != "3.1.0" || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Fatalf("openapi %q info %+v", doc.OpenAPI, doc.Info)
	}
	ids := map[string]bool{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths {
		for method, op := range item {
			if !slices.Contains(methods, method) && method != "parameters" && method != "summary" && method != "description" {
				t.Errorf("%s: unknown member %q", path, method)
				continue
			}
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s %s: operationId %q missing or repeated", method, path, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Responses) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
			for code := range op.Responses {
				if len(code) != 3 || code[0] < '1' || code[0] > '5' {
					t.Errorf("%s %s: response code %q", method, path, code)
				}
			}
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				if !slices.ContainsFunc(op.Parameters, func(p struct {
					Name, In string
					Required bool
				}) bool {
					return p.Name == m[1] && p.In == "path" && p.Required
				}) {
					t.Errorf("%s %s: path parameter %s not declared as required in: path", method, path, m[1])
				}
			}
		}
	}
	var all any
	_ = json.Unmarshal(spec, &all)
	components := all.(map[string]any)["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				sect, _ := components[parts[0]].(map[string]any)
				if len(parts) != 2 || sect == nil || sect[parts[1]] == nil {
					t.Errorf("$ref %q points at nothing", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(all)
}

// The description is served at /admin/v1/openapi.json without the token,
// and is the embedded file.
func TestOpenAPI_Served(t *testing.T) {
	srv := httptest.NewServer(admin.Handler(admin.Options{Token: token}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/admin/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	spec, _ := readSpec(t)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(served, spec) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s, same as openapi.json: %v", resp.StatusCode, resp.Header.Get("Content-Type"), bytes.Equal(served, spec))
	}
}
