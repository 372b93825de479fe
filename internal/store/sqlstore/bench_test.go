package sqlstore

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"switchyard/internal/store"
)

// benchUsage returns n ledger rows like the gateway writes, with request
// IDs unique across calls through seq.
func benchUsage(n int, seq *int) []store.UsageRecord {
	now := time.Now()
	recs := make([]store.UsageRecord, n)
	for i := range recs {
		*seq++
		recs[i] = store.UsageRecord{
			RequestID: "req_" + strconv.Itoa(*seq) + "_" + rand.Text(), TenantID: "ten_bench", KeyID: "key_bench",
			Model: "bench-model", Provider: "fake", UpstreamModel: "bench-upstream", Dialect: "openai",
			Endpoint: "chat", Traffic: "stateless", InputTokens: 12, OutputTokens: 30, CostUSD: 0.000123,
			Latency: 800 * time.Microsecond, Status: 200, Attempts: 1, Route: "priority",
			Contracts: []string{"stateless-on-azure"}, CreatedAt: now,
		}
	}
	return recs
}

// benchPrefill is how many rows the ledger holds before a benchmark
// starts: an index the page cache no longer holds costs more per insert
// than a fresh one, and request IDs land at random places in theirs.
const benchPrefill = 100_000

// BenchmarkInsertUsage measures the ledger's write cost per row at the
// batch sizes the usage writer produces: one row (an idle gateway), a few,
// and a full batch under load, into a ledger of benchPrefill rows.
func BenchmarkInsertUsage(b *testing.B) {
	for _, driver := range drivers() {
		for _, size := range []int{1, 16, 256, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", driver, size), func(b *testing.B) {
				s := OpenTestStore(b, driver)
				seq := 0
				for range benchPrefill / 1000 {
					if err := s.InsertUsage(b.Context(), benchUsage(1000, &seq)); err != nil {
						b.Fatal(err)
					}
				}
				rows := 0
				cpu0 := processCPU(b)
				for b.Loop() {
					b.StopTimer()
					recs := benchUsage(size, &seq)
					b.StartTimer()
					if err := s.InsertUsage(b.Context(), recs); err != nil {
						b.Fatal(err)
					}
					rows += size
				}
				el := b.Elapsed()
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(rows), "cpu-µs/row")
				b.ReportMetric(float64(el.Microseconds())/float64(rows), "µs/row")
				b.ReportMetric(float64(rows)/el.Seconds(), "rows/s")
			})
		}
	}
}

// processCPU returns the CPU time (user and system) the process has used:
// on a shared machine it varies much less than wall time, and for Postgres
// it counts only the client's side, the gateway's cost.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
