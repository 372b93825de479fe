package app

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store/sqlstore"
)

// tripCounter is a TCP proxy that counts the round trips its clients make
// to the server behind it: on each connection, a round trip begins when
// the client sends after the server last spoke (or first). A pipeline, or
// a batch of statements written at once, is one round trip; the protocol
// does not matter, so it counts Redis and Postgres alike, and whatever
// the client library.
type tripCounter struct {
	ln     net.Listener
	target string
	trips  atomic.Int64
	wg     sync.WaitGroup
}

func newTripCounter(t *testing.T, target string) *tripCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tripCounter{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *tripCounter) addr() string { return p.ln.Addr().String() }

func (p *tripCounter) accept() {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		conns.Go(func() { p.serve(c) })
	}
}

// serve relays one connection, counting the client's turns to speak.
func (p *tripCounter) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var serverSpoke atomic.Bool
	serverSpoke.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				serverSpoke.Store(true)
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if serverSpoke.Swap(false) {
				p.trips.Add(1)
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break // the client is gone, or the server
		}
	}
	server.Close()
	<-done
}

// replicaSyscalls is the read and write system calls (/proc/PID/io's
// syscr and syscw) the replicas have made, 0 where Linux does not say.
func replicaSyscalls(rs []*replica) int64 {
	var n int64
	for _, r := range rs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", r.cmd.Process.Pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			if k == "syscr" || k == "syscw" {
				x, _ := strconv.ParseInt(v, 10, 64)
				n += x
			}
		}
	}
	return n
}

// replicaMallocs is the heap allocations the replicas have made, from
// their admin listeners' /metrics (go_memstats_mallocs_total).
func replicaMallocs(t *testing.T, rs []*replica) float64 {
	t.Helper()
	var n float64
	for _, r := range rs {
		vals, _, _, err := scrape(t.Context(), "http://"+r.admin)
		if err != nil {
			t.Fatal(err)
		}
		n += vals["go_memstats_mallocs_total"]
	}
	return n
}

// withHost returns the URL u with its host:port replaced by addr.
func withHost(t *testing.T, u, addr string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	parsed.Host = addr
	return parsed.String()
}

