package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// typedChannel is a fake channel with its configured vendor type.
type typedChannel struct {
	p   *fakeProvider
	typ string
}

// newTypedGateway serves model "m" from chs, in order.
func newTypedGateway(t *testing.T, chs ...typedChannel) (*Gateway, *memLedger) {
	t.Helper()
	reg := provider.NewRegistry()
	m := route.Model{Name: "m", Strategy: "priority", MaxAttempts: len(chs)}
	for _, c := range chs {
		if err := reg.Add(c.p); err != nil {
			t.Fatal(err)
		}
		m.Offerings = append(m.Offerings, route.Offering{Provider: c.p.name, ProviderType: c.typ, UpstreamModel: "up-" + c.p.name})
	}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	return New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led}), led
}

// unsupported is an adapter's translation refusal, as the vendor
// packages word them.
func unsupported(vendor, feature string) error {
	return fmt.Errorf("%w: %s: %s", llm.ErrUnsupported, vendor, feature)
}

func TestChat_RefusalNamesChannel(t *testing.T) {
	bed := &fakeProvider{name: "aws-us-east-1", errs: []error{unsupported("bedrock", "seed")}}
	g, led := newTypedGateway(t, typedChannel{bed, "bedrock"})
	_, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if !errors.Is(err, llm.ErrUnsupported) || StatusOf(err) != 400 {
		t.Fatalf("error = %v (status %d), want a 400 wrapping llm.ErrUnsupported", err, StatusOf(err))
	}
	if want := `channel "aws-us-east-1" (bedrock) cannot serve this request: unsupported: bedrock: seed`; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if len(res.Attempted) != 0 {
		t.Errorf("attempted %v: a refusal sends nothing upstream", res.Attempted)
	}
	if len(led.recs) != 1 || led.recs[0].Status != 400 || led.recs[0].ErrorKind != "unsupported" || led.recs[0].Attempts != 0 {
		t.Errorf("ledger %+v", led.recs)
	}
	for _, h := range g.Router().Health() {
		if h.Channel == "aws-us-east-1" && (h.State != route.StateClosed || h.WindowRequests != 0) {
			t.Errorf("refusal changed health: %+v", h)
		}
	}
}

func TestChat_RefusalFallsBack(t *testing.T) {
	bed := &fakeProvider{name: "aws-us-east-1", errs: []error{unsupported("bedrock", "messages[0].content[1]: image URL")}}
	ant := &fakeProvider{name: "anthropic-main"}
	g, led := newTypedGateway(t, typedChannel{bed, "bedrock"}, typedChannel{ant, "anthropic"})
	resp, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Parts[0].Text != "hi from anthropic-main" || res.Provider != "anthropic-main" {
		t.Errorf("served by %q: %+v", res.Provider, resp)
	}
	if diff := cmp.Diff([]string{"anthropic-main"}, res.Attempted); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	if len(led.recs) != 1 || led.recs[0].Status != 200 || led.recs[0].Provider != "anthropic-main" || led.recs[0].Attempts != 1 {
		t.Errorf("ledger %+v", led.recs)
	}
}

func TestChat_AllRefuse(t *testing.T) {
	bed := &fakeProvider{name: "aws-us-east-1", errs: []error{unsupported("bedrock", "n>1 (2 choices)")}}
	gem := &fakeProvider{name: "gemini-eu", errs: []error{unsupported("gemini", "n=2 (the gateway's answer holds one candidate)")}}
	g, led := newTypedGateway(t, typedChannel{bed, "bedrock"}, typedChannel{gem, "gemini"})
	_, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if !errors.Is(err, llm.ErrUnsupported) || StatusOf(err) != 400 {
		t.Fatalf("error = %v (status %d), want a 400 wrapping llm.ErrUnsupported", err, StatusOf(err))
	}
	for _, want := range []string{`channel "aws-us-east-1" (bedrock): unsupported: bedrock: n>1`, `channel "gemini-eu" (gemini): unsupported: gemini: n=2`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err.Error(), want)
		}
	}
	if bed.calls != 1 || gem.calls != 1 || led.recs[0].Status != 400 {
		t.Errorf("calls %d/%d, ledger %+v", bed.calls, gem.calls, led.recs)
	}
}

