package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"
)

// A request body can be replayed until it is released; after that the
// request no longer holds the bytes, so a streamed answer, which keeps
// its request, does not keep the prompt.
func TestSetBody(t *testing.T) {
	// The upstream reads the body, then streams until the test is done.
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, err := io.Copy(io.Discard, r.Body); err != nil || n != 7<<14 {
			t.Errorf("upstream read %d bytes, %v", n, err)
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-done
	}))
	defer srv.Close()
	defer close(done)

	r, err := http.NewRequest(http.MethodPost, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("prompt "), 1<<14)
	held := weak.Make(&body[0])
	release := SetBody(r, body)
	body = nil
	if r.ContentLength != 7<<14 {
		t.Errorf("content length %d", r.ContentLength)
	}
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	release()
	if _, err := r.GetBody(); !errors.Is(err, errBodyReleased) {
		t.Errorf("GetBody after release: %v", err)
	}
	// The transport may report its write done after the answer's headers
	// are in (its write loop and read loop race): the reader lets go of
	// the bytes then, so wait for that, up to a bound far past it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		runtime.GC()
		if held.Value() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request still holds its body after release, while its answer streams")
		}
	}
	runtime.KeepAlive(r)
}

// TestSetBody_Replay: while held, the body can be read again (GetBody),
// as the transport does to retry; not once released.
func TestSetBody_Replay(t *testing.T) {
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	release := SetBody(r, []byte("prompt prompt"))
	for i := range 2 { // the body, then a replay
		got, err := io.ReadAll(r.Body)
		if err != nil || string(got) != "prompt prompt" {
			t.Fatalf("read %d: %q, %v", i, got, err)
		}
		r.Body.Close()
		if r.Body, err = r.GetBody(); err != nil {
			t.Fatal(err)
		}
	}
	release()
	if _, err := r.GetBody(); !errors.Is(err, errBodyReleased) {
		t.Errorf("GetBody after release: %v", err)
	}
}

// TestSetBody_ReleasedBeforeWritten: released while the transport still
// writes the body (an upstream that answers before reading it), the
// reader is left alone until the write is done, then lets go.
func TestSetBody_ReleasedBeforeWritten(t *testing.T) {
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("prompt "), 1<<14)
	held := weak.Make(&body[0])
	release := SetBody(r, body)
	body = nil
	half := make([]byte, 7<<13)
	if _, err := io.ReadFull(r.Body, half); err != nil {
		t.Fatal(err)
	}
	release()
	rest, err := io.ReadAll(r.Body) // the write goes on
	if err != nil || len(rest) != 7<<13 {
		t.Fatalf("the rest of the body after release: %d bytes, %v", len(rest), err)
	}
	runtime.GC()
	if held.Value() == nil {
		t.Fatal("the body was dropped while the transport could still read it")
	}
	// The transport reports the write done.
	trace := httptraceOf(r)
	trace.WroteRequest(httptraceWrote)
	runtime.GC()
	if held.Value() != nil {
		t.Error("the body is still held after its write ended and it was released")
	}
	runtime.KeepAlive(r)
}

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestSetBody_OneWrite: over HTTP/1.1 a request's headers and body leave
// in one write, not headers first and then the body.
func TestSetBody_OneWrite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var writes atomic.Int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &writes}, nil
	}}
	defer tr.CloseIdleConnections()
	for i := range 3 {
		r, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		release := SetBody(r, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`))
		before := writes.Load()
		resp, err := tr.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		release()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n := writes.Load() - before; n != 1 {
			t.Errorf("request %d went out in %d writes, want 1", i, n)
		}
	}
}

var httptraceWrote = httptrace.WroteRequestInfo{}

// httptraceOf is the client trace SetBody put on r.
func httptraceOf(r *http.Request) *httptrace.ClientTrace {
	return httptrace.ContextClientTrace(r.Context())
}
