package overload

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// acquireAsync starts an Acquire and returns where its outcome lands.
func acquireAsync(ctx context.Context, l *Limiter) <-chan result {
	ch := make(chan result, 1)
	go func() {
		t, err := l.Acquire(ctx)
		ch <- result{t, err}
	}()
	return ch
}

type result struct {
	t   *Ticket
	err error
}

func TestQueueDeadlineIsHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1, QueueTimeout: 40 * time.Millisecond}, nil)
		held, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ch := acquireAsync(context.Background(), l)
		synctest.Wait()
		if got := l.Stats().Queued; got != 1 {
			t.Fatalf("queued %d, want 1", got)
		}
		r := <-ch
		if reasonOf(r.err) != QueueTimeout || !errors.Is(r.err, ErrOverloaded) {
			t.Fatalf("err %v, want a queue timeout", r.err)
		}
		if waited := time.Since(start); waited != 40*time.Millisecond {
			t.Errorf("refused after %v, want the 40ms deadline", waited)
		}
		if s := l.Stats(); s.Queued != 0 || s.InFlight != 1 {
			t.Errorf("after the timeout: %+v", s)
		}

		// A slot freed before the deadline goes to the waiter (once the
		// timeout's sustained-overload interval has passed).
		time.Sleep(Interval)
		ch = acquireAsync(context.Background(), l)
		time.Sleep(10 * time.Millisecond)
		held.Release(0)
		r = <-ch
		if r.err != nil {
			t.Fatalf("waiter refused after a release: %v", r.err)
		}
		r.t.Release(0)
		if s := l.Stats(); s.InFlight != 0 || s.Queued != 0 || s.Refused[QueueTimeout] != 1 {
			t.Errorf("at the end: %+v", s)
		}
	})
}

// churn keeps one request working and another waiting for d, handing
// the slot to the waiter every step: the queue never empties, and drains
// at one request per step. It returns the request working and the one
// waiting at the end.
func churn(t *testing.T, l *Limiter, held *Ticket, d, step time.Duration) (*Ticket, <-chan result) {
	t.Helper()
	next := acquireAsync(context.Background(), l)
	synctest.Wait()
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(step)
		after := acquireAsync(context.Background(), l)
		synctest.Wait()
		held.Release(0)
		r := <-next
		if r.err != nil {
			t.Fatalf("a waiter was refused while the queue drained: %v", r.err)
		}
		held, next = r.t, after
	}
	return held, next
}

func TestSustainedQueueShortensTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1, QueueTimeout: 500 * time.Millisecond}, nil)
		held, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// The queue has not been empty for two intervals, draining one
		// request every 2ms: enough for two waiters within the
		// sustained-overload deadline.
		_, first := churn(t, l, held, 2*Interval, 2*time.Millisecond)
		// A new waiter gets the sustained-overload deadline.
		start := time.Now()
		r := <-acquireAsync(context.Background(), l)
		if reasonOf(r.err) != QueueTimeout {
			t.Fatalf("err %v, want a queue timeout", r.err)
		}
		if waited := time.Since(start); waited != DefaultSustainedTimeout {
			t.Errorf("refused after %v under sustained overload, want %v", waited, DefaultSustainedTimeout)
		}
		if r := <-first; reasonOf(r.err) != QueueTimeout {
			t.Fatalf("first waiter: %v", r.err)
		}
		// A waiter timed out just now: the short deadline holds for
		// another interval, though the queue is empty.
		start = time.Now()
		r = <-acquireAsync(context.Background(), l)
		if waited := time.Since(start); reasonOf(r.err) != QueueTimeout || waited != DefaultSustainedTimeout {
			t.Errorf("just after a timeout: %v after %v, want a timeout after %v", r.err, waited, DefaultSustainedTimeout)
		}
		// Once the queue has stayed calm for an interval, the full
		// deadline is back, whatever the queue drained meanwhile (nothing).
		time.Sleep(Interval)
		start = time.Now()
		r = <-acquireAsync(context.Background(), l)
		if waited := time.Since(start); reasonOf(r.err) != QueueTimeout || waited != 500*time.Millisecond {
			t.Errorf("after the queue emptied: %v after %v, want a timeout after 500ms", r.err, waited)
		}
	})
}

func TestSustainedQueueIsBoundedByItsDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1, QueueTimeout: 500 * time.Millisecond}, nil)
		held, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Sustained overload, draining one request every 2ms: 2.5 within
		// the 5ms deadline.
		_, first := churn(t, l, held, 2*Interval, 2*time.Millisecond)
		second := acquireAsync(context.Background(), l)
		synctest.Wait()
		if got := l.Stats().Queued; got != 2 {
			t.Fatalf("queued %d, want 2", got)
		}
		// A third waiter would not get its turn in time: refused at once,
		// without waiting for the deadline.
		before := l.Stats().Refused
		start := time.Now()
		_, err = l.Acquire(context.Background())
		if reasonOf(err) != QueueFull || time.Since(start) != 0 {
			t.Errorf("err %v after %v, want queue_full at once", err, time.Since(start))
		}
		for _, ch := range []<-chan result{first, second} {
			if r := <-ch; reasonOf(r.err) != QueueTimeout {
				t.Errorf("a queued waiter: %v, want a queue timeout", r.err)
			}
		}
		after := l.Stats().Refused
		if after[QueueFull]-before[QueueFull] != 1 || after[QueueTimeout]-before[QueueTimeout] != 2 {
			t.Errorf("refusals %v, then %v", before, after)
		}

		// Nothing was admitted since: while the overload still counts as
		// sustained (an interval after the last timeout), a waiter would
		// only time out, so it is refused at once.
		time.Sleep(Interval - time.Millisecond)
		start = time.Now()
		_, err = l.Acquire(context.Background())
		if reasonOf(err) != QueueFull || time.Since(start) != 0 {
			t.Errorf("with nothing drained: err %v after %v, want queue_full at once", err, time.Since(start))
		}
		// Once the overload has been over for an interval, the queue takes
		// waiters again.
		time.Sleep(Interval)
		start = time.Now()
		r := <-acquireAsync(context.Background(), l)
		if waited := time.Since(start); reasonOf(r.err) != QueueTimeout || waited != 500*time.Millisecond {
			t.Errorf("after the overload: %v after %v, want a timeout after 500ms", r.err, waited)
		}
	})
}

func TestDrainBoundNeedsARecentRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1, QueueTimeout: 20 * time.Millisecond}, nil)
		if _, err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		// After a lull, the overload counts as sustained once a waiter
		// times out, before a fresh admission rate is measured: the
		// rate over the lull (one admission in a second) says nothing
		// of the queue's drain, so a waiter is queued, with the short
		// deadline, rather than refused at once.
		time.Sleep(time.Second)
		if r := <-acquireAsync(context.Background(), l); reasonOf(r.err) != QueueTimeout {
			t.Fatalf("after the lull: %v, want a queue timeout", r.err)
		}
		start := time.Now()
		r := <-acquireAsync(context.Background(), l)
		if waited := time.Since(start); reasonOf(r.err) != QueueTimeout || waited != DefaultSustainedTimeout {
			t.Errorf("with no recent rate: %v after %v, want a timeout after %v", r.err, waited, DefaultSustainedTimeout)
		}
	})
}

func TestDrainBoundIgnoresALongDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A sustained-overload deadline longer than the Interval the rate
		// is measured over: the rate does not bound the queue.
		l := New(Config{MaxInFlight: 1, QueueTimeout: time.Minute, SustainedTimeout: time.Second}, nil)
		if _, err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(Interval)
		first := acquireAsync(context.Background(), l)
		time.Sleep(Interval + Interval/2)
		// Sustained, and nothing admitted since the first waiter came.
		start := time.Now()
		r := <-acquireAsync(context.Background(), l)
		if waited := time.Since(start); reasonOf(r.err) != QueueTimeout || waited != time.Second {
			t.Errorf("err %v after %v, want a timeout after 1s", r.err, waited)
		}
		<-first
	})
}

func TestQueueFullRefusesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1, Queue: 2}, nil)
		if _, err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		a, b := acquireAsync(context.Background(), l), acquireAsync(context.Background(), l)
		synctest.Wait()
		start := time.Now()
		_, err := l.Acquire(context.Background())
		if reasonOf(err) != QueueFull || time.Since(start) != 0 {
			t.Errorf("err %v after %v, want queue_full at once", err, time.Since(start))
		}
		<-a
		<-b
		if got := l.Stats().Refused; got[QueueFull] != 1 || got[QueueTimeout] != 2 {
			t.Errorf("refusals %v", got)
		}
	})
}

func TestNoQueue(t *testing.T) {
	l := New(Config{MaxInFlight: 1, Queue: -1}, nil)
	if _, err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(context.Background()); reasonOf(err) != QueueFull {
		t.Errorf("err %v, want queue_full", err)
	}
}

func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1}, nil)
		held, _ := l.Acquire(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		ch := acquireAsync(ctx, l)
		synctest.Wait()
		cancel()
		if r := <-ch; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", r.err)
		}
		held.Release(0)
		if s := l.Stats(); s.InFlight != 0 || s.Queued != 0 {
			t.Errorf("after a cancelled wait: %+v", s)
		}
		// The slot is free: nothing was lost to the cancelled waiter.
		if _, err := l.Acquire(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func TestStreamsAreCountedApart(t *testing.T) {
	l := New(Config{MaxInFlight: 1, MaxStreams: 1, Queue: -1}, nil)
	ctx := context.Background()
	s1, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Admitted, before it is known to be a stream: a unary slot.
	if _, err := l.Acquire(ctx); reasonOf(err) != QueueFull {
		t.Fatalf("unary beside a request being read: %v, want queue_full", err)
	}
	if err := s1.Stream(); err != nil {
		t.Fatal(err)
	}
	// Known to be a stream, set up or open: only the stream slot, so
	// neither the unary limit nor the admission cap refuses the next
	// request, stream or not.
	s1.Opened(0)
	u, err := l.Acquire(ctx)
	if err != nil {
		t.Fatalf("unary beside an open stream: %v", err)
	}
	if err := u.Stream(); reasonOf(err) != StreamsFull {
		t.Fatalf("second stream: %v, want streams_full", err)
	}
	got := l.Stats()
	want := Stats{Limit: 1, RequestLimit: DefaultMaxRequests, InFlight: 1, Streams: 1, MaxStreams: 1, Admitted: 2,
		Refused: map[Reason]uint64{QueueFull: 1, StreamsFull: 1, QueueTimeout: 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	u.Release(0)
	s1.Release(0)
	s1.Release(0) // a second release changes nothing
	u.Abandon()
	if s := l.Stats(); s.InFlight != 0 || s.Streams != 0 {
		t.Errorf("after release: %+v", s)
	}
}

func TestReleaseSurvivesPanic(t *testing.T) {
	l := New(Config{MaxInFlight: 2, MaxStreams: 2}, nil)
	work := func() {
		tk, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tk.Abandon()
		if err := tk.Stream(); err != nil {
			t.Fatal(err)
		}
		panic("handler failed")
	}
	func() {
		defer func() { _ = recover() }()
		work()
	}()
	if s := l.Stats(); s.InFlight != 0 || s.Streams != 0 {
		t.Errorf("after a panic: %+v", s)
	}
}

// load runs workers that each loop: acquire, hold the slot for hold (of
// which upstream is waiting on a channel), release; until stop closes.
func load(l *Limiter, workers int, hold, upstream time.Duration, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tk, err := l.Acquire(context.Background())
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				time.Sleep(hold)
				tk.Release(upstream)
			}
		})
	}
	return &wg
}

func TestAdaptiveLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Adaptive: true, MinInFlight: 4, MaxInFlight: 1000, TargetDelay: 5 * time.Millisecond}
		l := New(cfg, nil)
		if got := l.Stats().Limit; got != 16 {
			t.Fatalf("initial limit %d, want 16", got)
		}
		phase := func(workers int, hold, upstream time.Duration) int {
			stop := make(chan struct{})
			wg := load(l, workers, hold, upstream, stop)
			time.Sleep(5 * time.Second)
			close(stop)
			wg.Wait()
			return l.Stats().Limit
		}
		// The gateway's own work is slow (20ms, four times the target):
		// the limit falls to its floor.
		if got := phase(200, 20*time.Millisecond, 0); got != cfg.MinInFlight {
			t.Errorf("under 20ms of own delay: limit %d, want the floor %d", got, cfg.MinInFlight)
		}
		// The gateway is quick again and requests queue: the limit
		// climbs back past the demand.
		if got := phase(200, time.Millisecond, 0); got < 200 {
			t.Errorf("under 1ms of own delay: limit %d, want at least the 200 workers", got)
		}
		// Slow channels (a second each) with little own work: the
		// limit is not the channels' latency's business; it climbs to
		// serve thousands of waits.
		if got := phase(2000, time.Second, time.Second-time.Millisecond); got != cfg.MaxInFlight {
			t.Errorf("under slow channels: limit %d, want the ceiling %d", got, cfg.MaxInFlight)
		}
		// Back to slow own work: it falls again.
		if got := phase(200, 20*time.Millisecond, 0); got != cfg.MinInFlight {
			t.Errorf("under 20ms of own delay again: limit %d, want the floor %d", got, cfg.MinInFlight)
		}
	})
}

func TestFixedLimitDoesNotMove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 8}, nil)
		stop := make(chan struct{})
		wg := load(l, 50, 20*time.Millisecond, 0, stop)
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		if got := l.Stats().Limit; got != 8 {
			t.Errorf("limit %d, want the fixed 8", got)
		}
	})
}

func TestAdaptiveLimitJudgesCPUDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cpu atomic.Int64 // the CPU delay the limiter reads
		cfg := Config{Adaptive: true, MinInFlight: 4, MaxInFlight: 1000, TargetDelay: 5 * time.Millisecond,
			CPUDelay: func() time.Duration { return time.Duration(cpu.Load()) }}
		l := New(cfg, nil)
		phase := func() int {
			stop := make(chan struct{})
			// Requests whose own delay is small: only the CPU delay
			// can hold the limit down.
			wg := load(l, 200, time.Millisecond, 0, stop)
			time.Sleep(5 * time.Second)
			close(stop)
			wg.Wait()
			return l.Stats().Limit
		}
		cpu.Store(int64(40 * time.Millisecond))
		if got := phase(); got != cfg.MinInFlight {
			t.Errorf("goroutines waiting 40ms for a CPU: limit %d, want the floor %d", got, cfg.MinInFlight)
		}
		if got := l.Stats().Delay; got != 40*time.Millisecond {
			t.Errorf("judged delay %v, want the CPU's 40ms", got)
		}
		cpu.Store(int64(100 * time.Microsecond))
		if got := phase(); got < 200 {
			t.Errorf("CPU delay back to 100µs: limit %d, want at least the 200 workers", got)
		}
	})
}