// TestChat_RefusalAndUpstreamFailure checks that a request one channel
// could have served reports that channel's failure, not another's refusal.
func TestChat_RefusalAndUpstreamFailure(t *testing.T) {
	for _, order := range []string{"refusal_first", "failure_first"} {
		t.Run(order, func(t *testing.T) {
			refuses := typedChannel{&fakeProvider{name: "aws-us-east-1", errs: []error{unsupported("bedrock", "seed")}}, "bedrock"}
			fails := typedChannel{&fakeProvider{name: "openai-main", errs: []error{pErr(provider.KindOverloaded)}}, "openai"}
			chs := []typedChannel{refuses, fails}
			if order == "failure_first" {
				chs = []typedChannel{fails, refuses}
			}
			g, led := newTypedGateway(t, chs...)
			_, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindOverloaded || StatusOf(err) != 503 {
				t.Fatalf("error = %v, want the overloaded failure", err)
			}
			if diff := cmp.Diff([]string{"openai-main"}, res.Attempted); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
			if led.recs[0].Status != 503 {
				t.Errorf("ledger %+v", led.recs[0])
			}
		})
	}
}

func TestChat_InvalidStopsAttempts(t *testing.T) {
	a := &fakeProvider{name: "a", errs: []error{fmt.Errorf("%w: openai: inline image without a media type", llm.ErrInvalid)}}
	b := &fakeProvider{name: "b"}
	g, _ := newTypedGateway(t, typedChannel{a, "openai"}, typedChannel{b, "anthropic"})
	_, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if !errors.Is(err, llm.ErrInvalid) || StatusOf(err) != 400 || b.calls != 0 {
		t.Errorf("error = %v, fallback calls %d: an invalid request is the client's to fix", err, b.calls)
	}
}

// TestChat_UpstreamUnsupportedIsNotARefusal checks that an upstream
// answer the adapter classified (a *provider.Error, even one that wraps
// llm.ErrUnsupported) follows the retry rules of its kind.
func TestChat_UpstreamUnsupportedIsNotARefusal(t *testing.T) {
	a := &fakeProvider{name: "a", errs: []error{&provider.Error{Provider: "a", Kind: provider.KindBadRequest, Message: "no",
		Err: fmt.Errorf("%w: audio output", llm.ErrUnsupported)}}}
	b := &fakeProvider{name: "b"}
	g, _ := newTypedGateway(t, typedChannel{a, "openai"}, typedChannel{b, "openai"})
	_, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if err == nil || b.calls != 0 || len(res.Attempted) != 1 {
		t.Errorf("error = %v, attempts %v: a bad request is not retried elsewhere", err, res.Attempted)
	}
}

func TestChatStream_RefusalFallsBack(t *testing.T) {
	bed := &fakeProvider{name: "aws-us-east-1", errs: []error{unsupported("bedrock", "seed")}}
	ant := &fakeProvider{name: "anthropic-main"}
	g, led := newTypedGateway(t, typedChannel{bed, "bedrock"}, typedChannel{ant, "anthropic"})
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
	if res.Provider != "anthropic-main" || len(res.Attempted) != 1 || led.recs[0].Status != 200 {
		t.Errorf("res %+v, ledger %+v", res, led.recs)
	}

	g, led = newTypedGateway(t, typedChannel{&fakeProvider{name: "aws-us-east-1", errs: []error{unsupported("bedrock", "seed")}}, "bedrock"})
	_, _, err = g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
	if !errors.Is(err, llm.ErrUnsupported) || !strings.Contains(err.Error(), `channel "aws-us-east-1" (bedrock)`) || led.recs[0].Status != 400 || !led.recs[0].Stream {
		t.Errorf("error = %v, ledger %+v", err, led.recs)
	}
}
