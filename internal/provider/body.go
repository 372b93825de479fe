package provider

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
)

// SetBody makes body the body of an upstream request, replayable by the
// HTTP transport (GetBody) while it may still retry, and returns the
// function that lets go of the bytes: call it once the answer's headers
// are in. The transport keeps a request until its answer's body is
// closed, so without it a streamed answer keeps a copy of the prompt alive
// for as long as it streams.
//
// The body is an in-memory reader net/http knows (a *bytes.Reader), so
// that an HTTP/1.1 transport writes the request's headers and body in
// one write, one packet for a typical request, instead of flushing the
// headers on their own first (as it does for a reader it cannot tell
// will not block): one write less here and one read less upstream, on
// the way to every answer's first byte. Such a reader cannot be told to
// let go while the transport may still read it, so the request records
// (httptrace's WroteRequest) when the transport has finished writing it;
// release lets go of the reader then, or at once when the write is done.
func SetBody(r *http.Request, body []byte) (release func()) {
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return func() {}
	}
	h := &heldBody{b: body}
	h.trace.WroteRequest = h.wrote
	*r = *r.WithContext(httptrace.WithClientTrace(r.Context(), &h.trace))
	r.Body = h.reader()
	r.GetBody = func() (io.ReadCloser, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.b == nil {
			return nil, errBodyReleased
		}
		return h.reader(), nil
	}
	return h.release
}

var errBodyReleased = errors.New("request body no longer held: the answer has started")

// heldBody holds a request body until it is released and the transport
// has finished writing it.
type heldBody struct {
	trace httptrace.ClientTrace

	mu sync.Mutex
	b  []byte
	// last is the reader handed out last: the one the transport's live
	// request reads (a retry's earlier readers went with their attempt).
	last *bytes.Reader
	// readers counts the readers handed out, and writes the writes the
	// transport has finished: each attempt that writes reports once, so
	// when writes catches up no reader is being read. (An attempt that
	// never wrote leaves the reader held: safe, if not thrifty.)
	readers, writes int
	released        bool
}

// reader reads the held bytes; h.mu must be held, or h not yet shared.
func (h *heldBody) reader() io.ReadCloser {
	h.last = bytes.NewReader(h.b)
	h.readers++
	return io.NopCloser(h.last)
}

// wrote is the transport's word that it has finished writing the request
// (or failed to): it reads the body no more.
func (h *heldBody) wrote(httptrace.WroteRequestInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	if h.released {
		h.drop()
	}
}

// release lets go of the body: no replay from now on, and the reader
// lets go of the bytes as soon as the transport is done with it.
func (h *heldBody) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.b, h.released = nil, true
	h.drop()
}

// drop empties the last reader once the transport reads none; h.mu must
// be held.
func (h *heldBody) drop() {
	if h.last != nil && h.writes >= h.readers {
		h.last.Reset(nil)
		h.last = nil
	}
}
