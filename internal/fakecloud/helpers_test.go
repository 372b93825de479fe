package fakecloud

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"
)

// testKey is the key the test servers accept.
const testKey = "test-key"

// newTestServer serves a fakecloud Server on a real socket for the test.
func newTestServer(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	if o.Key == "" {
		o.Key = testKey
	}
	s := New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// do sends a request with a JSON body and returns the status, headers and
// body of the answer.
func do(t *testing.T, method, url string, header map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// decode unmarshals JSON into a generic value, failing the test on error.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// tagPattern matches the tag every text answer ends with.
var tagPattern = regexp.MustCompile(`\[turns=(\d+) history=([0-9a-f]{8})( images=\d+)?( documents=\d+)?\]$`)

// parseTag returns the turn count and history hash of a text answer.
func parseTag(t *testing.T, text string) (turns, history string) {
	t.Helper()
	m := tagPattern.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("answer %q has no [turns=N history=H] tag", text)
	}
	return m[1], m[2]
}

// weatherSchema is the JSON Schema of the get_weather tool the tests use.
const weatherSchema = `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"]}`

// weatherArgs is what the simulated model calls get_weather with.
const weatherArgs = `{"city":"Paris","unit":"celsius"}`

// timeSchema is the JSON Schema of the get_time tool.
const timeSchema = `{"type":"object","properties":{"timezone":{"type":"string"}},"required":["timezone"]}`

// mustJSON decodes a JSON literal into a generic map.
func mustJSON(s string) map[string]any {
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}
