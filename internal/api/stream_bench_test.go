package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// streamDoor is a front door's streamed request, for the stream benchmarks
// and the stream size tests: the request for a model and a user text, and
// the bytes that end a complete stream.
type streamDoor struct {
	name    string
	request func(h *harness, model, text string) *http.Request
	// end is in the body of a stream that completed.
	end string
}

// streamDoors are the front doors that stream (Bedrock's two operations).
var streamDoors = []streamDoor{
	{"chat", func(h *harness, model, text string) *http.Request {
		return h.jsonRequest("/v1/chat/completions", map[string]any{"model": model, "stream": true, "max_tokens": 1 << 20,
			"stream_options": map[string]any{"include_usage": true},
			"messages":       []any{map[string]any{"role": "user", "content": text}}},
			http.Header{"Authorization": {"Bearer " + h.key.Secret}})
	}, "data: [DONE]"},
	{"responses", func(h *harness, model, text string) *http.Request {
		return h.jsonRequest("/v1/responses", map[string]any{"model": model, "stream": true, "input": text, "max_output_tokens": 1 << 20},
			http.Header{"Authorization": {"Bearer " + h.key.Secret}})
	}, "event: response.completed"},
	{"anthropic", func(h *harness, model, text string) *http.Request {
		return h.jsonRequest("/v1/messages", map[string]any{"model": model, "stream": true, "max_tokens": 1 << 20,
			"messages": []any{map[string]any{"role": "user", "content": text}}},
			http.Header{"X-Api-Key": {h.key.Secret}, "Anthropic-Version": {"2023-06-01"}})
	}, "event: message_stop"},
	{"bedrock", func(h *harness, model, text string) *http.Request {
		return h.jsonRequest("/model/"+model+"/converse-stream", map[string]any{
			"messages":        []any{map[string]any{"role": "user", "content": []any{map[string]any{"text": text}}}},
			"inferenceConfig": map[string]any{"maxTokens": 1 << 20}},
			bearerHeader(h.key.Secret))
	}, "metadata"},
	{"bedrock_invoke", func(h *harness, model, text string) *http.Request {
		return h.jsonRequest("/model/"+model+"/invoke-with-response-stream", map[string]any{
			"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1 << 20,
			"messages": []any{map[string]any{"role": "user", "content": text}}},
			bearerHeader(h.key.Secret))
	}, "chunk"},
}

// streamChannels are the channel types a stream can come from, by the
// harness model that routes to each.
var streamChannels = []string{"openai", "anthropic", "bedrock", "gemini"}

// jsonRequest is a POST of v as JSON to the front door.
func (h *harness) jsonRequest(path string, v any, header http.Header) *http.Request {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	req, err := http.NewRequest(http.MethodPost, h.URL+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	return req
}

// words is a user text of n words, which the simulated clouds echo back
// in n+3 text deltas of about five bytes.
func words(n int) string { return strings.Repeat("word ", n) }

// streamBody sends req and reads the whole answer; it fails unless the
// answer is a 200 stream.
func streamBody(tb testing.TB, hc *http.Client, req *http.Request) []byte {
	tb.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("status %d: %.500s", resp.StatusCode, b)
	}
	return b
}

// BenchmarkStream measures a whole streamed answer of 16k and 64k text
// deltas through the gateway, from each channel type into each front door:
// the upstream's decoding, the gateway's accounting and the front door's
// encoding (and, for Responses, the output kept to be stored). The
// simulated cloud and the client are in the same process and counted too.
func BenchmarkStream(b *testing.B) {
	h := newHarness(b, func(c *harnessConfig) { c.sessions = true })
	hc := &http.Client{}
	for _, door := range streamDoors {
		for _, ch := range streamChannels {
			for _, n := range []int{16 << 10, 64 << 10} {
				b.Run(fmt.Sprintf("%s/%s/%dk", door.name, ch, n>>10), func(b *testing.B) {
					text := words(n)
					b.ReportAllocs()
					for b.Loop() {
						body := streamBody(b, hc, door.request(h, "via-"+ch, text))
						if !bytes.Contains(body, []byte(door.end)) {
							b.Fatalf("stream did not complete: ...%s", body[max(0, len(body)-500):])
						}
					}
				})
			}
		}
	}
}
