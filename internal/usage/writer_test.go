package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// memSink records batches. It can fail a number of calls, fail every call,
// or hold calls until a gate opens.
type memSink struct {
	mu       sync.Mutex
	batches  [][]store.UsageRecord
	calls    int
	failNext int
	failAll  bool
	gate     chan struct{}
}

var errSinkDown = errors.New("database is down")

func (s *memSink) InsertUsage(ctx context.Context, recs []store.UsageRecord) error {
	s.mu.Lock()
	s.calls++
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAll || s.failNext > 0 {
		s.failNext--
		return errSinkDown
	}
	s.batches = append(s.batches, append([]store.UsageRecord(nil), recs...))
	return nil
}

func (s *memSink) set(fn func(s *memSink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// sizes returns the size of every saved batch.
func (s *memSink) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

// ids returns the request IDs saved, in order.
func (s *memSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.batches {
		for _, r := range b {
			out = append(out, r.RequestID)
		}
	}
	return out
}

func (s *memSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func rec(i int) store.UsageRecord {
	return store.UsageRecord{RequestID: fmt.Sprintf("req-%05d", i), TenantID: "ten_1", InputTokens: int64(i)}
}

func seqIDs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, rec(i).RequestID)
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestWriter_BatchesBySize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		w := NewWriter(sink, WriterOptions{BatchSize: 10, FlushInterval: time.Hour, Logger: quiet()})
		defer w.Close(context.Background())
		for i := range 25 {
			w.Record(rec(i))
		}
		synctest.Wait()
		if diff := cmp.Diff([]int{10, 10}, sink.sizes()); diff != "" {
			t.Errorf("batches before the interval (-want +got):\n%s", diff)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if diff := cmp.Diff([]int{10, 10, 5}, sink.sizes()); diff != "" {
			t.Errorf("batches after the interval (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(seqIDs(0, 25), sink.ids()); diff != "" {
			t.Errorf("records out of order (-want +got):\n%s", diff)
		}
	})
}

func TestWriter_BatchesByInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		w := NewWriter(sink, WriterOptions{BatchSize: 100, FlushInterval: time.Second, Logger: quiet()})
		defer w.Close(context.Background())
		w.Record(rec(0))
		time.Sleep(400 * time.Millisecond)
		w.Record(rec(1))
		w.Record(rec(2))
		time.Sleep(599 * time.Millisecond)
		synctest.Wait()
		if got := sink.sizes(); len(got) != 0 {
			t.Fatalf("written before the oldest record was due: %v", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if diff := cmp.Diff([]int{3}, sink.sizes()); diff != "" {
			t.Errorf("batches when the oldest record is due (-want +got):\n%s", diff)
		}
		// The next record starts a new interval.
		time.Sleep(10 * time.Second)
		w.Record(rec(3))
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		if len(sink.sizes()) != 1 {
			t.Errorf("second batch written early: %v", sink.sizes())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if diff := cmp.Diff([]int{3, 1}, sink.sizes()); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
	})
}

func TestWriter_FlushWritesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		w := NewWriter(sink, WriterOptions{BatchSize: 4, FlushInterval: time.Hour, Logger: quiet()})
		defer w.Close(context.Background())
		for i := range 10 {
			w.Record(rec(i))
		}
		start := time.Now()
		if err := w.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Flush waited %v for the interval", d)
		}
		if diff := cmp.Diff(seqIDs(0, 10), sink.ids()); diff != "" {
			t.Errorf("saved after Flush (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{4, 4, 2}, sink.sizes()); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
		// Nothing to do is fine.
		if err := w.Flush(context.Background()); err != nil {
			t.Errorf("empty Flush: %v", err)
		}
	})
}

