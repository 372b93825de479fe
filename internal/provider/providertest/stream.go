package providertest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"switchyard/internal/fakecloud"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// longRequest asks for an answer of about fifty words: at the pace the
// cancellation subtests set, a stream of about twenty-five seconds.
func (s *suite) longRequest() *llm.Request {
	return s.request(user(llm.Text("Repeat after me: " + strings.Repeat("the lamp turns and the keeper waits ", 6))))
}

// cancel_mid_stream: cancelling the call's context, or closing the
// stream, after the first delta closes the upstream connection: the
// upstream's handler sees its request context end within closeWithin.
func (s *suite) cancelMidStream(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			u, p := s.channel(t)
			// Two tokens a second keeps the upstream writing for far longer
			// than closeWithin, so on a loaded machine it cannot finish the
			// stream before it notices the close.
			u.setFaults(fakecloud.Faults{TokensPerSecond: 2})
			ctx, cancel := context.WithCancel(callContext(t))
			defer cancel()
			st, err := p.ChatStream(ctx, s.longRequest())
			if err != nil {
				t.Fatalf("ChatStream: %v", err)
			}
			closed := false
			defer func() {
				if !closed {
					st.Close()
				}
			}()
			for {
				ev, err := st.Next()
				if err != nil {
					t.Fatalf("stream ended before its first text delta: %v", err)
				}
				if ev.Kind == llm.EventTextDelta {
					break
				}
			}
			if now := u.snapshot(); now.active != 1 || now.gone != 0 {
				t.Fatalf("after the first delta the upstream has %d requests running and %d gone; want the stream still being sent", now.active, now.gone)
			}
			if how == "cancel" {
				cancel()
			} else {
				closed = true
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if _, ok := u.await(closeWithin, func(st upstreamState) bool { return st.gone == 1 }); !ok {
				t.Fatalf("the upstream was still sending %v after the stream was %sed: the connection was not closed", closeWithin, how)
			}
			if how == "close" {
				return // Next after Close is outside the contract
			}
			evs, err := drain(st)
			for _, ev := range evs {
				if ev.Kind == llm.EventStop {
					t.Errorf("a cancelled stream delivered a stop event")
				}
			}
			var pe *provider.Error
			switch {
			case err == nil:
				t.Errorf("a cancelled stream ended with io.EOF, as if complete")
			case !errors.As(err, &pe):
				t.Errorf("a cancelled stream failed with %v (%T), want a *provider.Error", err, err)
			}
		})
	}
}

// cut_stream: a stream the upstream cuts off, in text or between tool
// calls, fails with a retryable
// *provider.Error, never with io.EOF, and never delivers a stop event.
func (s *suite) cutStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  func() *llm.Request
		// after is the number of content events sent before the cut. Gemini
		// sends each tool call whole, so the tool call case cuts between
		// two parallel calls.
		after int
		kind  llm.EventKind
	}{
		{"text", s.longRequest, 3, llm.EventTextDelta},
		{"tool_call", s.parallelCalls, 1, llm.EventToolCallDelta},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, p := s.channel(t)
			u.setFaults(fakecloud.Faults{CutStreamAfter: tc.after})
			st, err := p.ChatStream(callContext(t), tc.req())
			if err != nil {
				t.Fatalf("ChatStream: %v", err)
			}
			evs, err := drain(st)
			st.Close()
			deltas := 0
			for _, ev := range evs {
				switch ev.Kind {
				case llm.EventStop:
					t.Errorf("a cut stream delivered a stop event: %+v", ev)
				case tc.kind:
					deltas++
				}
			}
			if deltas == 0 {
				t.Errorf("no %s before the cut; the upstream sent %d", tc.kind, tc.after)
			}
			var pe *provider.Error
			switch {
			case err == nil:
				t.Fatalf("a cut stream ended with io.EOF after %d events, as if complete", len(evs))
			case !errors.As(err, &pe):
				t.Fatalf("a cut stream failed with %v (%T), want a *provider.Error", err, err)
			case !pe.Kind.Retryable():
				t.Errorf("a cut stream failed with kind %q, which is not retryable (error: %v)", pe.Kind, err)
			case pe.Provider != p.Name():
				t.Errorf("error names provider %q, want %q", pe.Provider, p.Name())
			}
		})
	}
}
