package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
)

// countingProvider is a fakeProvider whose API counts tokens: each count
// takes the next scripted error (nil succeeds) and answers tokens.
type countingProvider struct {
	*fakeProvider
	tokens int
}

func (c *countingProvider) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	if err := c.next(req.Model); err != nil {
		return 0, err
	}
	return c.tokens, nil
}

var _ provider.TokenCounter = (*countingProvider)(nil)

// countGateway serves model "m" from the channels in order (priority),
// under the contracts, with a memory rate limiter and a ledger.
func countGateway(t *testing.T, contracts []route.Contract, ps ...provider.Provider) (*Gateway, *memLedger, *route.Router) {
	t.Helper()
	reg := provider.NewRegistry()
	m := route.Model{Name: "m", Strategy: "priority", MaxAttempts: len(ps)}
	for _, p := range ps {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
		m.Offerings = append(m.Offerings, route.Offering{Provider: p.Name(), ProviderType: "fake", UpstreamModel: "up-" + p.Name()})
	}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	r, err := route.New(route.Options{Catalog: cat, Contracts: contracts})
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	return New(Options{Runtime: Runtime{Router: r, Providers: reg}, Ledger: led, Limiter: ratelimit.NewMemory()}), led, r
}

// estimateOf is the estimate function the tests pass: a figure no
// channel answers.
func estimateOf(*llm.Request) int { return 7 }

func TestCountTokens_FirstChannelThatCounts(t *testing.T) {
	plain := &fakeProvider{name: "plain"}
	b := &countingProvider{fakeProvider: &fakeProvider{name: "b"}, tokens: 42}
	c := &countingProvider{fakeProvider: &fakeProvider{name: "c"}, tokens: 43}
	g, led, r := countGateway(t, nil, plain, b, c)
	got, res, err := g.CountTokens(context.Background(), &Call{Model: "m", RequestID: "q1"}, chatReq(), estimateOf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(TokenCount{InputTokens: 42, Source: CountUpstream}, got); diff != "" {
		t.Errorf("count (-want +got):\n%s", diff)
	}
	if plain.calls != 0 || b.calls != 1 || c.calls != 0 {
		t.Errorf("calls plain=%d b=%d c=%d, want 0 1 0", plain.calls, b.calls, c.calls)
	}
	if diff := cmp.Diff([]string{"up-b"}, b.models); diff != "" {
		t.Errorf("model sent (-want +got):\n%s", diff)
	}
	if res.Provider != "b" || res.UpstreamModel != "up-b" || !cmp.Equal(res.Attempted, []string{"b"}) {
		t.Errorf("result: provider %q model %q attempted %v", res.Provider, res.UpstreamModel, res.Attempted)
	}
	if len(led.recs) != 0 {
		t.Errorf("a count wrote %d ledger rows, want none", len(led.recs))
	}
	for _, h := range r.Health() {
		if h.WindowRequests != 0 {
			t.Errorf("a count was reported to %s's health: %+v", h.Channel, h)
		}
	}
}

func TestCountTokens_FallsBackThenEstimates(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindOverloaded, provider.KindBadRequest, provider.KindAuth, provider.KindBadResponse} {
		t.Run(kind.String(), func(t *testing.T) {
			b := &countingProvider{fakeProvider: &fakeProvider{name: "b", errs: []error{pErr(kind)}}, tokens: 42}
			c := &countingProvider{fakeProvider: &fakeProvider{name: "c"}, tokens: 43}
			g, _, _ := countGateway(t, nil, b, c)
			got, res, err := g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), estimateOf)
			if err != nil {
				t.Fatal(err)
			}
			if got != (TokenCount{InputTokens: 43, Source: CountUpstream}) || res.Provider != "c" || !cmp.Equal(res.Attempted, []string{"b", "c"}) {
				t.Errorf("got %+v from %q after %v, want 43 from c after b", got, res.Provider, res.Attempted)
			}
		})
	}
	t.Run("all fail", func(t *testing.T) {
		b := &countingProvider{fakeProvider: &fakeProvider{name: "b", errs: []error{pErr(provider.KindUnavailable)}}}
		c := &countingProvider{fakeProvider: &fakeProvider{name: "c", errs: []error{pErr(provider.KindTimeout)}}}
		g, led, _ := countGateway(t, nil, b, c)
		got, res, err := g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), estimateOf)
		if err != nil {
			t.Fatal(err)
		}
		if got != (TokenCount{InputTokens: 7, Source: CountEstimate}) || res.Provider != "" {
			t.Errorf("got %+v from %q, want the estimate", got, res.Provider)
		}
		if b.calls != 1 || c.calls != 1 || len(led.recs) != 0 {
			t.Errorf("calls b=%d c=%d, ledger rows %d; want 1 1 0", b.calls, c.calls, len(led.recs))
		}
	})
}

