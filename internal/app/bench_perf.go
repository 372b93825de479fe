package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rounds keeps one figure per round for each measure.
type rounds map[string][]float64

func (r rounds) add(k string, v float64) { r[k] = append(r[k], v) }

// spread is a measure's median with its min–max over rounds.
func spread(xs []float64, unit string, prec int) string {
	if len(xs) == 0 {
		return "-"
	}
	f := func(v float64) string { return strconvFloat(v, prec) }
	if len(xs) == 1 {
		return f(xs[0]) + unit
	}
	return fmt.Sprintf("%s%s (%s–%s)", f(median(xs)), unit, f(slices.Min(xs)), f(slices.Max(xs)))
}

func strconvFloat(v float64, prec int) string { return fmt.Sprintf("%.*f", prec, v) }

// signed is spread with an explicit sign, for differences.
func signed(xs []float64, unit string) string {
	if len(xs) == 0 {
		return "-"
	}
	if len(xs) == 1 {
		return fmt.Sprintf("%+.0f%s", xs[0], unit)
	}
	return fmt.Sprintf("%+.0f%s (%+.0f–%+.0f)", median(xs), unit, slices.Min(xs), slices.Max(xs))
}

// verdict says whether a median meets its target.
func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// perf measures the gateway's fast path (OpenAI to OpenAI) and translated
// path (OpenAI to Anthropic) against the floor, then a long run, then two
// replicas on Postgres and Redis.
func (b *bench) perf(ctx context.Context) (string, error) {
	floor, stopProxy, err := b.startProxy(ctx, b.cloud.fast+"/openai")
	if err != nil {
		return "", err
	}
	defer stopProxy()
	var args []string
	if b.cpuProfile != "" {
		args = []string{"-cpuprofile", b.cpuProfile}
	}
	if b.memProfile != "" {
		args = append(args, "-memprofile", b.memProfile)
	}
	gw, err := b.startGateway(ctx, gatewayOptions{name: "perf", args: args})
	if err != nil {
		return "", err
	}
	defer gw.stop()
	direct := target{name: "upstream (fakecloud, direct)", url: b.cloud.fast + "/openai/v1/chat/completions", key: "fake-key"}
	fast := gw.target
	fast.name = "switchyard"
	translated := gw.target
	translated.name = "switchyard, translated"
	translatedBody := strings.Replace(benchBody, "bench-model", "bench-translated", 1)

	client := newLoadClient(128, 60*time.Second)
	defer client.CloseIdleConnections()
	for _, w := range []struct {
		t    target
		body string
	}{{direct, benchBody}, {floor, benchBody}, {fast, benchBody}, {translated, translatedBody}} {
		if _, err := latencies(ctx, client, w.t, w.body, 200, false); err != nil {
			return "", fmt.Errorf("warm-up: %w", err)
		}
	}
	// Idle is read once the gateway has had the two quiet seconds after
	// which it returns the warm-up's garbage (memoryRelief).
	time.Sleep(3 * time.Second)
	idleGW, idleFloor := rssKB(gw.pid), rssKB(floor.pid)
	idleAnonGW, idleAnonFloor := rssAnonKB(gw.pid), rssAnonKB(floor.pid)
	idleFileGW, idleFileFloor := rssFileKB(gw.pid), rssFileKB(floor.pid)
	stopAnonGW, stopAnonFloor := watchKB(gw.pid, rssAnonKB), watchKB(floor.pid, rssAnonKB)

	r := rounds{}
	var gwRequests atomic.Int64
	perRound := max(b.samples/b.rounds, 10)
	for round := range b.rounds {
		fmt.Fprintf(b.env.Stderr, "bench: perf round %d of %d\n", round+1, b.rounds)
		// Latency at c=1, each target in turn.
		p50, p99, ttft := map[string]time.Duration{}, map[string]time.Duration{}, map[string]time.Duration{}
		for _, t := range []target{direct, floor, fast} {
			lat, err := latencies(ctx, client, t, benchBody, perRound, false)
			if err != nil {
				return "", err
			}
			p50[t.name], p99[t.name] = percentile(lat, 50), percentile(lat, 99)
			tt, err := latencies(ctx, client, t, benchStreamBody, max(perRound/2, 5), true)
			if err != nil {
				return "", err
			}
			ttft[t.name] = percentile(tt, 50)
		}
		gwRequests.Add(int64(perRound + max(perRound/2, 5)))
		usd := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
		r.add("p50 direct", usd(p50[direct.name]))
		r.add("p50 floor", usd(p50[floor.name]))
		r.add("p50 gw", usd(p50[fast.name]))
		r.add("added p50 vs direct", usd(p50[fast.name]-p50[direct.name]))
		r.add("floor added p50 vs direct", usd(p50[floor.name]-p50[direct.name]))
		r.add("added p50 vs floor", usd(p50[fast.name]-p50[floor.name]))
		r.add("added p99 vs direct", usd(p99[fast.name]-p99[direct.name]))
		r.add("floor added p99 vs direct", usd(p99[floor.name]-p99[direct.name]))
		r.add("added p99 vs floor", usd(p99[fast.name]-p99[floor.name]))
		r.add("added ttft vs direct", usd(ttft[fast.name]-ttft[direct.name]))
		r.add("floor added ttft vs direct", usd(ttft[floor.name]-ttft[direct.name]))
		r.add("added ttft vs floor", usd(ttft[fast.name]-ttft[floor.name]))

		// Throughput and CPU at c=16 and c=64, the targets in turn.
		for _, conc := range []int{16, 64} {
			for _, w := range []struct {
				key  string
				t    target
				body string
			}{{"floor", floor, benchBody}, {"gw", fast, benchBody}, {"translated", translated, translatedBody}} {
				var before map[string]float64
				if w.t.admin != "" {
					before, _, _, _ = scrape(ctx, w.t.admin)
				}
				cpu0 := cpuTime(w.t.pid)
				var errs atomic.Int64
				n, elapsed := closedLoop(ctx, client, []call{w.t.call(w.body, false)}, conc, b.duration, 0, func(o outcome) {
					if !o.ok() {
						errs.Add(1)
					}
				})
				cpu := cpuTime(w.t.pid) - cpu0
				if n == 0 {
					return "", fmt.Errorf("%s at c=%d: no request answered", w.t.name, conc)
				}
				k := fmt.Sprintf("%s c=%d", w.key, conc)
				r.add("rps "+k, float64(n)/elapsed.Seconds())
				r.add("cpu "+k, float64(cpu.Microseconds())/float64(n))
				r.add("errors "+k, float64(errs.Load()))
				if w.t.admin != "" {
					gwRequests.Add(n)
					after, _, _, err := scrape(ctx, w.t.admin)
					if err == nil && before != nil {
						r.add("alloc "+k, (after["go_memstats_alloc_bytes_total"]-before["go_memstats_alloc_bytes_total"])/float64(n))
						r.add("mallocs "+k, (after["go_memstats_mallocs_total"]-before["go_memstats_mallocs_total"])/float64(n))
					}
				}
			}
			for _, k := range []string{"gw", "translated"} {
				kk := fmt.Sprintf(" c=%d", conc)
				rf := r["cpu floor"+kk]
				r.add("cpu ratio "+k+kk, r["cpu "+k+kk][len(r["cpu "+k+kk])-1]/rf[len(rf)-1])
				rr := r["rps floor"+kk]
				r.add("rps ratio "+k+kk, r["rps "+k+kk][len(r["rps "+k+kk])-1]/rr[len(rr)-1])
			}
		}

		// A 50-chunk stream at c=64.
		for _, w := range []struct {
			key string
			t   target
		}{{"floor", floor}, {"gw", fast}} {
			var col collect
			n, _ := closedLoop(ctx, client, []call{w.t.call(bench50Body, true)}, 64, b.duration, 0, col.add)
			if n == 0 {
				return "", fmt.Errorf("%s: no 50-chunk stream answered", w.t.name)
			}
			var ds []time.Duration
			chunks := 0
			for _, o := range col.all() {
				if o.ok() && o.done {
					ds = append(ds, o.dur)
					chunks = o.chunks
				}
			}
			r.add("stream50 "+w.key, float64(percentile(ds, 50).Microseconds()))
			r.add("stream50 chunks", float64(chunks))
			if w.t.admin != "" {
				gwRequests.Add(n)
			}
		}
		sf, sg := r["stream50 floor"], r["stream50 gw"]
		r.add("stream50 ratio", sg[len(sg)-1]/sf[len(sf)-1])
	}
	peakGW, peakFloor := peakRSSKB(gw.pid), peakRSSKB(floor.pid)
	peakAnonGW, peakAnonFloor := stopAnonGW(), stopAnonFloor()

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n## Gateway against the floor\n\n"+
		"Targets: the simulated OpenAI upstream directly, the floor (a bare httputil.ReverseProxy child process in\n"+
		"front of it) and the gateway (a child process: the fast path is OpenAI client to OpenAI channel, the translated\n"+
		"path OpenAI client to Anthropic channel). %d rounds; in each, %d sequential requests per target for latency\n"+
		"(and half as many streamed for TTFT), then for each concurrency %s of closed-loop clients per target in turn,\n"+
		"then %s of 50-chunk streams at c=64 per target. CPU is user+system time of the process from /proc over the\n"+
		"run, divided by the requests answered; allocations are the gateway's own go_memstats counters (from its\n"+
		"/metrics on the admin listener) before and after the run, divided by the requests.\n\n",
		b.rounds, perRound, b.duration, b.duration)
	sb.WriteString("| measure | switchyard | floor | switchyard vs floor | target | met |\n|---|---|---|---|---|---|\n")
	for _, conc := range []int{16, 64} {
		k := fmt.Sprintf(" c=%d", conc)
		fmt.Fprintf(&sb, "| CPU per request, fast path,%s | %s | %s | %s | ≤ 1.3× | %s |\n", k,
			spread(r["cpu gw"+k], " µs", 0), spread(r["cpu floor"+k], " µs", 0), spread(r["cpu ratio gw"+k], "×", 2),
			verdict(median(r["cpu ratio gw"+k]) <= 1.3))
		fmt.Fprintf(&sb, "| CPU per request, translated,%s | %s | %s | %s | ≤ 1.5× | %s |\n", k,
			spread(r["cpu translated"+k], " µs", 0), spread(r["cpu floor"+k], " µs", 0), spread(r["cpu ratio translated"+k], "×", 2),
			verdict(median(r["cpu ratio translated"+k]) <= 1.5))
		fmt.Fprintf(&sb, "| throughput, fast path,%s | %s | %s | %s | ≥ 0.8× | %s |\n", k,
			spread(r["rps gw"+k], " req/s", 0), spread(r["rps floor"+k], " req/s", 0), spread(r["rps ratio gw"+k], "×", 2),
			verdict(median(r["rps ratio gw"+k]) >= 0.8))
		fmt.Fprintf(&sb, "| throughput, translated,%s | %s | %s | %s | - | |\n", k,
			spread(r["rps translated"+k], " req/s", 0), spread(r["rps floor"+k], " req/s", 0), spread(r["rps ratio translated"+k], "×", 2))
	}
	fmt.Fprintf(&sb, "| added latency p50 at c=1 (vs direct upstream) | %s | %s | %s | ≤ +120 µs over the floor | %s |\n",
		spread(r["added p50 vs direct"], " µs", 0), spread(r["floor added p50 vs direct"], " µs", 0), signed(r["added p50 vs floor"], " µs"),
		verdict(median(r["added p50 vs floor"]) <= 120))
	fmt.Fprintf(&sb, "| added latency p99 at c=1 (vs direct upstream) | %s | %s | %s | - | |\n",
		spread(r["added p99 vs direct"], " µs", 0), spread(r["floor added p99 vs direct"], " µs", 0), signed(r["added p99 vs floor"], " µs"))
	fmt.Fprintf(&sb, "| added TTFT p50 at c=1 (vs direct upstream) | %s | %s | %s | ≤ +100 µs over the floor | %s |\n",
		spread(r["added ttft vs direct"], " µs", 0), spread(r["floor added ttft vs direct"], " µs", 0), signed(r["added ttft vs floor"], " µs"),
		verdict(median(r["added ttft vs floor"]) <= 100))
	fmt.Fprintf(&sb, "| 50-chunk stream at c=64, median time (%s chunks) | %s | %s | %s | ≤ 1.5× | %s |\n",
		spread(r["stream50 chunks"], "", 0), spread(r["stream50 gw"], " µs", 0), spread(r["stream50 floor"], " µs", 0),
		spread(r["stream50 ratio"], "×", 2), verdict(median(r["stream50 ratio"]) <= 1.5))
	for _, conc := range []int{16, 64} {
		k := fmt.Sprintf(" c=%d", conc)
		fmt.Fprintf(&sb, "| allocated per request, fast path,%s | %s, %s allocs | | | ≤ 8 KB | %s |\n", k,
			spread(scale(r["alloc gw"+k], 1.0/1024), " KiB", 1), spread(r["mallocs gw"+k], "", 0), verdict(median(r["alloc gw"+k]) <= 8000))
		fmt.Fprintf(&sb, "| allocated per request, translated,%s | %s, %s allocs | | | - | |\n", k,
			spread(scale(r["alloc translated"+k], 1.0/1024), " KiB", 1), spread(r["mallocs translated"+k], "", 0))
	}
	fmt.Fprintf(&sb, "| RSS idle (3 s after warm-up) | %s | %s | | < 25 MiB | %s |\n", mib(idleGW), mib(idleFloor), verdict(idleGW < 25*1024))
	fmt.Fprintf(&sb, "| of which anonymous (heap, stacks, written data) | %s | %s | | - | |\n", mib(idleAnonGW), mib(idleAnonFloor))
	fmt.Fprintf(&sb, "| of which file-backed (the binary's pages) | %s | %s | | - | |\n", mib(idleFileGW), mib(idleFileFloor))
	fmt.Fprintf(&sb, "| RSS peak under load | %s | %s | | < 60 MiB | %s |\n", mib(peakGW), mib(peakFloor), verdict(peakGW < 60*1024))
	fmt.Fprintf(&sb, "| anonymous RSS peak under load (sampled every 100 ms) | %s | %s | | - | |\n", mib(peakAnonGW), mib(peakAnonFloor))
	var errs float64
	for k, v := range r {
		if strings.HasPrefix(k, "errors ") {
			for _, x := range v {
				errs += x
			}
		}
	}
	fmt.Fprintf(&sb, "\nMedian p50 at c=1: direct %s µs, floor %s µs, switchyard %s µs. Failed requests over all throughput runs: %.0f.\n",
		strconvFloat(median(r["p50 direct"]), 0), strconvFloat(median(r["p50 floor"]), 0), strconvFloat(median(r["p50 gw"]), 0), errs)
	sb.WriteString("RSS counts the pages of the binary a process has touched as well as its own memory: the floor is the same\n" +
		"binary (a bench subcommand), so both carry its code and read-only data, which the kernel maps 64 KiB at a time\n" +
		"around each first touch and which every process of the binary shares; package initialisation alone touches\n" +
		"most of it. The anonymous part is the process's own.\n")
	if fi, err := os.Stat(gw.log); err == nil && gwRequests.Load() > 0 {
		fmt.Fprintf(&sb, "The gateway's log (kept, not discarded) grew by %d bytes over about %d requests (%.0f bytes per request).\n",
			fi.Size(), gwRequests.Load(), float64(fi.Size())/float64(gwRequests.Load()))
	}

	if b.long > 0 {
		s, err := b.longRun(ctx, client, fast)
		if err != nil {
			return "", fmt.Errorf("long run: %w", err)
		}
		sb.WriteString(s)
	}
	gw.stop()
	s, err := b.replicas(ctx, client, floor)
	if err != nil {
		return "", fmt.Errorf("replicas: %w", err)
	}
	sb.WriteString(s)
	return sb.String(), nil
}

