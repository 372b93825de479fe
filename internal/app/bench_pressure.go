package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/internal/store/sqlstore"
)

// pressure runs the "Under pressure" scenarios, each on a fresh gateway
// with its default settings.
// pressureScenarios names the pressure scenarios, in the order they run,
// for -pressure.
var pressureScenarios = []string{"overload", "outages", "longstream", "slowclients", "labels", "streams"}

func (b *bench) pressure(ctx context.Context) (string, error) {
	var sb strings.Builder
	sb.WriteString("\n## Under pressure\n\nEach scenario runs on a fresh gateway child with the default settings (admission limits, timeouts,\n" +
		"stream caps and dependency deadlines are whatever the configuration's defaults are), its log kept.\n")
	for _, s := range []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"overload", b.overload},
		{"outages", b.outages},
		{"longstream", b.longStream},
		{"slowclients", b.slowBodies},
		{"labels", b.labels},
		{"streams", b.manyStreams},
	} {
		if len(b.pressureOnly) > 0 && !slices.Contains(b.pressureOnly, s.name) {
			continue
		}
		fmt.Fprintf(b.env.Stderr, "bench: pressure: %s\n", s.name)
		out, err := s.run(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.name, err)
		}
		sb.WriteString(out)
	}
	return sb.String(), nil
}

