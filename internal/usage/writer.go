package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"switchyard/internal/store"
)

// Sink stores usage records; sqlstore.Store implements it. InsertUsage
// must honour ctx and store a batch entirely or not at all, and must not
// keep recs once it returns: the Writer reuses their array.
type Sink interface {
	InsertUsage(ctx context.Context, recs []store.UsageRecord) error
}

// Defaults for WriterOptions. A batch of 1024 rows costs the gateway a
// fifth to a half less CPU per row than one of 256 on Postgres, and a tenth
// less on SQLite, where it holds the write lock about 12 ms (see
// BenchmarkWriter); a gateway fills one only above 1024 requests a second,
// and FlushInterval writes smaller ones.
const (
	DefaultBatchSize     = 1024
	DefaultFlushInterval = time.Second
	DefaultQueueSize     = 16384
)

// Retry timing for failed inserts.
const (
	firstBackoff   = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
	attemptTimeout = 10 * time.Second
)

// shedAfter is how many inserts in a row must fail (about 0.3s of
// retrying, more if attempts hang) before a full queue drops records
// rather than holding up their requests: a database under stress that
// fails now and then pushes back, one that is down does not stop traffic.
const shedAfter = 3

// WriterOptions configures a Writer. Zero fields take defaults.
type WriterOptions struct {
	// BatchSize is the most records one insert carries; a full batch is
	// written at once. Default: DefaultBatchSize.
	BatchSize int
	// FlushInterval is the longest a record waits before its batch is
	// written (while the sink keeps up). Default: DefaultFlushInterval.
	FlushInterval time.Duration
	// QueueSize bounds the records waiting to be written (besides the
	// batch being written). While it is reached, Record blocks if the sink
	// is slow or failed only once or twice, and drops the record (counted
	// and logged) once the sink has failed shedAfter times in a row.
	// Default: DefaultQueueSize.
	QueueSize int
	// Logger receives the start and end of each sink outage and the
	// records dropped during it. Default: slog.Default().
	Logger *slog.Logger
	// OnError, when set, is called with every failed insert attempt (from
	// the writer's goroutine, or from Record after Close); it must not
	// block.
	OnError func(error)
	// StoreDown, when set, reports whether the store is known to be down
	// (its breaker is open). A full queue then drops records at once, as
	// after shedAfter failures, instead of holding requests while an
	// insert waits out its own long deadline; a Record already waiting
	// for room looks again every recheckFull.
	StoreDown func() bool
}

// recheckFull is how often a Record waiting for room in a full queue looks
// again whether the store has been found down meanwhile.
const recheckFull = 50 * time.Millisecond

// Writer writes usage records to a Sink in batches, from one background
// goroutine. It never drops a record it accepted while running: a failed
// batch is kept and retried with exponential backoff (100ms doubling to
// 5s) until it is saved or Close gives up, and the records that arrive
// meanwhile wait behind it, up to QueueSize. Records are written in the
// order they were recorded. It is safe for concurrent use.
//
// An outage of the sink (from the first failed insert to the next
// successful one) is logged twice: once when it starts and once when it
// ends, with how long it lasted and how many records, if any, were
// dropped because the queue was full.
type Writer struct {
	sink      Sink
	batchSize int
	interval  time.Duration
	queueSize int
	log       *slog.Logger
	onError   func(error)
	storeDown func() bool

	mu sync.Mutex
	// space is signalled when buf shrinks or the writer closes.
	space sync.Cond
	// buf holds recorded records not yet taken by the worker, and arrived
	// when each of them was recorded.
	buf     []store.UsageRecord
	arrived []time.Time
	// spare is the array of the last batch written, cleared, for buf to
	// fill next instead of growing a new one record by record; it is let
	// go once the queue has stayed empty for the flush interval (emptySince
	// is when it last ran empty).
	spare      []store.UsageRecord
	emptySince time.Time
	// recorded counts the records accepted; settled those saved or given
	// up on (lost). Batches settle in order, so every record up to the
	// n-th is settled when settled >= n. Only a Close that runs out of
	// time loses records, and then it loses every record after the
	// lostAfter-th.
	recorded, settled, lost, lostAfter uint64
	// flushTo asks the worker to write every record up to this count now.
	flushTo uint64
	lastErr error
	closed  bool
	// down is set from a failed insert to the next successful one; since
	// is when it was set, failures counts the failed inserts since, and
	// dropped the records refused by a full queue meanwhile (total counts
	// them for good).
	down           bool
	since          time.Time
	failures       int
	dropped, total uint64
	// progress is closed and replaced whenever settled grows.
	progress chan struct{}

	kick      chan struct{} // wakes the worker; capacity 1
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the worker returns
	abandon   context.CancelFunc
	closeOnce sync.Once
}

