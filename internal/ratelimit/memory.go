package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// evictPerCall bounds how many idle scopes one Acquire looks at for
// eviction; more than the scopes a call can create, so the idle ones never
// pile up.
const evictPerCall = 4

// Memory is an exact in-process Limiter. It is safe for concurrent use; all
// scopes share one lock, held for a few hundred nanoseconds per call. A scope
// is forgotten once nothing of it is left in the window and no reservation
// holds it, so memory is bounded by the traffic of the last Window.
type Memory struct {
	mu     sync.Mutex
	scopes map[string]*memScope
	// head and tail are the scopes from most to least recently used.
	head, tail *memScope
	// clock is the largest now given to Acquire, in microseconds; Done
	// settles tokens at it.
	clock int64
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-process Limiter.
func NewMemory() *Memory {
	return &Memory{scopes: make(map[string]*memScope)}
}

type memScope struct {
	name       string
	requests   window
	settled    window
	inFlight   int64 // token estimates of running requests
	streams    int
	holds      int // reservations not yet done
	prev, next *memScope
}

// Acquire implements Limiter.
func (m *Memory) Acquire(_ context.Context, now time.Time, reqs []Request) (Decision, Reservation, error) {
	if err := ValidateRequests(reqs); err != nil {
		return Decision{}, nil, err
	}
	at := now.UnixMicro()
	now = time.UnixMicro(at)
	var (
		statesBuf [4]ScopeState
		scopesBuf [4]*memScope
	)
	states, scopes := statesBuf[:0], scopesBuf[:0]

	m.mu.Lock()
	defer m.mu.Unlock()
	m.clock = max(m.clock, at)
	m.evict(at)
	for _, r := range reqs {
		var s *memScope
		var st ScopeState
		if r.Tracked() {
			s = m.scope(r.Scope)
			s.prune(at)
			st = s.state(r)
		}
		states, scopes = append(states, st), append(scopes, s)
	}
	d := Decide(now, reqs, states)
	if !d.Allowed {
		return d, NopReservation{}, nil
	}

	var res *memReservation
	for i, r := range reqs {
		s := scopes[i]
		if s == nil {
			continue
		}
		if r.Limits.RPM > 0 {
			s.requests.add(at, 1)
		}
		if !r.Holds() {
			continue
		}
		if res == nil {
			res = &memReservation{m: m, at: at}
			res.holds = res.buf[:0]
		}
		h := memHold{s: s}
		if r.Limits.TPM > 0 {
			h.tokens, h.est = true, r.EstTokens
			s.inFlight += r.EstTokens
		}
		if r.Stream && r.Limits.MaxStreams > 0 {
			h.stream = true
			s.streams++
		}
		s.holds++
		res.holds = append(res.holds, h)
	}
	if res == nil {
		return d, NopReservation{}, nil
	}
	return d, res, nil
}

// scope returns the named scope, created if needed, as the most recently
// used one.
func (m *Memory) scope(name string) *memScope {
	s := m.scopes[name]
	if s == nil {
		s = &memScope{name: name}
		m.scopes[name] = s
	} else {
		if m.head == s {
			return s
		}
		m.unlink(s)
	}
	s.next = m.head
	if m.head != nil {
		m.head.prev = s
	}
	m.head = s
	if m.tail == nil {
		m.tail = s
	}
	return s
}

func (m *Memory) unlink(s *memScope) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		m.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		m.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// evict forgets the least recently used scopes that have held nothing for
// a while at at.
func (m *Memory) evict(at int64) {
	for range evictPerCall {
		s := m.tail
		if s == nil || s == m.head {
			return
		}
		if s.holds > 0 {
			m.scope(s.name) // still running: look at it again later
			continue
		}
		// Idle for two windows, not one: a caller whose clock is a little
		// behind must still find what a scope holds for it. Like every
		// backend, only a scope's own calls prune it.
		idle := at - 2*Window.Microseconds()
		if t, ok := s.requests.newest(); ok && t > idle {
			return
		}
		if t, ok := s.settled.newest(); ok && t > idle {
			return
		}
		m.unlink(s)
		delete(m.scopes, s.name)
	}
}

// prune drops what has left the window at at.
func (s *memScope) prune(at int64) {
	cutoff := at - Window.Microseconds()
	s.requests.prune(cutoff)
	s.settled.prune(cutoff)
}

func (s *memScope) state(r Request) ScopeState {
	st := ScopeState{
		Requests: int(s.requests.sum),
		Tokens:   s.settled.sum + s.inFlight,
		InFlight: s.inFlight,
		Streams:  s.streams,
	}
	if t, ok := s.requests.newest(); ok {
		st.RequestsNewest = time.UnixMicro(t)
	}
	if rpm := r.Limits.RPM; rpm > 0 && st.Requests >= rpm {
		if t, ok := s.requests.reach(int64(st.Requests - rpm + 1)); ok {
			st.RequestsFree = time.UnixMicro(t + Window.Microseconds())
		}
	}
	if t, ok := s.settled.newest(); ok {
		st.SettledNewest = time.UnixMicro(t)
	}
	if tpm := int64(r.Limits.TPM); tpm > 0 && r.EstTokens <= tpm && st.Tokens+r.EstTokens > tpm {
		if t, ok := s.settled.reach(st.Tokens + r.EstTokens - tpm); ok {
			st.TokensFree = time.UnixMicro(t + Window.Microseconds())
		}
	}
	return st
}

type memHold struct {
	s      *memScope
	est    int64
	tokens bool
	stream bool
}

type memReservation struct {
	m     *Memory
	at    int64
	done  atomic.Bool
	holds []memHold
	buf   [2]memHold
}

// InProcess marks the reservation as in-process (see InProcess).
func (r *memReservation) InProcess() {}

// Done implements Reservation.
func (r *memReservation) Done(_ context.Context, actualTokens int64) error {
	if !r.done.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if actualTokens < 0 {
		err = fmt.Errorf("%w: negative actual token count %d", ErrInvalid, actualTokens)
		actualTokens = 0
	}
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	at := max(r.at, m.clock)
	for _, h := range r.holds {
		s := h.s
		s.holds--
		if h.stream {
			s.streams--
		}
		if h.tokens {
			s.inFlight -= h.est
			if actualTokens > 0 {
				s.settled.add(at, actualTokens)
			}
		}
	}
	return err
}

// window is a log of counts by time (microseconds), oldest first, with
// their sum. Counts recorded at the same time share one entry.
type window struct {
	e     []entry
	start int // e[:start] has left the window
	sum   int64
}

type entry struct{ at, n int64 }

func (w *window) len() int { return len(w.e) - w.start }

// prune drops the entries at or before cutoff.
func (w *window) prune(cutoff int64) {
	i := w.start
	for i < len(w.e) && w.e[i].at <= cutoff {
		w.sum -= w.e[i].n
		i++
	}
	if i == w.start {
		return
	}
	w.start = i
	switch live := len(w.e) - i; {
	case live == 0 && cap(w.e) > 64:
		w.e, w.start = nil, 0 // let a burst's backing array go
	case live == 0:
		w.e, w.start = w.e[:0], 0
	case i >= live:
		w.e, w.start = append(w.e[:0:0], w.e[i:]...), 0
	}
}

// add records n at at, keeping the log in time order even when callers'
// clocks interleave.
func (w *window) add(at, n int64) {
	w.sum += n
	i := len(w.e)
	for i > w.start && w.e[i-1].at > at {
		i--
	}
	if i > w.start && w.e[i-1].at == at {
		w.e[i-1].n += n
		return
	}
	w.e = append(w.e, entry{})
	copy(w.e[i+1:], w.e[i:])
	w.e[i] = entry{at, n}
}

func (w *window) newest() (int64, bool) {
	if w.len() == 0 {
		return 0, false
	}
	return w.e[len(w.e)-1].at, true
}

// reach returns the time of the entry at which the counts, oldest first,
// add up to need.
func (w *window) reach(need int64) (int64, bool) {
	var acc int64
	for _, e := range w.e[w.start:] {
		if acc += e.n; acc >= need {
			return e.at, true
		}
	}
	return 0, false
}