// durations are the durations of the outcomes that pass keep.
func durations(outs []outcome, keep func(outcome) bool) []time.Duration {
	var ds []time.Duration
	for _, o := range outs {
		if keep(o) {
			ds = append(ds, o.dur)
		}
	}
	return ds
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// statusCounts renders how many outcomes got each status (0: no answer).
func statusCounts(outs []outcome) string {
	m := map[int]int{}
	for _, o := range outs {
		m[o.status]++
	}
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	errs := map[string]int{}
	for _, o := range outs {
		if o.err != "" {
			errs[o.err]++
		}
	}
	if len(errs) > 0 {
		parts = append(parts, "errors: "+mapCounts(errs))
	}
	return strings.Join(parts, ", ")
}

// overload measures the closed-loop capacity, then offers 1.5× and 3× of
// it open-loop.
func (b *bench) overload(ctx context.Context) (string, error) {
	var args []string
	if b.cpuProfile != "" {
		args = []string{"-cpuprofile", b.cpuProfile + ".overload"}
	}
	gw, err := b.startGateway(ctx, gatewayOptions{name: "overload", args: args})
	if err != nil {
		return "", err
	}
	defer gw.stop()
	const maxOutstanding = 2048
	client := newLoadClient(maxOutstanding, 30*time.Second)
	defer client.CloseIdleConnections()
	if _, err := latencies(ctx, client, gw.target, benchBody, 200, false); err != nil {
		return "", err
	}
	time.Sleep(time.Second)
	idle := rssKB(gw.pid)
	client.CloseIdleConnections()
	// Both the capacity and the overload are driven by the lean
	// generator (rawClient), so that the generator takes as little of the
	// shared CPU as it can and the same in both.
	u, err := url.Parse(gw.url)
	if err != nil {
		return "", err
	}
	raw := newRawClient(u.Host, maxOutstanding, 30*time.Second)
	defer raw.close()
	var served atomic.Int64
	cpu0 := cpuTime(gw.pid)
	n, elapsed := closedLoopVia(ctx, raw.send, []call{gw.call(benchBody, false)}, 64, b.duration, 0, func(o outcome) {
		if o.ok() {
			served.Add(1)
		}
	})
	capacity := float64(n) / elapsed.Seconds()
	if capacity <= 0 || served.Load() == 0 {
		return "", fmt.Errorf("no capacity measured")
	}
	perServed := (cpuTime(gw.pid) - cpu0) / time.Duration(served.Load())
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Overload\n\nClosed-loop capacity just before (c=64, %s): %.0f req/s. Then open-loop arrivals at a fixed rate for %s each,\n"+
		"at most %d requests outstanding (arrivals past that are dropped by the generator and counted). Latencies count\n"+
		"from each request's due time, not from when the generator got round to sending it. Accepted means\n"+
		"answered 200; refusals are 503s. CPU shares are of the whole machine (%d CPUs); the bench's own share is the\n"+
		"load generator's and the simulated upstream's, which run in it. Both runs use a lean HTTP/1.1 generator\n"+
		"(pre-rendered requests on kept-alive connections, answers read with http.ReadResponse) rather than net/http's\n"+
		"client, which spends about as much CPU receiving a refusal as the gateway spends sending it: CPU a\n"+
		"gateway's remote clients would never take from it.\n\n", b.duration, capacity, b.pressureFor, maxOutstanding, runtime.NumCPU())
	sb.WriteString("| offered | accepted p50 | accepted p99 | successful throughput | refusals (503) | refusal p99 | other | dropped by generator | gateway CPU share | bench CPU share | RSS peak | targets | met |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var others []outcome
	// Each run's gateway CPU and answers, for its CPU per request once
	// the CPU of a refusal is known.
	type phase struct {
		mult             float64
		cpu              time.Duration
		served, refusals int
	}
	var phases []phase
	for _, mult := range []float64{1.5, 3} {
		stop := watchRSS(gw.pid)
		cpu0, self0 := cpuTime(gw.pid), cpuTime(os.Getpid())
		res := openLoop(ctx, raw.send, gw.call(benchBody, false), capacity*mult, b.pressureFor, maxOutstanding)
		cpu, self := cpuTime(gw.pid)-cpu0, cpuTime(os.Getpid())-self0
		peak := stop()
		ok := durations(res.outcomes, outcome.ok)
		refused := durations(res.outcomes, func(o outcome) bool { return o.status == http.StatusServiceUnavailable })
		other := len(res.outcomes) - len(ok) - len(refused)
		for _, o := range res.outcomes {
			if !o.ok() && o.status != http.StatusServiceUnavailable {
				others = append(others, o)
			}
		}
		phases = append(phases, phase{mult, cpu, len(ok), len(refused)})
		share := float64(len(ok)) / res.elapsed.Seconds() / capacity
		p99 := percentile(ok, 99)
		target, met := "success ≥ 50%", share >= 0.5
		if mult == 1.5 {
			target, met = "p99 < 50 ms, success ≥ 85%", p99 < 50*time.Millisecond && share >= 0.85
		}
		machine := res.elapsed.Seconds() * float64(runtime.NumCPU())
		fmt.Fprintf(&sb, "| %.1f× (%.0f req/s, %d sent) | %s | %s | %.0f%% of capacity | %d | %s | %d | %d | %.0f%% | %.0f%% | %s | %s | %s |\n",
			mult, capacity*mult, res.arrivals-res.dropped, ms(percentile(ok, 50)), ms(p99), share*100, len(refused), ms(percentile(refused, 99)),
			other, res.dropped, 100*cpu.Seconds()/machine, 100*self.Seconds()/machine, mib(peak), target, verdict(met))
	}
	if len(others) > 0 {
		fmt.Fprintf(&sb, "\nOther answers: %s.\n", statusCounts(others))
	}
	raw.close()
	time.Sleep(b.settle)
	after := rssKB(gw.pid)
	fmt.Fprintf(&sb, "\nRSS idle before: %s; %s after the overload ended: %s (target: back near idle).\n", mib(idle), b.settle, mib(after))
	perRefusal, err := b.refusalCPU(ctx, perServed)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&sb, "\nGateway CPU per request (CPU time, so less at the mercy of the machine's load than the rows above): served %s\n"+
		"(the capacity run); refused by admission control %s, %.0f%% of a served one (closed loop, c=%d, %s, against a\n"+
		"gateway that admits one request at a time, the CPU of the few it serves taken out). At 1.5x, serving 85%% of\n"+
		"capacity within the CPU the capacity run used leaves each refusal at most about 23%% of a served request's.\n",
		us(perServed), us(perRefusal), 100*float64(perRefusal)/float64(perServed), 64, b.duration)
	// What the rows' CPU shares hide, since they move with what else
	// the machine runs: whether a served request costs the gateway more
	// under overload than at capacity.
	sb.WriteString("\n")
	for _, p := range phases {
		if p.served == 0 {
			continue
		}
		own := max(0, p.cpu-time.Duration(p.refusals)*perRefusal) / time.Duration(p.served)
		fmt.Fprintf(&sb, "At %.1fx the gateway used %s of CPU per served request, its refusals counted at %s each: %.2f times the capacity run's.\n",
			p.mult, us(own), us(perRefusal), float64(own)/float64(perServed))
	}
	return sb.String(), nil
}

