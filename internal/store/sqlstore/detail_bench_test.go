package sqlstore

import (
	"testing"
	"time"

	"switchyard/internal/store"
)

func BenchmarkEncodeDetail(b *testing.B) {
	r := &store.UsageRecord{Strategy: "priority", Candidates: []store.RouteCandidate{{Channel: "fake", UpstreamModel: "bench-upstream"},
		{Channel: "other", UpstreamModel: "bench-upstream", Skipped: "breaker_open", Detail: "cooling down"}},
		AttemptLog: []store.Attempt{{Channel: "fake", UpstreamModel: "bench-upstream", Status: 200, Duration: 700 * time.Microsecond}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendDetail(buf[:0], r)
	}
}
