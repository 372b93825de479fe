package api

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"switchyard/internal/telemetry"
)

// LimitListener returns a listener that keeps at most max of ln's
// connections open. A connection accepted past the cap is closed at once
// with a reset (SO_LINGER 0), before anything is read: it neither waits in
// the kernel's accept backlog, where a client could only time out, nor
// holds a goroutine, buffers or a file descriptor, and clients see a
// connection error they retry. onRefused, when not nil, is called for each
// such connection. max <= 0 means no cap.
func LimitListener(ln net.Listener, max int, onRefused func()) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: int64(max), onRefused: onRefused}
}

type limitListener struct {
	net.Listener
	max       int64
	open      atomic.Int64
	onRefused func()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		if l.onRefused != nil {
			l.onRefused()
		}
	}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

// Close gives the slot back first, so that a client that sees the close
// can connect again at once.
func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close the connection after an error
// response, as it does with a bare TCP connection.
func (c *limitedConn) CloseWrite() error { return closeWrite(c.Conn) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Listener wraps the client listener so that the refusals net/http writes
// itself over HTTP/1.x, before any handler runs, reach the client in its
// dialect: a malformed request line (a path with a bad percent-escape such
// as %ZZ), headers past the parser's hard cap (431), a missing Host, an
// unsupported transfer encoding or HTTP version. net/http writes each of
// these as one plain-text response and closes the connection; the wrapper
// recognises that response by its exact form (no handler response has it:
// every one carries a Date header) and replaces it with the dialect's
// JSON error, with the same status.
//
// The dialect comes from the path of the last request line read on the
// connection (/model/… is Bedrock, /v1/messages… Anthropic, anything else
// OpenAI), since headers such as anthropic-version may be what failed to
// parse. That is the failing request's line unless the client pipelined
// further requests behind it, which SDKs do not do.
//
// HTTP/2 connections (h2c, which begin with the connection preface) go
// through h2Rewriter instead, which makes a bad :path and a header block
// past the parser cap reach the front door marked, for a 400 or a 431 in
// the dialect.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &dialectListener{Listener: ln, s: s}
}

type dialectListener struct {
	net.Listener
	s *Server
}

func (l *dialectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &dialectConn{Conn: c, s: l.s, lineStart: true}, nil
}

// cannedHeaders follow the status line of every error net/http writes by
// itself before a handler runs (server.go: errorHeaders).
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// requestLinePrefix is how much of a line is kept to recognise a request
// line and its dialect: "OPTIONS /v1/messages" fits.
const requestLinePrefix = 32

// dialectConn watches the request lines an HTTP/1.x connection reads and
// rewrites net/http's own plain-text refusals. Reads come from one
// goroutine at a time (net/http's connection reader); the dialect is
// atomic because writes may come from another.
type dialectConn struct {
	net.Conn
	s *Server
	// preface counts the bytes read so far that match the HTTP/2 client
	// preface; -1 once a byte did not (an HTTP/1.x connection).
	preface int
	// h2 rewrites the frames of an h2c connection once its preface has
	// been read; h1 scanning stops then.
	h2 *h2Rewriter
	// lineStart: the next byte read begins a line. line[:lineN] holds the
	// beginning of the current line while collecting is set.
	lineStart, collecting bool
	line                  [requestLinePrefix]byte
	lineN                 int
	dialect               atomic.Pointer[string]
}