// refusalCPU measures the gateway's CPU per request refused by admission
// control: a gateway whose admission control takes one request at a time
// (and queues as by default) is driven closed-loop, nearly every request
// is refused, and the CPU of those served (perServed each) is taken out.
func (b *bench) refusalCPU(ctx context.Context, perServed time.Duration) (time.Duration, error) {
	gw, err := b.startGateway(ctx, gatewayOptions{name: "overload-refusals",
		server: "{admission: {mode: fixed, min_in_flight: 1, max_in_flight: 1, max_requests: 1}}"})
	if err != nil {
		return 0, err
	}
	defer gw.stop()
	u, err := url.Parse(gw.url)
	if err != nil {
		return 0, err
	}
	raw := newRawClient(u.Host, 64, 30*time.Second)
	defer raw.close()
	var served, refused atomic.Int64
	cpu0 := cpuTime(gw.pid)
	closedLoopVia(ctx, raw.send, []call{gw.call(benchBody, false)}, 64, b.duration, 0, func(o outcome) {
		switch {
		case o.ok():
			served.Add(1)
		case o.status == http.StatusServiceUnavailable:
			refused.Add(1)
		}
	})
	cpu := cpuTime(gw.pid) - cpu0
	if refused.Load() == 0 {
		return 0, fmt.Errorf("overload-refusals: no request refused")
	}
	return max(0, cpu-time.Duration(served.Load())*perServed) / time.Duration(refused.Load()), nil
}

// outages blackholes the gateway's Redis, then its store, through a proxy
// the bench runs between them, mid-run.
func (b *bench) outages(ctx context.Context) (string, error) {
	var sb strings.Builder
	sb.WriteString("\n### Blackholed Redis and store\n\n")
	if b.redis == "" && b.postgres == "" {
		b.notes = append(b.notes, "Blackholed Redis and store: neither -redis nor -postgres set.")
		sb.WriteString("Not run: neither -redis nor -postgres set.\n")
		return sb.String(), nil
	}
	fmt.Fprintf(&sb, "A TCP proxy started by the bench sits between the gateway and the machine's service. Closed-loop load at c=8\n"+
		"on the fast path (the key has RPM, TPM and a budget, so Redis is on every request's path); after 2 s the\n"+
		"proxy is blackholed for %s (it accepts and holds new connections and forwards nothing on existing ones),\n"+
		"then healed (held bytes flow again) for %s. A request is slow past 300 ms; the client gives up after 30 s.\n\n", b.pressureFor, b.pressureFor)
	sb.WriteString("| blackholed | requests overlapping it | p50 | p99 | slow (> 300 ms) | answers during | first 200 after heal | p99 after heal (from +1 s) | non-200 after heal | target p99 < 300 ms | met |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, dep := range []string{"redis", "store"} {
		if (dep == "redis" && b.redis == "") || (dep == "store" && b.postgres == "") {
			fmt.Fprintf(&sb, "| %s | not run: no %s URL | | | | | | | | | |\n", dep, dep)
			b.notes = append(b.notes, "Blackholed "+dep+": no URL given.")
			continue
		}
		row, err := b.outage(ctx, dep)
		if err != nil {
			return "", fmt.Errorf("%s outage: %w", dep, err)
		}
		sb.WriteString(row)
	}
	return sb.String(), nil
}

