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
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeDetail(r); err != nil {
			b.Fatal(err)
		}
	}
}
