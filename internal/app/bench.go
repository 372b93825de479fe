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
	"syscall"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store/sqlstore"
)

// runBench measures the gateway against a bare httputil.ReverseProxy in
// front of the same simulated upstream, in one run on loopback, and writes
// the figures to a Markdown file. The gateway and the proxy run as child
// processes of this binary, so their CPU time and memory are their own. The
// gateway runs as in production: its log kept in a file, a virtual key with
// rate limits and a budget, the SQLite ledger (or Postgres and Redis).
func runBench(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("bench", env)
	role := fs.String("role", "", "internal: run as the bare reverse proxy (-role proxy)")
	listen := fs.String("listen", "", "internal: proxy address")
	upstream := fs.String("upstream", "", "internal: proxy upstream base URL")
	out := fs.String("out", "BENCHMARKS.md", "file to write the results to (- for stdout)")
	b := &bench{env: env}
	fs.DurationVar(&b.duration, "duration", 5*time.Second, "length of each throughput run")
	fs.IntVar(&b.samples, "samples", 2000, "sequential requests for the latency runs (spread over the rounds)")
	fs.IntVar(&b.rounds, "rounds", 3, "rounds, taken in turn across the targets; the median and the min-max are reported")
	fs.Int64Var(&b.long, "long", 200000, "requests in the long run that samples RSS and the live heap (0: skip)")
	scenarios := fs.String("scenarios", "perf,pressure,go", "what to run: perf (gateway vs the floor), pressure (under pressure), go (microbenchmarks and fault injection), console (the console's pages on a million ledger rows), replicas (only perf's two replicas on Postgres and Redis)")
	pressure := fs.String("pressure", strings.Join(pressureScenarios, ","), "which pressure scenarios to run ("+strings.Join(pressureScenarios, ", ")+")")
	fs.StringVar(&b.postgres, "postgres", env.Getenv("SWITCHYARD_TEST_POSTGRES_DSN"), "Postgres DSN for the replica and store-outage runs (a scratch schema is made and dropped); empty skips them")
	fs.StringVar(&b.redis, "redis", env.Getenv("SWITCHYARD_TEST_REDIS_URL"), "Redis URL for the replica and Redis-outage runs (the run's keys are deleted after); empty skips them")
	fs.StringVar(&b.logDir, "logs", "", "directory for the gateways' logs (default: a new directory under the system's temporary directory, kept)")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the perf scenario's gateway to this file (and of the overload and longstream scenarios' to this name with .overload and .longstream appended, and of the two replicas' with .replica1 and .replica2)")
	fs.StringVar(&b.memProfile, "memprofile", "", "write an allocation profile (alloc_space, alloc_objects) of the perf scenario's gateway to this file")
	fs.DurationVar(&b.pressureFor, "pressure-duration", 10*time.Second, "length of each overload, outage and slow-client phase")
	fs.DurationVar(&b.settle, "settle", 30*time.Second, "wait after the overload before reading RSS again")
	fs.IntVar(&b.slowClients, "slow-clients", 5000, "slow-body connections in the slow-client scenario")
	fs.IntVar(&b.streams, "streams", 10000, "concurrent slow streams (fewer if the fd limit does not allow them)")
	fs.IntVar(&b.labelRequests, "label-requests", 10000, "requests with random model names in the label-cardinality scenario")
	fs.DurationVar(&b.capWait, "cap-wait", 30*time.Second, "how long to read the -cap-tokens stream before giving up")
	fs.DurationVar(&b.slowStream, "slow-stream", 15*time.Second, "how long the upstream takes over each of the concurrent slow streams")
	fs.IntVar(&b.longTokens, "long-tokens", 65536, "output tokens of the long answer, streamed and not")
	fs.IntVar(&b.ledgerRows, "ledger-rows", 1_000_000, "ledger rows the console scenario seeds, over 30 days")
	fs.IntVar(&b.renders, "renders", 20, "renders of each console page in the console scenario")
	fs.StringVar(&b.consoleStores, "console-stores", "sqlite,postgres", "the stores the console scenario runs on (postgres only with -postgres)")
	fs.IntVar(&b.capTokens, "cap-tokens", 1000000, "output tokens of the answer meant to pass the stream size cap")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *role == "proxy" {
		return serveBareProxy(ctx, *listen, *upstream)
	}
	if b.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	// The gateway child may not share this process's directory.
	for _, p := range []*string{&b.cpuProfile, &b.memProfile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	for _, s := range strings.Split(*scenarios, ",") {
		switch s = strings.TrimSpace(s); s {
		case "perf", "pressure", "go", "console", "replicas":
			b.scenarios = append(b.scenarios, s)
		case "":
		default:
			return fmt.Errorf("-scenarios: unknown scenario %q (perf, pressure, go, console, replicas)", s)
		}
	}
	for _, s := range strings.Split(*pressure, ",") {
		switch s = strings.TrimSpace(s); {
		case slices.Contains(pressureScenarios, s):
			b.pressureOnly = append(b.pressureOnly, s)
		case s == "":
		default:
			return fmt.Errorf("-pressure: unknown scenario %q (%s)", s, strings.Join(pressureScenarios, ", "))
		}
	}
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
	fmt.Fprintf(env.Stdout, "wrote %s (gateway logs in %s)\n", *out, b.logDir)
	return nil
}

// serveBareProxy is the floor: the standard library's reverse proxy with
// nothing but a path prefix and the upstream key.
func serveBareProxy(ctx context.Context, listen, upstream string) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	// The gateway's pools and buffer sizes, on the standard library's own
	// connections (without the gateway's burstConn).
	tr := upstreamTransport()
	tr.DialContext = http.DefaultTransport.(*http.Transport).DialContext
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer "+fakecloud.DefaultKey)
		},
		FlushInterval: -1,
		Transport:     tr,
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
	env           *Env
	duration      time.Duration
	samples       int
	rounds        int
	long          int64
	scenarios     []string
	pressureOnly  []string
	postgres      string
	redis         string
	logDir        string
	cpuProfile    string
	memProfile    string
	pressureFor   time.Duration
	settle        time.Duration
	slowClients   int
	streams       int
	labelRequests int
	longTokens    int
	capTokens     int
	slowStream    time.Duration
	capWait       time.Duration
	ledgerRows    int
	renders       int
	consoleStores string

	// command makes the command line of a child process running this
	// program with args; default: os.Executable with args.
	command func(ctx context.Context, args ...string) *exec.Cmd

	dir   string    // scratch directory, removed at the end
	cloud cloudURLs // the simulated upstreams
	notes []string  // what the run could not do, for the report
}

