package gateway

import (
	"context"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

type traceKey struct{}

// recTracer records what the gateway tells a tracer, as lines.
type recTracer struct{ lines []string }

func (rt *recTracer) Begin(ctx context.Context, call *Call, req *llm.Request) {
	rt.lines = append(rt.lines, "begin "+call.Model)
}

func (rt *recTracer) Attempt(ctx context.Context, call *Call, off route.Offering) (context.Context, AttemptSpan) {
	rt.lines = append(rt.lines, "attempt "+off.Provider)
	return context.WithValue(ctx, traceKey{}, off.Provider), &recSpan{rt: rt, channel: off.Provider}
}

func (rt *recTracer) End(ctx context.Context, call *Call, res *Result, out Outcome) {
	rt.lines = append(rt.lines, "end "+strconv.Itoa(out.Status)+" "+out.ErrorKind+" id="+out.ResponseID+" model="+out.ResponseModel+
		" finish="+string(out.FinishReason))
}

type recSpan struct {
	rt      *recTracer
	channel string
	ended   bool
}

func (s *recSpan) End(out AttemptOutcome) {
	if s.ended {
		s.rt.lines = append(s.rt.lines, "ended twice "+s.channel)
	}
	s.ended = true
	s.rt.lines = append(s.rt.lines, "attempt end "+s.channel+" "+strconv.Itoa(out.Status)+" fallback="+out.Fallback)
}

// ctxProvider is a fakeProvider that checks the attempt's context carries
// the attempt's span, as the channel's HTTP client needs it to.
type ctxProvider struct {
	*fakeProvider
	t *testing.T
}

func (p ctxProvider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if got := ctx.Value(traceKey{}); got != p.name {
		p.t.Errorf("channel %s called with the span of %v", p.name, got)
	}
	return p.fakeProvider.Chat(ctx, req)
}

func TestTracer_AttemptsAndOutcome(t *testing.T) {
	a := &fakeProvider{name: "a", errs: []error{pErr(provider.KindRateLimited)}}
	b := &fakeProvider{name: "b"}
	g, _ := newTestGateway(t, a, b)
	reg := provider.NewRegistry()
	for _, p := range []*fakeProvider{a, b} {
		if err := reg.Add(ctxProvider{p, t}); err != nil {
			t.Fatal(err)
		}
	}
	g.rt.Load().Providers = reg
	rt := &recTracer{}
	var ended []AttemptOutcome
	g.tracer = rt
	g.onEnd = func(channel string, out AttemptOutcome) { ended = append(ended, out) }
	if _, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq()); err != nil {
		t.Fatal(err)
	}
	// The request's outcome is known as its last attempt returns, before
	// that attempt's span ends.
	want := []string{"begin m", "attempt a", "attempt end a 429 fallback=rate_limited", "attempt b",
		"end 200  id=r1 model=up-b finish=stop", "attempt end b 200 fallback="}
	if diff := cmp.Diff(want, rt.lines); diff != "" {
		t.Errorf("chat (-want +got):\n%s", diff)
	}
	if len(ended) != 2 || ended[0].Fallback != "rate_limited" || ended[1].ErrorKind != "" {
		t.Errorf("attempt metrics %+v", ended)
	}

	// A stream's attempt ends with the stream, once; its answer's id and
	// finish reason come from its events. (Channel a cools down after its
	// 429: b serves.)
	rt.lines, ended = nil, nil
	st, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"begin m", "attempt b"}, rt.lines); diff != "" {
		t.Errorf("stream before its end (-want +got):\n%s", diff)
	}
	for {
		if _, err := st.Next(); err != nil {
			break
		}
	}
	st.Close()
	st.Close()
	want = []string{"begin m", "attempt b", "attempt end b 200 fallback=", "end 200  id=s1 model= finish=stop"}
	if diff := cmp.Diff(want, rt.lines); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
	if len(ended) != 1 {
		t.Errorf("%d attempt metrics for one stream", len(ended))
	}
}
