package provider

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
)

// SetBody makes body the body of an upstream request, replayable by the
// HTTP transport (GetBody) while it may still retry, and returns the
// function that lets go of the bytes: call it once the answer's headers
// are in. The transport keeps a request until its answer's body is
// closed, so without it a streamed answer keeps a copy of the prompt alive
// for as long as it streams.
func SetBody(r *http.Request, body []byte) (release func()) {
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return func() {}
	}
	h := &heldBody{b: body}
	r.Body = h.reader()
	r.GetBody = func() (io.ReadCloser, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.b == nil {
			return nil, errBodyReleased
		}
		return h.reader(), nil
	}
	return func() {
		h.mu.Lock()
		h.b = nil
		h.mu.Unlock()
	}
}

var errBodyReleased = errors.New("request body no longer held: the answer has started")

// heldBody holds a request body until it is released.
type heldBody struct {
	mu sync.Mutex
	b  []byte
}

// reader reads the held bytes; h.mu must be held.
func (h *heldBody) reader() io.ReadCloser { return &bodyReader{r: bytes.NewReader(h.b)} }

// bodyReader reads a request body and drops it once read or closed. The
// transport may close it from another goroutine than the one reading.
type bodyReader struct {
	mu sync.Mutex
	r  *bytes.Reader
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.r == nil {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.r = nil
	}
	return n, err
}

func (b *bodyReader) Close() error {
	b.mu.Lock()
	b.r = nil
	b.mu.Unlock()
	return nil
}
