package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
	b := &bench{
		env: &Env{Getenv: os.Getenv, Stdout: io.Discard, Stderr: io.Discard},
		// Each closed-loop run lasts long enough for 64 race-built 50-chunk
		// streams to finish on a busy two-core machine: a run that ends
		// before any answer fails the bench.
		duration: time.Second, samples: 20, rounds: 2, long: 400,
		scenarios: []string{"perf", "pressure"}, pressureOnly: pressureScenarios,
		postgres:    os.Getenv("SWITCHYARD_TEST_POSTGRES_DSN"),
		redis:       os.Getenv("SWITCHYARD_TEST_REDIS_URL"),
		logDir:      t.TempDir(),
		cpuProfile:  filepath.Join(t.TempDir(), "gateway.prof"),
		memProfile:  filepath.Join(t.TempDir(), "gateway.mem.prof"),
		pressureFor: 500 * time.Millisecond, settle: 100 * time.Millisecond,
		slowClients: 20, streams: 20, labelRequests: 100,
		longTokens: 500, capTokens: 5000, slowStream: 500 * time.Millisecond, capWait: time.Minute,
		command: benchCommand(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	report, err := b.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sections := []string{"# Benchmarks", "## Gateway against the floor", "CPU per request, fast path, c=16",
		"CPU per request, translated, c=64", "added TTFT p50", "50-chunk stream at c=64", "allocated per request, fast path",
		"RSS idle", "of which anonymous", "anonymous RSS peak under load", "### Long run", "## Under pressure", "### Overload", "refused by admission control", "### Blackholed Redis and store",
		"### One long stream", "streamed through the floor", "system calls per content chunk", "### Slow clients", "### Label cardinality",
		"### Concurrent slow streams", "after the last ended"}
	if b.postgres != "" && b.redis != "" {
		sections = append(sections, "### Two replicas on Postgres and Redis")
	}
	for _, s := range sections {
		if !strings.Contains(report, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if fi, err := os.Stat(b.cpuProfile); err != nil || fi.Size() == 0 {
		t.Errorf("the perf gateway's CPU profile: %v", err)
	}
	if fi, err := os.Stat(b.memProfile); err != nil || fi.Size() == 0 {
		t.Errorf("the perf gateway's allocation profile: %v", err)
	}
	if fi, err := os.Stat(b.cpuProfile + ".longstream"); err != nil || fi.Size() == 0 {
		t.Errorf("the long-stream gateway's CPU profile: %v", err)
	}
	if b.postgres != "" && b.redis != "" {
		for _, r := range []string{".replica1", ".replica2"} {
			if fi, err := os.Stat(b.cpuProfile + r); err != nil || fi.Size() == 0 {
				t.Errorf("the %s CPU profile: %v", r[1:], err)
			}
		}
	}
	if t.Failed() {
		t.Log(report)
	}
}

// TestBench_ReplicasToyScale runs -scenarios replicas, the perf scenario's
// two replicas on Postgres and Redis alone: the same section against the
// floor, none of the rest, and a CPU profile of each replica.
func TestBench_ReplicasToyScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	b := &bench{
		env:      &Env{Getenv: os.Getenv, Stdout: io.Discard, Stderr: io.Discard},
		duration: 500 * time.Millisecond, rounds: 1, scenarios: []string{"replicas"},
		postgres:   os.Getenv("SWITCHYARD_TEST_POSTGRES_DSN"),
		redis:      os.Getenv("SWITCHYARD_TEST_REDIS_URL"),
		logDir:     t.TempDir(),
		cpuProfile: filepath.Join(t.TempDir(), "gateway.prof"),
		command:    benchCommand(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := b.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(report, "## Gateway against the floor") || strings.Contains(report, "## Under pressure") {
		t.Errorf("-scenarios replicas ran more than the replicas:\n%s", report)
	}
	if b.postgres == "" || b.redis == "" {
		if !strings.Contains(report, "Two replicas on Postgres and Redis: -postgres and -redis") {
			t.Errorf("report does not say why the replicas were not run:\n%s", report)
		}
		return
	}
	for _, s := range []string{"### Two replicas on Postgres and Redis", "| CPU per request |", "| throughput |", "Failed requests: "} {
		if !strings.Contains(report, s) {
			t.Errorf("report lacks %q:\n%s", s, report)
		}
	}
	for _, r := range []string{".replica1", ".replica2"} {
		if fi, err := os.Stat(b.cpuProfile + r); err != nil || fi.Size() == 0 {
			t.Errorf("the %s CPU profile: %v", r[1:], err)
		}
	}
}

// benchCommand runs the bench's child processes as this test binary.
func benchCommand(t *testing.T) func(ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), subprocessEnv+"="+strings.Join(args, "\x1f"))
		return cmd
	}
}

// TestSyscalls reads a process's read and write system call counts: this
// process's grow by at least the reads and writes it makes between two
// readings, and a pid of 0 (an in-process target) has none.
func TestSyscalls(t *testing.T) {
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Skip("no /dev/zero:", err)
	}
	defer zero.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if _, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", os.Getpid())); err != nil {
		t.Skip("/proc/<pid>/io is not readable here:", err)
	}
	before := syscalls(os.Getpid())
	const n = 50
	buf := make([]byte, 16)
	for range n {
		if _, err := zero.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := null.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	after := syscalls(os.Getpid())
	if after.reads-before.reads < n || after.writes-before.writes < n {
		t.Errorf("after %d reads and %d writes the counts grew by %d and %d", n, n, after.reads-before.reads, after.writes-before.writes)
	}
	if c := syscalls(0); c != (ioCalls{}) {
		t.Errorf("syscalls(0) = %+v, want none", c)
	}
}