// TestReplicas_RoundTripsPerRequest counts the round trips two replicas on
// Postgres and Redis make per request, through counting proxies, over
// sequential requests alternating between them with a key that has RPM,
// TPM and a budget, as the bench's: one to Redis to admit (every limit and
// budget, key and tenant, in one script) and one to settle, and no
// Postgres round trip on the request path (the key is cached, last use
// and the ledger are written in batches).
func TestReplicas_RoundTripsPerRequest(t *testing.T) {
	c := newCluster(t, sqlstore.DriverPostgres, "redis")
	redisURL, dsn := os.Getenv("SWITCHYARD_TEST_REDIS_URL"), c.dsn
	ru, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	rp, pp := newTripCounter(t, ru.Host), newTripCounter(t, pu.Host)
	cfg := strings.Replace(c.cfg, "redis_url: "+redisURL, "redis_url: "+withHost(t, redisURL, rp.addr()), 1)
	env := make([]string, 0, len(c.env))
	for _, e := range c.env {
		if strings.HasPrefix(e, "TEST_STORE_DSN=") {
			e = "TEST_STORE_DSN=" + withHost(t, dsn, pp.addr())
		}
		env = append(env, e)
	}
	replicas := []*replica{startReplica(t, cfg, env), startReplica(t, cfg, env)}
	key := c.key(t, admin.KeySpec{Limits: admin.Limits{RPM: 1_000_000, TPM: 1_000_000_000, BudgetUSD: 1_000_000, BudgetPeriod: "month"}})
	// Warm-up: the key is looked up and cached, budgets seeded, scripts
	// loaded, connections opened.
	for i := range 10 {
		if code := chatOnce(replicas[i%2].addr, key, fmt.Sprintf("warm %d", i)); code != 200 {
			t.Fatalf("warm-up request: status %d", code)
		}
	}
	// Nothing runs in between: the ledger's batch of the warm-up is out.
	time.Sleep(1500 * time.Millisecond)
	const n = 200
	r0, p0 := rp.trips.Load(), pp.trips.Load()
	start := time.Now()
	for i := range n {
		if code := chatOnce(replicas[i%2].addr, key, fmt.Sprintf("count %d", i)); code != 200 {
			t.Fatalf("request %d: status %d", i, code)
		}
	}
	elapsed := time.Since(start)
	redisTrips, pgTrips := rp.trips.Load()-r0, pp.trips.Load()-p0
	perRedis, perPG := float64(redisTrips)/n, float64(pgTrips)/n
	t.Logf("%d requests in %v: %d round trips to Redis (%.2f a request), %d to Postgres (%.2f a request)",
		n, elapsed.Round(time.Millisecond), redisTrips, perRedis, pgTrips, perPG)
	// Each replica's background work (the ledger's batch every second,
	// last-used batches, the key cache's refresh, reservations' renewals)
	// adds a handful of round trips a second, whatever the load.
	background := 20 * (elapsed.Seconds() + 1)
	if limit := 2*n + background; float64(redisTrips) > limit {
		t.Errorf("%d round trips to Redis for %d requests, want at most 2 a request and %.0f in the background", redisTrips, n, background)
	}
	if float64(pgTrips) > background {
		t.Errorf("%d round trips to Postgres for %d requests, want none on the request path (at most %.0f in the background)", pgTrips, n, background)
	}

	// Under load, as the bench's 16 clients: concurrent requests share
	// pipelines, so there are fewer round trips than requests' scripts.
	const clients, each = 16, 100
	r0, p0 = rp.trips.Load(), pp.trips.Load()
	sys0, cpu0 := replicaSyscalls(replicas), cpuTime(replicas[0].cmd.Process.Pid)+cpuTime(replicas[1].cmd.Process.Pid)
	mallocs0 := replicaMallocs(t, replicas)
	start = time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range clients {
		wg.Go(func() {
			for i := range each {
				if chatOnce(replicas[(w+i)%2].addr, key, fmt.Sprintf("load %d %d", w, i)) != 200 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	sys := replicaSyscalls(replicas) - sys0
	mallocs := replicaMallocs(t, replicas) - mallocs0
	cpu := cpuTime(replicas[0].cmd.Process.Pid) + cpuTime(replicas[1].cmd.Process.Pid) - cpu0
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d requests failed under load", f)
	}
	redisTrips, pgTrips = rp.trips.Load()-r0, pp.trips.Load()-p0
	t.Logf("%d requests from %d clients in %v: %d round trips to Redis (%.2f a request), %d to Postgres (%.2f a request); "+
		"the replicas made %.1f read and write system calls and %.0f allocations and used %.0f µs of CPU a request",
		clients*each, clients, elapsed.Round(time.Millisecond), redisTrips, float64(redisTrips)/(clients*each), pgTrips, float64(pgTrips)/(clients*each),
		float64(sys)/(clients*each), mallocs/(clients*each), float64(cpu.Microseconds())/(clients*each))
	background = 20 * (elapsed.Seconds() + 1)
	// Each replica has one round trip to Redis out at a time, and the
	// scripts of the requests that arrive meanwhile wait and go together
	// in the next: about half a round trip a request here (0.85 when two
	// could be out at once).
	if limit := 0.7*clients*each + background; float64(redisTrips) > limit {
		t.Errorf("%d round trips to Redis for %d requests under load, want at most 0.7 a request and %.0f in the background", redisTrips, clients*each, background)
	}
	if float64(pgTrips) > background {
		t.Errorf("%d round trips to Postgres for %d requests under load, want none on the request path (at most %.0f in the background)", pgTrips, clients*each, background)
	}
}
