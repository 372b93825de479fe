package sse

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// flushCounter is a ResponseWriter that counts its flushes and records
// whether any written bytes are still unflushed.
type flushCounter struct {
	header    http.Header
	events    int // "data:" lines written
	flushes   int
	unflushed int // events written since the last flush
	held      int // the most events ever held unflushed when the upstream had to be read
}

func (f *flushCounter) Header() http.Header {
	if f.header == nil {
		f.header = http.Header{}
	}
	return f.header
}
func (f *flushCounter) WriteHeader(int) {}
func (f *flushCounter) Write(b []byte) (int, error) {
	n := strings.Count(string(b), "data: ")
	f.events += n
	f.unflushed += n
	return len(b), nil
}
func (f *flushCounter) Flush() { f.flushes, f.unflushed = f.flushes+1, 0 }

// upstream serves events in reads of chunk events each, recording in the
// client's writer how many events were unflushed whenever a read has to
// go to it (as a read of a live upstream would wait).
type upstream struct {
	events []string
	chunk  int
	w      *flushCounter
}

func (u *upstream) Read(p []byte) (int, error) {
	if len(u.events) == 0 {
		return 0, io.EOF
	}
	u.w.held = max(u.w.held, u.w.unflushed)
	n := min(u.chunk, len(u.events))
	s := strings.Join(u.events[:n], "")
	if len(s) > len(p) {
		return 0, errors.New("test read buffer too small")
	}
	u.events = u.events[n:]
	return copy(p, s), nil
}

// relay copies events from up to a coalescing Writer, as a front door does.
func relay(t *testing.T, up *upstream) {
	t.Helper()
	rd := NewReader(up)
	sw := NewWriter(up.w)
	sw.Coalesce(rd.Ready)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.Event(ev.Type, ev.Data); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriter_Coalesce(t *testing.T) {
	const n = 40
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf("data: {\"i\":%d,\"text\":\"a chunk of the answer\"}\n\n", i)
	}
	for _, tc := range []struct {
		name     string
		chunk    int // events per upstream read
		flushesN func(flushes int) bool
		want     string
	}{
		// Every event waits on the upstream: each is flushed on its own.
		{"one event a read", 1, func(f int) bool { return f == n }, "one flush per event"},
		// Many events a read: they leave in a few flushes.
		{"ten events a read", 10, func(f int) bool { return f >= n/10 && f < n }, "fewer flushes than events"},
		{"crlf events", 10, func(f int) bool { return f < n }, "fewer flushes than events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := events
			if tc.name == "crlf events" {
				evs = make([]string, n)
				for i, e := range events {
					evs[i] = strings.ReplaceAll(e, "\n", "\r\n")
				}
			}
			w := &flushCounter{}
			relay(t, &upstream{events: evs, chunk: tc.chunk, w: w})
			if w.events != n {
				t.Fatalf("relayed %d events, want %d", w.events, n)
			}
			if !tc.flushesN(w.flushes) {
				t.Errorf("%d flushes for %d events, want %s", w.flushes, n, tc.want)
			}
			// No event waits unflushed while the upstream is read, and
			// the last is flushed.
			if w.held != 0 || w.unflushed != 0 {
				t.Errorf("%d events held unflushed during an upstream read, %d at the end; want none", w.held, w.unflushed)
			}
		})
	}
}

func TestReader_Ready(t *testing.T) {
	rd := NewReader(strings.NewReader("data: a\n\ndata: b\n\ndata: c"))
	var ready []bool
	for {
		if _, err := rd.Next(); err != nil {
			break
		}
		ready = append(ready, rd.Ready())
	}
	// After a: b is whole in the buffer. After b: c has no blank line yet.
	if diff := cmp.Diff([]bool{true, false, false}, ready); diff != "" {
		t.Errorf("Ready after each event (-want +got):\n%s", diff)
	}
}

func TestReader_ReadySkipsWhatNextSkips(t *testing.T) {
	for _, tc := range []struct {
		name, rest string
		want       bool
	}{
		{"data event", "data: b\n\n", true},
		{"typed event", "event: ping\n\n", true},
		{"crlf", "data: b\r\n\r\n", true},
		{"comment only", ": keep-alive\n\n", false},
		{"comment then event", ": keep-alive\n\ndata: b\n\n", true},
		{"id only", "id: 7\n\n", false},
		{"empty type", "event:\n\n", false},
		{"no blank line yet", "data: b\n", false},
		{"partial line", "data: b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader("data: a\n\n" + tc.rest))
			if _, err := rd.Next(); err != nil {
				t.Fatal(err)
			}
			if got := rd.Ready(); got != tc.want {
				t.Errorf("Ready after the first event, before %q = %v, want %v", tc.rest, got, tc.want)
			}
		})
	}
}
