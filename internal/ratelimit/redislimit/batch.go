package redislimit

import (
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxSending is how many round trips a batcher has out at once. A call
// that finds them all out waits for one to come back and goes in the next
// pipeline with every other call that waited meanwhile. One: a second
// round trip out split the waiting calls into twice as many pipelines
// (0.85 round trips a request between two replicas at 16 clients, against
// 0.5 with one) and gained no throughput, a script's reply taking
// microseconds of Redis's time; a lone call is still sent at once.
const maxSending = 1

// batcher runs the scripts of concurrent requests (the acquire before a
// request and the settle after it) as one pipeline when they meet, the
// group commit of a database log: a replica under load then costs Redis,
// and itself, one write and one read per batch rather than per script,
// while a lone call is sent at once, exactly as without it. Each script
// stays atomic in Redis and none waits on a clock, so the limits are
// exactly what they are one call at a time; only the system calls and
// the round trips are shared.
//
// A queued call whose ctx ends leaves the queue unsent. One already in a
// pipeline waits for its reply, which the client's timeouts bound
// (Options.Timeout), as a call sent alone would.
type batcher struct {
	c *redis.Client

	mu      sync.Mutex
	sending int          // round trips out, at most maxSending
	queue   []*batchCall // waiting for one to come back
}

// batchCall is one queued script call.
type batchCall struct {
	script *script
	args   []any // the whole command (see script.command)
	cmd    *redis.Cmd
	// done is closed when cmd holds the reply; lead when the call is to
	// send the next pipeline itself.
	done, lead chan struct{}
}

// run runs the call cmd of s (see script.command) as s.run would, in a
// pipeline with other calls when round trips are already out.
func (b *batcher) run(ctx context.Context, s *script, cmd []any) *redis.Cmd {
	b.mu.Lock()
	if b.sending < maxSending {
		b.sending++
		b.mu.Unlock()
		rc := s.run(ctx, b.c, cmd)
		b.handOff()
		return rc
	}
	c := &batchCall{script: s, args: cmd, done: make(chan struct{}), lead: make(chan struct{})}
	b.queue = append(b.queue, c)
	b.mu.Unlock()

	select {
	case <-c.done:
		return c.cmd
	case <-c.lead:
		b.send(c, true)
		return c.cmd
	case <-ctx.Done():
	}
	b.mu.Lock()
	if i := slices.Index(b.queue, c); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
		b.mu.Unlock()
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(context.Cause(ctx))
		return cmd
	}
	b.mu.Unlock()
	// Taken by a pipeline, or made to send the next one: it was not
	// sent yet in the second case, and is left out.
	select {
	case <-c.done:
	case <-c.lead:
		b.send(c, false)
		c.cmd = redis.NewCmd(ctx)
		c.cmd.SetErr(context.Cause(ctx))
	}
	return c.cmd
}

// send sends, as one pipeline, the calls queued behind leader, and
// leader's own when withLeader, then hands the round trip it held on.
func (b *batcher) send(leader *batchCall, withLeader bool) {
	b.mu.Lock()
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()
	if withLeader {
		batch = append([]*batchCall{leader}, batch...)
	}
	// The pipeline is not any one caller's: the client's own timeouts
	// bound it.
	ctx := context.Background()
	switch len(batch) {
	case 0:
	case 1:
		c := batch[0]
		c.cmd = c.script.run(ctx, b.c, c.args)
	default:
		pipe := b.c.Pipeline()
		for _, c := range batch {
			c.cmd = c.script.queue(ctx, pipe, c.args)
		}
		_, _ = pipe.Exec(ctx) // each call reads its own command's error
		for _, c := range batch {
			if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
				// Redis lost the scripts (a restart, SCRIPT FLUSH):
				// run sends them again.
				c.cmd = c.script.run(ctx, b.c, c.args)
			}
		}
	}
	for _, c := range batch {
		if c != leader {
			close(c.done)
		}
	}
	b.handOff()
}

// handOff gives back a round trip, to the first queued call if any,
// which then sends the queue.
func (b *batcher) handOff() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.sending--
		return
	}
	next := b.queue[0]
	b.queue = slices.Delete(b.queue, 0, 1)
	close(next.lead)
}
