package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestRawClient checks the lean generator against net/http's server: it
// sends the call's body and key, keeps one connection for answers in
// sequence, reads bodies whole whether sized or chunked, dials again
// after an answer that closes its connection, and reports a connection
// cut mid-answer as no answer.
func TestRawClient(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, err := io.ReadAll(r.Body); err != nil || string(body) != `{"x":1}` {
			t.Errorf("body %q: %v", body, err)
		}
		if r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("hello"))
		case "/chunked":
			for range 3 {
				_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/cut":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("short"))
			panic(http.ErrAbortHandler)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newRawClient(srv.Listener.Addr().String(), 4, 10*time.Second)
	defer c.close()
	at := func(path string) call { return call{url: srv.URL + path, key: "k", body: `{"x":1}`} }
	start := time.Now()

	for range 3 {
		if o := c.send(context.Background(), at("/ok"), start); o.status != 200 || o.bytes != 5 || o.err != "" {
			t.Fatalf("/ok: %+v", o)
		}
	}
	if o := c.send(context.Background(), at("/chunked"), start); o.status != 200 || o.bytes != 3000 {
		t.Fatalf("/chunked: %+v", o)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for answers in sequence, want 1", n)
	}
	if o := c.send(context.Background(), at("/close"), start); o.status != 503 {
		t.Fatalf("/close: %+v", o)
	}
	if o := c.send(context.Background(), at("/ok"), start); o.status != 200 {
		t.Fatalf("/ok after a close: %+v", o)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections after an answer that closed one, want 2", n)
	}
	if o := c.send(context.Background(), at("/cut"), start); o.status != 0 || o.err == "" {
		t.Fatalf("/cut: %+v, want no answer", o)
	}
	if o := c.send(context.Background(), at("/ok"), start); o.status != 200 {
		t.Fatalf("/ok after a cut: %+v", o)
	}
}

// TestRawClient_ContextCutsTheRequest: a request whose context ends while
// the server holds the answer returns at once as no answer, and the
// connection is not reused.
func TestRawClient_ContextCutsTheRequest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newRawClient(srv.Listener.Addr().String(), 4, time.Hour)
	defer c.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan outcome)
	go func() { done <- c.send(ctx, call{url: srv.URL + "/hold", key: "k"}, time.Now()) }()
	cancel()
	if o := <-done; o.status != 0 || o.err == "" {
		t.Fatalf("cut request: %+v, want no answer", o)
	}
	if len(c.idle) != 0 {
		t.Fatalf("%d idle connections after a cut request, want 0", len(c.idle))
	}
}

// TestOpenLoopCountsFromTheDueTime checks that an open-loop request's
// latency counts from when it was due: a generator whose goroutines wait
// for a CPU before they send must report that wait, not hide it.
func TestOpenLoopCountsFromTheDueTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, lag, answer = 1000.0, 3 * time.Millisecond, time.Millisecond
		// The sender starts each request lag late, as a goroutine waiting
		// for a CPU would, and is answered in answer; bytes carries when
		// the answer ended.
		late := func(ctx context.Context, cl call, start time.Time) outcome {
			time.Sleep(lag)
			o := outcome{at: time.Since(start), status: http.StatusOK}
			time.Sleep(answer)
			o.dur = answer
			o.bytes = int64(time.Since(start))
			return o
		}
		res := openLoop(context.Background(), late, call{}, rate, 50*time.Millisecond, 100)
		if len(res.outcomes) < 40 || res.dropped != 0 {
			t.Fatalf("%d outcomes, %d dropped", len(res.outcomes), res.dropped)
		}
		due := map[time.Duration]bool{}
		for i := range res.arrivals {
			due[time.Duration(float64(i)/rate*float64(time.Second))] = true
		}
		for _, o := range res.outcomes {
			if !due[o.at] {
				t.Errorf("outcome at %v: not a due time", o.at)
			}
			if end := time.Duration(o.bytes); o.at+o.dur != end || o.dur < lag+answer {
				t.Errorf("outcome due at %v took %v, ended at %v: want its time from the due time to the end, at least %v", o.at, o.dur, end, lag+answer)
			}
		}
	})
}
