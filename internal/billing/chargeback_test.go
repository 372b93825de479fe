package billing

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
	"switchyard/internal/usage"
)

func line(tenant, key, channel, model string, requests, in, out int64, cost float64) store.UsageSummary {
	return store.UsageSummary{Group: strings.Join([]string{tenant, key, channel, model}, store.LineSep), Requests: requests,
		InputTokens: in, OutputTokens: out, CostUSD: cost}
}

func TestBuildChargeback(t *testing.T) {
	labels := map[string]string{"ten_a": "cc-1", "ten_b": "cc-2", "key_b2": "cc-1"}
	o := ChargebackOptions{
		Label: "cost_centre",
		LabelOf: func(tenant, key string) string {
			if v, ok := labels[key]; ok {
				return v
			}
			return labels[tenant]
		},
		Price: func(model, channel string) (Pricing, bool) {
			switch channel + "/" + model {
			case "azure/gpt":
				return Pricing{List: usage.Price{InputPerMTok: 2.5, OutputPerMTok: 10}, Listed: true,
					Configured: usage.Price{InputPerMTok: 2, OutputPerMTok: 8}, DiscountPct: 25}, true
			case "vllm/llama":
				return Pricing{Configured: usage.Price{InputPerMTok: 1, OutputPerMTok: 1}}, true
			}
			return Pricing{}, false
		},
		Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	}
	cb := BuildChargeback([]store.UsageSummary{
		line("ten_a", "key_a1", "azure", "gpt", 10, 1_000_000, 100_000, 2.1),
		line("ten_a", "", "azure", "gpt", 5, 1_000_000, 0, 1.5),
		// A key labelled apart from its tenant.
		line("ten_b", "key_b2", "azure", "gpt", 1, 0, 1_000_000, 6),
		line("ten_b", "key_b1", "vllm", "llama", 2, 1_000_000, 1_000_000, 2),
		line("ten_c", "key_c", "retired", "old", 3, 10, 10, 0.5),
	}, o)
	type brief struct {
		Value, Channel, Model                  string
		Requests                               int64
		List, Configured, Discount, Net, Charg float64
		Listed, Priced                         bool
	}
	var got []brief
	for _, r := range cb.Rows {
		got = append(got, brief{r.Value, r.Channel, r.Model, r.Requests, r.ListUSD, r.ConfiguredUSD, r.DiscountUSD, r.NetUSD, r.ChargedUSD, r.Listed, r.Priced})
	}
	want := []brief{
		{"", "retired", "old", 3, 0, 0, 0, 0, 0.5, false, false},
		// 2M input and 0.1M output + 1M output: list 5+1+10, configured 4+0.8+8.
		{"cc-1", "azure", "gpt", 16, 16, 12.8, 3.2, 9.6, 9.6, true, true},
		{"cc-2", "vllm", "llama", 2, 0, 2, 0, 2, 2, false, true},
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if cb.Total.Requests != 21 || math.Abs(cb.Total.ChargedUSD-12.1) > 1e-9 || cb.Total.Priced || cb.Total.Listed {
		t.Errorf("total %+v", cb.Total)
	}

	var buf bytes.Buffer
	if err := cb.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || !cmp.Equal(recs[0], chargebackHeader) {
		t.Fatalf("csv:\n%s", buf.String())
	}
	if diff := cmp.Diff([]string{"cost_centre", "cc-1", "azure", "gpt", "16", "2000000", "1100000", "0", "0", "0", "16.000000000",
		"12.800000000", "25", "3.200000000", "9.600000000", "9.600000000", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"}, recs[2]); diff != "" {
		t.Errorf("csv row (-want +got):\n%s", diff)
	}
	if retired := recs[1]; retired[10] != "" || retired[11] != "" || retired[15] != "0.500000000" {
		t.Errorf("an unpriced row shows prices: %q", retired)
	}
	if total := recs[4]; total[1] != "(total)" || total[4] != "21" {
		t.Errorf("total line %q", total)
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{"cc-1": "cc-1", "=HYPERLINK()": "'=HYPERLINK()", "-1": "'-1", "": ""} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
