package app

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBench_ToyScale runs the whole bench harness, every scenario, at toy
// scale, so that it keeps working: it asserts only that the run completes
// and writes every section, never a figure. Postgres and Redis take part
// when SWITCHYARD_TEST_POSTGRES_DSN and SWITCHYARD_TEST_REDIS_URL are set.
func TestBench_ToyScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several gateway processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{
		env:      &Env{Getenv: os.Getenv, Stdout: io.Discard, Stderr: io.Discard},
		duration: 200 * time.Millisecond, samples: 20, rounds: 2, long: 400,
		scenarios:   []string{"perf", "pressure"},
		postgres:    os.Getenv("SWITCHYARD_TEST_POSTGRES_DSN"),
		redis:       os.Getenv("SWITCHYARD_TEST_REDIS_URL"),
		logDir:      t.TempDir(),
		pressureFor: 500 * time.Millisecond, settle: 100 * time.Millisecond,
		slowClients: 20, streams: 20, labelRequests: 100,
		longTokens: 500, capTokens: 5000, slowStream: 500 * time.Millisecond, capWait: time.Minute,
		command: func(ctx context.Context, args ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe)
			cmd.Env = append(os.Environ(), subprocessEnv+"="+strings.Join(args, "\x1f"))
			return cmd
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	report, err := b.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sections := []string{"# Benchmarks", "## Gateway against the floor", "CPU per request, fast path, c=16",
		"CPU per request, translated, c=64", "added TTFT p50", "50-chunk stream at c=64", "allocated per request, fast path",
		"RSS idle", "### Long run", "## Under pressure", "### Overload", "### Blackholed Redis and store",
		"### One long stream", "### Slow clients", "### Label cardinality", "### Concurrent slow streams"}
	if b.postgres != "" && b.redis != "" {
		sections = append(sections, "### Two replicas on Postgres and Redis")
	}
	for _, s := range sections {
		if !strings.Contains(report, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if t.Failed() {
		t.Log(report)
	}
}
