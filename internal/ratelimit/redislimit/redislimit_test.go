package redislimit

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"switchyard/internal/outage"
	"switchyard/internal/ratelimit"
	"switchyard/internal/ratelimit/ratelimittest"
	"switchyard/internal/syncbuf"
)

const redisEnv = "SWITCHYARD_TEST_REDIS_URL"

var base = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// redisURL returns the test Redis's URL, or skips the test.
func redisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(redisEnv)
	if url == "" {
		t.Skip(redisEnv + " is not set; skipping tests against Redis (e.g. " + redisEnv + "=redis://127.0.0.1:6379/0)")
	}
	return url
}

// testPrefix returns a key prefix of its own for t, and deletes every key
// under it when t ends, so that tests and packages can share one Redis.
func testPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [8]byte
	_, _ = cryptorand.Read(b[:])
	prefix := "switchyard-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := client(t, url)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting test keys: %v", err)
		}
	})
	return prefix
}

func client(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewClient(opt)
}

// suiteTimeout is the command timeout of the limiters the semantic tests
// use: they check limits, not deadlines, on a machine that may be busy (and
// under the race detector), where the production default of milliseconds
// would turn slowness into failures.
const suiteTimeout = 5 * time.Second

func newLimiter(t testing.TB, url string, opts Options) *Limiter {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = suiteTimeout
	}
	l, err := New(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newSpend(t testing.TB, url string, opts Options) *Spend {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = suiteTimeout
	}
	s, err := NewSpend(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLimiter(t *testing.T) {
	url := redisURL(t)
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		return newLimiter(t, url, Options{Prefix: testPrefix(t, url)})
	})
}

func TestSpend(t *testing.T) {
	url := redisURL(t)
	ratelimittest.RunSpend(t, func(t *testing.T) ratelimit.Spend {
		return newSpend(t, url, Options{Prefix: testPrefix(t, url)})
	})
}

// Two replicas, each with its own connections, share one Redis: together
// they admit exactly the RPM, and a stream slot or token estimate held by
// one is seen by the other.
func TestTwoReplicas(t *testing.T) {
	url := redisURL(t)
	opts := Options{Prefix: testPrefix(t, url)}
	replicas := []*Limiter{newLimiter(t, url, opts), newLimiter(t, url, opts)}

	var wg sync.WaitGroup
	var admitted [2]atomic.Int32
	for i := range 100 {
		wg.Go(func() {
			l := replicas[i%2]
			now := base.Add(time.Duration(i) * 100 * time.Millisecond) // 10 s of traffic
			d, _, err := l.Acquire(context.Background(), now, []ratelimit.Request{
				{Scope: "tenant:shared", Limits: ratelimit.Limits{RPM: 10}},
			})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				admitted[i%2].Add(1)
			}
		})
	}
	wg.Wait()
	a, b := admitted[0].Load(), admitted[1].Load()
	if a+b != 10 {
		t.Errorf("replicas admitted %d + %d requests with RPM 10, want 10 in all", a, b)
	}

	stream := ratelimit.Request{Scope: "key:k", Limits: ratelimit.Limits{TPM: 1000, MaxStreams: 1}, EstTokens: 800, Stream: true}
	d, res, err := replicas[0].Acquire(context.Background(), base, []ratelimit.Request{stream})
	if err != nil || !d.Allowed {
		t.Fatalf("replica 0: %+v, %v", d, err)
	}
	stream.EstTokens = 0
	d, _, err = replicas[1].Acquire(context.Background(), base, []ratelimit.Request{stream})
	if err != nil || d.Allowed || d.Limit != ratelimit.LimitStreams {
		t.Errorf("replica 1 ignored replica 0's stream: %+v, %v", d, err)
	}
	stream.Stream, stream.EstTokens = false, 300
	d, _, err = replicas[1].Acquire(context.Background(), base, []ratelimit.Request{stream})
	if err != nil || d.Allowed || d.Limit != ratelimit.LimitTokens {
		t.Errorf("replica 1 ignored replica 0's token estimate: %+v, %v", d, err)
	}
	if err := res.Done(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	d, _, err = replicas[1].Acquire(context.Background(), base, []ratelimit.Request{stream})
	if err != nil || !d.Allowed || d.TokensRemaining != 600 {
		t.Errorf("after replica 0 settled 100 tokens: %+v, %v", d, err)
	}
}

