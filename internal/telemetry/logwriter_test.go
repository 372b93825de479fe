package telemetry

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writes records each Write call separately.
type writes struct {
	mu sync.Mutex
	w  []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.w = append(w.w, string(p))
	return len(p), nil
}

func (w *writes) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.w...)
}

func TestLogWriter_HoldsAccessLinesUntilAnotherLine(t *testing.T) {
	var out writes
	lw := NewLogWriter(&out, time.Hour)
	h := held{lw}
	_, _ = h.Write([]byte("a1\n"))
	_, _ = h.Write([]byte("a2\n"))
	if got := out.get(); len(got) != 0 {
		t.Fatalf("access lines written at once: %q", got)
	}
	_, _ = lw.Write([]byte("warn\n"))
	_, _ = h.Write([]byte("a3\n"))
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	_, _ = h.Write([]byte("late\n"))
	want := []string{"a1\na2\nwarn\n", "a3\n", "late\n"}
	if diff := cmp.Diff(want, out.get()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

func TestLogWriter_BoundedBuffer(t *testing.T) {
	var out writes
	lw := NewLogWriter(&out, time.Hour)
	line := strings.Repeat("x", 99) + "\n"
	n := 3*DefaultLogBufferBytes/len(line) + 1
	for range n {
		_, _ = held{lw}.Write([]byte(line))
	}
	got := out.get()
	if len(got) < 2 {
		t.Fatalf("%d writes for %d held bytes, want one per buffer", len(got), n*len(line))
	}
	total := 0
	for _, w := range got {
		if len(w) > DefaultLogBufferBytes {
			t.Errorf("a write of %d bytes, more than the %d held at most", len(w), DefaultLogBufferBytes)
		}
		if len(w)%len(line) != 0 {
			t.Errorf("a write of %d bytes splits a line", len(w))
		}
		total += len(w)
	}
	_ = lw.Close()
	if total += len(strings.Join(out.get()[len(got):], "")); total != n*len(line) {
		t.Errorf("%d bytes written, want %d", total, n*len(line))
	}
}

func TestLogWriter_FlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out writes
		lw := NewLogWriter(&out, 100*time.Millisecond)
		defer lw.Close()
		_, _ = held{lw}.Write([]byte("a1\n"))
		time.Sleep(99 * time.Millisecond)
		_, _ = held{lw}.Write([]byte("a2\n"))
		synctest.Wait()
		if got := out.get(); len(got) != 0 {
			t.Fatalf("written before the interval: %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if diff := cmp.Diff([]string{"a1\na2\n"}, out.get()); diff != "" {
			t.Errorf("writes after the interval (-want +got):\n%s", diff)
		}
		_, _ = held{lw}.Write([]byte("a3\n"))
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if diff := cmp.Diff([]string{"a1\na2\n", "a3\n"}, out.get()); diff != "" {
			t.Errorf("writes after the second interval (-want +got):\n%s", diff)
		}
	})
}

func TestLogWriter_NegativeIntervalWritesAtOnce(t *testing.T) {
	var out writes
	lw := NewLogWriter(&out, -1)
	_, _ = held{lw}.Write([]byte("a1\n"))
	_, _ = held{lw}.Write([]byte("a2\n"))
	if diff := cmp.Diff([]string{"a1\n", "a2\n"}, out.get()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

// TestBufferedLogger_AccessLinesHeld checks the split through the
// Middleware: its access line is held, a warning logged afterwards is
// written at once with the access line before it.
func TestBufferedLogger_AccessLinesHeld(t *testing.T) {
	var out writes
	lw := NewLogWriter(&out, time.Hour)
	log := NewBufferedLogger(lw, slog.LevelInfo).With("app", "sy")
	h := Middleware(log, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "inside the handler")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/models", nil))
	got := out.get()
	if len(got) != 1 || !strings.Contains(got[0], "inside the handler") {
		t.Fatalf("writes after the request: %q, want the handler's line alone", got)
	}
	log.Warn("outage")
	got = out.get()
	if len(got) != 2 {
		t.Fatalf("writes: %q", got)
	}
	lines := strings.Split(strings.TrimSuffix(got[1], "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"msg":"request"`) || !strings.Contains(lines[0], `"app":"sy"`) ||
		!strings.Contains(lines[1], `"msg":"outage"`) {
		t.Errorf("second write: %s, want the access line then the warning", fmt.Sprint(lines))
	}
}
