package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)

// Scopes that have held nothing for a while are forgotten as traffic goes
// on, so a stream of one-off keys cannot grow the map without bound; a
// scope with a running request is kept whatever its age.
func TestMemoryEvictsIdleScopes(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	stream := Request{Scope: "key:long", Limits: Limits{TPM: 1000, MaxStreams: 1}, EstTokens: 10, Stream: true}
	_, res, err := m.Acquire(ctx, t0, []Request{stream})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, _, err := m.Acquire(ctx, t0, []Request{{Scope: fmt.Sprint("key:", i), Limits: Limits{RPM: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.scopes); n != 1001 {
		t.Fatalf("%d scopes after 1001 distinct ones in one window", n)
	}

	later := t0.Add(2*Window + time.Second)
	for range 300 {
		if _, _, err := m.Acquire(ctx, later, []Request{{Scope: "key:hot", Limits: Limits{RPM: 1 << 20}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.scopes); n != 2 {
		t.Errorf("%d scopes left, want key:hot and key:long", n)
	}
	if m.scopes["key:long"] == nil {
		t.Fatal("a scope with a running stream was forgotten")
	}
	if err := res.Done(ctx, 50); err != nil {
		t.Fatal(err)
	}
	d, _, err := m.Acquire(ctx, later, []Request{stream})
	if err != nil || !d.Allowed || d.TokensRemaining != 1000-50-10 {
		t.Errorf("after the long stream settled: %+v, %v", d, err)
	}
}

// A scope idle for less than two windows is kept: a replica whose clock is
// a little behind still finds its records.
func TestMemoryKeepsRecentlyIdleScopes(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	req := []Request{{Scope: "key:a", Limits: Limits{RPM: 1}}}
	if _, _, err := m.Acquire(ctx, t0, req); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		m.Acquire(ctx, t0.Add(Window+time.Second), []Request{{Scope: "key:b", Limits: Limits{RPM: 100}}})
	}
	d, _, err := m.Acquire(ctx, t0.Add(Window-time.Second), req)
	if err != nil || d.Allowed {
		t.Errorf("a request 59 s after the last one was admitted with RPM 1: %+v, %v", d, err)
	}
}

// A burst's memory is given back once it has left the window.
func TestWindowReleasesBurst(t *testing.T) {
	var w window
	for i := range int64(10000) {
		w.add(i, 1)
	}
	w.prune(9990)
	if w.len() != 9 || w.sum != 9 {
		t.Fatalf("len %d sum %d after pruning, want 9", w.len(), w.sum)
	}
	if c := cap(w.e); c > 64 {
		t.Errorf("capacity %d kept for 9 entries", c)
	}
	w.prune(20000)
	if w.len() != 0 || w.sum != 0 || cap(w.e) > 64 {
		t.Errorf("len %d sum %d cap %d after everything left", w.len(), w.sum, cap(w.e))
	}
}

func TestWindowOrder(t *testing.T) {
	var w window
	for _, at := range []int64{10, 30, 20, 30, 5, 20} {
		w.add(at, at)
	}
	want := []entry{{5, 5}, {10, 10}, {20, 40}, {30, 60}}
	if got := w.e[w.start:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	for _, c := range []struct {
		need, at int64
		ok       bool
	}{{1, 5, true}, {5, 5, true}, {6, 10, true}, {55, 20, true}, {115, 30, true}, {116, 0, false}} {
		if at, ok := w.reach(c.need); at != c.at || ok != c.ok {
			t.Errorf("reach(%d) = %d, %v; want %d, %v", c.need, at, ok, c.at, c.ok)
		}
	}
}