// A replica that dies holding a stream slot and a token estimate does not
// hold them for ever: they are released at their deadline, ReservationTTL
// after admission, since nothing renews them.
func TestCrashedReplicaReleases(t *testing.T) {
	url := redisURL(t)
	const ttl = 90 * time.Second
	opts := Options{Prefix: testPrefix(t, url), ReservationTTL: ttl}
	crashed, survivor := newLimiter(t, url, opts), newLimiter(t, url, opts)

	req := ratelimit.Request{Scope: "key:k", Limits: ratelimit.Limits{TPM: 1000, MaxStreams: 1}, EstTokens: 800, Stream: true}
	if d, _, err := crashed.Acquire(context.Background(), base, []ratelimit.Request{req}); err != nil || !d.Allowed {
		t.Fatalf("%+v, %v", d, err)
	}
	crashed.Close() // dies without Done: no settlement, no renewal

	req.EstTokens = 300
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{
		{time.Second, false},
		{ttl - time.Microsecond, false},
		{ttl, true},
	} {
		d, res, err := survivor.Acquire(context.Background(), base.Add(c.after), []ratelimit.Request{req})
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != c.want {
			t.Errorf("%v after the crash: allowed %v, want %v (%+v)", c.after, d.Allowed, c.want, d)
		}
		if d.Allowed && d.TokensRemaining != 700 {
			t.Errorf("the crashed estimate is still counted: %+v", d)
		}
		res.Done(context.Background(), 0)
	}
}

// A live holder renews its reservation, so a request that runs longer than
// ReservationTTL keeps its slot.
func TestRenewalKeepsReservation(t *testing.T) {
	url := redisURL(t)
	const ttl = 600 * time.Millisecond
	opts := Options{Prefix: testPrefix(t, url), ReservationTTL: ttl}
	holder, other := newLimiter(t, url, opts), newLimiter(t, url, opts)
	req := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{MaxStreams: 1}, Stream: true}}

	d, res, err := holder.Acquire(context.Background(), time.Now(), req)
	if err != nil || !d.Allowed {
		t.Fatalf("%+v, %v", d, err)
	}
	time.Sleep(3 * ttl)
	if d, _, err := other.Acquire(context.Background(), time.Now(), req); err != nil || d.Allowed {
		t.Fatalf("a running stream lost its slot after %v: %+v, %v", 3*ttl, d, err)
	}
	if err := res.Done(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if d, _, err := other.Acquire(context.Background(), time.Now(), req); err != nil || !d.Allowed {
		t.Fatalf("slot not released by Done: %+v, %v", d, err)
	}
}

// Done settles even when the request's context is already canceled (the
// client went away).
func TestDoneAfterCancel(t *testing.T) {
	url := redisURL(t)
	l := newLimiter(t, url, Options{Prefix: testPrefix(t, url)})
	req := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{MaxStreams: 1}, Stream: true}}
	_, res, err := l.Acquire(context.Background(), base, req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := res.Done(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if d, _, err := l.Acquire(context.Background(), base, req); err != nil || !d.Allowed {
		t.Fatalf("slot not released: %+v, %v", d, err)
	}
}

// Nothing the limiter or the spend counters write lives for ever.
func TestEveryKeyHasTTL(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	l := newLimiter(t, url, Options{Prefix: prefix})
	s := newSpend(t, url, Options{Prefix: prefix})
	ctx := context.Background()

	req := ratelimit.Request{Scope: "key:k", Limits: ratelimit.Limits{RPM: 5, TPM: 100, MaxStreams: 2}, EstTokens: 10, Stream: true}
	for i := range 3 {
		_, res, err := l.Acquire(ctx, base.Add(time.Duration(i)*time.Second), []ratelimit.Request{req})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			res.Done(ctx, 20)
		}
	}
	if err := s.Add(ctx, base, []string{"key:k", "tenant:t"}, 1.5); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, base, ratelimit.Budget{Scope: "key:new", LimitUSD: 1, Period: ratelimit.PeriodMonth}, 0.5); err != nil {
		t.Fatal(err)
	}
	_, _, res, err := l.AcquireBudgets(ctx, base, []ratelimit.Request{{Scope: "key:d", Limits: ratelimit.Limits{TPM: 100}, EstTokens: 10}},
		[]ratelimit.Budget{{Scope: "key:d", LimitUSD: 1, Period: ratelimit.PeriodDay}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.(ratelimit.SpendReservation).DoneSpend(ctx, 5, base, []string{"key:d"}, 0.25); err != nil {
		t.Fatal(err)
	}

	c := client(t, url)
	defer c.Close()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 4+3*2+1+2+3 {
		t.Errorf("only %d keys written: %v", len(keys), keys)
	}
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("key %s has no TTL (%v)", strings.TrimPrefix(k, prefix), ttl)
		}
	}
}

