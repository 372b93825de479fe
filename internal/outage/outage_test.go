package outage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/syncbuf"
)

// dep is a dependency the test blackholes (calls hang until their ctx
// ends), breaks (calls fail at once) or heals.
type dep struct {
	mu    sync.Mutex
	state string // "", "blackhole" or "refuse"
	calls atomic.Int64
}

func (d *dep) set(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state = s
}

func (d *dep) call(ctx context.Context) error {
	d.calls.Add(1)
	d.mu.Lock()
	s := d.state
	d.mu.Unlock()
	switch s {
	case "blackhole":
		<-ctx.Done()
		return ctx.Err()
	case "refuse":
		return errors.New("connect: connection refused")
	}
	return nil
}

// TestBreaker_Blackhole: a dependency that swallows calls costs one
// deadline to Trip calls; the rest are answered at once without calling it
// while the probe, on its own goroutine, waits for it; once it heals the
// probe closes the breaker and calls reach it again. The outage is logged
// once when it starts and once when it ends.
func TestBreaker_Blackhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &dep{}
		logs := &syncbuf.Buffer{}
		b := New(Options{Name: "redis", Mode: "failing open", Timeout: 50 * time.Millisecond, Trip: 3,
			Probe: d.call, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		defer b.Close()
		ctx := context.Background()
		if err := b.Do(ctx, d.call); err != nil {
			t.Fatal(err)
		}
		d.set("blackhole")
		waited := 0
		for i := range 100 {
			start := time.Now()
			err := b.Do(ctx, d.call)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("call %d while blackholed: %v, want ErrUnavailable", i, err)
			}
			if time.Since(start) > 0 {
				waited++
			}
			time.Sleep(10 * time.Millisecond)
		}
		if waited != 3 {
			t.Errorf("%d calls waited a deadline, want 3 (Trip)", waited)
		}
		st := b.Stats()
		if !st.Open || st.Outages != 1 || st.TimedOut != 3 || st.Skipped != 97 {
			t.Errorf("stats while blackholed: %+v", st)
		}
		// The probes (one a second) are the only calls that reached it.
		if n := d.calls.Load(); n != 1+3+st.Probes {
			t.Errorf("%d calls reached the dependency, want %d", n, 1+3+st.Probes)
		}

		d.set("")
		time.Sleep(DefaultProbeInterval + DefaultProbeTimeout)
		synctest.Wait()
		if b.Open() {
			t.Fatal("breaker still open after the dependency healed")
		}
		if err := b.Do(ctx, d.call); err != nil {
			t.Errorf("after recovery: %v", err)
		}
		out := logs.String()
		for _, line := range []string{"redis unavailable; failing open until it answers again", "redis available again"} {
			if n := strings.Count(out, line); n != 1 {
				t.Errorf("%d log lines with %q, want 1:\n%s", n, line, out)
			}
		}
	})
}

// TestBreaker_Trip: calls failing fast open the breaker after Trip in a
// row; a success in between starts the count again; the caller's own
// cancellation counts for nothing.
func TestBreaker_Trip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &dep{}
		b := New(Options{Name: "store", Trip: 3, Probe: d.call})
		defer b.Close()
		ctx := context.Background()
		var got []bool // open after each call
		step := func(state string) {
			d.set(state)
			_ = b.Do(ctx, d.call)
			got = append(got, b.Open())
		}
		step("refuse")
		step("refuse")
		step("")
		step("refuse")
		step("refuse")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.Do(cctx, func(ctx context.Context) error { return ctx.Err() }); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Errorf("caller's cancellation: %v, want context.Canceled only", err)
		}
		got = append(got, b.Open())
		step("refuse")
		if diff := cmp.Diff([]bool{false, false, false, false, false, false, true}, got); diff != "" {
			t.Errorf("open after each call (-want +got):\n%s", diff)
		}
	})
}

// TestBreaker_ProbeKeepsTrying: while the dependency stays down the probe
// tries once an interval, each within its own deadline; Close stops it.
func TestBreaker_ProbeKeepsTrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &dep{}
		d.set("blackhole")
		b := New(Options{Name: "store", Trip: 1, Timeout: 10 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
			ProbeInterval: time.Second, Probe: d.call})
		_ = b.Do(context.Background(), d.call)
		time.Sleep(10*time.Second + 500*time.Millisecond)
		if n := b.Stats().Probes; n < 8 || n > 10 {
			t.Errorf("%d probes in 10.5s, want about 9 (one a second plus its deadline)", n)
		}
		b.Close() // returns once the probe goroutine has stopped
		n := b.Stats().Probes
		time.Sleep(5 * time.Second)
		if b.Stats().Probes != n || !b.Open() {
			t.Errorf("probing went on after Close, or Close closed the breaker: %+v", b.Stats())
		}
	})
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "read tcp: i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// TestBreaker_SocketTimeout: a call whose socket deadline (set from its
// ctx) fires a moment before the ctx is done counts as a missed deadline.
func TestBreaker_SocketTimeout(t *testing.T) {
	b := New(Options{Name: "redis", Probe: func(context.Context) error { return nil }})
	defer b.Close()
	err := b.Do(context.Background(), func(context.Context) error { return fmt.Errorf("running script: %w", timeoutErr{}) })
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("error %v, want a missed deadline", err)
	}
	if st := b.Stats(); st.TimedOut != 1 || st.Failed != 1 {
		t.Errorf("stats %+v, want one call timed out", st)
	}
}

// TestBreaker_Observe: an outcome counted with Observe moves the breaker
// as the same outcome returned by a call through Do does, and starts no
// deadline (it allocates nothing on success).
func TestBreaker_Observe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := func(context.Context) error { return nil }
		do := New(Options{Name: "redis", Trip: 3, Probe: probe})
		defer do.Close()
		obs := New(Options{Name: "redis", Trip: 3, Probe: probe})
		defer obs.Close()
		ctx := context.Background()
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		refused := errors.New("connection refused")
		steps := []struct {
			ctx context.Context
			err error
		}{
			{ctx, refused}, {ctx, timeoutErr{}}, {ctx, nil}, {ctx, refused},
			{canceled, context.Canceled}, {ctx, refused}, {ctx, refused}, {ctx, nil},
		}
		for i, s := range steps {
			errDo := do.Do(s.ctx, func(context.Context) error { return s.err })
			errObs := obs.Observe(s.ctx, s.err)
			if fmt.Sprint(errDo) != fmt.Sprint(errObs) || do.Open() != obs.Open() {
				t.Errorf("step %d: Do gave %v (open %v), Observe %v (open %v)", i, errDo, do.Open(), errObs, obs.Open())
			}
		}
		if d, o := do.Stats(), obs.Stats(); d != o {
			t.Errorf("stats after Do %+v, after Observe %+v", d, o)
		}
		if !obs.Open() {
			t.Error("three failures in a row did not open the breaker")
		}
	})
	b := New(Options{Name: "redis", Probe: func(context.Context) error { return nil }})
	defer b.Close()
	if n := testing.AllocsPerRun(100, func() { _ = b.Observe(context.Background(), nil) }); n != 0 {
		t.Errorf("%v allocations for an Observe, want none", n)
	}
}
