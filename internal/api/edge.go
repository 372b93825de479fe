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

// Refusals written before their request's body was read (overload,
// authentication) keep the HTTP/1.x connection when that body has already
// arrived, as a small JSON body nearly always has: net/http drains up to
// 256 KiB of unread body before it writes the reply, and unreadGrace bounds
// that drain, so a refusal under overload costs the client no new
// connection. A body larger than maxUnreadDrain, of unknown length, or
// still arriving when the grace ends gets its refusal on a connection that
// is then closed, so a client sending slowly holds nothing.
const (
	unreadGrace    = 10 * time.Millisecond
	maxUnreadDrain = 64 << 10
)

// closeUnread bounds what net/http spends on the unread body of a request
// refused early (see unreadGrace): Connection: close and a read deadline
// in the past end an HTTP/1.x connection whose body cannot be drained at
// once; a short read deadline bounds the drain of one that can. HTTP/2
// resets the stream on its own. The server sets the next request's
// deadlines itself.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	b, ok := r.Body.(*trackedBody)
	if !ok || b.done.Load() {
		return
	}
	// Not every writer supports deadlines (a recorder in tests): then
	// there is no connection to hold either.
	rc := http.NewResponseController(w)
	if r.ContentLength < 0 || r.ContentLength > maxUnreadDrain {
		w.Header().Set("Connection", "close")
		_ = rc.SetReadDeadline(time.Now())
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(unreadGrace))
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