// TestBench_ConsoleToyScale runs the console scenario on a ledger of a
// few thousand rows: it seeds, rolls up, signs in and renders every page
// (any status but 200 fails the run), on SQLite and, when
// SWITCHYARD_TEST_POSTGRES_DSN is set, on Postgres. It asserts only that
// the run completes and reports every page, never a figure.
func TestBench_ConsoleToyScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	b := &bench{
		env:       &Env{Getenv: os.Getenv, Stdout: io.Discard, Stderr: io.Discard},
		scenarios: []string{"console"}, ledgerRows: 3000, renders: 1, consoleStores: "sqlite,postgres",
		postgres: os.Getenv("SWITCHYARD_TEST_POSTGRES_DSN"),
		logDir:   t.TempDir(),
		command:  benchCommand(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	report, err := b.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sections := []string{"## Console on a million rows", "### SQLite", "| overview (`/ui/`) |", "| contracts (",
		"| requests, next page (`/ui/requests?cursor=…`) |", "| one request (`/ui/requests/{id}`) |", "| configuration (`/ui/config`) |"}
	if b.postgres != "" {
		sections = append(sections, "### Postgres", "vacuumed and analyzed in")
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

// The outage proxy forwards until held; while held nothing crosses it in
// either direction, on an existing connection or a new one, and once
// healed the held bytes arrive.
func TestHoldProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c) // echo
			}()
		}
	}()
	p, err := newHoldProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	echo := func(c net.Conn, msg string, wait time.Duration) (string, error) {
		t.Helper()
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(msg))
		n, err := io.ReadFull(c, buf)
		return string(buf[:n]), err
	}
	old, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got, err := echo(old, "before", 10*time.Second); err != nil || got != "before" {
		t.Fatalf("before the hold: %q, %v", got, err)
	}
	p.hold(true)
	if got, err := echo(old, "held", 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("existing connection while held: %q, %v; want nothing", got, err)
	}
	fresh, err := net.Dial("tcp", p.addr()) // accepted, then held
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got, err := echo(fresh, "new", 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection while held: %q, %v; want nothing", got, err)
	}
	p.hold(false)
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len("held"))
	if _, err := io.ReadFull(old, buf); err != nil || string(buf) != "held" {
		t.Errorf("existing connection after healing: %q, %v", buf, err)
	}
	fresh.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf = make([]byte, len("new"))
	if _, err := io.ReadFull(fresh, buf); err != nil || string(buf) != "new" {
		t.Errorf("new connection after healing: %q, %v", buf, err)
	}
}

// redisDeleteMatching deletes exactly the keys its pattern matches.
func TestRedisDeleteMatching(t *testing.T) {
	redisURL := os.Getenv("SWITCHYARD_TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("SWITCHYARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	do := func(args ...string) []string {
		t.Helper()
		var sb strings.Builder
		fmt.Fprintf(&sb, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&sb, "$%d\r\n%s\r\n", len(a), a)
		}
		io.WriteString(c, sb.String())
		r, err := readRESP(br)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		do("SELECT", db)
	}
	id := "benchtest_" + strings.ToLower(rand.Text())
	for _, k := range []string{"x:rl:rpm:key:" + id, "x:spend:all:key:" + id, "x:other:" + id + "_not"} {
		do("SET", k, "1", "EX", "60")
	}
	defer do("DEL", "x:other:"+id+"_not")
	if err := redisDeleteMatching(ctx, redisURL, "*:"+id); err != nil {
		t.Fatal(err)
	}
	if got := do("EXISTS", "x:rl:rpm:key:"+id, "x:spend:all:key:"+id, "x:other:"+id+"_not"); len(got) != 1 || got[0] != "1" {
		t.Errorf("keys left after deleting *:%s: %v, want only the one not matching", id, got)
	}
}