func TestWriter_CloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		w := NewWriter(sink, WriterOptions{BatchSize: 100, FlushInterval: time.Hour, Logger: quiet()})
		for i := range 7 {
			w.Record(rec(i))
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if diff := cmp.Diff(seqIDs(0, 7), sink.ids()); diff != "" {
			t.Errorf("saved after Close (-want +got):\n%s", diff)
		}
		// Record after Close writes synchronously.
		w.Record(rec(7))
		if diff := cmp.Diff(seqIDs(0, 8), sink.ids()); diff != "" {
			t.Errorf("saved after a late Record (-want +got):\n%s", diff)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestWriter_RecordAfterCloseFailureReported(t *testing.T) {
	sink := &memSink{failAll: true}
	var reported atomic.Int64
	w := NewWriter(sink, WriterOptions{Logger: quiet(), OnError: func(error) { reported.Add(1) }})
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Record(rec(1))
	if reported.Load() != 1 {
		t.Errorf("OnError calls = %d, want 1", reported.Load())
	}
}

func TestWriter_RetriesFailedBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{failNext: 3}
		var errs []error
		var mu sync.Mutex
		w := NewWriter(sink, WriterOptions{BatchSize: 5, FlushInterval: time.Hour, Logger: quiet(), OnError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}})
		defer w.Close(context.Background())
		start := time.Now()
		for i := range 5 {
			w.Record(rec(i))
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// Backoff: 100ms, 200ms, 400ms.
		if d := time.Since(start); d != 700*time.Millisecond {
			t.Errorf("saved after %v, want 700ms of backoff", d)
		}
		if got := sink.callCount(); got != 4 {
			t.Errorf("insert calls = %d, want 4", got)
		}
		if diff := cmp.Diff(seqIDs(0, 5), sink.ids()); diff != "" {
			t.Errorf("saved (-want +got):\n%s", diff)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(errs) != 3 {
			t.Errorf("OnError calls = %d, want 3", len(errs))
		}
		for _, err := range errs {
			if !errors.Is(err, errSinkDown) {
				t.Errorf("reported error %v does not wrap the sink's", err)
			}
		}
	})
}

func TestWriter_BackoffIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{failAll: true}
		w := NewWriter(sink, WriterOptions{BatchSize: 1, Logger: quiet()})
		w.Record(rec(0))
		// 0.1+0.2+0.4+0.8+1.6+3.2 = 6.3s, then 5s each.
		time.Sleep(6300*time.Millisecond + 3*5*time.Second)
		synctest.Wait()
		if got := sink.callCount(); got != 10 {
			t.Errorf("attempts = %d, want 10", got)
		}
		sink.set(func(s *memSink) { s.failAll = false })
		if err := w.Close(context.Background()); err != nil {
			t.Errorf("Close after recovery: %v", err)
		}
		if diff := cmp.Diff(seqIDs(0, 1), sink.ids()); diff != "" {
			t.Errorf("saved (-want +got):\n%s", diff)
		}
	})
}

func TestWriter_CloseGivesUpWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{failAll: true}
		w := NewWriter(sink, WriterOptions{BatchSize: 5, FlushInterval: time.Hour, Logger: quiet()})
		for i := range 12 {
			w.Record(rec(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := w.Close(ctx)
		if err == nil {
			t.Fatal("Close succeeded with a failing sink")
		}
		if !strings.Contains(err.Error(), "12 records not saved") {
			t.Errorf("error = %v, want it to count 12 unsaved records", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errSinkDown) {
			t.Errorf("error = %v, want it to wrap the deadline and the sink error", err)
		}
		if err2 := w.Close(context.Background()); err2 == nil || err2.Error() == "" {
			t.Errorf("second Close = %v, want the same failure", err2)
		}
		if err := w.Flush(context.Background()); err == nil {
			t.Error("Flush after records were lost reported success")
		}
	})
}

func TestWriter_CloseAbandonsHangingInsert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{gate: make(chan struct{})} // never opens
		w := NewWriter(sink, WriterOptions{BatchSize: 3, Logger: quiet()})
		for i := range 3 {
			w.Record(rec(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := w.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "3 records not saved") {
			t.Errorf("Close error = %v, want 3 records not saved", err)
		}
	})
}

func TestWriter_FlushTimesOutAndKeepsRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{failAll: true}
		w := NewWriter(sink, WriterOptions{BatchSize: 2, FlushInterval: time.Hour, Logger: quiet()})
		defer w.Close(context.Background())
		for i := range 5 {
			w.Record(rec(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := w.Flush(ctx)
		if err == nil || !strings.Contains(err.Error(), "5 records not yet saved") || !errors.Is(err, errSinkDown) {
			t.Fatalf("Flush error = %v, want 5 records not yet saved wrapping the sink error", err)
		}
		sink.set(func(s *memSink) { s.failAll = false })
		if err := w.Flush(context.Background()); err != nil {
			t.Fatalf("Flush after recovery: %v", err)
		}
		if diff := cmp.Diff(seqIDs(0, 5), sink.ids()); diff != "" {
			t.Errorf("saved (-want +got):\n%s", diff)
		}
	})
}

func TestWriter_BackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		sink := &memSink{gate: gate}
		w := NewWriter(sink, WriterOptions{BatchSize: 2, QueueSize: 4, FlushInterval: time.Hour, Logger: quiet()})
		w.Record(rec(0))
		w.Record(rec(1)) // a full batch: taken by the worker, which waits at the gate
		synctest.Wait()
		for i := 2; i < 6; i++ {
			w.Record(rec(i)) // fills the queue
		}
		var returned atomic.Bool
		go func() {
			w.Record(rec(6))
			returned.Store(true)
		}()
		synctest.Wait()
		if returned.Load() {
			t.Fatal("Record returned while the queue was full")
		}
		close(gate)
		synctest.Wait()
		if !returned.Load() {
			t.Fatal("Record still blocked after the sink caught up")
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(seqIDs(0, 7), sink.ids()); diff != "" {
			t.Errorf("saved (-want +got):\n%s", diff)
		}
	})
}

func TestWriter_CloseReleasesBlockedRecorders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		sink := &memSink{gate: gate}
		w := NewWriter(sink, WriterOptions{BatchSize: 1, QueueSize: 1, FlushInterval: time.Hour, Logger: quiet()})
		w.Record(rec(0)) // taken by the worker, held at the gate
		synctest.Wait()
		w.Record(rec(1)) // fills the queue
		done := make(chan struct{})
		go func() {
			w.Record(rec(2)) // blocks, then writes directly once closed
			close(done)
		}()
		synctest.Wait()
		closed := make(chan error)
		go func() { closed <- w.Close(context.Background()) }()
		synctest.Wait()
		close(gate)
		<-done
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		got := sink.ids()
		if diff := cmp.Diff(seqIDs(0, 3), sortedCopy(got)); diff != "" {
			t.Errorf("saved (-want +got):\n%s", diff)
		}
	})
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestWriter_NoLossUnderConcurrency records from many goroutines, with a
// small queue so that back-pressure engages, a sink that fails now and
// then, and Flush calls racing the recorders; every record must be saved
// exactly once.
func TestWriter_NoLossUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { testNoLoss(t) })
}