func (b *bench) outage(ctx context.Context, dep string) (string, error) {
	var upstream string
	o := gatewayOptions{name: dep + "-outage"}
	var cleanup func(*gwChild)
	if dep == "redis" {
		u, err := url.Parse(b.redis)
		if err != nil {
			return "", err
		}
		upstream = u.Host
		cleanup = func(g *gwChild) { redisForget(ctx, b.redis, g) }
	} else {
		dsn, drop, err := sqlstore.ScratchSchema(ctx, b.postgres, "switchyard_bench_")
		if err != nil {
			return "", err
		}
		defer drop(context.WithoutCancel(ctx))
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("-postgres must be a postgres:// URL to put a proxy in front of it")
		}
		upstream = u.Host
		o.storeDSN = dsn
	}
	px, err := newHoldProxy(upstream)
	if err != nil {
		return "", err
	}
	defer px.close()
	if dep == "redis" {
		u, _ := url.Parse(b.redis)
		u.Host = px.addr()
		o.redisURL = u.String()
	} else {
		u, _ := url.Parse(o.storeDSN)
		u.Host = px.addr()
		// The key is issued directly (startGateway opens the store with
		// this DSN), then the gateway uses the proxy too.
		o.storeDSN = u.String()
	}
	gw, err := b.startGateway(ctx, o)
	if err != nil {
		return "", err
	}
	defer func() {
		// Stopped first: a gateway writes spend counters until it ends.
		gw.stop()
		if cleanup != nil {
			cleanup(gw)
		}
	}()
	client := newLoadClient(16, 30*time.Second)
	defer client.CloseIdleConnections()
	if _, err := latencies(ctx, client, gw.target, benchBody, 100, false); err != nil {
		return "", err
	}
	const before = 2 * time.Second
	var col collect
	go func() {
		time.Sleep(before)
		px.hold(true)
		time.Sleep(b.pressureFor)
		px.hold(false)
	}()
	closedLoop(ctx, client, []call{gw.call(benchBody, false)}, 8, before+2*b.pressureFor, 0, col.add)
	all := col.all()
	heal := before + b.pressureFor
	var during, after []outcome
	firstOK := time.Duration(-1)
	for _, o := range all {
		// Over the outage: every request it overlapped, those already
		// under way when it began included.
		if o.at < heal && o.at+o.dur > before {
			during = append(during, o)
		}
		switch {
		case o.at >= heal:
			if o.ok() && (firstOK < 0 || o.at+o.dur < firstOK) {
				firstOK = o.at + o.dur
			}
			if o.at >= heal+time.Second {
				after = append(after, o)
			}
		}
	}
	allDur := durations(during, func(outcome) bool { return true })
	slow := 0
	for _, d := range allDur {
		if d > 300*time.Millisecond {
			slow++
		}
	}
	notOK := 0
	for _, o := range all {
		if o.at >= heal && !o.ok() {
			notOK++
		}
	}
	recovered := "none"
	if firstOK >= 0 {
		recovered = "+" + ms(firstOK-heal)
	}
	p99 := percentile(allDur, 99)
	return fmt.Sprintf("| %s | %d | %s | %s (max %s) | %d | %s | %s | %s | %d | < 300 ms | %s |\n", dep, len(during), ms(percentile(allDur, 50)),
		ms(p99), ms(percentile(allDur, 100)), slow, statusCounts(during), recovered, ms(percentile(durations(after, func(outcome) bool { return true }), 99)), notOK,
		verdict(p99 < 300*time.Millisecond && len(during) > 0)), nil
}

// capStreamBytes is the stream size cap of the long-stream scenario's
// gateway: the default (16 MiB of content) would take the -cap-tokens
// answer minutes of padding to reach, and the cut is the same at any cap.
const capStreamBytes = 1 << 20