// NewWriter starts a Writer. Call Close to stop it.
func NewWriter(sink Sink, opts WriterOptions) *Writer {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		sink:      sink,
		batchSize: opts.BatchSize,
		interval:  opts.FlushInterval,
		queueSize: opts.QueueSize,
		log:       opts.Logger,
		onError:   opts.OnError,
		storeDown: opts.StoreDown,
		progress:  make(chan struct{}),
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		abandon:   cancel,
	}
	w.space.L = &w.mu
	go w.run(ctx)
	return w
}

// Record queues rec for writing. It does not wait for the database: while
// QueueSize records are waiting and the sink is slow but answering, it
// blocks until there is room, pushing back on the callers instead of
// losing their usage; once the sink has failed several times in a row, or
// StoreDown says the store is known down, it drops rec instead, so that an
// outage of the store does not hold up every request, and counts it (see
// Dropped).
//
// After Close, Record writes rec synchronously, with one attempt bounded
// by a timeout; a failure is logged and passed to OnError.
func (w *Writer) Record(rec store.UsageRecord) {
	now := time.Now() // read before the lock, which every request takes
	w.mu.Lock()
	for !w.closed && len(w.buf) >= w.queueSize {
		if w.failures >= shedAfter || w.storeDown != nil && w.storeDown() {
			w.drop()
			w.mu.Unlock()
			return
		}
		if w.storeDown != nil {
			t := time.AfterFunc(recheckFull, func() {
				w.mu.Lock()
				w.space.Broadcast()
				w.mu.Unlock()
			})
			w.space.Wait()
			t.Stop()
			continue
		}
		w.space.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		w.recordDirect(rec)
		return
	}
	if w.buf == nil {
		w.buf, w.spare = w.spare, nil
	}
	w.buf = append(w.buf, rec)
	w.arrived = append(w.arrived, now)
	w.recorded++
	if len(w.buf) == 1 || len(w.buf) >= w.batchSize {
		w.wake()
	}
	w.mu.Unlock()
}

// drop counts a record refused by a full queue during an outage, logging
// the first of each outage. w.mu must be held.
func (w *Writer) drop() {
	w.dropped++
	w.total++
	if w.dropped == 1 {
		w.log.Error("usage queue full while the store is unavailable; dropping usage records until it answers again",
			"queue_size", w.queueSize)
	}
}

// Dropped returns how many records Record has dropped because the queue
// was full while the sink was failing.
func (w *Writer) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total
}

func (w *Writer) recordDirect(rec store.UsageRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	if err := w.sink.InsertUsage(ctx, []store.UsageRecord{rec}); err != nil {
		err = fmt.Errorf("saving usage of request %q recorded after close: %w", rec.RequestID, err)
		w.log.Error("usage record not saved", "request_id", rec.RequestID, "err", err)
		if w.onError != nil {
			w.onError(err)
		}
	}
}

// Flush writes every record recorded before it was called and returns when
// they are saved. If ctx ends first, it returns an error saying how many
// are still waiting; they stay queued and will be written later.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.recorded
	if w.flushTo < target {
		w.flushTo = target
		w.wake()
	}
	for w.settled < target {
		ch := w.progress
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		w.mu.Lock()
		if ctx.Err() != nil && w.settled < target {
			return fmt.Errorf("flushing usage: %d records not yet saved: %w", target-w.settled, errors.Join(ctx.Err(), w.lastErr))
		}
	}
	if w.lost > 0 && target > w.lostAfter {
		return fmt.Errorf("flushing usage: %d records not saved: writer closed: %w", target-w.lostAfter, w.lastErr)
	}
	return nil
}

// Close writes everything recorded and stops the writer. If ctx ends
// before every record is saved, Close gives up on the rest and returns an
// error saying how many records were not saved, wrapping ctx's error and
// the last insert error. Calling Close again returns the same outcome.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.space.Broadcast()
		w.mu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abandon()
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost > 0 {
		return fmt.Errorf("closing usage writer: %d records not saved: %w", w.lost, errors.Join(ctx.Err(), w.lastErr))
	}
	return nil
}

// wake nudges the worker without blocking.
func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run is the worker: it writes batches that are full, old enough or asked
// for by Flush or Close, and returns once stopped with nothing left, or
// when ctx is cancelled by a Close that ran out of time.
func (w *Writer) run(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	stopping := false
	for {
		w.mu.Lock()
		batch, wait := w.next(stopping)
		w.mu.Unlock()
		if batch != nil {
			if !w.save(ctx, batch) {
				w.giveUp()
				return
			}
			continue
		}
		if stopping {
			return
		}
		var fire <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-w.kick:
		case <-fire:
		case <-w.stop:
			stopping = true
		}
		timer.Stop()
	}
}

