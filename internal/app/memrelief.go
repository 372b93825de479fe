package app

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime keeps what a burst of requests made it take from the
// operating system: the collector runs again only once the heap has grown
// by GOGC percent of the live heap of the last collection, so a process
// that goes quiet after thousands of open streams never collects their
// garbage, and the scavenger hands freed pages back only slowly; the
// channels' transport, likewise, keeps the connections the burst opened,
// each with two goroutines and its buffers, for its idle timeout. And
// while the burst lasts, the default GOGC of 100 lets the heap reach
// twice the live heap, which with thousands of open streams is hundreds
// of MiB of garbage on top of what they hold. memoryRelief, run by serve
// once a second, answers both: once a burst is over it closes those
// idle connections, collects and returns the freed memory at once
// (freeMemory), and while the live heap is large it lowers GOGC so that
// the headroom stays near reliefHeadroom instead of growing with it. A
// gateway that goes idle after lighter traffic than a burst is answered
// too: the garbage of the requests it served would otherwise stay
// resident until the runtime's next forced collection, two minutes on,
// and its pages longer.
type memoryRelief struct {
	// inFlight counts the requests in the handler, streams included.
	inFlight func() int64
	// live is the live heap in bytes as of the last collection.
	live func() uint64
	// allocated is the bytes the heap has handed out since the process
	// started.
	allocated func() uint64
	// free closes idle connections to channels, then collects and
	// returns freed memory to the operating system.
	free func()
	// setGCPercent sets GOGC; nil leaves it alone (GOGC set by the
	// operator).
	setGCPercent func(int) int

	peak    int64 // most requests in flight at once since the last relief
	quiet   int   // consecutive ticks with the load down from the peak
	percent int   // the GOGC last set; 0 before the first

	freed     uint64 // allocated as of the last relief
	last      uint64 // allocated as of the last tick
	idleTicks int    // consecutive ticks that allocated less than reliefIdleRate
}

const (
	// reliefBurst is the peak, in requests in flight at once, that makes
	// a burst worth returning memory after.
	reliefBurst = 64
	// reliefQuietTicks is how many ticks in a row the load must be at an
	// eighth of its peak or less before the memory is returned: a lull
	// inside a burst is not its end.
	reliefQuietTicks = 2
	// reliefHeadroom is the garbage the heap may gather past the live
	// heap before a collection, once the live heap is larger than it.
	reliefHeadroom = 64 << 20
	// reliefMinPercent bounds how low GOGC goes however large the live
	// heap: the collector's work per byte allocated grows as GOGC falls.
	reliefMinPercent = 25
	// reliefIdleRate is what the process may allocate in a tick that
	// still counts as idle: a few requests' worth, or a metrics scrape.
	reliefIdleRate = 64 << 10
	// reliefIdleGrowth is how much must have been allocated since the
	// last relief for an idle process to return memory: the runtime's
	// smallest heap goal, below which its garbage cannot have grown the
	// heap.
	reliefIdleGrowth = 4 << 20
)

// tick reads the requests in flight and the bytes allocated so far, and
// does what is due: memory back once a burst is over or once the process
// has gone idle, and GOGC for the live heap.
func (m *memoryRelief) tick() {
	if m.setGCPercent != nil {
		// Set at once back to the default, otherwise only on a move of
		// 10 points or more, not on every small move of the live heap.
		if p := gcPercentFor(m.live()); m.percent == 0 || p != m.percent && (p == 100 || abs(p-m.percent) >= 10) {
			m.setGCPercent(p)
			m.percent = p
		}
	}
	n, a := m.inFlight(), m.allocated()
	if burst, idle := m.over(n), m.idle(a); burst || idle {
		m.free()
		m.freed = a
		m.peak, m.quiet, m.idleTicks = n, 0, 0
	}
}

// idle takes the bytes allocated so far at a tick and reports whether the
// process has gone idle with memory worth returning: it allocated less
// than reliefIdleRate in each of the last reliefQuietTicks ticks, and at
// least reliefIdleGrowth since the last relief.
func (m *memoryRelief) idle(allocated uint64) bool {
	d := allocated - m.last
	m.last = allocated
	if d >= reliefIdleRate {
		m.idleTicks = 0
		return false
	}
	m.idleTicks++
	return m.idleTicks >= reliefQuietTicks && allocated-m.freed >= reliefIdleGrowth
}

// over takes the requests in flight at a tick and reports whether a
// burst just ended: at least reliefBurst were in flight at once, and the
// load has stayed at an eighth of that peak or less for reliefQuietTicks
// ticks. tick then forgets the peak, so one burst is answered once.
func (m *memoryRelief) over(n int64) bool {
	m.peak = max(m.peak, n)
	if m.peak < reliefBurst || n > m.peak/8 {
		m.quiet = 0
		return false
	}
	m.quiet++
	return m.quiet >= reliefQuietTicks
}

// gcPercentFor is the GOGC for a live heap of live bytes: the default 100
// up to reliefHeadroom, then what keeps the headroom at reliefHeadroom,
// reliefMinPercent at the least.
func gcPercentFor(live uint64) int {
	if live <= reliefHeadroom {
		return 100
	}
	return max(reliefMinPercent, int(100*reliefHeadroom/live))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// startMemoryRelief runs a memoryRelief once a second until the returned
// function is called, which also puts GOGC back as it found it. GOGC is
// left alone when the operator set it (the GOGC environment variable).
// closeIdle closes the idle connections to channels.
func startMemoryRelief(inFlight func() int64, closeIdle func(), getenv func(string) string) (stop func()) {
	m := newMemoryRelief(inFlight, closeIdle, getenv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.tick()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		if m.setGCPercent != nil && m.percent != 0 && m.percent != 100 {
			m.setGCPercent(100)
		}
	}
}

// newMemoryRelief is the process's memoryRelief. The idle connections go
// first, so that the collection frees their buffers.
func newMemoryRelief(inFlight func() int64, closeIdle func(), getenv func(string) string) *memoryRelief {
	m := &memoryRelief{inFlight: inFlight, live: liveHeap, allocated: heapAllocated, free: func() { closeIdle(); freeMemory() }}
	m.freed = m.allocated()
	m.last = m.freed
	if getenv("GOGC") == "" {
		m.setGCPercent = debug.SetGCPercent
	}
	return m
}

// freeMemory collects twice and returns the freed memory to the
// operating system. Twice, because a burst leaves buffers in sync.Pools
// (net/http's connection buffers among them): a collection moves a
// pool's contents aside and frees them only at the next, so after one
// they would stay, and with them the spans they pin, until a collection
// that an idle gateway may not run for a long time.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// liveHeap reads the live heap as of the last collection.
func liveHeap() uint64 { return readMetric("/gc/heap/live:bytes") }

// heapAllocated reads the bytes allocated in the heap since the process
// started.
func heapAllocated() uint64 { return readMetric("/gc/heap/allocs:bytes") }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
