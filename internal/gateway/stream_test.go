package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// silentProvider never sends a stream's response headers: ChatStream
// waits for its context (or gives up after a long while, so that a
// missing timeout fails the test instead of hanging it).
type silentProvider struct {
	name     string
	released chan error
}

func (p *silentProvider) Name() string { return p.name }

func (p *silentProvider) Chat(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("not used")
}

func (p *silentProvider) ChatStream(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
	select {
	case <-ctx.Done():
		p.released <- context.Cause(ctx)
		return nil, provider.TransportError(p.name, ctx.Err())
	case <-time.After(20 * time.Second):
		p.released <- nil
		return nil, &provider.Error{Provider: p.name, Kind: provider.KindUnavailable, Message: "gave up waiting for a cancellation"}
	}
}

// The per-attempt timeout bounds a stream's wait for its response headers,
// not only for its first event once the headers are in: a channel that
// never answers is cancelled and the next one serves the stream.
func TestChatStream_AttemptTimeoutCoversHeaders(t *testing.T) {
	silent := &silentProvider{name: "silent", released: make(chan error, 1)}
	b := &fakeProvider{name: "b"}
	reg := provider.NewRegistry()
	for _, p := range []provider.Provider{silent, b} {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	m := route.Model{Name: "m", Strategy: "priority", MaxAttempts: 2, PerAttemptTimeout: 50 * time.Millisecond,
		Offerings: []route.Offering{{Provider: "silent", UpstreamModel: "up"}, {Provider: "b", UpstreamModel: "up-b"}}}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	g := New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led})
	s, res, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range llm.All(s) {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if cause := <-silent.released; !errors.Is(cause, errAttemptTimeout) {
		t.Errorf("the silent channel's call ended with cause %v, want the attempt timeout", cause)
	}
	if res.Provider != "b" || len(res.Attempted) != 2 {
		t.Errorf("served by %q after %v, want b after two attempts", res.Provider, res.Attempted)
	}
	if len(led.recs) != 1 || led.recs[0].Status != 200 {
		t.Errorf("ledger %+v", led.recs)
	}
}

// attemptCtxProvider is a fakeProvider that keeps the context of its stream call
// and the stream it answered with.
type attemptCtxProvider struct {
	fakeProvider
	ctx    context.Context
	stream *scriptStream
}

func (p *attemptCtxProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s, err := p.fakeProvider.ChatStream(ctx, req)
	p.ctx = ctx
	if err == nil {
		p.stream = s.(*scriptStream)
	}
	return s, err
}

// A stream attempt without a per-attempt timeout runs in its caller's
// cancellation, with no context of its own for the stream's life, and
// one with a timeout in a context that it cancels; either way closing
// the stream closes the upstream's.
func TestChatStream_AttemptContext(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Minute} {
		p := &attemptCtxProvider{fakeProvider: fakeProvider{name: "a"}}
		reg := provider.NewRegistry()
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
		cat, err := route.NewCatalog([]route.Model{{Name: "m", Strategy: "priority", PerAttemptTimeout: timeout,
			Offerings: []route.Offering{{Provider: "a", UpstreamModel: "up"}}}})
		if err != nil {
			t.Fatal(err)
		}
		g := New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: &memLedger{}})
		ctx, cancel := context.WithCancel(context.Background())
		s, _, err := g.ChatStream(ctx, &Call{Model: "m"}, chatReq())
		if err != nil {
			t.Fatal(err)
		}
		if own := p.ctx.Done() != ctx.Done(); own != (timeout > 0) {
			t.Errorf("timeout %v: the attempt has a context of its own: %v", timeout, own)
		}
		for _, err := range llm.All(s) {
			if err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if !p.stream.closed {
			t.Errorf("timeout %v: the upstream stream is not closed", timeout)
		}
		if timeout > 0 && p.ctx.Err() == nil {
			t.Errorf("timeout %v: the attempt's context is not cancelled once the stream is closed", timeout)
		}
		cancel()
		if p.ctx.Err() == nil {
			t.Errorf("timeout %v: the attempt's context outlives its caller's", timeout)
		}
	}
}