// Redis and Memory make the same decisions, to the microsecond, over long
// random sequences of requests, settlements and interleaved clocks.
func TestMatchesMemory(t *testing.T) {
	url := redisURL(t)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed_", seed), func(t *testing.T) {
			t.Parallel()
			r := newLimiter(t, url, Options{Prefix: testPrefix(t, url), ReservationTTL: time.Hour})
			compareLimiters(t, seed, ratelimit.NewMemory(), r)
		})
	}
}

func compareLimiters(t *testing.T, seed uint64, a, b ratelimit.Limiter) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	limits := map[string]ratelimit.Limits{
		"key:a":    {RPM: 6, TPM: 500},
		"key:b":    {RPM: 3, MaxStreams: 2},
		"tenant:t": {RPM: 8, TPM: 900, MaxStreams: 3},
		"tenant:u": {TPM: 300},
	}
	names := []string{"key:a", "key:b", "tenant:t", "tenant:u"}
	type held struct{ a, b ratelimit.Reservation }
	var running []held
	now := base
	for step := range 400 {
		if len(running) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(running))
			h := running[i]
			running = append(running[:i], running[i+1:]...)
			actual := rng.Int64N(200)
			if err := errors.Join(h.a.Done(ctx, actual), h.b.Done(ctx, actual)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// Mostly forward, sometimes a little back (another replica's clock).
		now = now.Add(time.Duration(rng.Int64N(int64(4*time.Second))) - 500*time.Millisecond).Truncate(time.Millisecond)
		var reqs []ratelimit.Request
		for _, n := range names {
			if rng.IntN(2) == 0 {
				reqs = append(reqs, ratelimit.Request{Scope: n, Limits: limits[n], EstTokens: rng.Int64N(150), Stream: rng.IntN(3) == 0})
			}
		}
		rng.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
		da, ra, err := a.Acquire(ctx, now, reqs)
		if err != nil {
			t.Fatal(err)
		}
		db, rb, err := b.Acquire(ctx, now, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(da, db); diff != "" {
			t.Fatalf("step %d at %v, %+v (-memory +redis):\n%s", step, now.Sub(base), reqs, diff)
		}
		if da.Allowed {
			running = append(running, held{ra, rb})
		}
	}
}

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0?dial_timeout=200ms"
}

// silentURL returns the URL of a Redis that accepts connections and never
// answers, as one behind a network that swallows packets looks.
func silentURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "redis://" + ln.Addr().String() + "/0"
}

