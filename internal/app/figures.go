package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// goFigures runs the in-process benchmarks and the fault-injection test
// from the source tree (when the go tool and go.mod are here) and renders
// their figures, so BENCHMARKS.md is regenerated whole by one command.
func goFigures(ctx context.Context) string {
	if _, err := os.Stat("go.mod"); err != nil {
		return ""
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	run := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, goTool, args...).CombinedOutput()
		return string(out), err
	}
	var sb strings.Builder
	sb.WriteString("\n## Hot-path microbenchmarks\n\n`go test -run '^$' -bench ... -benchmem` on the same machine:\n\n```\n")
	out, err := run("test", "-run", "^$", "-benchmem", "-bench",
		"BenchmarkChat|BenchmarkPlan$|BenchmarkMemoryAcquire|BenchmarkAssembleHistory|BenchmarkDecodeChatRequest|BenchmarkRawChatBody",
		"./internal/gateway", "./internal/route", "./internal/ratelimit", "./internal/session", "./internal/provider/openai")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Benchmark") {
			sb.WriteString(line + "\n")
		}
	}
	if err != nil {
		fmt.Fprintf(&sb, "(benchmarks failed: %v)\n", err)
	}
	sb.WriteString("```\n\n## Money on a large ledger\n\n`go test -run '^$' -bench 'BenchmarkWhatIf|BenchmarkReconcile' -benchtime 3x " +
		"-whatif.rows=1000000 ./internal/app` and `go test -run '^$' -bench BenchmarkParseCUR -benchtime 3x -cur.lines=1000000 " +
		"./internal/billing`: a what-if replay of a 30-day, million-row SQLite ledger through a proposed configuration (rolled: " +
		"after the hourly rollup, as on a gateway that maintains its ledger; raw: before it), a reconciliation against the same " +
		"ledger (a line per day, channel, model and token kind, each matched to its channel and model), and the parsing of a " +
		"million-line CUR 2.0 export as CSV and as Parquet:\n\n```\n")
	for _, r := range [][]string{
		{"test", "-run", "^$", "-bench", "BenchmarkWhatIf|BenchmarkReconcile", "-benchtime", "3x", "./internal/app", "-args", "-whatif.rows=1000000"},
		{"test", "-run", "^$", "-bench", "BenchmarkParseCUR", "-benchtime", "3x", "./internal/billing", "-args", "-cur.lines=1000000"},
	} {
		out, err := run(r...)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "Benchmark") {
				sb.WriteString(line + "\n")
			}
		}
		if err != nil {
			fmt.Fprintf(&sb, "(benchmarks failed: %v)\n", err)
		}
	}
	sb.WriteString("```\n\n## Fault injection\n\n`go test -run TestFaultInjection -v ./internal/app`: a model whose first allowed channel " +
		"fails 20% of requests (500, 503, 429 with Retry-After, hangs past a 300 ms attempt timeout, streams cut before and " +
		"after their first byte), one kind at a time and then all kinds together on streamed and unstreamed requests, with an " +
		"exclusivity contract that excludes a third channel listed first; each phase ends with the compliance report " +
		"over its ledger:\n\n```\n")
	out, err = run("test", "-count=1", "-run", "TestFaultInjection", "-v", "./internal/app")
	for _, line := range strings.Split(out, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "fault_test.go") || strings.HasPrefix(t, "--- ") {
			sb.WriteString(t + "\n")
		}
	}
	if err != nil {
		fmt.Fprintf(&sb, "(fault injection failed: %v)\n", err)
	}
	sb.WriteString("```\n")
	return sb.String()
}
