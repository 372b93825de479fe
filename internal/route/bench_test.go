package route

import (
	"fmt"
	"testing"
	"time"
)

// benchRouter has one model on ten channels and ten contracts: six
// exclusivity contracts (three of which match the benchmark's request)
// and four commitments.
func benchRouter(b *testing.B, strategy string) *Router {
	b.Helper()
	types := []string{"azure", "bedrock", "openai", "anthropic", "gemini"}
	regions := []string{"eastus", "westeurope", "eu-central-1", "us-east-1", "eu-west-3"}
	m := Model{Name: "gpt-5", Aliases: []string{"openai.gpt-5-v1:0"}, Strategy: strategy}
	for i := range 10 {
		m.Offerings = append(m.Offerings, Offering{
			Provider: fmt.Sprintf("ch%d", i), ProviderType: types[i%len(types)], Region: regions[i%len(regions)],
			UpstreamModel: "gpt-5", Weight: float64(1 + i%3),
			Price: Price{InputPerMTok: 1 + float64(i%4)/4, OutputPerMTok: 10 - float64(i%3)},
		})
	}
	contracts := []Contract{
		{Name: "no-gemini", Match: Match{Models: []string{"gpt-*"}}, Allow: &Allow{ProviderTypes: []string{"azure", "bedrock", "openai", "anthropic"}}},
		{Name: "stateless-pinned", Match: Match{Traffic: Stateless}, Allow: &Allow{ProviderTypes: []string{"azure", "bedrock", "openai"}, Regions: []string{"eu-*"}}},
		{Name: "acme-residency", Match: Match{Tenants: []string{"acme", "acme-eu"}}, Allow: &Allow{Regions: []string{"eu-*", "westeurope", "eastus"}}},
		{Name: "claude-only", Match: Match{Models: []string{"claude-*"}}, Allow: &Allow{ProviderTypes: []string{"anthropic"}}},
		{Name: "stateful-aws", Match: Match{Traffic: Stateful}, Allow: &Allow{ProviderTypes: []string{"bedrock"}}},
		{Name: "bank", Match: Match{Tenants: []string{"bank"}}, Allow: &Allow{Providers: []string{"ch1", "ch2"}}},
	}
	for i := range 4 {
		contracts = append(contracts, Contract{Name: fmt.Sprintf("commit-%d", i),
			Commitment: &Commitment{Provider: fmt.Sprintf("ch%d", i*2), AmountUSD: 1000, Period: PeriodMonth}})
	}
	cat, err := NewCatalog([]Model{m})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)
	x := uint64(1)
	r, err := New(Options{Catalog: cat, Contracts: contracts, Now: func() time.Time { return now },
		Rand: func() float64 { // not shared across goroutines in this benchmark
			x = x*6364136223846793005 + 1442695040888963407
			return float64(x>>11) / (1 << 53)
		}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		r.Observe(fmt.Sprintf("ch%d", i), Outcome{Success: true, TTFB: time.Duration(50+i*7) * time.Millisecond, Latency: time.Second, CostUSD: 10})
	}
	return r
}

func BenchmarkPlan(b *testing.B) {
	for _, strategy := range []string{StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyLowestCost} {
		b.Run(strategy, func(b *testing.B) {
			r := benchRouter(b, strategy)
			in := Input{Model: "gpt-5", Tenant: "acme", Traffic: Stateless, EstInputTokens: 1200, EstOutputTokens: 300}
			if d, err := r.Plan(in); err != nil || len(d.Order) == 0 {
				b.Fatalf("plan: %v %+v", err, d)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Plan(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	r := benchRouter(b, StrategyPriority)
	o := Outcome{Success: true, TTFB: 80 * time.Millisecond, Latency: time.Second, CostUSD: 0.002}
	b.ReportAllocs()
	for b.Loop() {
		r.Observe("ch2", o)
	}
}