// TestSilentRedis: against a Redis that never answers, every call returns
// a timeout: after Options.Timeout, which replaces the URL's own timeouts
// (an hour here, so a call that waited for them would hang the test), or
// at the caller's ctx deadline when that comes first (go-redis ignores
// ctx deadlines unless told otherwise).
func TestSilentRedis(t *testing.T) {
	const hour = "?dial_timeout=1h&read_timeout=1h&write_timeout=1h&pool_timeout=1h"
	url := silentURL(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration // 0: no deadline
	}{
		{"options_timeout", 30 * time.Millisecond, 0},
		{"ctx_deadline", time.Hour, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(url+hour, Options{Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			s, err := NewSpend(url+hour, Options{Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := func() context.Context {
				if tc.ctx == 0 {
					return context.Background()
				}
				ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
				t.Cleanup(cancel)
				return ctx
			}
			timedOut := func(err error) bool {
				var nerr net.Error
				return errors.As(err, &nerr) && nerr.Timeout() || errors.Is(err, context.DeadlineExceeded)
			}
			req := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 1}}}
			if _, _, err := l.Acquire(ctx(), base, req); !timedOut(err) {
				t.Errorf("Acquire: %v, want a timeout", err)
			}
			if err := l.Ping(ctx()); !timedOut(err) {
				t.Errorf("Ping: %v, want a timeout", err)
			}
			budget := []ratelimit.Budget{{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}}
			if _, _, err := s.Check(ctx(), base, budget); !timedOut(err) {
				t.Errorf("Check: %v, want a timeout", err)
			}
			if err := s.Add(ctx(), base, []string{"key:k"}, 1); !timedOut(err) {
				t.Errorf("Add: %v, want a timeout", err)
			}
		})
	}
}

// switchable is a Limiter whose backend the test replaces, as Redis going
// away and coming back would.
type switchable struct {
	cur atomic.Pointer[ratelimit.Limiter]
}

func (s *switchable) set(l ratelimit.Limiter) { s.cur.Store(&l) }

// ping probes the current backend: a Limiter's Ping, or nothing.
func (s *switchable) ping(ctx context.Context) error {
	if p, ok := (*s.cur.Load()).(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (s *switchable) Acquire(ctx context.Context, now time.Time, reqs []ratelimit.Request) (ratelimit.Decision, ratelimit.Reservation, error) {
	return (*s.cur.Load()).Acquire(ctx, now, reqs)
}

type switchableSpend struct {
	cur atomic.Pointer[ratelimit.Spend]
}

func (s *switchableSpend) set(sp ratelimit.Spend) { s.cur.Store(&sp) }

func (s *switchableSpend) ping(ctx context.Context) error {
	if p, ok := (*s.cur.Load()).(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

// waitClosed waits, up to a bound, for a breaker to close after its
// backend came back.
func waitClosed(t *testing.T, stats func() outage.Stats) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); stats().Open; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the breaker did not close after the backend came back: %+v", stats())
		}
	}
}

func (s *switchableSpend) Check(ctx context.Context, now time.Time, b []ratelimit.Budget) (bool, *ratelimit.Budget, error) {
	return (*s.cur.Load()).Check(ctx, now, b)
}

func (s *switchableSpend) Add(ctx context.Context, now time.Time, scopes []string, usd float64) error {
	return (*s.cur.Load()).Add(ctx, now, scopes, usd)
}

func (s *switchableSpend) Seed(ctx context.Context, now time.Time, b ratelimit.Budget, usd float64) error {
	return (*s.cur.Load()).Seed(ctx, now, b, usd)
}

// logLines counts the records logged at each level.
func logLines(buf *syncbuf.Buffer) map[string]int {
	n := map[string]int{}
	for line := range strings.Lines(buf.String()) {
		for _, lv := range []string{"ERROR", "WARN", "INFO"} {
			if strings.Contains(line, "level="+lv) {
				n[lv]++
			}
		}
	}
	return n
}