// replicasOnly is the replicas section of perf without the rest, for
// -scenarios replicas: the same floor and the same table.
func (b *bench) replicasOnly(ctx context.Context) (string, error) {
	floor, stopProxy, err := b.startProxy(ctx, b.cloud.fast+"/openai")
	if err != nil {
		return "", err
	}
	defer stopProxy()
	client := newLoadClient(128, 60*time.Second)
	defer client.CloseIdleConnections()
	if _, err := latencies(ctx, client, floor, benchBody, 200, false); err != nil {
		return "", fmt.Errorf("warm-up: %w", err)
	}
	return b.replicas(ctx, client, floor)
}

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

// longRun sends b.long requests on the fast path at c=16, sampling the
// gateway's RSS, heap and goroutines every twentieth of the way.
func (b *bench) longRun(ctx context.Context, client *http.Client, t target) (string, error) {
	every := max(b.long/20, 1)
	type sample struct {
		n                   int64
		rss, anon           int64
		heap, goal, routine float64
	}
	var mu sync.Mutex
	var samples []sample
	take := func(n int64) {
		m, _, _, _ := scrape(ctx, t.admin)
		mu.Lock()
		samples = append(samples, sample{n: n, rss: rssKB(t.pid), anon: rssAnonKB(t.pid), heap: m["go_memstats_heap_alloc_bytes"], goal: m["go_memstats_next_gc_bytes"], routine: m["go_goroutines"]})
		mu.Unlock()
	}
	take(0)
	ticks := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range ticks {
			take(n)
		}
	}()
	var count, failed atomic.Int64
	fmt.Fprintf(b.env.Stderr, "bench: long run of %d requests\n", b.long)
	_, elapsed := closedLoop(ctx, client, []call{t.call(benchBody, false)}, 16, 0, b.long, func(o outcome) {
		if !o.ok() {
			failed.Add(1)
		}
		if n := count.Add(1); n%every == 0 {
			select {
			case ticks <- n:
			default:
			}
		}
	})
	close(ticks)
	<-done
	take(count.Load())
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Long run\n\n%d requests on the fast path at c=16 in %s (%d failed), sampled about every %d requests: RSS (and\n"+
		"its anonymous part, the rest being the binary's pages), heap allocated (live and not yet swept), the GC's next\n"+
		"goal (about twice the live heap after the last collection) and goroutines. Target: flat.\n\n"+
		"| requests | RSS | anonymous | heap allocated | next GC goal | goroutines |\n|---|---|---|---|---|---|\n",
		count.Load(), elapsed.Round(time.Second), failed.Load(), every)
	for _, s := range samples {
		fmt.Fprintf(&sb, "| %d | %s | %s | %.1f MiB | %.1f MiB | %.0f |\n", s.n, mib(s.rss), mib(s.anon), s.heap/(1<<20), s.goal/(1<<20), s.routine)
	}
	if len(samples) > 4 {
		// Creep: the second half's RSS against the first sample after
		// warm-up (the first fifth).
		a, z := samples[len(samples)/5], samples[len(samples)-1]
		fmt.Fprintf(&sb, "\nFrom request %d to %d: RSS %+.1f MiB (anonymous %+.1f MiB), GC goal %+.1f MiB, goroutines %+.0f.\n",
			a.n, z.n, float64(z.rss-a.rss)/1024, float64(z.anon-a.anon)/1024, (z.goal-a.goal)/(1<<20), z.routine-a.routine)
	}
	return sb.String(), nil
}

