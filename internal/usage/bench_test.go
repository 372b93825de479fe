package usage_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/usage"
)

// countingSink counts the inserts and rows that reach the store.
type countingSink struct {
	usage.Sink
	inserts, rows atomic.Int64
}

func (c *countingSink) InsertUsage(ctx context.Context, recs []store.UsageRecord) error {
	c.inserts.Add(1)
	c.rows.Add(int64(len(recs)))
	return c.Sink.InsertUsage(ctx, recs)
}

// BenchmarkWriter records rows from 16 goroutines, as a loaded gateway
// does, through a Writer into SQLite and Postgres (when
// SWITCHYARD_TEST_POSTGRES_DSN is set), at the batch sizes 1, 16 and 256.
// It reports the rows per insert the writer actually formed, and the time
// and process CPU per row (for Postgres the client's share only).
func BenchmarkWriter(b *testing.B) {
	drivers := []string{sqlstore.DriverSQLite}
	if os.Getenv(sqlstore.PostgresDSNEnv) != "" {
		drivers = append(drivers, sqlstore.DriverPostgres)
	}
	for _, driver := range drivers {
		for _, size := range []int{1, 16, 256, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", driver, size), func(b *testing.B) {
				sink := &countingSink{Sink: sqlstore.OpenTestStore(b, driver)}
				w := usage.NewWriter(sink, usage.WriterOptions{BatchSize: size, FlushInterval: time.Second,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				b.Cleanup(func() { w.Close(context.Background()) })
				prefix := rand.Text()
				var seq atomic.Int64
				cpu0 := processCPU(b)
				b.SetParallelism(8) // 16 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						n := seq.Add(1)
						w.Record(store.UsageRecord{RequestID: fmt.Sprintf("%s_%d", prefix, n), TenantID: "ten_bench",
							KeyID: "key_bench", Model: "bench-model", Provider: "fake", UpstreamModel: "bench-upstream",
							Dialect: "openai", Endpoint: "chat", Traffic: "stateless", InputTokens: 12, OutputTokens: 30,
							CostUSD: 0.000123, Latency: 800 * time.Microsecond, Status: 200, Attempts: 1, Route: "priority",
							Contracts: []string{"stateless-on-azure"}, Strategy: "priority", Candidates: benchCandidates,
							AttemptLog: []store.Attempt{{Channel: "fake", UpstreamModel: "bench-upstream", Status: 200, Duration: 700 * time.Microsecond}}})
					}
				})
				if err := w.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
				rows := float64(sink.rows.Load())
				b.ReportMetric(rows/float64(sink.inserts.Load()), "rows/insert")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/rows, "µs/row")
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/rows, "cpu-µs/row")
			})
		}
	}
}

// benchCandidates are the route candidates of a benchmark row, as the
// gateway records them for a model on two channels.
var benchCandidates = []store.RouteCandidate{{Channel: "fake", UpstreamModel: "bench-upstream"},
	{Channel: "other", UpstreamModel: "bench-upstream", Skipped: "breaker_open", Detail: "cooling down"}}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardSink accepts every batch at once.
type discardSink struct{}

func (discardSink) InsertUsage(context.Context, []store.UsageRecord) error { return nil }

// BenchmarkRecord measures queuing one record, as each request does, into
// a Writer whose sink keeps up: the queue's own allocations per record.
// Every batch is flushed before the next begins, as a sink that keeps up
// writes it, so that the loop never builds a backlog a gateway would not.
func BenchmarkRecord(b *testing.B) {
	const batch = 64
	w := usage.NewWriter(discardSink{}, usage.WriterOptions{BatchSize: batch, FlushInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.Cleanup(func() { w.Close(context.Background()) })
	r := store.UsageRecord{RequestID: "req_bench", TenantID: "ten_bench", KeyID: "key_bench", Model: "bench-model",
		Provider: "fake", Status: 200, Attempts: 1, Candidates: benchCandidates}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w.Record(r)
		if n++; n%batch == 0 {
			if err := w.Flush(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