// longStream compares the CPU of a long answer streamed and unstreamed,
// then streams an answer meant to pass the gateway's stream size cap.
func (b *bench) longStream(ctx context.Context) (string, error) {
	var args []string
	if b.cpuProfile != "" {
		args = []string{"-cpuprofile", b.cpuProfile + ".longstream"}
	}
	gw, err := b.startGateway(ctx, gatewayOptions{name: "longstream", server: fmt.Sprintf("{max_stream_bytes: %d}", capStreamBytes), args: args})
	if err != nil {
		return "", err
	}
	defer gw.stop()
	client := newLoadClient(4, 10*time.Minute)
	defer client.CloseIdleConnections()
	longBody := strings.Replace(benchBody, "bench-model", "bench-long", 1)
	longStreamBody := strings.Replace(benchStreamBody, "bench-model", "bench-long", 1)
	// The floor: a bare reverse proxy in front of the same upstream, which
	// passes each read of the upstream's stream on with a write and a
	// flush. It tells what streaming the answer costs any proxy on this
	// machine, chunk by chunk as the upstream flushes them.
	floor, stopProxy, err := b.startProxy(ctx, b.cloud.long+"/openai")
	if err != nil {
		return "", err
	}
	defer stopProxy()
	// measure returns the CPU per answer, the last answer, and the read
	// and write system calls per answer (counted by the kernel, so not
	// blurred by the machine's load).
	measure := func(t target, body string, stream bool) (cpu time.Duration, o outcome, sc ioCalls, err error) {
		send(ctx, client, t.call(body, stream), time.Now()) // warm-up
		// Answers for at least a second and at least three of them: /proc
		// counts CPU in 10 ms ticks, and one answer is one draw of a
		// shared machine's noise.
		c0, s0, start, n := cpuTime(t.pid), syscalls(t.pid), time.Now(), 0
		for ; n < 3 || time.Since(start) < time.Second; n++ {
			if o = send(ctx, client, t.call(body, stream), time.Now()); !o.ok() {
				return 0, o, ioCalls{}, fmt.Errorf("%s: long answer (stream %v): status %d", t.name, stream, o.status)
			}
		}
		s1 := syscalls(t.pid)
		return (cpuTime(t.pid) - c0) / time.Duration(n), o, ioCalls{(s1.reads - s0.reads) / int64(n), (s1.writes - s0.writes) / int64(n)}, nil
	}
	plainCPU, plain, _, err := measure(gw.target, longBody, false)
	if err != nil {
		return "", err
	}
	streamCPU, streamed, streamCalls, err := measure(gw.target, longStreamBody, true)
	if err != nil {
		return "", err
	}
	floorCPU, floorStreamed, floorCalls, err := measure(floor, longStreamBody, true)
	if err != nil {
		return "", err
	}
	ratio := float64(streamCPU) / float64(max(plainCPU, time.Millisecond))
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### One long stream\n\nA %d-token answer (fakecloud pads the answer and flushes each chunk), repeated for at least a second each way after a warm-up,\n"+
		"CPU per request of the gateway, and of the floor (a bare reverse proxy) for the streamed answer:\n\n"+
		"| answer | CPU | time | bytes to the client | content chunks |\n|---|---|---|---|---|\n", b.longTokens)
	fmt.Fprintf(&sb, "| unstreamed | %s | %s | %d | - |\n| streamed | %s | %s | %d | %d |\n| streamed through the floor | %s | %s | %d | %d |\n", ms(plainCPU), ms(plain.dur), plain.bytes,
		ms(streamCPU), ms(streamed.dur), streamed.bytes, streamed.chunks, ms(floorCPU), ms(floorStreamed.dur), floorStreamed.bytes, floorStreamed.chunks)
	fmt.Fprintf(&sb, "\nStreamed vs unstreamed CPU: %.2f× (target ≤ 3×: %s). Streamed through the gateway vs through the floor: %.2f×.\n", ratio, verdict(ratio <= 3),
		float64(streamCPU)/float64(max(floorCPU, time.Millisecond)))
	perChunk := func(n int64, o outcome) float64 { return float64(n) / float64(max(o.chunks, 1)) }
	fmt.Fprintf(&sb, "Read and write system calls per content chunk of the streamed answer: gateway %.3f and %.3f, floor %.3f and %.3f.\n",
		perChunk(streamCalls.reads, streamed), perChunk(streamCalls.writes, streamed), perChunk(floorCalls.reads, floorStreamed), perChunk(floorCalls.writes, floorStreamed))

	stop := watchRSS(gw.pid)
	hctx, cancel := context.WithTimeout(ctx, b.capWait)
	defer cancel()
	huge := send(hctx, client, gw.call(strings.Replace(benchStreamBody, "bench-model", "bench-huge", 1), true), time.Now())
	gaveUp := hctx.Err() != nil
	peak := stop()
	state := "**not cut**: it ended with [DONE], so no cap stopped it"
	switch {
	case gaveUp:
		state = fmt.Sprintf("**still streaming when the bench gave up after %s**, no cap had cut it", b.capWait)
	case huge.status != http.StatusOK:
		state = fmt.Sprintf("refused with status %d", huge.status)
	case !huge.done:
		state = "cut (it ended without [DONE])"
	}
	fmt.Fprintf(&sb, "\nA %d-token streamed answer, past this gateway's `server.max_stream_bytes: %d` (1 MiB of content; the default is 16 MiB): %s, after %d bytes and %d content chunks\n"+
		"in %s; gateway RSS peak meanwhile %s.\n", b.capTokens, capStreamBytes, state, huge.bytes, huge.chunks, ms(huge.dur), mib(peak))
	return sb.String(), nil
}