func TestCountTokens_AttemptBudget(t *testing.T) {
	b := &countingProvider{fakeProvider: &fakeProvider{name: "b", errs: []error{pErr(provider.KindUnavailable)}}}
	c := &countingProvider{fakeProvider: &fakeProvider{name: "c"}, tokens: 43}
	reg := provider.NewRegistry()
	_ = reg.Add(b)
	_ = reg.Add(c)
	cat, err := route.NewCatalog([]route.Model{{Name: "m", Strategy: "priority", MaxAttempts: 1, Offerings: []route.Offering{
		{Provider: "b", UpstreamModel: "up-b"}, {Provider: "c", UpstreamModel: "up-c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}})
	got, _, err := g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), estimateOf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != CountEstimate || c.calls != 0 {
		t.Errorf("got %+v with %d calls to c; a model of one attempt gets one count attempt", got, c.calls)
	}
}

func TestCountTokens_RefusalIsNotAnAttempt(t *testing.T) {
	refused := fmt.Errorf("%w: claude counting", llm.ErrUnsupported)
	b := &countingProvider{fakeProvider: &fakeProvider{name: "b", errs: []error{refused}}}
	c := &countingProvider{fakeProvider: &fakeProvider{name: "c"}, tokens: 43}
	g, _, _ := countGateway(t, nil, b, c)
	got, res, err := g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), estimateOf)
	if err != nil {
		t.Fatal(err)
	}
	if got != (TokenCount{InputTokens: 43, Source: CountUpstream}) || !cmp.Equal(res.Attempted, []string{"c"}) {
		t.Errorf("got %+v after %v, want 43 from c alone", got, res.Attempted)
	}
}

func TestCountTokens_EstimateWhenNoChannelCounts(t *testing.T) {
	a := &fakeProvider{name: "a"}
	g, _, _ := countGateway(t, nil, a)
	got, res, err := g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), func(r *llm.Request) int {
		return len(r.Messages[0].Parts[0].Text)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != (TokenCount{InputTokens: len("hello"), Source: CountEstimate}) || a.calls != 0 || len(res.Attempted) != 0 {
		t.Errorf("got %+v, %d calls, attempted %v; want the estimate and no call", got, a.calls, res.Attempted)
	}
}

func TestCountTokens_ContractKeepsCountOff(t *testing.T) {
	counter := &countingProvider{fakeProvider: &fakeProvider{name: "counter"}, tokens: 42}
	plain := &fakeProvider{name: "plain"}
	onlyPlain := route.Contract{Name: "only-plain", Allow: &route.Allow{Providers: []string{"plain"}}}
	g, _, _ := countGateway(t, []route.Contract{onlyPlain}, counter, plain)
	got, res, err := g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), estimateOf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != CountEstimate || counter.calls != 0 {
		t.Errorf("got %+v with %d calls to the forbidden channel", got, counter.calls)
	}
	if res.Decision == nil || !cmp.Equal(res.Decision.Contracts, []string{"only-plain"}) {
		t.Errorf("decision does not name the contract: %+v", res.Decision)
	}

	// A contract that forbids every channel: nothing is sent, the
	// estimate answers.
	onlyNone := route.Contract{Name: "only-none", Allow: &route.Allow{Providers: []string{"elsewhere"}}}
	g, _, _ = countGateway(t, []route.Contract{onlyNone}, counter)
	got, _, err = g.CountTokens(context.Background(), &Call{Model: "m"}, chatReq(), estimateOf)
	if err != nil || got.Source != CountEstimate || counter.calls != 0 {
		t.Errorf("every channel forbidden: got %+v, %v, %d calls; want the estimate", got, err, counter.calls)
	}
}

func TestCountTokens_Errors(t *testing.T) {
	b := &countingProvider{fakeProvider: &fakeProvider{name: "b"}, tokens: 42}
	g, _, _ := countGateway(t, nil, b)
	var ge *Error
	_, _, err := g.CountTokens(context.Background(), &Call{Model: "nope"}, chatReq(), estimateOf)
	if !errors.As(err, &ge) || ge.Kind != ErrModelNotFound {
		t.Errorf("unknown model: %v", err)
	}
	_, _, err = g.CountTokens(context.Background(), &Call{Model: "m", AllowedModels: []string{"other-*"}}, chatReq(), estimateOf)
	if !errors.As(err, &ge) || ge.Kind != ErrModelNotAllowed {
		t.Errorf("model not allowed: %v", err)
	}
	if b.calls != 0 {
		t.Errorf("%d counts sent for refused requests", b.calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = g.CountTokens(ctx, &Call{Model: "m"}, chatReq(), estimateOf)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

// A count takes a request from the requests-per-minute limit, and nothing
// from the tokens-per-minute limit.
func TestCountTokens_RequestLimit(t *testing.T) {
	b := &countingProvider{fakeProvider: &fakeProvider{name: "b"}, tokens: 42}
	g, _, _ := countGateway(t, nil, b)
	call := &Call{Model: "m", KeyID: "k1", TenantID: "t1", KeyQuota: Quota{RPM: 2, TPM: 1}}
	for i := range 2 {
		if _, res, err := g.CountTokens(context.Background(), call, chatReq(), estimateOf); err != nil || res.Limits == nil {
			t.Fatalf("count %d: %v (limits %v)", i, err, res.Limits)
		}
	}
	_, _, err := g.CountTokens(context.Background(), call, chatReq(), estimateOf)
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrRateLimited || ge.Limit != ratelimit.LimitRequests || ge.RetryAfter <= 0 || ge.RetryAfter > time.Minute {
		t.Fatalf("third count in a minute of RPM 2: %v, want a request-limit refusal", err)
	}
	if b.calls != 2 {
		t.Errorf("%d counts reached the channel, want 2", b.calls)
	}
}
