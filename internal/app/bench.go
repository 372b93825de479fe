package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store/sqlstore"
)

// runBench measures the gateway against a bare httputil.ReverseProxy in
// front of the same simulated upstream, in one run on loopback, and writes
// the figures to a Markdown file. The gateway and the proxy run as child
// processes of this binary, so their CPU time and memory are their own.
func runBench(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("bench", env)
	role := fs.String("role", "", "internal: run as the bare reverse proxy (-role proxy)")
	listen := fs.String("listen", "", "internal: proxy address")
	upstream := fs.String("upstream", "", "internal: proxy upstream base URL")
	out := fs.String("out", "BENCHMARKS.md", "file to write the results to (- for stdout)")
	duration := fs.Duration("duration", 5*time.Second, "length of each throughput run")
	concurrency := fs.Int("concurrency", 16, "concurrent clients in throughput runs")
	samples := fs.Int("samples", 2000, "sequential requests for the latency runs")
	rounds := fs.Int("rounds", 3, "throughput runs per target, interleaved across targets; the median is reported")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *role == "proxy" {
		return serveBareProxy(ctx, *listen, *upstream)
	}
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	b := &bench{env: env, duration: *duration, concurrency: *concurrency, samples: *samples, rounds: *rounds}
	report, err := b.run(ctx)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = io.WriteString(env.Stdout, report)
		return err
	}
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s\n", *out)
	return nil
}

// serveBareProxy is the floor: the standard library's reverse proxy with
// nothing but a path prefix and the upstream key.
func serveBareProxy(ctx context.Context, listen, upstream string) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer "+fakecloud.DefaultKey)
		},
		FlushInterval: -1,
		Transport:     upstreamTransport(),
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	// The floor reads each request body whole before forwarding it, as the
	// gateway does: forwarding a body still being read races the
	// upstream's streamed answer on the same connection.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	})}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type bench struct {
	env         *Env
	duration    time.Duration
	concurrency int
	samples     int
	rounds      int
}

type target struct {
	name string
	url  string // chat completions URL
	key  string
	pid  int // 0: in-process (no CPU/RSS figures)
}

const benchBody = `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
const benchStreamBody = `{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"Say something short about gateways."}]}`

func (b *bench) run(ctx context.Context) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "switchyard-bench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	fc, fcLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{})
	if err != nil {
		return "", err
	}
	_ = fc
	defer fcLn.Close()
	fcBase := "http://" + fcLn.Addr().String()

	gwAddr, proxyAddr := freeAddr(), freeAddr()
	cfgPath := filepath.Join(dir, "switchyard.yaml")
	cfg := fmt.Sprintf(`listen: %s
admin: {listen: "off"}
store: {driver: sqlite, dsn: %s}
providers:
  - {name: upstream, type: openai, base_url: %s/openai/v1, api_key_env: BENCH_UPSTREAM_KEY}
models:
  - name: bench-model
    offerings: [{provider: upstream, upstream_model: gpt-4o-mini, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}]