// slowBodies opens slow-body connections that trickle an unauthenticated
// request body while legitimate requests run.
func (b *bench) slowBodies(ctx context.Context) (string, error) {
	gw, err := b.startGateway(ctx, gatewayOptions{name: "slowclients"})
	if err != nil {
		return "", err
	}
	defer gw.stop()
	client := newLoadClient(8, 30*time.Second)
	defer client.CloseIdleConnections()
	if _, err := latencies(ctx, client, gw.target, benchBody, 100, false); err != nil {
		return "", err
	}
	idle := rssKB(gw.pid)
	addr := strings.TrimPrefix(strings.TrimSuffix(gw.url, "/v1/chat/completions"), "http://")
	hold := 2 * b.pressureFor

	type slowConn struct {
		c      net.Conn
		opened time.Time
		closed atomic.Int64 // ns after opened; 0 while open
		status atomic.Value // the server's status line, if any
	}
	stopRSS := watchRSS(gw.pid)
	conns := make([]*slowConn, 0, b.slowClients)
	var mu sync.Mutex
	var dialErrs atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	header := "POST /v1/chat/completions HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.slowClients) {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				if _, err := io.WriteString(c, header); err != nil {
					c.Close()
					dialErrs.Add(1)
					continue
				}
				sc := &slowConn{c: c, opened: time.Now()}
				mu.Lock()
				conns = append(conns, sc)
				mu.Unlock()
				go func() {
					br := bufio.NewReader(c)
					if line, err := br.ReadString('\n'); err == nil {
						sc.status.Store(strings.TrimSpace(line))
					}
					io.Copy(io.Discard, br)
					sc.closed.Store(max(int64(time.Since(sc.opened)), 1))
				}()
			}
		})
	}
	wg.Wait()
	// One byte a second on every connection still open, while legitimate
	// requests run.
	trickleCtx, stopTrickle := context.WithCancel(ctx)
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-trickleCtx.Done():
				return
			case <-t.C:
			}
			for _, sc := range conns {
				if sc.closed.Load() == 0 {
					sc.c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
					sc.c.Write([]byte(" "))
				}
			}
		}
	}()
	var col collect
	closedLoop(ctx, client, []call{gw.call(benchBody, false)}, 4, hold, 0, col.add)
	stopTrickle()
	<-trickled
	peak := stopRSS()
	closedCount, answered := 0, map[string]int{}
	var closeTimes []time.Duration
	for _, sc := range conns {
		if t := sc.closed.Load(); t > 0 {
			closedCount++
			closeTimes = append(closeTimes, time.Duration(t))
		}
		if s, ok := sc.status.Load().(string); ok {
			answered[s]++
		}
		sc.c.Close()
	}
	legit := col.all()
	ok := durations(legit, outcome.ok)
	p99 := percentile(durations(legit, func(outcome) bool { return true }), 99)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Slow clients\n\n%d connections (%d failed to open) each send an unauthenticated request's headers\n"+
		"announcing a 1 MB body and then trickle it a byte a second for %s, while 4 closed-loop clients send legitimate\n"+
		"requests.\n\n", len(conns), dialErrs.Load(), hold)
	sb.WriteString("| measure | value | target | met |\n|---|---|---|---|\n")
	fmt.Fprintf(&sb, "| legitimate requests | %d (%s) | | |\n", len(legit), statusCounts(legit))
	fmt.Fprintf(&sb, "| legitimate p50 / p99 | %s / %s | p99 < 1 s | %s |\n", ms(percentile(ok, 50)), ms(p99), verdict(p99 < time.Second && len(ok) > 0))
	fmt.Fprintf(&sb, "| slow connections closed by the gateway within %s | %d of %d (median after %s) | closed (timeout or refusal) | %s |\n",
		hold, closedCount, len(conns), ms(percentile(closeTimes, 50)), verdict(closedCount == len(conns) && len(conns) > 0))
	fmt.Fprintf(&sb, "| answers the slow connections got | %s | | |\n", mapCounts(answered))
	fmt.Fprintf(&sb, "| gateway RSS idle / peak | %s / %s | | |\n", mib(idle), mib(peak))
	return sb.String(), nil
}

func mapCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%q: %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// labels sends requests with random model names and a valid key, then
// measures /metrics.
func (b *bench) labels(ctx context.Context) (string, error) {
	gw, err := b.startGateway(ctx, gatewayOptions{name: "labels"})
	if err != nil {
		return "", err
	}
	defer gw.stop()
	client := newLoadClient(16, 30*time.Second)
	defer client.CloseIdleConnections()
	_, size0, series0, err := scrape(ctx, gw.admin)
	if err != nil {
		return "", err
	}
	calls := make([]call, b.labelRequests)
	for i := range calls {
		calls[i] = gw.call(strings.Replace(benchBody, "bench-model", "bench-"+rand.Text(), 1), false)
	}
	var col collect
	closedLoop(ctx, client, calls, 16, 0, int64(len(calls)), col.add)
	_, size, series, err := scrape(ctx, gw.admin)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Label cardinality\n\n%d requests with a valid key and a random model name each (answers: %s), then the admin\n"+
		"listener's /metrics:\n\n| measure | before | after | target | met |\n|---|---|---|---|---|\n", len(calls), statusCounts(col.all()))
	fmt.Fprintf(&sb, "| /metrics size | %d bytes | %d bytes | < 1 MB | %s |\n", size0, size, verdict(size < 1_000_000))
	fmt.Fprintf(&sb, "| series | %d | %d | | |\n", series0, series)
	return sb.String(), nil
}

// manyStreams holds as many slow streams open at once as the fd limit
// allows, up to b.streams.
func (b *bench) manyStreams(ctx context.Context) (string, error) {
	soft, _ := raiseFDLimit()
	gw, err := b.startGateway(ctx, gatewayOptions{name: "streams"})
	if err != nil {
		return "", err
	}
	defer gw.stop()
	// Each stream takes two descriptors in this process (the client's
	// connection and the simulated upstream's) and two in the gateway
	// (the client's and the upstream's); both have the same limit. Those
	// already open count, and 200 are kept spare.
	n := b.streams
	if room := (int(soft) - max(openFDs(os.Getpid()), openFDs(gw.pid)) - 200) / 2; room < n {
		n = max(room, 0)
		b.notes = append(b.notes, fmt.Sprintf("Concurrent streams: %d asked, %d run (open-file limit %d, two per stream per process).", b.streams, n, soft))
	}
	idle := rssKB(gw.pid)
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext}}
	defer client.CloseIdleConnections()
	body := strings.Replace(benchStreamBody, "bench-model", "bench-slow", 1)
	var active, peakActive atomic.Int64
	var col collect
	stop := watchRSS(gw.pid)
	start := time.Now()
	var wg sync.WaitGroup
	// Opened at 2,000 a second: all are open well before the first ends.
	for i := range n {
		if d := time.Duration(i) * time.Second / 2000; time.Since(start) < d {
			time.Sleep(d - time.Since(start))
		}
		wg.Go(func() {
			col.add(sendCounting(ctx, client, gw.call(body, true), start, &active, &peakActive))
		})
	}
	wg.Wait()
	peak := stop()
	elapsed := time.Since(start)
	// What the streams took is handed back once they are over: the
	// gateway's RSS after the settle time, its idle connections to
	// this client closed.
	client.CloseIdleConnections()
	time.Sleep(b.settle)
	after := rssKB(gw.pid)
	all := col.all()
	completed := 0
	for _, o := range all {
		if o.ok() && o.done {
			completed++
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Concurrent slow streams\n\n%d streams opened at 2,000 a second, each a %s answer paced by the upstream\n"+
		"(open-file limit %d).\n\n| measure | value | target | met |\n|---|---|---|---|\n", n, b.slowStream, soft)
	fmt.Fprintf(&sb, "| streams completed ([DONE]) | %d of %d (answers: %s) | all | %s |\n", completed, n, statusCounts(all), verdict(completed == n && n > 0))
	fmt.Fprintf(&sb, "| most open at once (client side) | %d | | |\n", peakActive.Load())
	fmt.Fprintf(&sb, "| gateway RSS idle / peak | %s / %s | 10,000 in < 600 MiB | %s |\n", mib(idle), mib(peak), verdict(peak < 600*1024 && n > 0))
	fmt.Fprintf(&sb, "| gateway RSS %s after the last ended | %s | back near idle | |\n", b.settle, mib(after))
	fmt.Fprintf(&sb, "| time for all | %s | | |\n", elapsed.Round(100*time.Millisecond))
	return sb.String(), nil
}

