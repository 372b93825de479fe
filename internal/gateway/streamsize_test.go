package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// endlessProvider streams an answer of n deltas (n < 0: without end)
// made by delta, generated as they are read, then delta(-1) and a stop.
type endlessProvider struct {
	name  string
	n     int
	delta func(i int) llm.Event
	last  *endlessStream
}

func (p *endlessProvider) Name() string { return p.name }

func (p *endlessProvider) Chat(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("not used")
}

func (p *endlessProvider) ChatStream(context.Context, *llm.Request) (llm.Stream, error) {
	p.last = &endlessStream{p: p}
	return p.last, nil
}

type endlessStream struct {
	p      *endlessProvider
	i      int
	closed bool
}

func (s *endlessStream) Next() (llm.Event, error) {
	i := s.i
	s.i++
	switch {
	case i == 0:
		return llm.Event{Kind: llm.EventStart, ID: "s1"}, nil
	case s.p.n < 0 || i <= s.p.n:
		return s.p.delta(i - 1), nil
	case i == s.p.n+1:
		return s.p.delta(-1), nil
	case i == s.p.n+2:
		u := llm.Usage{InputTokens: 5, OutputTokens: int64(s.p.n)}
		return llm.Event{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &u}, nil
	}
	return llm.Event{}, io.EOF
}

func (s *endlessStream) Close() error { s.closed = true; return nil }

func newEndlessGateway(t testing.TB, p *endlessProvider, maxStream int64) (*Gateway, *memLedger) {
	t.Helper()
	return newEndlessGatewayFor(t, p, maxStream)
}

// newEndlessGatewayFor is a gateway whose model "m" has p as its one
// offering.
func newEndlessGatewayFor(t testing.TB, p provider.Provider, maxStream int64) (*Gateway, *memLedger) {
	t.Helper()
	reg := provider.NewRegistry()
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	cat, err := route.NewCatalog([]route.Model{{Name: "m", Offerings: []route.Offering{{Provider: p.Name(), UpstreamModel: "up"}}}})
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	return New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led, MaxStreamBytes: maxStream}), led
}

func textDelta(int) llm.Event { return llm.Event{Kind: llm.EventTextDelta, Text: "ten bytes "} }

// toolDeltas is a tool call whose arguments grow eight bytes a delta.
func toolDeltas(i int) llm.Event {
	ev := llm.Event{Kind: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Arguments: "1,2,3,4,"}}
	switch i {
	case 0:
		ev.ToolCall.ID, ev.ToolCall.Name, ev.ToolCall.Arguments = "c1", "f", `{"a":[0,`
	case -1:
		ev.ToolCall.Arguments = "0]}"
	}
	return ev
}

// A stream that would pass the size cap is cut before the event that
// passes it, with ErrStreamTooLarge; the ledger records a 502 metered on
// what was delivered, and the upstream is released. The cap bounds tool
// call arguments held for the final check the same way.
func TestChatStream_SizeCap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delta     func(int) llm.Event
		delivered int // content events delivered before the cut
		bytes     int64
	}{
		{"text", textDelta, 100, 1000},
		{"tool_arguments", toolDeltas, 124, 4 + 8*124},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &endlessProvider{name: "big", n: -1, delta: tc.delta}
			g, led := newEndlessGateway(t, p, 1000)
			s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
			if err != nil {
				t.Fatal(err)
			}
			content := 0
			var last error
			for ev, err := range llm.All(s) {
				if err != nil {
					last = err
					break
				}
				if ev.Kind != llm.EventStart {
					content++
				}
			}
			s.Close()
			var ge *Error
			if !errors.As(last, &ge) || ge.Kind != ErrStreamTooLarge {
				t.Fatalf("stream ended with %v, want ErrStreamTooLarge", last)
			}
			if content != tc.delivered {
				t.Errorf("delivered %d deltas, want %d", content, tc.delivered)
			}
			if !p.last.closed {
				t.Error("upstream stream not closed")
			}
			if len(led.recs) != 1 {
				t.Fatalf("ledger has %d records", len(led.recs))
			}
			r := led.recs[0]
			if r.Status != 502 || r.ErrorKind != "stream too large" || r.OutputTokens != (tc.bytes+3)/4 {
				t.Errorf("ledger record status %d kind %q output %d, want 502 %q %d", r.Status, r.ErrorKind, r.OutputTokens, "stream too large", (tc.bytes+3)/4)
			}
		})
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The gateway's accounting of a stream (size, usage of a cut stream, the
// tool call arguments checked at the end) is linear in its length: four
// times the deltas allocate about four times the bytes, where rebuilding
// the answer on every delta would allocate about sixteen times as much.
func TestChatStream_Linear(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delta func(int) llm.Event
	}{{"text", textDelta}, {"tool_arguments", toolDeltas}} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(n int) uint64 {
				p := &endlessProvider{name: "p", n: n, delta: tc.delta}
				g, _ := newEndlessGateway(t, p, 0)
				return allocated(func() { drainStream(t, g) })
			}
			run(1 << 10) // warm up
			small, large := run(4<<10), run(16<<10)
			if ratio := float64(large) / float64(small); ratio > 6 {
				t.Errorf("4x the deltas allocated %.1fx the bytes (%d vs %d): accumulation is not linear", ratio, large, small)
			}
		})
	}
}

func drainStream(t testing.TB, g *Gateway) {
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, err := range llm.All(s) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkChatStream measures the gateway's own cost for a stream of 16k
// and 64k deltas of text or of one tool call's arguments.
func BenchmarkChatStream(b *testing.B) {
	for _, tc := range []struct {
		name  string
		delta func(int) llm.Event
	}{{"text", textDelta}, {"tool_arguments", toolDeltas}} {
		for _, n := range []int{16 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dk", tc.name, n>>10), func(b *testing.B) {
				p := &endlessProvider{name: "p", n: n, delta: tc.delta}
				g, _ := newEndlessGateway(b, p, 0)
				b.ReportAllocs()
				for b.Loop() {
					drainStream(b, g)
				}
			})
		}
	}
}
