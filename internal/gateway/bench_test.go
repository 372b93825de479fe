package gateway

import (
	"context"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
	"switchyard/internal/store"
)

type nopLedger struct{}

func (nopLedger) Record(store.UsageRecord) {}

// BenchmarkChat measures the pipeline's own cost per request (admission,
// routing, attempt, metering) around a channel that answers at once.
func BenchmarkChat(b *testing.B) {
	for _, tc := range []struct {
		name    string
		limited bool
	}{{"lean", false}, {"limits_and_budgets", true}} {
		b.Run(tc.name, func(b *testing.B) {
			reg := provider.NewRegistry()
			_ = reg.Add(&fakeProvider{name: "a"})
			cat, _ := route.NewCatalog([]route.Model{{Name: "m", Offerings: []route.Offering{{Provider: "a", UpstreamModel: "up", Price: route.Price{InputPerMTok: 1, OutputPerMTok: 2}}}}})
			o := Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: nopLedger{},
				Cost: func(u llm.Usage, p route.Price) float64 { return float64(u.InputTokens) * p.InputPerMTok / 1e6 }}
			call := &Call{Model: "m", KeyID: "k", TenantID: "t"}
			if tc.limited {
				o.Limiter, o.Spend = ratelimit.NewMemory(), ratelimit.NewMemorySpend()
				call.KeyQuota = Quota{RPM: 1 << 30, TPM: 1 << 30, BudgetUSD: 1e9, BudgetPeriod: "month"}
				call.TenantQuota = Quota{RPM: 1 << 30, BudgetUSD: 1e9, BudgetPeriod: "day"}
			}
			g := New(o)
			req := chatReq()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := g.Chat(ctx, call, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