// next takes the next batch when one is due. Otherwise it returns how long
// until the oldest waiting record is due (or, with none waiting, until the
// spare array is let go), or 0 when there is nothing to wait for. w.mu
// must be held.
func (w *Writer) next(stopping bool) ([]store.UsageRecord, time.Duration) {
	n := len(w.buf)
	if n == 0 {
		if w.spare == nil {
			return nil, 0
		}
		if w.emptySince.IsZero() {
			w.emptySince = time.Now()
		}
		if idle := time.Since(w.emptySince); idle < w.interval {
			return nil, w.interval - idle
		}
		w.spare, w.emptySince = nil, time.Time{}
		return nil, 0
	}
	w.emptySince = time.Time{}
	wait := time.Until(w.arrived[0].Add(w.interval))
	if n < w.batchSize && !stopping && w.flushTo <= w.settled && wait > 0 {
		return nil, wait
	}
	k := min(n, w.batchSize)
	if n-k <= w.batchSize/4 {
		// The batch takes buf's array whole (for recycle); the few records
		// past it, if any, and those that arrive while it is written go to
		// the array of the batch written before it, which is done with it.
		// The arrival times are read only here, so their array is kept.
		batch := w.buf[:k]
		w.buf, w.spare = append(w.spare, w.buf[k:]...), nil
		w.arrived = w.arrived[:copy(w.arrived, w.arrived[k:])]
		if cap(w.arrived) > 2*w.batchSize {
			w.arrived = append([]time.Time(nil), w.arrived...) // nil when empty
		}
		w.space.Broadcast()
		return batch, 0
	}
	// A backlog: the batch keeps its own view of the array, which later
	// appends to buf never reach.
	batch := w.buf[:k:k]
	w.buf, w.arrived = w.buf[k:], w.arrived[k:]
	w.space.Broadcast()
	return batch, 0
}

// recycle keeps the array of a batch that is written for the queue to
// fill again; only arrays about the size of a batch (grown by append past
// it) are kept, so an outage's backlog is let go.
func (w *Writer) recycle(batch []store.UsageRecord) {
	if cap(batch) > 2*w.batchSize {
		return
	}
	clear(batch[:cap(batch)]) // the records' strings and slices are not held on to
	w.mu.Lock()
	if w.spare == nil {
		w.spare = batch[:0]
	}
	w.mu.Unlock()
}

// save inserts batch, retrying with backoff until it succeeds (true) or
// ctx is cancelled (false).
func (w *Writer) save(ctx context.Context, batch []store.UsageRecord) bool {
	backoff := firstBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := w.sink.InsertUsage(actx, batch)
		cancel()
		if err == nil {
			w.settle(len(batch), false)
			w.recovered()
			w.recycle(batch)
			return true
		}
		if ctx.Err() != nil {
			w.settle(len(batch), true)
			return false
		}
		w.report(fmt.Errorf("saving %d usage records: %w", len(batch), err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			w.settle(len(batch), true)
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// giveUp counts everything still queued as lost.
func (w *Writer) giveUp() {
	w.mu.Lock()
	n := len(w.buf)
	w.buf, w.arrived = nil, nil
	w.mu.Unlock()
	if n > 0 {
		w.settle(n, true)
	}
}

// settle marks the next n records as saved or lost.
func (w *Writer) settle(n int, lost bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if lost {
		if w.lost == 0 {
			w.lostAfter = w.settled
		}
		w.lost += uint64(n)
		w.log.Error("usage records not saved", "records", n, "err", w.lastErr)
	}
	w.settled += uint64(n)
	close(w.progress)
	w.progress = make(chan struct{})
}

// report records a failed insert, logging it when it starts an outage.
func (w *Writer) report(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.failures++
	if w.failures == shedAfter {
		// Recorders waiting for room now drop instead.
		w.space.Broadcast()
	}
	if !w.down {
		w.down, w.since, w.dropped = true, time.Now(), 0
		w.log.Error("usage store unavailable; keeping usage records in memory and retrying until it answers again",
			"waiting", len(w.buf), "queue_size", w.queueSize, "err", err)
	}
	w.mu.Unlock()
	if w.onError != nil {
		w.onError(err)
	}
}

// recovered ends an outage after a successful insert, logging it.
func (w *Writer) recovered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.down {
		return
	}
	w.down, w.failures = false, 0
	w.log.Info("usage store available again; writing the records kept meanwhile",
		"outage", time.Since(w.since).Round(time.Millisecond).String(), "waiting", len(w.buf), "dropped", w.dropped)
}