// With Redis unreachable, the wrapped limiter fails open or closed as
// configured, logs the incident once, and recovers by itself once a working
// backend answers.
func TestResilientWithRedisDown(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		name := "fail_closed"
		if failOpen {
			name = "fail_open"
		}
		t.Run(name, func(t *testing.T) {
			down, err := New(closedURL(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer down.Close()
			var inner switchable
			inner.set(down)
			var buf syncbuf.Buffer
			l := ratelimit.NewResilient(&inner, ratelimit.ResilientOptions{FailOpen: failOpen, Probe: inner.ping,
				Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			defer l.Close()
			req := []ratelimit.Request{{Scope: "key:k", Limits: ratelimit.Limits{RPM: 1}}}

			for i := range 10 {
				d, res, err := l.Acquire(context.Background(), base.Add(time.Duration(i)*300*time.Millisecond), req)
				if err != nil {
					t.Fatal(err)
				}
				want := ratelimit.Decision{Allowed: true}
				if !failOpen {
					want = ratelimit.Decision{Limit: ratelimit.LimitUnavailable, RetryAfter: ratelimit.ProbeInterval}
				}
				if diff := cmp.Diff(want, d); diff != "" {
					t.Errorf("call %d while down (-want +got):\n%s", i, diff)
				}
				if err := res.Done(context.Background(), 5); err != nil {
					t.Error(err)
				}
			}
			if got := logLines(&buf); !cmp.Equal(got, map[string]int{"ERROR": 1}) {
				t.Errorf("logged %v during one incident, want one error:\n%s", got, buf.String())
			}

			inner.set(ratelimit.NewMemory()) // Redis is back
			waitClosed(t, l.Stats)
			now := base.Add(10 * time.Second)
			d, _, err := l.Acquire(context.Background(), now, req)
			if err != nil || !d.Allowed || d.RequestsLimit != 1 {
				t.Fatalf("first call after recovery: %+v, %v", d, err)
			}
			d, _, err = l.Acquire(context.Background(), now, req)
			if err != nil || d.Allowed || d.Limit != ratelimit.LimitRequests {
				t.Fatalf("the limit is not enforced again after recovery: %+v, %v", d, err)
			}
			if got := logLines(&buf); !cmp.Equal(got, map[string]int{"ERROR": 1, "INFO": 1}) {
				t.Errorf("logged %v, want one error and one recovery:\n%s", got, buf.String())
			}
		})
	}
}

func TestResilientSpendWithRedisDown(t *testing.T) {
	down, err := NewSpend(closedURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	var inner switchableSpend
	inner.set(down)
	var buf syncbuf.Buffer
	s := ratelimit.NewResilientSpend(&inner, ratelimit.ResilientOptions{Probe: inner.ping,
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	defer s.Close()
	ctx := context.Background()
	budget := []ratelimit.Budget{{Scope: "key:k", LimitUSD: 1, Period: ratelimit.PeriodDay}}

	if _, _, err := s.Check(ctx, base, budget); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("Check while down: %v, want ErrUnavailable", err)
	}
	if err := s.Add(ctx, base.Add(time.Second), []string{"key:k"}, 0.75); err != nil {
		t.Fatalf("Add while down: %v", err)
	}
	if err := s.Add(ctx, base.Add(2*time.Second), []string{"key:k"}, 0.25); err != nil {
		t.Fatalf("Add while down: %v", err)
	}

	if err := s.Add(ctx, base.Add(2*time.Second), []string{"key:k"}, 0.5); err != nil {
		t.Fatalf("Add while down: %v", err)
	}
	if !s.Stats().Open {
		t.Fatalf("the breaker is not open after %d failures: %+v", outage.DefaultTrip, s.Stats())
	}

	inner.set(ratelimit.NewMemorySpend())
	waitClosed(t, s.Stats)
	// The probe succeeded and replayed the spend made while down.
	if ok, exhausted, err := s.Check(ctx, base.Add(5*time.Second), budget); err != nil || ok || exhausted == nil {
		t.Errorf("spend made while Redis was down was lost: ok=%v exhausted=%v err=%v", ok, exhausted, err)
	}
	if got := logLines(&buf); !cmp.Equal(got, map[string]int{"ERROR": 1, "INFO": 2}) {
		t.Errorf("logged %v, want one error, one recovery, one replay:\n%s", got, buf.String())
	}
}

func BenchmarkRedisAcquire(b *testing.B) {
	url := redisURL(b)
	l := newLimiter(b, url, Options{Prefix: testPrefix(b, url)})
	reqs := []ratelimit.Request{
		{Scope: "key:bench", Limits: ratelimit.Limits{RPM: 1 << 30, TPM: 1 << 30}, EstTokens: 100},
		{Scope: "tenant:bench", Limits: ratelimit.Limits{RPM: 1 << 30, TPM: 1 << 30}, EstTokens: 100},
	}
	ctx := context.Background()
	now := base
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		_, res, err := l.Acquire(ctx, now, reqs)
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Done(ctx, 120); err != nil {
			b.Fatal(err)
		}
	}
}

// A burst's entries leave the window together; one call forgets at most
// a bounded number of them (so that no call holds Redis for long), and
// the decisions stay those of Memory while the rest waits: the requests
// left over are counted out, and their settled tokens are summed when
// the decision turns on them.
func TestBurstLeavesTheWindowInBoundedSteps(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	prefix := testPrefix(t, url)
	r := newLimiter(t, url, Options{Prefix: prefix, ReservationTTL: time.Hour})
	m := ratelimit.NewMemory()
	const burst = 600
	limits := ratelimit.Limits{RPM: 1000, TPM: 7000}
	req := func(est int64) []ratelimit.Request {
		return []ratelimit.Request{{Scope: "key:burst", Limits: limits, EstTokens: est}}
	}
	both := func(now time.Time, est int64, settle int64) (ratelimit.Decision, ratelimit.Decision) {
		t.Helper()
		dm, rm, err := m.Acquire(ctx, now, req(est))
		if err != nil {
			t.Fatal(err)
		}
		dr, rr, err := r.Acquire(ctx, now, req(est))
		if err != nil {
			t.Fatal(err)
		}
		if dm.Allowed && settle >= 0 {
			if err := errors.Join(rm.Done(ctx, settle), rr.Done(ctx, settle)); err != nil {
				t.Fatal(err)
			}
		}
		return dm, dr
	}
	for i := range burst {
		if dm, dr := both(base.Add(time.Duration(i)*time.Microsecond), 10, 10); !dm.Allowed || !dr.Allowed {
			t.Fatalf("burst request %d: memory %+v, redis %+v", i, dm, dr)
		}
	}
	c := client(t, url)
	card := func(kind string) int64 {
		n, err := c.ZCard(ctx, prefix+"rl:"+kind+":key:burst").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if card("r") != burst || card("t") != burst {
		t.Fatalf("after the burst the logs hold %d and %d entries, want %d", card("r"), card("t"), burst)
	}
	// A minute later the whole burst has left the window. 6500 tokens fit
	// in 7000 only if none of the burst's 6000 settled tokens is counted.
	later := base.Add(61 * time.Second)
	dm, dr := both(later, 6500, -1)
	if !dm.Allowed || dm.Allowed != dr.Allowed || dm.RetryAfter != dr.RetryAfter {
		t.Fatalf("after the window: memory %+v, redis %+v", dm, dr)
	}
	if got := card("r"); got != burst-256+1 {
		t.Errorf("the first call after the window left %d entries in the request log, want %d (the burst less 256, and itself)", got, burst-256+1)
	}
	if got := card("t"); got != burst-256 {
		t.Errorf("the first call after the window left %d entries in the token log, want %d", got, burst-256)
	}
	// The next calls forget the rest, still deciding as Memory does: 600
	// tokens more would pass 7000 with the 6500 held.
	for i := range 3 {
		dm, dr := both(later.Add(time.Duration(i+1)*time.Millisecond), 600, -1)
		if dm.Allowed != dr.Allowed || dm.RetryAfter != dr.RetryAfter || dm.Limit != dr.Limit {
			t.Fatalf("call %d: memory %+v, redis %+v", i, dm, dr)
		}
	}
	if got := card("t"); got != 0 {
		t.Errorf("after three more calls the token log holds %d of the burst's entries, want 0", got)
	}
}

// The caches of scopes' keys stay bounded however many scopes pass, and
// give every scope its own keys.
func TestKeyCachesBounded(t *testing.T) {
	l, err := New("redis://127.0.0.1:1/0", Options{Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 * maxCachedScopes {
		scope := "key:" + strconv.Itoa(i)
		if k := l.keysOf(scope); k.hash != "p:rl:h:"+scope || k.requests != "p:rl:r:"+scope {
			t.Fatalf("keysOf(%q) = %+v", scope, k)
		}
		if k := l.spendKeyOf(base, scope, ratelimit.PeriodDay); k != spendKey("p:", base, scope, ratelimit.PeriodDay) {
			t.Fatalf("spendKeyOf(%q) = %v", scope, k)
		}
	}
	if n, m := len(l.scopes), len(l.spendKeys); n > maxCachedScopes || m > maxCachedScopes {
		t.Errorf("caches hold %d and %d entries, want at most %d", n, m, maxCachedScopes)
	}
}