// TestParkedRequestResumesPastTheLimit: a parked request lends its slot
// to the next one and takes it back at once when its answer is in hand,
// even with every slot held and a waiter queued; the limit then binds new
// requests only.
func TestParkedRequestResumesPastTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{MaxInFlight: 1, QueueTimeout: time.Minute}, nil)
		a, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		a.Park()
		b, err := l.Acquire(context.Background()) // gets the lent slot at once
		if err != nil {
			t.Fatalf("refused while the only request was parked: %v", err)
		}
		waiting := acquireAsync(context.Background(), l)
		synctest.Wait()
		if s := l.Stats(); s.InFlight != 1 || s.Parked != 1 || s.Queued != 1 {
			t.Fatalf("with one parked, one working, one queued: %+v", s)
		}
		a.Resume() // never refused, though the limit is reached
		if s := l.Stats(); s.InFlight != 2 || s.Parked != 0 || s.Queued != 1 {
			t.Fatalf("after the resume: %+v", s)
		}
		b.Release(0)
		synctest.Wait()
		select {
		case r := <-waiting:
			t.Fatalf("waiter admitted past the limit (err %v)", r.err)
		default:
		}
		a.Release(0)
		r := <-waiting
		if r.err != nil {
			t.Fatalf("waiter refused once a slot was free: %v", r.err)
		}
		r.t.Release(0)
		if s := l.Stats(); s.InFlight != 0 || s.Parked != 0 || s.Queued != 0 || s.Admitted != 3 {
			t.Errorf("at the end: %+v", s)
		}
	})
}

// TestMaxRequestsBoundsWorkingAndParked: parked requests free their
// slots, but the admitted requests, working or parked, stay within
// MaxRequests; past it a request is refused like one over the limit.
func TestMaxRequestsBoundsWorkingAndParked(t *testing.T) {
	l := New(Config{MaxInFlight: 2, MaxRequests: 3, Queue: -1}, nil)
	var held []*Ticket
	for range 3 {
		tk, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatalf("request %d refused: %v", len(held)+1, err)
		}
		tk.Park()
		held = append(held, tk)
	}
	if s := l.Stats(); s.InFlight != 0 || s.Parked != 3 {
		t.Fatalf("three parked: %+v", s)
	}
	if _, err := l.Acquire(context.Background()); reasonOf(err) != QueueFull {
		t.Fatalf("fourth request with three parked: err %v, want a refusal", err)
	}
	held[0].Resume()
	held[1].Resume()
	held[2].Resume() // past the limit of two: a parked request is never refused
	if s := l.Stats(); s.InFlight != 3 || s.Parked != 0 {
		t.Fatalf("three resumed: %+v", s)
	}
	held[0].Park()
	held[0].Abandon() // a request ended while parked frees its place
	held[1].Release(0)
	if s := l.Stats(); s.InFlight != 1 || s.Parked != 0 {
		t.Fatalf("after two ended: %+v", s)
	}
	tk, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("refused with one request admitted: %v", err)
	}
	tk.Release(0)
	held[2].Release(0)
	if s := l.Stats(); s.InFlight != 0 || s.Parked != 0 || s.Refused[QueueFull] != 1 {
		t.Errorf("at the end: %+v", s)
	}
}

// TestParkedTimeIsNotOwnDelay: requests that wait a second parked and
// work a millisecond are judged at a millisecond, however the caller
// counts their upstream time.
func TestParkedTimeIsNotOwnDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{Adaptive: true, MinInFlight: 64, MaxInFlight: 64}, nil)
		var wg sync.WaitGroup
		for range minSamples {
			wg.Go(func() {
				tk, err := l.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				tk.Park()
				time.Sleep(time.Second)
				tk.Resume()
				time.Sleep(time.Millisecond)
				tk.Release(0)
			})
		}
		wg.Wait()
		tk, err := l.Acquire(context.Background()) // closes the window
		if err != nil {
			t.Fatal(err)
		}
		tk.Abandon()
		if got := l.Stats().Delay; got != time.Millisecond {
			t.Errorf("judged delay %v, want the 1ms worked", got)
		}
	})
}