`, gwAddr, filepath.Join(dir, "bench.db"), fcBase)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	key, err := benchKey(ctx, filepath.Join(dir, "bench.db"))
	if err != nil {
		return "", err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gw := exec.CommandContext(ctx, exe, "serve", "-config", cfgPath)
	gw.Env = append(os.Environ(), "BENCH_UPSTREAM_KEY="+fakecloud.DefaultKey)
	gw.Stderr = io.Discard
	proxy := exec.CommandContext(ctx, exe, "bench", "-role", "proxy", "-listen", proxyAddr, "-upstream", fcBase+"/openai")
	for _, c := range []*exec.Cmd{gw, proxy} {
		c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
		c.WaitDelay = 10 * time.Second
		if err := c.Start(); err != nil {
			return "", err
		}
		defer c.Wait()
	}
	for _, addr := range []string{gwAddr, proxyAddr} {
		if err := waitListening(ctx, addr); err != nil {
			return "", err
		}
	}

	targets := []target{
		{name: "upstream (fakecloud, direct)", url: fcBase + "/openai/v1/chat/completions", key: fakecloud.DefaultKey},
		{name: "bare httputil.ReverseProxy", url: "http://" + proxyAddr + "/v1/chat/completions", key: "unused", pid: proxy.Process.Pid},
		{name: "switchyard", url: "http://" + gwAddr + "/v1/chat/completions", key: key, pid: gw.Process.Pid},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.concurrency * 2, MaxIdleConns: b.concurrency * 4}}
	defer client.CloseIdleConnections()

	type row struct {
		t                        target
		idleRSS, loadRSS         int64
		p50, p99, ttft50, ttft99 time.Duration
		rps, cpuPerReq           float64
		errors                   int64
	}
	var rows []row
	for _, t := range targets {
		// Warm up connections and code paths.
		if _, err := latencies(ctx, client, t, benchBody, 200, false); err != nil {
			return "", fmt.Errorf("%s: %w", t.name, err)
		}
		r := row{t: t, idleRSS: rssKB(t.pid)}
		lat, err := latencies(ctx, client, t, benchBody, b.samples, false)
		if err != nil {
			return "", fmt.Errorf("%s: %w", t.name, err)
		}
		r.p50, r.p99 = percentile(lat, 50), percentile(lat, 99)
		ttft, err := latencies(ctx, client, t, benchStreamBody, b.samples/2, true)
		if err != nil {
			return "", fmt.Errorf("%s streaming: %w", t.name, err)
		}
		r.ttft50, r.ttft99 = percentile(ttft, 50), percentile(ttft, 99)
		rows = append(rows, r)
	}
	// Throughput rounds go round the targets in turn, so that a burst of
	// noise from the rest of the machine falls on all of them alike; each
	// figure is the median of its rounds.
	rps, cpu := make([][]float64, len(rows)), make([][]float64, len(rows))
	for range b.rounds {
		for i := range rows {
			t := rows[i].t
			cpu0 := cpuTime(t.pid)
			n, errs, elapsed := throughput(ctx, client, t, b.concurrency, b.duration)
			cpu1 := cpuTime(t.pid)
			rps[i] = append(rps[i], float64(n)/elapsed.Seconds())
			rows[i].errors += errs
			if t.pid != 0 && n > 0 {
				cpu[i] = append(cpu[i], float64((cpu1-cpu0).Microseconds())/float64(n))
			}
		}
	}
	for i := range rows {
		rows[i].rps, rows[i].cpuPerReq = median(rps[i]), median(cpu[i])
		rows[i].loadRSS = peakRSSKB(rows[i].t.pid)
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "# Benchmarks\n\nGenerated by `go run ./cmd/switchyard bench` (or `make bench`) on %s, %s/%s, %d CPUs, %s.\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&sb, "All traffic is on loopback against the simulated OpenAI upstream with no added latency; the load generator,\n"+
		"the upstream, the bare proxy and the gateway share the machine. The gateway path includes key authentication\n"+
		"(cached), routing, translation through the canonical model on the response side and usage metering into\n"+
		"the SQLite ledger. Latency runs: %d sequential requests; throughput runs: %d concurrent clients for %s, %d rounds\n"+
		"taken in turn across the targets, median shown.\n\n",
		b.samples, b.concurrency, b.duration, b.rounds)
	sb.WriteString("| target | p50 | p99 | stream TTFT p50 | stream TTFT p99 | req/s | CPU µs/req | RSS idle | RSS peak | errors |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		cpu, idle, peak := "-", "-", "-"
		if r.t.pid != 0 {
			cpu = fmt.Sprintf("%.0f", r.cpuPerReq)
			idle, peak = fmt.Sprintf("%.1f MiB", float64(r.idleRSS)/1024), fmt.Sprintf("%.1f MiB", float64(r.loadRSS)/1024)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %d |\n", r.t.name, us(r.p50), us(r.p99),
			us(r.ttft50), us(r.ttft99), r.rps, cpu, idle, peak, r.errors)
	}
	px, sy, up := rows[1], rows[2], rows[0]
	fmt.Fprintf(&sb, "\n## Against the floor and the targets\n\n")
	fmt.Fprintf(&sb, "| measure | switchyard | bare proxy | ratio / difference | DESIGN.md target |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&sb, "| CPU per request | %.0f µs | %.0f µs | %.2f× | ≤ 150 µs lean, ≤ +30 µs with keys and metering |\n", sy.cpuPerReq, px.cpuPerReq, sy.cpuPerReq/px.cpuPerReq)
	fmt.Fprintf(&sb, "| added latency p50 (vs direct upstream) | %s | %s | %s vs proxy | ≤ +350 µs |\n", us(sy.p50-up.p50), us(px.p50-up.p50), us(sy.p50-px.p50))
	fmt.Fprintf(&sb, "| added TTFT p50 (vs direct upstream) | %s | %s | %s vs proxy | ≤ +400 µs |\n", us(sy.ttft50-up.ttft50), us(px.ttft50-up.ttft50), us(sy.ttft50-px.ttft50))
	fmt.Fprintf(&sb, "| throughput | %.0f req/s | %.0f req/s | %.2f× | - |\n", sy.rps, px.rps, sy.rps/px.rps)
	fmt.Fprintf(&sb, "| RSS idle | %.1f MiB | %.1f MiB | | < 30 MiB |\n", float64(sy.idleRSS)/1024, float64(px.idleRSS)/1024)
	fmt.Fprintf(&sb, "| RSS peak under load | %.1f MiB | %.1f MiB | | < 100 MiB |\n", float64(sy.loadRSS)/1024, float64(px.loadRSS)/1024)
	cancel() // stop the gateway and the proxy before the in-process figures
	sb.WriteString(goFigures(context.Background()))
	return sb.String(), nil
}

// median returns the median of xs, or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Sorted(slices.Values(xs))
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

func benchKey(ctx context.Context, db string) (string, error) {
	st, err := sqlstore.Open(ctx, "sqlite", db)
	if err != nil {
		return "", err
	}
	defer st.Close()
	svc := &admin.Service{Store: st}
	iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "bench", CreateTenant: true, Name: "bench"})
	if err != nil {
		return "", err
	}
	return iss.Secret, nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listening on %s after 20s", addr)
}

// oneRequest sends one request; for streams it returns the time to the
// first content chunk, otherwise the time to the whole body.
func oneRequest(ctx context.Context, c *http.Client, t target, body string, stream bool) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
	}
	if !stream {
		_, err := io.Copy(io.Discard, resp.Body)
		return time.Since(start), err
	}
	var first time.Duration
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if first == 0 && bytes.Contains(sc.Bytes(), []byte(`"content":"`)) && !bytes.Contains(sc.Bytes(), []byte(`"content":""`)) {
			first = time.Since(start)
		}
	}
	if first == 0 {
		return 0, errors.New("stream carried no content")
	}
	return first, sc.Err()
}

func latencies(ctx context.Context, c *http.Client, t target, body string, n int, stream bool) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		d, err := oneRequest(ctx, c, t, body, stream)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func throughput(ctx context.Context, c *http.Client, t target, conc int, d time.Duration) (ok, failed int64, elapsed time.Duration) {
	var n, errs atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := oneRequest(ctx, c, t, benchBody, false); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), errs.Load(), time.Since(start)
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// cpuTime is a process's user+system CPU time from /proc (Linux).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces).
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks
}

func rssKB(pid int) int64     { return procStatusKB(pid, "VmRSS:") }
func peakRSSKB(pid int) int64 { return procStatusKB(pid, "VmHWM:") }
func procStatusKB(pid int, field string) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return 0
}
