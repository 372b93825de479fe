package app

import (
	"slices"
	"testing"
)

// TestMemoryReliefAfterBurst: memory is returned once per burst, after the
// load has stayed down for two ticks; not for a small peak, not in a lull
// inside a burst, not under steady load.
func TestMemoryReliefAfterBurst(t *testing.T) {
	for _, c := range []struct {
		name  string
		loads []int64
		want  []int // ticks (0-based) at which memory is returned
	}{
		{"a burst, then quiet", []int64{0, 500, 2000, 1800, 30, 0, 0, 0, 0}, []int{5}},
		{"a lull inside the burst", []int64{2000, 100, 2000, 250, 20, 0, 0}, []int{4}},
		{"at an eighth of the peak, still down", []int64{800, 100, 100, 100}, []int{2}},
		{"just above an eighth", []int64{800, 101, 101, 101}, nil},
		{"a small peak", []int64{10, 63, 0, 0, 0, 0}, nil},
		{"steady load", []int64{300, 310, 290, 305, 300, 300}, nil},
		{"two bursts", []int64{1000, 0, 0, 0, 0, 1000, 5, 5, 5}, []int{2, 7}},
		{"a burst then a smaller one", []int64{4000, 0, 0, 200, 0, 0}, []int{2, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []int
			m := &memoryRelief{live: func() uint64 { return 0 }, allocated: func() uint64 { return 0 }}
			for i, n := range c.loads {
				m.inFlight = func() int64 { return n }
				m.free = func() { got = append(got, i) }
				m.tick()
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("loads %v: memory returned at ticks %v, want %v", c.loads, got, c.want)
			}
		})
	}
}

// TestMemoryReliefWhenIdle: a process that served fewer requests at once
// than a burst returns its memory once it has gone idle (two ticks in a
// row that allocated less than 64 KiB each), if it allocated at least
// 4 MiB since it last did; not while it keeps allocating, not for a
// trickle, and once per idle spell.
func TestMemoryReliefWhenIdle(t *testing.T) {
	const kib = 1 << 10
	for _, c := range []struct {
		name string
		// per tick, the KiB allocated since the previous one
		allocs []uint64
		want   []int // ticks (0-based) at which memory is returned
	}{
		{"traffic, then idle", []uint64{3000, 3000, 10, 0, 0, 0, 0}, []int{3}},
		{"still allocating", []uint64{3000, 3000, 100, 100, 100, 100}, nil},
		{"a tick of traffic between quiet ones", []uint64{6000, 10, 200, 10, 10, 0}, []int{4}},
		{"too little since the last relief", []uint64{3000, 0, 0, 0, 0}, nil},
		{"a trickle, short of 4 MiB", []uint64{60, 60, 60, 60, 60, 60}, nil},
		{"two idle spells", []uint64{5000, 0, 0, 0, 5000, 0, 0, 0}, []int{2, 6}},
		{"idle again with nothing new", []uint64{5000, 0, 0, 0, 1000, 0, 0, 0}, []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []int
			var total uint64
			m := &memoryRelief{inFlight: func() int64 { return 0 }, live: func() uint64 { return 0 },
				allocated: func() uint64 { return total }}
			for i, a := range c.allocs {
				total += a * kib
				m.free = func() { got = append(got, i) }
				m.tick()
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("KiB allocated per tick %v: memory returned at ticks %v, want %v", c.allocs, got, c.want)
			}
		})
	}

	// A burst's relief counts as the idle one: the quiet ticks after it
	// return nothing more.
	var got int
	var total uint64
	n := int64(0)
	m := &memoryRelief{inFlight: func() int64 { return n }, live: func() uint64 { return 0 },
		allocated: func() uint64 { return total }, free: func() { got++ }}
	for _, load := range []int64{500, 0, 0, 0, 0, 0} {
		n = load
		total += 8 << 20
		if load == 0 {
			total -= 8 << 20
		}
		m.tick()
	}
	if got != 1 {
		t.Errorf("after a burst and quiet ticks, memory returned %d times, want once", got)
	}
}

// TestMemoryReliefGCPercent: GOGC stays at the default while the live heap
// is small, falls as it grows so the headroom stays near 64 MiB, never
// below 25, is set only when it changes, and not at all when the operator
// set GOGC.
func TestMemoryReliefGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100}, {20 * mib, 100}, {64 * mib, 100}, {65 * mib, 98}, {128 * mib, 50},
		{200 * mib, 32}, {256 * mib, 25}, {400 * mib, 25}, {4096 * mib, 25},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}

	var set []int
	live := uint64(20 * mib)
	m := &memoryRelief{inFlight: func() int64 { return 0 }, live: func() uint64 { return live }, allocated: func() uint64 { return 0 }, free: func() {},
		setGCPercent: func(p int) int { set = append(set, p); return 100 }}
	for _, l := range []uint64{20, 20, 128, 130, 400, 400, 30, 30} {
		live = l * mib
		m.tick()
	}
	if want := []int{100, 50, 25, 100}; !slices.Equal(set, want) {
		t.Errorf("GOGC set to %v, want %v", set, want)
	}

	// GOGC set by the operator is left alone; otherwise the process's
	// is set.
	env := func(gogc string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
	}
	if newMemoryRelief(m.inFlight, func() {}, env("off")).setGCPercent != nil {
		t.Error("with GOGC set by the operator, the relief sets GOGC")
	}
	if newMemoryRelief(m.inFlight, func() {}, env("")).setGCPercent == nil {
		t.Error("without GOGC set by the operator, the relief leaves GOGC alone")
	}
	r := &memoryRelief{inFlight: m.inFlight, live: func() uint64 { return 400 * mib }, allocated: m.allocated, free: func() {}}
	r.tick() // without setGCPercent: GOGC untouched
	if r.percent != 0 {
		t.Errorf("with GOGC set by the operator, the relief set GOGC to %d", r.percent)
	}
}

// TestMemoryReliefClosesIdleConnections: what a burst's end gives back
// includes the idle connections to channels that the burst opened.
func TestMemoryReliefClosesIdleConnections(t *testing.T) {
	closed := 0
	m := newMemoryRelief(func() int64 { return 0 }, func() { closed++ }, func(string) string { return "off" })
	m.free()
	if closed != 1 {
		t.Errorf("idle connections closed %d times when memory was returned, want 1", closed)
	}
}