// openFDs counts a process's open file descriptors (Linux).
func openFDs(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(es)
}

// sendCounting is send with a count of streams open at once.
func sendCounting(ctx context.Context, c *http.Client, cl call, start time.Time, active, peak *atomic.Int64) outcome {
	v := active.Add(1)
	for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
	}
	defer active.Add(-1)
	return send(ctx, c, cl, start)
}

// scratchStores makes a fresh Postgres schema and returns its DSN, a
// function dropping it, and one deleting a gateway's Redis keys.
func (b *bench) scratchStores(ctx context.Context) (dsn string, drop func(), forget func(*gwChild), err error) {
	dsn, dropSchema, err := sqlstore.ScratchSchema(ctx, b.postgres, "switchyard_bench_")
	if err != nil {
		return "", nil, nil, err
	}
	return dsn, func() { dropSchema(context.WithoutCancel(ctx)) }, func(g *gwChild) { redisForget(ctx, b.redis, g) }, nil
}

// holdProxy forwards TCP connections to an upstream until held: then it
// accepts and holds new connections and forwards nothing on existing ones,
// as a network partition does; healed, the held bytes flow again.
type holdProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cond     *sync.Cond
	held     bool
	closed   bool
	conns    []net.Conn
}

func newHoldProxy(upstream string) (*holdProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &holdProxy{ln: ln, upstream: upstream}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	return p, nil
}

func (p *holdProxy) addr() string { return p.ln.Addr().String() }

func (p *holdProxy) hold(on bool) {
	p.mu.Lock()
	p.held = on
	p.mu.Unlock()
	p.cond.Broadcast()
}

// wait blocks while the proxy is held; false when it is closed.
func (p *holdProxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.held && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

func (p *holdProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *holdProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		go func() {
			if !p.wait() {
				return
			}
			up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
			if err != nil {
				c.Close()
				return
			}
			if !p.track(up) {
				c.Close()
				return
			}
			go p.pipe(up, c)
			p.pipe(c, up)
		}()
	}
}

// pipe copies src to dst, holding each read while the proxy is held.
func (p *holdProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *holdProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.cond.Broadcast()
}

// redisForget deletes the Redis keys of a gateway's bench key and tenant
// (the redis limits backend's keys all carry one of their scopes).
func redisForget(ctx context.Context, redisURL string, g *gwChild) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, id := range []string{g.keyID, g.tenant} {
		if id != "" {
			_ = redisDeleteMatching(ctx, redisURL, "*:"+id+"*")
		}
	}
}

// redisDeleteMatching deletes every key matching pattern, speaking RESP
// directly (go-redis belongs to the redislimit package).
func redisDeleteMatching(ctx context.Context, redisURL, pattern string) error {
	u, err := url.Parse(redisURL)
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	br := bufio.NewReader(c)
	cmd := func(args ...string) ([]string, error) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&sb, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := io.WriteString(c, sb.String()); err != nil {
			return nil, err
		}
		return readRESP(br)
	}
	if pw, ok := u.User.Password(); ok {
		args := []string{"AUTH", pw}
		if name := u.User.Username(); name != "" {
			args = []string{"AUTH", name, pw}
		}
		if _, err := cmd(args...); err != nil {
			return err
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		if _, err := cmd("SELECT", db); err != nil {
			return err
		}
	}
	cursor := "0"
	for {
		r, err := cmd("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if err != nil {
			return err
		}
		if len(r) < 1 {
			return fmt.Errorf("redis SCAN: short reply")
		}
		cursor = r[0]
		if keys := r[1:]; len(keys) > 0 {
			if _, err := cmd(append([]string{"DEL"}, keys...)...); err != nil {
				return err
			}
		}
		if cursor == "0" {
			return nil
		}
	}
}

// readRESP reads one reply, flattening nested arrays into their strings.
func readRESP(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return []string{line[1:]}, nil
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case '$':
		var n int
		fmt.Sscan(line[1:], &n)
		if n < 0 {
			return []string{""}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, err
		}
		return []string{string(buf[:n])}, nil
	case '*':
		var n int
		fmt.Sscan(line[1:], &n)
		var out []string
		for range max(n, 0) {
			r, err := readRESP(br)
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}
