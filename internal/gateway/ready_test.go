package gateway

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// readyStream is a scriptStream that says, by a script, whether its next
// event is at hand.
type readyStream struct {
	scriptStream
	ready []bool // by the number of events read
}

func (s *readyStream) Ready() bool { return s.i < len(s.ready) && s.ready[s.i] }

// readyProvider streams a readyStream.
type readyProvider struct {
	fakeProvider
	ready []bool
}

func (p *readyProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	st, err := p.fakeProvider.ChatStream(ctx, req)
	if err != nil || p.ready == nil {
		return st, err
	}
	return &readyStream{scriptStream: *st.(*scriptStream), ready: p.ready}, nil
}

// TestStream_Ready checks that a stream's Ready reports its prefetched
// events and passes on the upstream's answer, and is false at the end.
func TestStream_Ready(t *testing.T) {
	u := llm.Usage{InputTokens: 10, OutputTokens: 3}
	events := []llm.Event{{Kind: llm.EventStart, ID: "s1"}, {Kind: llm.EventTextDelta, Text: "a"},
		{Kind: llm.EventTextDelta, Text: "b"}, {Kind: llm.EventTextDelta, Text: "c"},
		{Kind: llm.EventStop, FinishReason: llm.FinishStop, Usage: &u}}
	for _, tc := range []struct {
		name  string
		ready []bool // the upstream's, by events read; nil: it cannot tell
		want  []bool // the stream's after each event, and after its end
	}{
		// Start and a are prefetched: a is queued after Start. The
		// upstream has b at hand, then waits for c, then has the stop.
		{"upstream tells", []bool{false, false, true, false, true, false}, []bool{true, true, false, true, false, false}},
		// An upstream that cannot tell is never ready, past the queue.
		{"upstream cannot tell", nil, []bool{true, false, false, false, false, false}},
		// Once the stream has ended, Ready is false whatever the upstream says.
		{"upstream always ready", []bool{true, true, true, true, true, true}, []bool{true, true, true, true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &readyProvider{fakeProvider: fakeProvider{name: "a", events: events}, ready: tc.ready}
			s, _, err := newReadyGateway(t, p).ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []bool
			for {
				_, err := s.Next()
				if errors.Is(err, io.EOF) {
					got = append(got, s.Ready())
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, s.Ready())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Ready after each event and at the end (-want +got):\n%s", diff)
			}
		})
	}
}

// newReadyGateway is newTestGateway's gateway with p as its one channel.
func newReadyGateway(t *testing.T, p *readyProvider) *Gateway {
	t.Helper()
	reg := provider.NewRegistry()
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	m := route.Model{Name: "m", Strategy: "priority", MaxAttempts: 1,
		Offerings: []route.Offering{{Provider: p.name, UpstreamModel: "up-" + p.name}}}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: &memLedger{},
		Cost: func(llm.Usage, route.Price) float64 { return 0 }})
}
