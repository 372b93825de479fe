package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// What a client sends is bounded before it is used: the size of its
// header block (431 past Options.MaxHeaderBytes), the time its body may
// take (Options.ReadTimeout, enforced by the http.Server; 408 here), the
// length of a model name (400 past Options.MaxModelNameBytes), and an
// HTTP/1.x connection whose body was never read is closed after a refusal
// instead of being drained, so a refused slow sender is answered at once.

// DefaultMaxModelNameBytes bounds a model name unless Options says
// otherwise: ample for Bedrock ARNs (about 120 bytes) and every configured
// name seen in practice.
const DefaultMaxModelNameBytes = 256

// DefaultMaxHeaderBytes bounds a request's header block unless Options
// says otherwise.
const DefaultMaxHeaderBytes = 64 << 10

// ServerMaxHeaderBytes is the http.Server.MaxHeaderBytes to pair with a
// configured header limit: twice the limit, so that Go's parser, which
// answers in plain text, stops only well past the limit the front door
// enforces in the client's dialect.
func ServerMaxHeaderBytes(limit int) int {
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	return 2 * limit
}

// headerBytes is the size of r's request line and headers as HTTP/1.1
// sends them: "METHOD target HTTP/1.1\r\n", then "Name: value\r\n" for each
// value. Over HTTP/2 this is the same measure of the decoded fields.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len("HTTP/1.1\r\n")
	n += len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// edge refuses requests whose headers pass the limit, in the client's
// dialect, and tracks whether each request's body was read, so that a
// refusal sent before the body closes an HTTP/1.x connection rather than
// waiting to drain it.
func (s *Server) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &trackedBody{ReadCloser: r.Body}
		}
		if headerBytes(r) > s.maxHeader || r.Header.Get(tooLargeHeader) != "" {
			writeError(w, r, dialectFor(r), &apiError{Status: http.StatusRequestHeaderFieldsTooLarge, Type: typeTooLarge,
				Message: fmt.Sprintf("Request headers are larger than the limit of %d bytes.", s.maxHeader)})
			return
		}
		if r.Header.Get(badPathHeader) != "" {
			writeError(w, r, dialectFor(r), errBadPath)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errBadPath refuses a request path with a malformed percent-escape.
var errBadPath = &apiError{Status: http.StatusBadRequest, Type: typeInvalid,
	Message: "The request path is malformed: a '%' must be followed by two hexadecimal digits."}

// trackedBody records whether a request body was read to its end.
type trackedBody struct {
	io.ReadCloser
	done atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.done.Store(true)
	}
	return n, err
}

// closeUnread makes net/http close an HTTP/1.x connection right after
// this response when the request's body was not read to its end. Without
// it the server would drain up to 256 KiB of body, before replying or when
// closing the body, which a client sending slowly turns into a held
// connection and a late refusal: Connection: close skips the drain before
// the reply, and a read deadline in the past ends the one on close. HTTP/2
// resets the stream on its own.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	if b, ok := r.Body.(*trackedBody); ok && !b.done.Load() {
		w.Header().Set("Connection", "close")
		// Not every writer supports deadlines (a recorder in tests): then
		// there is no connection to hold either.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// bodyReadError maps a failure to read a request body to its refusal.
func bodyReadError(err error) *apiError {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeTooLarge,
			Message: fmt.Sprintf("Request body is larger than the limit of %d bytes.", mbe.Limit), Err: err}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &apiError{Status: http.StatusRequestTimeout, Type: typeInvalid,
			Message: "The request body was not received in time.", Err: err}
	}
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Message: "Could not read the request body.", Err: err}
}

// checkModelName refuses a model name longer than the limit, before it is
// looked up, logged or echoed.
func (s *Server) checkModelName(name, param string) error {
	if len(name) <= s.maxModelName {
		return nil
	}
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: param,
		Message: "The model name is " + strconv.Itoa(len(name)) + " bytes long; the limit is " + strconv.Itoa(s.maxModelName) + " bytes."}
}