func (c *dialectConn) Read(p []byte) (int, error) {
	if c.h2 != nil {
		return c.h2.Read(p)
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	if c.preface >= 0 {
		k := min(n, len(h2cPreface)-c.preface)
		if string(p[:k]) != h2cPreface[c.preface:c.preface+k] {
			c.preface = -1
		} else if c.preface += k; c.preface == len(h2cPreface) {
			// Whatever came after the preface is the first frames.
			list := ServerMaxHeaderBytes(c.s.maxHeader)
			c.h2 = newH2Rewriter(c.Conn, p[k:n], 4*list, list)
			return k, err
		} else {
			return n, err
		}
	}
	c.scan(p[:n])
	return n, err
}

// scan notes the dialect of every request line in b, carrying a line cut
// between reads over to the next.
func (c *dialectConn) scan(b []byte) {
	for len(b) > 0 {
		if c.lineStart {
			c.lineStart, c.collecting, c.lineN = false, true, 0
		}
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		if c.collecting {
			c.lineN += copy(c.line[c.lineN:], seg)
			if i >= 0 || c.lineN == len(c.line) {
				c.collecting = false
				if d := requestLineDialect(c.line[:c.lineN]); d != nil {
					c.dialect.Store(d)
				}
			}
		}
		if i < 0 {
			return
		}
		b = b[i+1:]
		c.lineStart = true
	}
}

// requestLineDialect recognises the beginning of a request line
// ("METHOD /path") and names the dialect its path tells, as one of
// lineDialects; nil when line is no request line. Every line of a
// request's head is looked at, so the names are shared rather than
// allocated for each.
func requestLineDialect(line []byte) *string {
	sp := bytes.IndexByte(line, ' ')
	if sp < 1 || sp > 10 || sp+1 >= len(line) || line[sp+1] != '/' {
		return nil
	}
	for _, ch := range line[:sp] {
		if ch < 'A' || ch > 'Z' {
			return nil
		}
	}
	path := line[sp+1:]
	switch {
	case bytes.HasPrefix(path, []byte("/model/")):
		return &lineDialects[1]
	case isAnthropicPath(string(path)):
		return &lineDialects[2]
	case bytes.HasPrefix(path, []byte("/v1beta/")):
		return &lineDialects[3]
	}
	return &lineDialects[0]
}

// lineDialects are the dialects requestLineDialect names.
var lineDialects = [...]string{dialectOpenAI, dialectBedrock, dialectAnthropic, dialectGemini}

func (c *dialectConn) Write(p []byte) (int, error) {
	if c.preface > 0 {
		// HTTP/2 (or its preface so far): nothing of net/http's HTTP/1
		// refusals to rewrite.
		return c.Conn.Write(p)
	}
	status, detail, ok := cannedError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	dialect := dialectOpenAI
	if d := c.dialect.Load(); d != nil {
		dialect = *d
	}
	if _, err := c.Conn.Write(c.s.renderRefusal(dialect, status, detail)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *dialectConn) CloseWrite() error { return closeWrite(c.Conn) }

// cannedError recognises one of net/http's own error responses,
// "HTTP/1.1 431 Request Header Fields Too Large" + cannedHeaders + text,
// and returns its status and the detail after "Status Text: ", if any.
func cannedError(p []byte) (status int, detail string, ok bool) {
	const proto = "HTTP/1.1 "
	if len(p) < len(proto)+3 || string(p[:len(proto)]) != proto || (p[len(proto)] != '4' && p[len(proto)] != '5') {
		return 0, "", false
	}
	end := bytes.IndexByte(p, '\r')
	if end < 0 || !bytes.HasPrefix(p[end:], []byte(cannedHeaders)) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil {
		return 0, "", false
	}
	line := string(p[len(proto):end])
	if i := strings.IndexByte(line, ':'); i >= 0 && i+2 <= len(line) {
		detail = line[i+2:]
	} else if body := string(p[end+len(cannedHeaders):]); body != line {
		// Some refusals give their reason in the body only
		// ("Unsupported transfer encoding").
		detail = strings.ToLower(body[:min(len(body), 200)])
	}
	return status, detail, true
}

// renderRefusal is the response that replaces a refusal net/http wrote in
// plain text: the dialect's error through writeError, as a complete
// HTTP/1.1 response that closes the connection.
func (s *Server) renderRefusal(dialect string, status int, detail string) []byte {
	e := &apiError{Status: status, Type: typeInvalid}
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		e.Type = typeTooLarge
		e.Message = fmt.Sprintf("Request headers are larger than the limit of %d bytes.", s.maxHeader)
	case detail != "":
		e.Message = "The request could not be parsed: " + detail + "."
	default:
		e.Message = "The request could not be parsed: its request line (for example a '%' in the path not followed by two hexadecimal digits) or a header is malformed."
	}
	info := &telemetry.Info{RequestID: telemetry.NewRequestID()}
	r := (&http.Request{Method: http.MethodGet, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1}).
		WithContext(telemetry.WithInfo(context.Background(), info))
	rw := &bufferWriter{header: http.Header{}}
	writeError(rw, r, dialect, e)
	s.log.Info("request refused while parsing", "request_id", info.RequestID, "status", rw.status, "dialect", dialect, "error", e.Type)

	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", rw.status, http.StatusText(rw.status))
	if dialect == dialectOpenAI {
		rw.header.Set("X-Request-Id", info.RequestID)
	}
	rw.header.Set("Content-Length", strconv.Itoa(rw.body.Len()))
	rw.header.Set("Connection", "close")
	_ = rw.header.Write(&b)
	b.WriteString("\r\n")
	b.Write(rw.body.Bytes())
	return b.Bytes()
}

// bufferWriter is a ResponseWriter that keeps what is written.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

// badPathHeader marks an HTTP/2 request whose :path had a malformed
// percent-escape, which h2Rewriter made parseable so that the front door can
// refuse it in the client's dialect. A client sending it itself only gets
// its request refused.
const badPathHeader = "X-Switchyard-Bad-Path"

// tooLargeHeader marks an HTTP/2 request whose header block decoded past
// the parser cap; h2Rewriter dropped the fields beyond it so that the front
// door can refuse it with 431 in the client's dialect.
const tooLargeHeader = "X-Switchyard-Headers-Too-Large"