// TestRequestCapFollowsCPUDelay: parked requests are admitted by the
// hundred while the CPU keeps up; when goroutines wait for a CPU the cap on
// admitted requests falls to the floor, so new requests are refused at
// once however few of them work (the rest are parked), and parked ones
// still resume; once the CPU keeps up again the cap climbs back.
func TestRequestCapFollowsCPUDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cpu atomic.Int64
		cfg := Config{Adaptive: true, MinInFlight: 4, MaxInFlight: 8, MaxRequests: 1000, Queue: -1,
			TargetDelay: 5 * time.Millisecond, CPUDelay: func() time.Duration { return time.Duration(cpu.Load()) }}
		l := New(cfg, nil)
		var parked []*Ticket
		admit := func(n int) (ok int) {
			for range n {
				tk, err := l.Acquire(context.Background())
				if err != nil {
					continue
				}
				tk.Park()
				parked = append(parked, tk)
				ok++
			}
			return ok
		}

		cpu.Store(int64(100 * time.Microsecond))
		if got := admit(300); got != 300 {
			t.Fatalf("CPU keeping up: %d of 300 parked requests admitted, want all", got)
		}

		cpu.Store(int64(40 * time.Millisecond))
		for range 30 {
			time.Sleep(100 * time.Millisecond)
			admit(1)
		}
		if s := l.Stats(); s.RequestLimit != cfg.MinInFlight {
			t.Fatalf("CPU short: request cap %d, want the floor %d (%+v)", s.RequestLimit, cfg.MinInFlight, s)
		}
		if _, err := l.Acquire(context.Background()); reasonOf(err) != QueueFull {
			t.Fatalf("CPU short with %d parked: Acquire = %v, want a refusal", len(parked), err)
		}
		for _, tk := range parked {
			tk.Resume() // never refused, whatever the cap
			tk.Release(0)
		}
		parked = nil
		if s := l.Stats(); s.InFlight != 0 || s.Parked != 0 {
			t.Fatalf("after every release: %+v", s)
		}

		cpu.Store(int64(100 * time.Microsecond))
		for range 30 {
			time.Sleep(100 * time.Millisecond)
			admit(1)
		}
		if s := l.Stats(); s.RequestLimit != cfg.MaxRequests {
			t.Fatalf("CPU keeping up again: request cap %d, want %d", s.RequestLimit, cfg.MaxRequests)
		}
		if got := admit(500); got != 500 {
			t.Fatalf("CPU keeping up again: %d of 500 parked requests admitted, want all", got)
		}
	})
}

// A burst of stream openings is bounded by the stream limit alone: each
// opening needs a unary slot only until it is known to be a stream, so a
// unary limit and admission cap far below the burst refuse none of it,
// while unary requests past them are still refused.
func TestStreamBurstNotRefusedByUnaryCap(t *testing.T) {
	l := New(Config{MinInFlight: 1, MaxInFlight: 2, MaxRequests: 2, MaxStreams: 100, Queue: -1}, nil)
	ctx := context.Background()
	var open []*Ticket
	for i := range 100 {
		tk, err := l.Acquire(ctx)
		if err != nil {
			t.Fatalf("stream %d refused at admission: %v", i, err)
		}
		if err := tk.Stream(); err != nil {
			t.Fatalf("stream %d refused: %v", i, err)
		}
		tk.Park() // waiting on its channel: nothing to give back
		tk.Resume()
		open = append(open, tk)
	}
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatalf("unary beside 100 streams: %v", err)
	}
	u2, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx); reasonOf(err) != QueueFull {
		t.Fatalf("third unary over a limit of 2: %v, want queue_full", err)
	}
	tk, err := l.Acquire(ctx)
	if err == nil {
		t.Fatalf("a request admitted over the unary limit: %+v", tk)
	}
	u2.Release(0)
	tk, err = l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.Stream(); reasonOf(err) != StreamsFull {
		t.Fatalf("stream 101: %v, want streams_full", err)
	}
	for _, s := range open {
		s.Release(0)
	}
	if s := l.Stats(); s.Streams != 0 || s.Parked != 0 {
		t.Errorf("after the streams: %+v", s)
	}
}