// replicas runs two gateways on one Postgres schema and one Redis, the
// load alternating between them, against the floor in interleaved rounds.
func (b *bench) replicas(ctx context.Context, client *http.Client, floor target) (string, error) {
	if b.postgres == "" || b.redis == "" {
		b.notes = append(b.notes, "Two replicas on Postgres and Redis: -postgres and -redis (or SWITCHYARD_TEST_POSTGRES_DSN and SWITCHYARD_TEST_REDIS_URL) not both set.")
		return "", nil
	}
	dsn, drop, cleanupRedis, err := b.scratchStores(ctx)
	if err != nil {
		return "", err
	}
	defer drop()
	var gws []*gwChild
	defer func() {
		// Stopped first: a gateway writes spend counters until it ends.
		for _, g := range gws {
			g.stop()
		}
		for _, g := range gws {
			cleanupRedis(g)
		}
	}()
	for i := range 2 {
		name := fmt.Sprintf("replica%d", i+1)
		var args []string
		if b.cpuProfile != "" {
			args = []string{"-cpuprofile", b.cpuProfile + "." + name}
		}
		g, err := b.startGateway(ctx, gatewayOptions{name: name, storeDSN: dsn, redisURL: b.redis, args: args})
		if err != nil {
			return "", err
		}
		gws = append(gws, g)
	}
	// Both replicas share the store: the first one's key works on both.
	key := gws[0].key
	calls := []call{{url: gws[0].url, key: key, body: benchBody}, {url: gws[1].url, key: key, body: benchBody}}
	for _, c := range calls {
		if _, err := latencies(ctx, client, target{name: "replica", url: c.url, key: key}, benchBody, 100, false); err != nil {
			return "", err
		}
	}
	r := rounds{}
	var errs atomic.Int64
	for range b.rounds {
		cpu0 := cpuTime(floor.pid)
		n, elapsed := closedLoop(ctx, client, []call{floor.call(benchBody, false)}, 16, b.duration, 0, func(outcome) {})
		fcpu := float64((cpuTime(floor.pid) - cpu0).Microseconds()) / float64(max(n, 1))
		frps := float64(n) / elapsed.Seconds()
		c0 := cpuTime(gws[0].pid) + cpuTime(gws[1].pid)
		n, elapsed = closedLoop(ctx, client, calls, 16, b.duration, 0, func(o outcome) {
			if !o.ok() {
				errs.Add(1)
			}
		})
		gcpu := float64((cpuTime(gws[0].pid) + cpuTime(gws[1].pid) - c0).Microseconds()) / float64(max(n, 1))
		r.add("floor", fcpu)
		r.add("pair", gcpu)
		r.add("ratio", gcpu/fcpu)
		r.add("rps ratio", float64(n)/elapsed.Seconds()/frps)
		r.add("rps", float64(n)/elapsed.Seconds())
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### Two replicas on Postgres and Redis\n\n"+
		"Two gateway processes with `store.driver: postgres` (a scratch schema, dropped after) and `limits.backend: redis`\n"+
		"(the run's keys deleted after), requests alternating between them at c=16, %s per round, against the floor in\n"+
		"the same rounds. CPU is both replicas' together.\n\n"+
		"| measure | two replicas | floor | vs floor | target | met |\n|---|---|---|---|---|---|\n", b.duration)
	fmt.Fprintf(&sb, "| CPU per request | %s | %s | %s | ≤ 1.6× | %s |\n", spread(r["pair"], " µs", 0), spread(r["floor"], " µs", 0),
		spread(r["ratio"], "×", 2), verdict(median(r["ratio"]) <= 1.6))
	fmt.Fprintf(&sb, "| throughput | %s | | %s | - | |\n", spread(r["rps"], " req/s", 0), spread(r["rps ratio"], "×", 2))
	fmt.Fprintf(&sb, "\nFailed requests: %d.\n", errs.Load())
	return sb.String(), nil
}
