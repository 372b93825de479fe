package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
	"switchyard/internal/store"
)

// fakeProvider answers from a script of outcomes, one per call.
type fakeProvider struct {
	name string
	mu   sync.Mutex
	errs []error // nil entries succeed
	// events is what a successful stream yields; failAfter > 0 makes the
	// stream fail after that many events.
	events    []llm.Event
	failAfter int
	calls     int
	models    []string
	// wait is how long each call takes before it answers.
	wait time.Duration
}

func (f *fakeProvider) Name() string { return f.name }

func (f *fakeProvider) next(model string) error {
	time.Sleep(f.wait)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.models = append(f.models, model)
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *fakeProvider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := f.next(req.Model); err != nil {
		return nil, err
	}
	return &llm.Response{ID: "r1", Model: req.Model, Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("hi from " + f.name)}},
		FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 10, OutputTokens: 2}}, nil
}

func (f *fakeProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if err := f.next(req.Model); err != nil {
		return nil, err
	}
	evs := f.events
	if evs == nil {
		u := llm.Usage{InputTokens: 10, OutputTokens: 2}
		evs = []llm.Event{{Kind: llm.EventStart, ID: "s1"}, {Kind: llm.EventTextDelta, Text: "hi"}, {Kind: llm.EventStop, FinishReason: llm.FinishStop, Usage: &u}}
	}
	return &scriptStream{events: evs, failAfter: f.failAfter}, nil
}

type scriptStream struct {
	events    []llm.Event
	failAfter int
	i         int
	closed    bool
}

func (s *scriptStream) Next() (llm.Event, error) {
	if s.failAfter > 0 && s.i == s.failAfter {
		return llm.Event{}, &provider.Error{Kind: provider.KindBadResponse, Message: "cut"}
	}
	if s.i >= len(s.events) {
		return llm.Event{}, io.EOF
	}
	s.i++
	return s.events[s.i-1], nil
}

func (s *scriptStream) Close() error { s.closed = true; return nil }

type memLedger struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (l *memLedger) Record(r store.UsageRecord) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

func newTestGateway(t *testing.T, ps ...*fakeProvider) (*Gateway, *memLedger) {
	t.Helper()
	reg := provider.NewRegistry()
	m := route.Model{Name: "m", Aliases: []string{"m-alias"}, Strategy: "priority", MaxAttempts: len(ps)}
	for _, p := range ps {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
		m.Offerings = append(m.Offerings, route.Offering{Provider: p.name, UpstreamModel: "up-" + p.name,
			Price: route.Price{InputPerMTok: 1, OutputPerMTok: 2}})
	}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	g := New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led,
		Cost: func(u llm.Usage, p route.Price) float64 {
			return (float64(u.InputTokens)*p.InputPerMTok + float64(u.OutputTokens)*p.OutputPerMTok) / 1e6
		}})
	return g, led
}

func chatReq() *llm.Request {
	return &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hello")}}}}
}

func pErr(kind provider.Kind) error {
	return &provider.Error{Provider: "x", Kind: kind, Message: kind.String()}
}

func TestChat_FallbackOnRetryable(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindRateLimited, provider.KindOverloaded, provider.KindTimeout, provider.KindUnavailable} {
		t.Run(kind.String(), func(t *testing.T) {
			a := &fakeProvider{name: "a", errs: []error{pErr(kind)}}
			b := &fakeProvider{name: "b"}
			g, led := newTestGateway(t, a, b)
			resp, res, err := g.Chat(context.Background(), &Call{Model: "m", RequestID: "req1"}, chatReq())
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Message.Parts[0].Text; got != "hi from b" {
				t.Errorf("answer %q", got)
			}
			if diff := cmp.Diff([]string{"a", "b"}, res.Attempted); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
			if b.models[0] != "up-b" {
				t.Errorf("upstream model %q", b.models[0])
			}
			if len(led.recs) != 1 || led.recs[0].Provider != "b" || led.recs[0].Attempts != 2 || led.recs[0].Status != 200 {
				t.Errorf("ledger %+v", led.recs)
			}
			if got, want := led.recs[0].CostUSD, (10*1+2*2)/1e6; got != want {
				t.Errorf("cost %v, want %v", got, want)
			}
		})
	}
}

