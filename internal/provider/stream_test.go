package provider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/sse"
)

// textDecoder is a minimal EventDecoder: each event's data is a text
// delta, "stop" stops and "bad" is a malformed event.
type textDecoder struct{ stopped bool }

func (d *textDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	switch string(ev.Data) {
	case "stop":
		d.stopped = true
		return []llm.Event{{Kind: llm.EventStop}}, nil
	case "bad":
		return nil, &Error{Provider: "test", Kind: KindBadResponse, Message: "malformed event"}
	}
	return []llm.Event{{Kind: llm.EventTextDelta, Text: string(ev.Data)}}, nil
}

func (d *textDecoder) End() ([]llm.Event, error) {
	if !d.stopped {
		return nil, &Error{Provider: "test", Kind: KindBadResponse, Message: "stream cut"}
	}
	return nil, nil
}

func (d *textDecoder) Stopped() bool { return d.stopped }

// events writes SSE events with the given data and flushes them.
func events(w http.ResponseWriter, data ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, d := range data {
		io.WriteString(w, "data: "+d+"\n\n")
	}
	http.NewResponseController(w).Flush()
}

// openStream serves h and starts a stream from it.
func openStream(ctx context.Context, t *testing.T, o SSEOptions, h http.HandlerFunc) (llm.Stream, error) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections) // runs first: ends handlers still waiting
	o.Provider = "test"
	return StreamSSE(ctx, o, &textDecoder{}, func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			return nil, err
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, TransportError("test", err)
		}
		return resp, nil
	})
}

// readAll reads a stream to its end: the texts of its events ("|" for the
// stop event) and the error that ended it (nil for io.EOF).
func readAll(s llm.Stream) (string, error) {
	var b strings.Builder
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		if ev.Kind == llm.EventStop {
			b.WriteString("|")
		}
		b.WriteString(ev.Text)
	}
}

func TestStreamSSE(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        SSEOptions
		h        http.HandlerFunc
		want     string
		wantKind Kind // KindUnknown: the stream ends with io.EOF
	}{
		{"complete", SSEOptions{}, func(w http.ResponseWriter, r *http.Request) { events(w, "a", "b", "stop") }, "ab|", KindUnknown},
		// The upstream never ends its body; the idle timeout turns a stream
		// that reads past the stop into a failure rather than a hang.
		{"stop_reads_no_further", SSEOptions{IdleTimeout: time.Second}, func(w http.ResponseWriter, r *http.Request) {
			events(w, "a", "stop")
			<-r.Context().Done()
		}, "a|", KindUnknown},
		{"cut_before_stop", SSEOptions{}, func(w http.ResponseWriter, r *http.Request) { events(w, "a") }, "a", KindBadResponse},
		{"malformed_event", SSEOptions{}, func(w http.ResponseWriter, r *http.Request) { events(w, "a", "bad", "b", "stop") }, "a", KindBadResponse},
		{"event_too_large", SSEOptions{MaxEvent: 16}, func(w http.ResponseWriter, r *http.Request) { events(w, "a", strings.Repeat("x", 40), "stop") }, "a", KindBadResponse},
		{"connection_cut", SSEOptions{}, func(w http.ResponseWriter, r *http.Request) {
			events(w, "a")
			panic(http.ErrAbortHandler) // closes the connection inside the chunked body
		}, "a", KindBadResponse},
		{"idle_between_events", SSEOptions{IdleTimeout: 50 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
			events(w, "a")
			<-r.Context().Done()
		}, "a", KindTimeout},
		{"slow_but_never_idle", SSEOptions{IdleTimeout: 200 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
			for _, d := range []string{"a", "b", "c", "d", "stop"} {
				time.Sleep(60 * time.Millisecond)
				events(w, d)
			}
		}, "abcd|", KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := openStream(t.Context(), t, tc.o, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := readAll(s)
			if got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			var pe *Error
			switch {
			case tc.wantKind == KindUnknown && err != nil:
				t.Errorf("stream failed: %v", err)
			case tc.wantKind != KindUnknown && (!errors.As(err, &pe) || pe.Kind != tc.wantKind):
				t.Errorf("stream ended with %v, want a %q *Error", err, tc.wantKind)
			}
			if _, again := s.Next(); again != err && !(err == nil && errors.Is(again, io.EOF)) {
				t.Errorf("Next after the end returned %v, want %v again", again, err)
			}
		})
	}
}

func TestStreamSSE_IdleBeforeHeaders(t *testing.T) {
	start := time.Now()
	_, err := openStream(t.Context(), t, SSEOptions{IdleTimeout: 50 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != KindTimeout || pe.Provider != "test" {
		t.Fatalf("error %v, want a timeout *Error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed out after %v", d)
	}
}

func TestStreamSSE_SendErrorPassesThrough(t *testing.T) {
	want := &Error{Provider: "test", Kind: KindRateLimited, Status: 429, Message: "slow down"}
	_, err := StreamSSE(t.Context(), SSEOptions{Provider: "test", IdleTimeout: time.Second}, &textDecoder{},
		func(context.Context) (*http.Response, error) { return nil, want })
	if err != want {
		t.Errorf("error %v, want the one send returned", err)
	}
}

func TestStreamSSE_CancelAndCloseReleaseUpstream(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			gone := make(chan struct{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s, err := openStream(ctx, t, SSEOptions{IdleTimeout: time.Minute}, func(w http.ResponseWriter, r *http.Request) {
				events(w, "a")
				<-r.Context().Done()
				close(gone)
			})
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := s.Next(); err != nil || ev.Text != "a" {
				t.Fatalf("first event %+v, %v", ev, err)
			}
			if how == "cancel" {
				cancel()
			} else if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream request is still running")
			}
			if how == "close" {
				return
			}
			_, err = s.Next()
			var pe *Error
			if !errors.As(err, &pe) || pe.Kind != KindTimeout {
				t.Errorf("Next after cancel: %v, want a cancellation *Error", err)
			}
			s.Close()
		})
	}
}
