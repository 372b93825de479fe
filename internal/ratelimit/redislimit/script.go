package redislimit

import (
	"context"
	"slices"

	"github.com/redis/go-redis/v9"
)

// script is a Lua script whose calls are built by their callers as the
// whole EVALSHA command, keys and arguments in one slice (see command),
// where redis.Script copies them into a new one on every call and boxes
// each key again: a governed request's two calls cost dozens of
// allocations fewer, and a scope's keys are boxed once (see scopeKeys).
type script struct {
	src string
	sha any // the SHA-1 Redis names the script by, boxed once
}

func newScript(src string) *script {
	return &script{src: src, sha: redis.NewScript(src).Hash()}
}

// command returns the start of a call of s with numKeys keys and room for
// size keys and arguments after it; the caller appends the keys, then the
// arguments.
func (s *script) command(numKeys, size int) []any {
	cmd := make([]any, 3, 3+size)
	cmd[0], cmd[1], cmd[2] = "evalsha", s.sha, numKeys
	return cmd
}

// processor is a client, which sends a command, or a pipeline, which
// queues it.
type processor interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// queue gives the call cmd (see command) to c.
func (s *script) queue(ctx context.Context, c processor, cmd []any) *redis.Cmd {
	rc := redis.NewCmd(ctx, cmd...)
	rc.SetFirstKeyPos(3)
	_ = c.Process(ctx, rc) // the error is rc's
	return rc
}

// run sends the call cmd (see command) as script.Run would: by SHA-1, and
// with the script's source if Redis lost it (a restart, SCRIPT FLUSH).
func (s *script) run(ctx context.Context, c processor, cmd []any) *redis.Cmd {
	rc := s.queue(ctx, c, cmd)
	if redis.HasErrorPrefix(rc.Err(), "NOSCRIPT") {
		rc = s.queue(ctx, c, s.eval(cmd))
	}
	return rc
}

// eval returns cmd with the script's source in place of its SHA-1.
func (s *script) eval(cmd []any) []any {
	cmd = slices.Clone(cmd)
	cmd[0], cmd[1] = "eval", s.src
	return cmd
}
