package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// recordWriter is a ResponseWriter without Flush (and without Unwrap)
// that keeps what it is sent.
type recordWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *recordWriter) Header() http.Header { return w.h }
func (w *recordWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *recordWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// A passthrough stream written to a ResponseWriter that cannot flush is
// written whole, as the decoded path's sse.Writer writes it: the stream
// is not taken for cut by a client that went away after its first write.
func TestRawStream_WriterWithoutFlush(t *testing.T) {
	var up strings.Builder
	for _, w := range []string{"one", "two", "three"} {
		up.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"` + w + ` "},"finish_reason":null}]}` + "\n\n")
	}
	up.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
	up.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}` + "\n\ndata: [DONE]\n\n")
	// A one-byte read at a time: the stream takes many writes.
	front, secret := newOpenAIFront(t, &http.Client{Transport: trickleUpstream{cannedUpstream{up.String(), "text/event-stream"}}},
		"http://upstream.invalid/v1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	body := `{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"Count to three."}]}`
	u, _ := url.Parse("/v1/chat/completions")
	r := &http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Host: "gateway.test"}
	w := &recordWriter{h: http.Header{}}
	front.ServeHTTP(w, r)
	got := w.body.String()
	if w.code != http.StatusOK || !strings.Contains(got, `"content":"three "`) || !strings.HasSuffix(got, "data: [DONE]\n\n") {
		t.Fatalf("status %d, stream:\n%s", w.code, got)
	}
	if !strings.Contains(got, `"model":"bench-model"`) || strings.Contains(got, "usage") {
		t.Errorf("the passthrough did not rewrite the stream for its client:\n%s", got)
	}
}

// trickleUpstream hands its answer's body over a byte per read.
type trickleUpstream struct{ cannedUpstream }

func (u trickleUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := u.cannedUpstream.RoundTrip(r)
	if err == nil {
		resp.Body = io.NopCloser(&oneByteReader{resp.Body})
	}
	return resp, err
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