func testNoLoss(t *testing.T) {
	const (
		goroutines = 32
		each       = 300
	)
	sink := &flakySink{seen: map[string]int{}}
	w := NewWriter(sink, WriterOptions{BatchSize: 50, QueueSize: 64, FlushInterval: 5 * time.Millisecond, Logger: quiet()})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				w.Record(store.UsageRecord{RequestID: fmt.Sprintf("g%02d-%04d", g, i)})
				if i%100 == 99 {
					if err := w.Flush(context.Background()); err != nil {
						t.Errorf("Flush: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.seen) != goroutines*each {
		t.Errorf("saved %d distinct records, want %d", len(sink.seen), goroutines*each)
	}
	for id, n := range sink.seen {
		if n != 1 {
			t.Errorf("record %s saved %d times", id, n)
		}
	}
}

// flakySink fails every seventh call, as a database under stress might.
type flakySink struct {
	mu    sync.Mutex
	calls int
	seen  map[string]int
}

func (s *flakySink) InsertUsage(_ context.Context, recs []store.UsageRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls%7 == 0 {
		return errSinkDown
	}
	for _, r := range recs {
		s.seen[r.RequestID]++
	}
	return nil
}

// sinkFunc adapts a function to Sink.
type sinkFunc func(ctx context.Context, recs []store.UsageRecord) error

func (f sinkFunc) InsertUsage(ctx context.Context, recs []store.UsageRecord) error {
	return f(ctx, recs)
}

// TestWriter_FlushOfSavedRecordsSurvivesLaterLoss: a Flush whose records
// were saved succeeds even though Close later gives up on newer records.
func TestWriter_FlushOfSavedRecordsSurvivesLaterLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var calls atomic.Int32
		sink := sinkFunc(func(ctx context.Context, recs []store.UsageRecord) error {
			if calls.Add(1) == 1 {
				<-gate
				return nil
			}
			return errSinkDown
		})
		w := NewWriter(sink, WriterOptions{BatchSize: 2, FlushInterval: time.Hour, Logger: quiet()})
		w.Record(rec(0))
		w.Record(rec(1))
		synctest.Wait() // the worker holds records 0 and 1 at the gate
		flushed := make(chan error, 1)
		go func() { flushed <- w.Flush(context.Background()) }()
		synctest.Wait()
		for i := 2; i < 5; i++ {
			w.Record(rec(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- w.Close(ctx) }()
		synctest.Wait()
		close(gate)
		if err := <-flushed; err != nil {
			t.Errorf("Flush of saved records: %v", err)
		}
		if err := <-closed; err == nil || !strings.Contains(err.Error(), "3 records not saved") {
			t.Errorf("Close error = %v, want 3 records not saved", err)
		}
		if err := w.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "3 records not saved") {
			t.Errorf("Flush after the loss = %v, want 3 records not saved", err)
		}
	})
}

// TestWriter_ReusesWrittenBatchArray: once a batch is written, its array
// holds the records of a batch after it, which the sink sees whole and in
// order, with nothing of the earlier batch left in it.
func TestWriter_ReusesWrittenBatchArray(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu     sync.Mutex
			arrays []*store.UsageRecord
			got    [][]string
		)
		sink := sinkFunc(func(_ context.Context, recs []store.UsageRecord) error {
			mu.Lock()
			defer mu.Unlock()
			arrays = append(arrays, &recs[:1][0])
			var ids []string
			for _, r := range recs {
				ids = append(ids, r.RequestID)
			}
			got = append(got, ids)
			return nil
		})
		w := NewWriter(sink, WriterOptions{BatchSize: 4, FlushInterval: time.Hour, Logger: quiet()})
		defer w.Close(context.Background())
		for i := range 12 {
			w.Record(rec(i))
			if i%4 == 3 {
				synctest.Wait() // the batch is written before the next records arrive
			}
		}
		w.Record(rec(12))
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := [][]string{seqIDs(0, 4), seqIDs(4, 8), seqIDs(8, 12), seqIDs(12, 13)}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
		// Each batch is written before the next one's records arrive, so
		// every one of them fills the first batch's array again.
		for i, a := range arrays {
			if a != arrays[0] {
				t.Errorf("batch %d has a new array, not the one written before it", i)
			}
		}
	})
}

// TestWriter_RecordsPastAFullBatchKeepTheirOrder: the few records that
// arrived past a full batch move to the next array and are written next,
// in order, as are those behind a backlog.
func TestWriter_RecordsPastAFullBatchKeepTheirOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		w := NewWriter(sink, WriterOptions{BatchSize: 8, FlushInterval: time.Hour, Logger: quiet()})
		defer w.Close(context.Background())
		for i := range 9 { // one past a batch: moved along
			w.Record(rec(i))
		}
		synctest.Wait()
		for i := 9; i < 40; i++ { // a backlog behind a batch
			w.Record(rec(i))
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(seqIDs(0, 40), sink.ids()); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{8, 8, 8, 8, 8}, sink.sizes()); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
	})
}
