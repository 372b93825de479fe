package app

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/config"
	"switchyard/internal/route"
	"switchyard/internal/usage"
)

// TestOfferingPricing_Discount: a channel's discount applies to the list
// price of its offerings, an offering's own discount to its own price and
// replaces the channel's, and the router (whose prices the ledger and
// lowest_cost use) gets the discounted price.
func TestOfferingPricing_Discount(t *testing.T) {
	cfg, err := config.Parse([]byte(`
providers:
  - {name: azure-east, type: azure, base_url: https://example.invalid, api_key_env: K, price: {discount_pct: 20}}
  - {name: openai-us, type: openai, api_key_env: K}
models:
  - name: gpt-4o
    offerings:
      - {provider: azure-east}
      - {provider: openai-us, price: {input_per_mtok: 2, output_per_mtok: 8, discount_pct: 50}}
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-east, price: {discount_pct: 10}}
`))
	if err != nil {
		t.Fatal(err)
	}
	book := &usage.PriceBook{BuiltIn: usage.BuiltinCatalogue()}
	list := usage.Price{InputPerMTok: 2.5, OutputPerMTok: 10, CachedInputPerMTok: 1.25}
	miniList := usage.Price{InputPerMTok: 0.15, OutputPerMTok: 0.6, CachedInputPerMTok: 0.075}
	scale := func(p usage.Price, f float64) usage.Price {
		return usage.Price{InputPerMTok: p.InputPerMTok * f, OutputPerMTok: p.OutputPerMTok * f, CachedInputPerMTok: p.CachedInputPerMTok * f}
	}
	for _, tc := range []struct {
		model, provider string
		want            pricing
	}{
		{"gpt-4o", "azure-east", pricing{List: list, Listed: true, Configured: list, DiscountPct: 20, Effective: scale(list, 0.8)}},
		{"gpt-4o", "openai-us", pricing{List: list, Listed: true, Configured: usage.Price{InputPerMTok: 2, OutputPerMTok: 8}, DiscountPct: 50,
			Effective: usage.Price{InputPerMTok: 1, OutputPerMTok: 4}}},
		{"gpt-4o-mini", "azure-east", pricing{List: miniList, Listed: true, Configured: miniList, DiscountPct: 10, Effective: scale(miniList, 0.9)}},
	} {
		var m config.Model
		var o config.Offering
		for _, cm := range cfg.Models {
			for _, co := range cm.Offerings {
				if cm.Name == tc.model && co.Provider == tc.provider {
					m, o = cm, co
				}
			}
		}
		got := offeringPricing(book, cfg, m, o)
		got.Source = usage.PriceSource{}
		approx := cmp.Comparer(func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 })
		if diff := cmp.Diff(tc.want, got, approx, cmp.AllowUnexported(pricing{})); diff != "" {
			t.Errorf("%s on %s (-want +got):\n%s", tc.model, tc.provider, diff)
		}
	}
	r, err := buildRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gpt, _ := r.Catalog().Lookup("gpt-4o")
	if got, want := gpt.Offerings[0].Price, (route.Price{InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: 1}); cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 })) != "" {
		t.Errorf("the router prices gpt-4o on azure-east at %+v, want the discounted %+v", got, want)
	}
}
