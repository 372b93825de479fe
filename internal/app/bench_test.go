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
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
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
		"### One long stream", "streamed through the floor", "### Slow clients", "### Label cardinality", "### Concurrent slow streams",
		"after the last ended"}
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
	if t.Failed() {
		t.Log(report)
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
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{
		env:       &Env{Getenv: os.Getenv, Stdout: io.Discard, Stderr: io.Discard},
		scenarios: []string{"console"}, ledgerRows: 3000, renders: 1, consoleStores: "sqlite,postgres",
		postgres: os.Getenv("SWITCHYARD_TEST_POSTGRES_DSN"),
		logDir:   t.TempDir(),
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
	sections := []string{"## Console on a million rows", "### SQLite", "| overview (`/ui/`) |", "| contracts (",
		"| requests, next page (`/ui/requests?cursor=…`) |", "| one request (`/ui/requests/{id}`) |", "| configuration (`/ui/config`) |"}
	if b.postgres != "" {
		sections = append(sections, "### Postgres")
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
