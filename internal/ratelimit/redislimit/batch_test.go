package redislimit

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// echoScript answers its argument, so that each call can see it got its
// own reply.
var echoScript = newScript(`return ARGV[1]`)

// echo is a call of echoScript.
func echo(arg string) []any { return append(echoScript.command(0, 1), arg) }

// scriptTrips counts the round trips that carry scripts, and the
// scripts in them; a new connection's handshake is not counted.
type scriptTrips struct{ roundTrips }

func (h *scriptTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isScript(cmd) {
			h.trips.Add(1)
			h.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *scriptTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, c := range cmds {
			if isScript(c) {
				n++
			}
		}
		if n > 0 {
			h.trips.Add(1)
			h.cmds.Add(int64(n))
		}
		return next(ctx, cmds)
	}
}

func isScript(c redis.Cmder) bool {
	switch c.Name() {
	case "evalsha", "eval":
		return true
	}
	return false
}

// holdRoundTrips marks every round trip of l's batcher as out, as if
// other requests were waiting on Redis, so that the next calls queue.
func holdRoundTrips(l *Limiter) {
	l.b.mu.Lock()
	l.b.sending = maxSending
	l.b.mu.Unlock()
}

// waitQueued waits until n calls are queued in l's batcher.
func waitQueued(l *Limiter, n int) {
	for {
		l.b.mu.Lock()
		q := len(l.b.queue)
		l.b.mu.Unlock()
		if q == n {
			return
		}
		runtime.Gosched()
	}
}

// Calls that arrive while every round trip is out wait, and go together
// in one pipeline when one comes back, each with its own reply.
func TestBatcher_PipelinesQueuedCalls(t *testing.T) {
	url := redisURL(t)
	l := newLimiter(t, url, Options{Prefix: testPrefix(t, url)})
	ctx := context.Background()
	if err := l.c.ScriptLoad(ctx, echoScript.src).Err(); err != nil {
		t.Fatal(err)
	}
	h := &scriptTrips{}
	l.c.AddHook(h)

	holdRoundTrips(l)
	const n = 5
	var got [n]string
	var errs [n]error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = l.b.run(ctx, echoScript, echo(strconv.Itoa(i))).Text() })
	}
	waitQueued(l, n)
	if trips, _ := h.reset(); trips != 0 {
		t.Fatalf("%d round trips while every one was out, want none", trips)
	}
	l.b.handOff() // one comes back
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != strconv.Itoa(i) {
			t.Errorf("call %d: %q, %v; want its own reply %q", i, got[i], errs[i], strconv.Itoa(i))
		}
	}
	if trips, cmds := h.reset(); trips != 1 || cmds != n {
		t.Errorf("%d round trips, %d commands; want 1 pipeline of %d", trips, cmds, n)
	}
	l.b.mu.Lock()
	sending, queued := l.b.sending, len(l.b.queue)
	l.b.mu.Unlock()
	if sending != maxSending-1 || queued != 0 {
		t.Errorf("after the pipeline: %d round trips out, %d queued; want %d and 0", sending, queued, maxSending-1)
	}
}

// A queued call whose context ends returns at once with its error and is
// never sent: a request that gave up holds nothing in Redis.
func TestBatcher_CancelledWhileQueued(t *testing.T) {
	url := redisURL(t)
	l := newLimiter(t, url, Options{Prefix: testPrefix(t, url)})
	h := &scriptTrips{}
	l.c.AddHook(h)

	holdRoundTrips(l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.b.run(ctx, echoScript, echo("x")).Err() }()
	waitQueued(l, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled", err)
	}
	for range maxSending {
		l.b.handOff()
	}
	if trips, _ := h.reset(); trips != 0 {
		t.Errorf("%d round trips for a call cancelled in the queue, want none", trips)
	}
	l.b.mu.Lock()
	sending, queued := l.b.sending, len(l.b.queue)
	l.b.mu.Unlock()
	if sending != 0 || queued != 0 {
		t.Errorf("%d round trips out, %d queued; want none", sending, queued)
	}
}

// A script Redis does not have (a restart or SCRIPT FLUSH lost it) is
// sent again with its source, alone or in a pipeline, and answers as if it
// had been loaded.
func TestBatcher_ScriptNotLoaded(t *testing.T) {
	url := redisURL(t)
	l := newLimiter(t, url, Options{Prefix: testPrefix(t, url)})
	ctx := context.Background()
	// A source of its own, which no other test has loaded.
	fresh := func() *script {
		var b [8]byte
		_, _ = cryptorand.Read(b[:])
		return newScript("-- " + hex.EncodeToString(b[:]) + "\nreturn ARGV[1]")
	}
	call := func(s *script, arg string) []any { return append(s.command(0, 1), arg) }

	s := fresh()
	if got, err := l.b.run(ctx, s, call(s, "alone")).Text(); err != nil || got != "alone" {
		t.Errorf("unloaded script sent alone: %q, %v; want %q", got, err, "alone")
	}

	s = fresh()
	holdRoundTrips(l)
	const n = 3
	var got [n]string
	var errs [n]error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = l.b.run(ctx, s, call(s, strconv.Itoa(i))).Text() })
	}
	waitQueued(l, n)
	l.b.handOff()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != strconv.Itoa(i) {
			t.Errorf("unloaded script in a pipeline, call %d: %q, %v; want %q", i, got[i], errs[i], strconv.Itoa(i))
		}
	}
}