// cloudURLs are the bases of the simulated upstreams, each a fakecloud
// with its own answer length and pace.
type cloudURLs struct {
	fast string // short answers, as fast as possible
	long string // -long-tokens answers
	huge string // -cap-tokens answers
	slow string // short answers paced over several seconds
}

// target is something the load generator measures.
type target struct {
	name string
	url  string // chat completions URL
	key  string
	pid  int // 0: in-process (no CPU/RSS figures)
	// admin is the gateway's admin base URL, for /metrics; "" for others.
	admin string
}

// slowTokens is the length of each slow stream's answer.
const slowTokens = 60

const benchBody = `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
const benchStreamBody = `{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"Say something short about gateways."}]}`

// bench50Body asks for a streamed answer of 50 content chunks: fakecloud
// echoes the 47 words as "Echo: " (one chunk), a chunk per word and two for
// its tag.
var bench50Body = `{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"` +
	strings.TrimSpace(strings.Repeat("gateway ", 47)) + `"}]}`

func (t target) call(body string, stream bool) call {
	return call{url: t.url, key: t.key, body: body, stream: stream}
}

func (b *bench) has(scenario string) bool { return slices.Contains(b.scenarios, scenario) }

func (b *bench) run(ctx context.Context) (string, error) {
	if b.command == nil {
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		b.command = func(ctx context.Context, args ...string) *exec.Cmd { return exec.CommandContext(ctx, exe, args...) }
	}
	dir, err := os.MkdirTemp("", "switchyard-bench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	b.dir = dir
	if b.logDir == "" {
		if b.logDir, err = os.MkdirTemp("", "switchyard-bench-logs-"); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(b.logDir, 0o755); err != nil {
		return "", err
	}
	soft, hard := raiseFDLimit()

	clouds := []struct {
		url *string
		f   fakecloud.Faults
	}{
		{&b.cloud.fast, fakecloud.Faults{}},
		{&b.cloud.long, fakecloud.Faults{AnswerTokens: b.longTokens}},
		{&b.cloud.huge, fakecloud.Faults{AnswerTokens: b.capTokens}},
		// 60 tokens paced over -slow-stream.
		{&b.cloud.slow, fakecloud.Faults{AnswerTokens: slowTokens, TokensPerSecond: slowTokens / max(b.slowStream.Seconds(), 0.01)}},
	}
	for _, c := range clouds {
		_, ln, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Faults: c.f, Seed: 1})
		if err != nil {
			return "", err
		}
		defer ln.Close()
		*c.url = "http://" + ln.Addr().String()
	}

	load0 := loadAverage()
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Benchmarks\n\nGenerated by `go run ./cmd/switchyard bench` (or `make bench`) on %s, %s/%s, %d CPUs, %s, %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), cpuModel())
	fmt.Fprintf(&sb, "Command: `switchyard bench %s`. Open files: soft limit %d, hard %d. Load average (1 min) at the start: %s, at the end: @LOAD_END@.\n\n",
		b.commandLine(), soft, hard, load0)
	sb.WriteString("All traffic is on loopback against simulated upstreams (fakecloud, no added latency unless said); the load\n" +
		"generator, the upstreams, the bare proxy and the gateway share the machine. The gateway runs as in production:\n" +
		"its info log written to a file, a virtual key with RPM, TPM and a USD budget (set high enough never to refuse),\n" +
		"key authentication, routing, translation through the canonical model and usage metering into the SQLite ledger.\n" +
		"Every gateway setting not named here is its default. Figures are medians over interleaved rounds with the\n" +
		"spread (min–max over rounds) in brackets; a ratio is the gateway's figure over the floor's in the same round.\n")
	if b.has("perf") {
		s, err := b.perf(ctx)
		if err != nil {
			return "", fmt.Errorf("perf: %w", err)
		}
		sb.WriteString(s)
	} else if b.has("replicas") {
		s, err := b.replicasOnly(ctx)
		if err != nil {
			return "", fmt.Errorf("replicas: %w", err)
		}
		sb.WriteString(s)
	}
	if b.has("pressure") {
		s, err := b.pressure(ctx)
		if err != nil {
			return "", fmt.Errorf("pressure: %w", err)
		}
		sb.WriteString(s)
	}
	if b.has("console") {
		s, err := b.console(ctx)
		if err != nil {
			return "", fmt.Errorf("console: %w", err)
		}
		sb.WriteString(s)
	}
	if len(b.notes) > 0 {
		sb.WriteString("\n## Not measured in this run\n\n")
		for _, n := range b.notes {
			fmt.Fprintf(&sb, "- %s\n", n)
		}
	}
	report := strings.Replace(sb.String(), "@LOAD_END@", loadAverage(), 1)
	if b.has("go") {
		report += goFigures(ctx)
	}
	return report, nil
}

