package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"switchyard/internal/overload"
	"switchyard/internal/syncbuf"
)

// TestWatchRefusals_SummaryAndRelease checks the refusal summary that
// stands in for refusals' access lines: one line per period in which
// requests were refused, with the period's counts by reason (not the
// totals since start), none while nothing is refused; and that the burst's
// memory is released once, after the quiet periods that follow it, and
// again after the next burst.
func TestWatchRefusals_SummaryAndRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := overload.New(overload.Config{MaxInFlight: 1, Queue: -1}, nil)
		held, err := lim.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		refuse := func(n int) {
			for range n {
				if _, err := lim.Acquire(context.Background()); err == nil {
					t.Fatal("admitted past the limit")
				}
			}
		}
		var logs syncbuf.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, nil))
		var released atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			watchRefusals(lim, log, time.Second, 3, stop, func() { released.Add(1) })
		}()
		defer func() { close(stop); <-done }()
		synctest.Wait() // the watcher has read the counts it starts from
		lines := func() []map[string]any {
			var out []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if l == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				out = append(out, m)
			}
			return out
		}
		tick := func() { time.Sleep(time.Second); synctest.Wait() }

		refuse(3)
		time.Sleep(time.Second / 2) // inside the first period
		synctest.Wait()
		if len(lines()) != 0 {
			t.Fatalf("a line before the period ended: %v", lines())
		}
		tick() // the first period ends
		refuse(2)
		tick()
		got := lines()
		if len(got) != 2 {
			t.Fatalf("%d summary lines, want 2: %v", len(got), got)
		}
		for i, want := range []float64{3, 2} {
			if got[i]["msg"] != "requests refused: overloaded" || got[i]["refused"] != want || got[i]["queue_full"] != want || got[i]["queue_timeout"] != 0.0 {
				t.Errorf("line %d: %v, want %v refused (queue_full)", i, got[i], want)
			}
		}
		tick()
		tick()
		if released.Load() != 0 {
			t.Fatalf("released after 2 quiet periods of 3")
		}
		tick()
		if released.Load() != 1 {
			t.Fatalf("released %d times after 3 quiet periods, want 1", released.Load())
		}
		for range 5 {
			tick()
		}
		if released.Load() != 1 || len(lines()) != 2 {
			t.Fatalf("with nothing refused: released %d times, %d lines", released.Load(), len(lines()))
		}
		refuse(1)
		for range 4 {
			tick()
		}
		if released.Load() != 2 || len(lines()) != 3 {
			t.Fatalf("after a second burst: released %d times, %d lines, want 2 and 3", released.Load(), len(lines()))
		}
		held.Release(0)
	})
}
