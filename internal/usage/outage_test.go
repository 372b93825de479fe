package usage

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"switchyard/internal/syncbuf"
)

// TestWriter_Outage: while the sink is down, records are kept up to the
// queue size and written once it returns; past that they are dropped and
// counted instead of blocking the recorders; the outage is logged once
// when it starts and once when it ends.
func TestWriter_Outage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &syncbuf.Buffer{}
		sink := &memSink{failAll: true}
		const queue = 20
		w := NewWriter(sink, WriterOptions{BatchSize: 5, QueueSize: queue, FlushInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
		// The first batch fails and is retried; the queue fills behind it.
		for i := range 5 + queue {
			w.Record(rec(i))
		}
		time.Sleep(10 * time.Second) // many failed retries
		synctest.Wait()
		// Now the queue is full and the sink has failed repeatedly: these
		// return at once and are dropped.
		const extra = 7
		for i := range extra {
			w.Record(rec(1000 + i))
		}
		if got := w.Dropped(); got != extra {
			t.Errorf("Dropped() = %d, want %d", got, extra)
		}
		sink.set(func(s *memSink) { s.failAll = false })
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := len(sink.ids()), 5+queue; got != want {
			t.Errorf("saved %d records after the outage, want %d", got, want)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		for _, line := range []string{"usage store unavailable", "usage store available again", "dropping usage records"} {
			if n := strings.Count(out, line); n != 1 {
				t.Errorf("%d log lines with %q, want 1:\n%s", n, line, out)
			}
		}
		if !strings.Contains(out, "dropped=7") {
			t.Errorf("recovery line does not count the dropped records:\n%s", out)
		}
	})
}

// TestWriter_BlipDoesNotDrop: a sink that fails once pushes back on a full
// queue rather than dropping.
func TestWriter_BlipDoesNotDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{failNext: 1}
		w := NewWriter(sink, WriterOptions{BatchSize: 2, QueueSize: 2, FlushInterval: time.Hour, Logger: quiet()})
		for i := range 10 {
			w.Record(rec(i)) // blocks during the one retry instead of dropping
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if w.Dropped() != 0 || len(sink.ids()) != 10 {
			t.Errorf("dropped %d, saved %d, want 0 and 10", w.Dropped(), len(sink.ids()))
		}
	})
}

// TestWriter_StoreDownSheds: with the queue full behind an insert that
// hangs (a silent store), a Record waiting for room drops its record as
// soon as the store's breaker reports it down, rather than after the
// insert's own long deadline and retries.
func TestWriter_StoreDownSheds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{gate: make(chan struct{})} // never opened: inserts hang
		var down atomic.Bool
		w := NewWriter(sink, WriterOptions{BatchSize: 5, QueueSize: 5, FlushInterval: time.Millisecond,
			Logger: quiet(), StoreDown: down.Load})
		for i := range 10 { // the first five are taken by the hanging insert
			w.Record(rec(i))
			synctest.Wait()
		}
		done := make(chan struct{})
		go func() {
			w.Record(rec(10)) // the queue is full: waits
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Record did not wait for room while the store was not known down")
		default:
		}
		down.Store(true)
		time.Sleep(recheckFull)
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Record still waits after the store was found down")
		}
		if got := w.Dropped(); got != 1 {
			t.Errorf("Dropped() = %d, want 1", got)
		}
		if got := sink.callCount(); got != 1 {
			t.Errorf("%d inserts started, want the one still hanging", got)
		}
		close(sink.gate)
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