// loadAverage is the machine's one-minute load average (Linux), which
// says how much else ran while the figures were taken.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// commandLine is the bench's own arguments, for the report.
func (b *bench) commandLine() string {
	line := fmt.Sprintf("-scenarios %s -rounds %d -duration %s -samples %d -long %d -pressure-duration %s -slow-clients %d -streams %d",
		strings.Join(b.scenarios, ","), b.rounds, b.duration, b.samples, b.long, b.pressureFor, b.slowClients, b.streams)
	if len(b.pressureOnly) > 0 && len(b.pressureOnly) < len(pressureScenarios) {
		line += " -pressure " + strings.Join(b.pressureOnly, ",")
	}
	if b.has("console") {
		line += fmt.Sprintf(" -ledger-rows %d -renders %d -console-stores %s", b.ledgerRows, b.renders, b.consoleStores)
	}
	return line
}

// raiseFDLimit lifts the soft open-file limit to the hard one (children
// inherit it) and returns both.
func raiseFDLimit() (soft, hard uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur, rl.Max
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

// gatewayOptions shape one gateway child.
type gatewayOptions struct {
	name string
	// storeDSN is a postgres DSN; "" is a fresh SQLite file.
	storeDSN string
	// redisURL selects the redis limits backend; "" is in memory.
	redisURL string
	// args are extra serve flags.
	args []string
	// server is the config's server block ("" for the defaults).
	server string
	// catalog, when set, replaces the bench's providers and models: the
	// config's providers, models and contracts (and any other top-level
	// blocks), with {{upstream}} standing for the fast upstream's base URL.
	catalog string
}

// gwChild is a running gateway child process.
type gwChild struct {
	target
	cmd     *exec.Cmd
	log     string
	keyID   string
	tenant  string
	stopped chan struct{}
	cancel  context.CancelFunc
}

// stop ends the gateway (SIGINT, then a kill after 10 s) and waits.
func (g *gwChild) stop() {
	g.cancel()
	<-g.stopped
}

// startGateway writes a config, issues the bench key in its store and
// starts `serve` with the log going to a file.
func (b *bench) startGateway(ctx context.Context, o gatewayOptions) (*gwChild, error) {
	addr, adminAddr := freeAddr(), freeAddr()
	driver, dsn := sqlstore.DriverSQLite, o.storeDSN
	if dsn == "" {
		dsn = filepath.Join(b.dir, o.name+".db")
	} else {
		driver = sqlstore.DriverPostgres
	}
	limits := "{backend: memory}"
	if o.redisURL != "" {
		limits = fmt.Sprintf("{backend: redis, redis_url: %q}", o.redisURL)
	}
	provider := func(name, base, typ, path string) string {
		return fmt.Sprintf("  - {name: %s, type: %s, base_url: %q, api_key_env: BENCH_UPSTREAM_KEY}\n", name, typ, base+path)
	}
	model := func(name, provider, upstream string) string {
		return fmt.Sprintf("  - name: %s\n    offerings: [{provider: %s, upstream_model: %s, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}]\n", name, provider, upstream)
	}
	server := ""
	if o.server != "" {
		server = "server: " + o.server + "\n"
	}
	cfg := fmt.Sprintf("listen: %s\nadmin: {listen: %s}\n%sstore: {driver: %s, dsn_env: BENCH_STORE_DSN}\nlimits: %s\nproviders:\n", addr, adminAddr, server, driver, limits) +
		provider("upstream", b.cloud.fast, "openai", "/openai/v1") +
		provider("anthro", b.cloud.fast, "anthropic", "/anthropic") +
		provider("long", b.cloud.long, "openai", "/openai/v1") +
		provider("huge", b.cloud.huge, "openai", "/openai/v1") +
		provider("slow", b.cloud.slow, "openai", "/openai/v1") +
		"models:\n" +
		model("bench-model", "upstream", "gpt-4o-mini") +
		model("bench-translated", "anthro", "claude-3-5-haiku-latest") +
		model("bench-long", "long", "gpt-4o-mini") +
		model("bench-huge", "huge", "gpt-4o-mini") +
		model("bench-slow", "slow", "gpt-4o-mini")
	if o.catalog != "" {
		cfg = fmt.Sprintf("listen: %s\nadmin: {listen: %s}\n%sstore: {driver: %s, dsn_env: BENCH_STORE_DSN}\nlimits: %s\n", addr, adminAddr, server, driver, limits) +
			strings.ReplaceAll(o.catalog, "{{upstream}}", b.cloud.fast)
	}
	cfgPath := filepath.Join(b.dir, o.name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	iss, err := benchKey(ctx, driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("issuing the bench key: %w", err)
	}
	logPath := filepath.Join(b.logDir, o.name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := b.command(cctx, append([]string{"serve", "-config", cfgPath}, o.args...)...)
	cmd.Env = append(cmd.Environ(), "BENCH_UPSTREAM_KEY="+fakecloud.DefaultKey, "BENCH_STORE_DSN="+dsn,
		"SWITCHYARD_ADMIN_TOKEN=bench-admin-token")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	g := &gwChild{
		target: target{name: o.name, url: "http://" + addr + "/v1/chat/completions", key: iss.Secret, pid: cmd.Process.Pid,
			admin: "http://" + adminAddr},
		cmd: cmd, log: logPath, keyID: iss.Key.ID, tenant: iss.Key.TenantID, stopped: make(chan struct{}), cancel: cancel,
	}
	go func() {
		cmd.Wait()
		close(g.stopped)
	}()
	for _, a := range []string{addr, adminAddr} {
		if err := waitListening(ctx, a); err != nil {
			g.stop()
			return nil, fmt.Errorf("gateway %s (log %s): %w", o.name, logPath, err)
		}
	}
	return g, nil
}

// startProxy starts the floor, a bare reverse proxy child, in front of
// upstream.
func (b *bench) startProxy(ctx context.Context, upstream string) (target, func(), error) {
	addr := freeAddr()
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := b.command(cctx, "bench", "-role", "proxy", "-listen", addr, "-upstream", upstream)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return target{}, nil, err
	}
	stop := func() {
		cancel()
		cmd.Wait()
	}
	if err := waitListening(ctx, addr); err != nil {
		stop()
		return target{}, nil, err
	}
	return target{name: "bare httputil.ReverseProxy", url: "http://" + addr + "/v1/chat/completions", key: "unused", pid: cmd.Process.Pid}, stop, nil
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

// benchKey issues the bench's virtual key in the store the gateway will
// use: rate limits and a budget, as production keys have, set far above
// what the bench sends.
func benchKey(ctx context.Context, driver, dsn string) (*admin.Issued, error) {
	st, err := sqlstore.Open(ctx, driver, dsn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := &admin.Service{Store: st}
	return svc.IssueKey(ctx, admin.KeySpec{Tenant: "bench", CreateTenant: true, Name: "bench",
		Limits: admin.Limits{RPM: 100_000_000, TPM: 2_000_000_000, BudgetUSD: 1_000_000, BudgetPeriod: "month"}})
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
	o := send(ctx, c, t.call(body, stream), time.Now())
	switch {
	case o.status == 0:
		return 0, fmt.Errorf("%s: no answer", t.name)
	case o.status != http.StatusOK:
		return 0, fmt.Errorf("%s: status %d", t.name, o.status)
	case stream && o.chunks == 0:
		return 0, errors.New("stream carried no content")
	case stream:
		return o.first, nil
	}
	return o.dur, nil
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

// ioCalls counts a process's read and write system calls.
type ioCalls struct{ reads, writes int64 }

// syscalls reads a process's read and write system call counts from
// /proc (syscr and syscw: every read or write of a file or socket,
// including one that finds nothing to read).
func syscalls(pid int) ioCalls {
	var c ioCalls
	if pid == 0 {
		return c
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return c
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch name {
		case "syscr":
			c.reads = n
		case "syscw":
			c.writes = n
		}
	}
	return c
}

func rssKB(pid int) int64     { return procStatusKB(pid, "VmRSS:") }
func peakRSSKB(pid int) int64 { return procStatusKB(pid, "VmHWM:") }

// rssAnonKB is the anonymous part of a process's RSS: its heap, stacks
// and written data. The rest is file-backed (the binary's code and
// read-only data, paged in 64 KiB around each first touch, shared with
// every process of the same binary) or shared memory.
func rssAnonKB(pid int) int64 { return procStatusKB(pid, "RssAnon:") }
func rssFileKB(pid int) int64 { return procStatusKB(pid, "RssFile:") }

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

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// watchRSS samples a process's RSS every 100 ms until the returned
// function is called, which returns the highest sample in KiB.
func watchRSS(pid int) (stop func() int64) { return watchKB(pid, rssKB) }

// watchKB samples read(pid) every 100 ms until the returned function is
// called, which returns the highest sample.
func watchKB(pid int, read func(pid int) int64) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if v := read(pid); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// scrape reads a gateway's /metrics: the unlabelled samples by name, the
// body's size and its number of series.
func scrape(ctx context.Context, adminURL string) (vals map[string]float64, size, series int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/metrics", nil)
	if err != nil {
		return nil, 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, 0, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	vals = map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series++
		name, v, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			vals[name] = f
		}
	}
	return vals, len(body), series, sc.Err()
}
