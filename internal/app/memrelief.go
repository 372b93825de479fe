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
// the headroom stays near reliefHeadroom instead of growing with it.
type memoryRelief struct {
	// inFlight counts the requests in the handler, streams included.
	inFlight func() int64
	// live is the live heap in bytes as of the last collection.
	live func() uint64
	// free closes idle connections to channels, then collects and
	// returns freed memory to the operating system.
	free func()
	// setGCPercent sets GOGC; nil leaves it alone (GOGC set by the
	// operator).
	setGCPercent func(int) int

	peak    int64 // most requests in flight at once since the last relief
	quiet   int   // consecutive ticks with the load down from the peak
	percent int   // the GOGC last set; 0 before the first
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
)

// tick takes the requests in flight now and does what is due: the
// burst's memory back once it is over, and GOGC for the live heap.
func (m *memoryRelief) tick() {
	if m.setGCPercent != nil {
		// Set at once back to the default, otherwise only on a move of
		// 10 points or more, not on every small move of the live heap.
		if p := gcPercentFor(m.live()); m.percent == 0 || p != m.percent && (p == 100 || abs(p-m.percent) >= 10) {
			m.setGCPercent(p)
			m.percent = p
		}
	}
	if m.over(m.inFlight()) {
		m.free()
	}
}

// over takes the requests in flight at a tick and reports whether a
// burst just ended: at least reliefBurst were in flight at once, and the
// load has stayed at an eighth of that peak or less for reliefQuietTicks
// ticks. The peak is then forgotten, so one burst is answered once.
func (m *memoryRelief) over(n int64) bool {
	m.peak = max(m.peak, n)
	if m.peak < reliefBurst || n > m.peak/8 {
		m.quiet = 0
		return false
	}
	m.quiet++
	if m.quiet < reliefQuietTicks {
		return false
	}
	m.peak, m.quiet = n, 0
	return true
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
	m := &memoryRelief{inFlight: inFlight, live: liveHeap, free: func() { closeIdle(); freeMemory() }}
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
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