func TestChat_NoFallbackOnClientError(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindBadRequest, provider.KindContextLength, provider.KindAuth} {
		t.Run(kind.String(), func(t *testing.T) {
			a := &fakeProvider{name: "a", errs: []error{pErr(kind)}}
			b := &fakeProvider{name: "b"}
			g, led := newTestGateway(t, a, b)
			_, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != kind {
				t.Fatalf("err = %v", err)
			}
			if b.calls != 0 {
				t.Errorf("fell back on %v", kind)
			}
			if led.recs[0].Status == 200 || led.recs[0].ErrorKind == "" {
				t.Errorf("ledger %+v", led.recs[0])
			}
		})
	}
}

func TestChat_AllFail(t *testing.T) {
	a := &fakeProvider{name: "a", errs: []error{pErr(provider.KindUnavailable)}}
	b := &fakeProvider{name: "b", errs: []error{&provider.Error{Kind: provider.KindRateLimited, RetryAfter: 3 * time.Second}}}
	g, _ := newTestGateway(t, a, b)
	_, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if StatusOf(err) != 429 {
		t.Fatalf("status %d (%v)", StatusOf(err), err)
	}
	// b is cooling down now: the next plan tries a first and keeps b last.
	d, err := g.Router().Plan(route.Input{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Order) != 1 || d.Order[0].Provider != "a" || d.Candidates[1].Removed == "" {
		t.Errorf("plan after Retry-After: %+v", d)
	}
}

func TestChat_UnknownAndForbiddenModel(t *testing.T) {
	g, led := newTestGateway(t, &fakeProvider{name: "a"})
	_, _, err := g.Chat(context.Background(), &Call{Model: "nope"}, chatReq())
	if StatusOf(err) != 404 {
		t.Errorf("unknown model status %d", StatusOf(err))
	}
	_, _, err = g.Chat(context.Background(), &Call{Model: "m", AllowedModels: []string{"gpt-*"}}, chatReq())
	if StatusOf(err) != 403 {
		t.Errorf("forbidden model status %d", StatusOf(err))
	}
	if _, _, err := g.Chat(context.Background(), &Call{Model: "m-alias", AllowedModels: []string{"m"}}, chatReq()); err != nil {
		t.Errorf("alias of an allowed model: %v", err)
	}
	// Every request is in the request log, refusals before routing
	// included; they name no channel and cost nothing.
	if len(led.recs) != 3 {
		t.Fatalf("ledger rows %d, want 3", len(led.recs))
	}
	for i, want := range []struct {
		status int
		model  string
	}{{404, "nope"}, {403, "m"}, {200, "m"}} {
		r := led.recs[i]
		if r.Status != want.status || r.Model != want.model || (r.Status != 200) != (r.Provider == "" && r.Error != "" && r.CostUSD == 0) {
			t.Errorf("row %d: status %d model %q provider %q error %q cost %v, want status %d model %q", i, r.Status, r.Model,
				r.Provider, r.Error, r.CostUSD, want.status, want.model)
		}
	}
}

func TestChatStream_FallbackBeforeFirstByte(t *testing.T) {
	a := &fakeProvider{name: "a", failAfter: 1} // fails right after Start
	b := &fakeProvider{name: "b"}
	g, led := newTestGateway(t, a, b)
	s, res, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	var acc llm.Accumulator
	for ev, err := range llm.All(s) {
		if err != nil {
			t.Fatal(err)
		}
		acc.Add(ev)
	}
	s.Close()
	if res.Provider != "b" || acc.Response().Message.Parts[0].Text != "hi" {
		t.Errorf("res %+v resp %+v", res, acc.Response())
	}
	if len(led.recs) != 1 || led.recs[0].Status != 200 || led.recs[0].OutputTokens != 2 || !led.recs[0].Stream {
		t.Errorf("ledger %+v", led.recs)
	}
}

func TestChatStream_FailureAfterFirstByte(t *testing.T) {
	a := &fakeProvider{name: "a", failAfter: 2} // Start and one delta, then cut
	b := &fakeProvider{name: "b"}
	g, led := newTestGateway(t, a, b)
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	var got error
	for _, err := range llm.All(s) {
		got = err
	}
	s.Close()
	if got == nil || b.calls != 0 {
		t.Fatalf("err %v, fallback calls %d: no retry after the first byte", got, b.calls)
	}
	if led.recs[0].Status != 502 {
		t.Errorf("ledger status %d", led.recs[0].Status)
	}
	// The client got "hi" before the cut and the upstream bills for it:
	// the row meters what was delivered.
	if r := led.recs[0]; r.OutputTokens != 1 || r.InputTokens == 0 || r.CostUSD <= 0 {
		t.Errorf("a cut stream metered %d in, %d out, $%g; want what it delivered", r.InputTokens, r.OutputTokens, r.CostUSD)
	}
}

func TestChatStream_EndWithoutStop(t *testing.T) {
	a := &fakeProvider{name: "a", events: []llm.Event{{Kind: llm.EventStart}, {Kind: llm.EventTextDelta, Text: "x"}}}
	g, _ := newTestGateway(t, a)
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last error
	for _, err := range llm.All(s) {
		last = err
	}
	var pe *provider.Error
	if !errors.As(last, &pe) || pe.Kind != provider.KindBadResponse {
		t.Errorf("err = %v, want a bad-response error", last)
	}
}

func TestChatStream_ClientGone(t *testing.T) {
	g, led := newTestGateway(t, &fakeProvider{name: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	s, _, err := g.ChatStream(ctx, &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	s.Close()
	if led.recs[0].Status != 499 {
		t.Errorf("status %d, want 499", led.recs[0].Status)
	}
}

func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&Error{Kind: ErrRateLimited}, "limit"},
		{fmt.Errorf("wrapped: %w", &Error{Kind: ErrBudgetExceeded}), "budget"},
		{&Error{Kind: ErrNoChannel, Err: &route.NoChannelError{Model: "m", Contracts: []string{"eu"}}}, "contract"},
		{&Error{Kind: ErrNoChannel, Err: &route.NoChannelError{Model: "m", Contracts: []string{"eu"}, Unhealthy: true}}, ""},
		{&Error{Kind: ErrNoChannel, Err: &route.NoChannelError{Model: "m"}}, ""},
		{&Error{Kind: ErrModelNotFound}, ""},
		{&provider.Error{Kind: provider.KindRateLimited}, ""},
		{nil, ""},
	} {
		if got := Refusal(tc.err); got != tc.want {
			t.Errorf("Refusal(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestChatStream_OpenStreamsCounted(t *testing.T) {
	a := &fakeProvider{name: "a", failAfter: 1} // fails before its first byte: never opened
	b := &fakeProvider{name: "b"}
	g, _ := newTestGateway(t, a, b)
	if n := g.OpenStreams(); n != 0 {
		t.Fatalf("OpenStreams = %d before any stream", n)
	}
	s1, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if n := g.OpenStreams(); n != 2 {
		t.Errorf("OpenStreams = %d with two open, want 2", n)
	}
	s1.Close()
	s1.Close() // a second Close does not count again
	if n := g.OpenStreams(); n != 1 {
		t.Errorf("OpenStreams = %d after one closed, want 1", n)
	}
	s2.Close()
	if n := g.OpenStreams(); n != 0 {
		t.Errorf("OpenStreams = %d after both closed, want 0", n)
	}
}
