package ratelimit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/ratelimit"
)

// model is a brute-force limiter: plain lists, scanned in full on every
// call. Like every backend, a scope's records are pruned only by calls that
// touch the scope.
type model struct {
	clock    int64
	requests map[string][]int64
	settled  map[string][][2]int64 // at, tokens
	inFlight map[string]int64
	streams  map[string]int
}

type modelHold struct {
	at    int64
	scope []ratelimit.Request
	done  bool
}

func newModel() *model {
	return &model{
		clock:    -1 << 63,
		requests: map[string][]int64{},
		settled:  map[string][][2]int64{},
		inFlight: map[string]int64{},
		streams:  map[string]int{},
	}
}

func (m *model) acquire(now time.Time, reqs []ratelimit.Request) (ratelimit.Decision, *modelHold) {
	at := now.UnixMicro()
	m.clock = max(m.clock, at)
	cutoff := at - ratelimit.Window.Microseconds()
	states := make([]ratelimit.ScopeState, len(reqs))
	for i, r := range reqs {
		if !r.Tracked() {
			continue
		}
		m.requests[r.Scope] = slices.DeleteFunc(m.requests[r.Scope], func(t int64) bool { return t <= cutoff })
		m.settled[r.Scope] = slices.DeleteFunc(m.settled[r.Scope], func(e [2]int64) bool { return e[0] <= cutoff })
		reqTimes := slices.Sorted(slices.Values(m.requests[r.Scope]))
		settled := slices.SortedStableFunc(slices.Values(m.settled[r.Scope]), func(a, b [2]int64) int { return int(a[0] - b[0]) })

		st := &states[i]
		st.Requests = len(reqTimes)
		if n := len(reqTimes); n > 0 {
			st.RequestsNewest = time.UnixMicro(reqTimes[n-1])
			if rpm := r.Limits.RPM; rpm > 0 && n >= rpm {
				st.RequestsFree = time.UnixMicro(reqTimes[n-rpm] + ratelimit.Window.Microseconds())
			}
		}
		var sum int64
		for _, e := range settled {
			sum += e[1]
		}
		st.InFlight = m.inFlight[r.Scope]
		st.Tokens = sum + st.InFlight
		st.Streams = m.streams[r.Scope]
		if n := len(settled); n > 0 {
			st.SettledNewest = time.UnixMicro(settled[n-1][0])
		}
		if tpm := int64(r.Limits.TPM); tpm > 0 && r.EstTokens <= tpm && st.Tokens+r.EstTokens > tpm {
			var acc int64
			for _, e := range settled {
				if acc += e[1]; acc >= st.Tokens+r.EstTokens-tpm {
					st.TokensFree = time.UnixMicro(e[0] + ratelimit.Window.Microseconds())
					break
				}
			}
		}
	}
	d := ratelimit.Decide(now, reqs, states)
	if !d.Allowed {
		return d, nil
	}
	h := &modelHold{at: at}
	for _, r := range reqs {
		if !r.Tracked() {
			continue
		}
		if r.Limits.RPM > 0 {
			m.requests[r.Scope] = append(m.requests[r.Scope], at)
		}
		if r.Limits.TPM > 0 {
			m.inFlight[r.Scope] += r.EstTokens
		}
		if r.Stream && r.Limits.MaxStreams > 0 {
			m.streams[r.Scope]++
		}
		h.scope = append(h.scope, r)
	}
	return d, h
}

func (m *model) done(h *modelHold, actual int64) {
	if h.done {
		return
	}
	h.done = true
	at := max(h.at, m.clock)
	for _, r := range h.scope {
		if r.Limits.TPM > 0 {
			m.inFlight[r.Scope] -= r.EstTokens
			if actual > 0 {
				m.settled[r.Scope] = append(m.settled[r.Scope], [2]int64{at, actual})
			}
		}
		if r.Stream && r.Limits.MaxStreams > 0 {
			m.streams[r.Scope]--
		}
	}
}

// FuzzMemory checks Memory against the brute-force model over arbitrary
// sequences of requests, settlements and clocks that go back a little.
func FuzzMemory(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{0, 7, 50, 1, 0, 7, 50, 1, 2, 0, 90, 3, 200, 0, 7, 255, 1, 2, 1, 0})
	f.Add(slices.Repeat([]byte{1, 3, 40, 20}, 40))
	f.Add(slices.Repeat([]byte{0, 5, 120, 0, 2, 0, 30, 3, 255}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		scopes := []ratelimit.Request{
			{Scope: "key:a", Limits: ratelimit.Limits{RPM: 3, TPM: 200}},
			{Scope: "key:b", Limits: ratelimit.Limits{RPM: 5, MaxStreams: 2}},
			{Scope: "tenant:t", Limits: ratelimit.Limits{TPM: 100, MaxStreams: 1}},
		}
		lim, mod := ratelimit.NewMemory(), newModel()
		type both struct {
			res ratelimit.Reservation
			h   *modelHold
		}
		var held []both
		now := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		for step := 0; len(ops) > 0; step++ {
			switch op := next(); op % 4 {
			case 0, 1:
				mask, est, flags := next(), next(), next()
				var reqs []ratelimit.Request
				for i, s := range scopes {
					if mask&(1<<i) != 0 {
						s.EstTokens = int64(est)
						s.Stream = flags&(1<<i) != 0
						reqs = append(reqs, s)
					}
				}
				got, res, err := lim.Acquire(context.Background(), now, reqs)
				if err != nil {
					t.Fatal(err)
				}
				want, h := mod.acquire(now, reqs)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("step %d %+v (-model +memory):\n%s", step, reqs, diff)
				}
				if h != nil {
					held = append(held, both{res, h})
				}
			case 2:
				if len(held) == 0 {
					continue
				}
				i, actual := int(next())%len(held), int64(next())
				if err := held[i].res.Done(context.Background(), actual); err != nil {
					t.Fatal(err)
				}
				mod.done(held[i].h, actual)
				if op&4 == 0 { // sometimes Done again later
					held = slices.Delete(held, i, i+1)
				}
			case 3:
				// Forward up to 51 s, or back up to 12.7 s.
				if d := next(); d < 128 {
					now = now.Add(time.Duration(d) * 400 * time.Millisecond)
				} else {
					now = now.Add(-time.Duration(d-128) * 100 * time.Millisecond)
				}
			}
		}
	})
}
