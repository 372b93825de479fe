package overload

import (
	"runtime/metrics"
	"time"
)

// SchedLatency returns a reader of the Go scheduler's latency: the time
// goroutines spent runnable but not running (runtime/metrics
// /sched/latencies:seconds). Each call returns the quantile q of what the
// scheduler recorded since the previous call, or 0 when it recorded
// nothing. Not safe for concurrent use; the Limiter calls it under its
// lock.
//
// This is the gateway's CPU pressure as its requests feel it: a request's
// own work rarely blocks except on the network, so time it waits for a
// CPU shows up here rather than between its admission and its release.
func SchedLatency(q float64) func() time.Duration {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	var prev []uint64
	return func() time.Duration {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindFloat64Histogram {
			return 0
		}
		h := s[0].Value.Float64Histogram()
		if len(prev) != len(h.Counts) {
			prev = make([]uint64, len(h.Counts))
			copy(prev, h.Counts)
			return 0
		}
		var total uint64
		for i, c := range h.Counts {
			total += c - prev[i]
		}
		var d time.Duration
		if total > 0 {
			want := uint64(float64(total)*q) + 1
			var cum uint64
			for i, c := range h.Counts {
				cum += c - prev[i]
				if cum >= want {
					// The bucket's lower bound: the upper one of the last
					// bucket is +Inf.
					d = time.Duration(h.Buckets[i] * float64(time.Second))
					break
				}
			}
		}
		copy(prev, h.Counts)
		return max(d, 0)
	}
}
