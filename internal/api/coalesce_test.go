package api

import (
	"net/http"
	"testing"
)

// flushCounter is a front door's ResponseWriter that counts its writes
// (one an event or event-stream frame) and its flushes.
type flushCounter struct {
	header    http.Header
	status    int
	writes    int
	flushes   int
	unflushed int // writes since the last flush
}

func (f *flushCounter) Header() http.Header {
	if f.header == nil {
		f.header = http.Header{}
	}
	return f.header
}
func (f *flushCounter) WriteHeader(code int) {
	if f.status == 0 {
		f.status = code
	}
}
func (f *flushCounter) Write(b []byte) (int, error) {
	if f.status == 0 {
		f.status = http.StatusOK
	}
	f.writes++
	f.unflushed++
	return len(b), nil
}
func (f *flushCounter) Flush() { f.flushes, f.unflushed = f.flushes+1, 0 }

// unflushed hides the ResponseWriter's Flush: what a handler writes goes
// out only as net/http's buffer fills, many events to a packet.
type unflushed struct{ http.ResponseWriter }

// TestStream_CoalescedFlushes sends a stream whose upstream delivers many
// events to a read, from each channel type into each front door: the
// front door writes every event but flushes far fewer times, and ends
// with nothing left unflushed. An OpenAI client of an OpenAI channel gets
// the upstream's bytes through, a read to a write and a flush.
func TestStream_CoalescedFlushes(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) {
		c.sessions = true
		c.cloud = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(unflushed{w}, r)
			})
		}
	})
	text := words(2000)
	for _, door := range streamDoors {
		for _, ch := range streamChannels {
			t.Run(door.name+"/"+ch, func(t *testing.T) {
				w := &flushCounter{}
				h.handler.ServeHTTP(w, door.request(h, "via-"+ch, text))
				if w.status != http.StatusOK {
					t.Fatalf("status %d", w.status)
				}
				if door.name == "chat" && (ch == "openai" || ch == "azure") {
					// The same-dialect passthrough writes what each
					// upstream read brought in one write and one flush.
					if w.writes >= 1000 || w.flushes != w.writes || w.unflushed != 0 {
						t.Errorf("passthrough: %d writes, %d flushes, %d left unflushed for a 2000-word answer; want fewer writes than events, each flushed", w.writes, w.flushes, w.unflushed)
					}
					return
				}
				if w.writes < 1000 {
					t.Fatalf("%d writes for a 2000-word answer", w.writes)
				}
				if w.flushes*2 > w.writes {
					t.Errorf("%d flushes for %d writes; want events that arrived together flushed together", w.flushes, w.writes)
				}
				if w.unflushed != 0 {
					t.Errorf("%d writes left unflushed at the end of the stream", w.unflushed)
				}
			})
		}
	}
}
