package billing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/usage"
)

// ledger is an in-memory HourSource over raw records, summed as the store
// sums them.
type ledger []store.UsageRecord

func (l ledger) ScanUsageHours(ctx context.Context, since, until time.Time, fn func(*store.UsageHour) error) error {
	type key struct {
		hour                                      time.Time
		tenant, model, provider, traffic, contrac string
	}
	sums := map[key]*store.UsageHour{}
	var keys []key
	for _, r := range l {
		hour := r.CreatedAt.UTC().Truncate(time.Hour)
		if hour.Before(since) || !hour.Before(until) {
			continue
		}
		k := key{hour, r.TenantID, r.Model, r.Provider, r.Traffic, strings.Join(r.Contracts, ",")}
		h := sums[k]
		if h == nil {
			h = &store.UsageHour{Hour: hour, TenantID: r.TenantID, Model: r.Model, Provider: r.Provider, Traffic: r.Traffic, Contracts: r.Contracts}
			sums[k] = h
			keys = append(keys, k)
		}
		h.Requests++
		if r.Failed() {
			h.Errors++
		}
		h.InputTokens += r.InputTokens
		h.OutputTokens += r.OutputTokens
		h.CachedInputTokens += r.CachedInputTokens
		h.CacheWriteTokens += r.CacheWriteTokens
		h.ReasoningTokens += r.ReasoningTokens
		h.CostUSD += r.CostUSD
		h.Latency += r.Latency
	}
	slices.SortStableFunc(keys, func(a, b key) int { return a.hour.Compare(b.hour) })
	for _, k := range keys {
		if err := fn(sums[k]); err != nil {
			return err
		}
	}
	return nil
}

var (
	azurePrice   = route.Price{InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: 0.5}
	bedrockPrice = route.Price{InputPerMTok: 3, OutputPerMTok: 15}
	start        = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
)

func catalog(t *testing.T, gptStrategy string) *route.Catalog {
	t.Helper()
	c, err := route.NewCatalog([]route.Model{
		{Name: "gpt-x", Strategy: gptStrategy, Offerings: []route.Offering{
			{Provider: "azure-east", ProviderType: "azure", Region: "eastus", UpstreamModel: "gpt-x", Price: azurePrice, Weight: 3},
			{Provider: "bedrock-us", ProviderType: "bedrock", Region: "us-east-1", UpstreamModel: "openai.gpt-x", Price: bedrockPrice, Weight: 1},
		}},
		{Name: "claude-y", Offerings: []route.Offering{
			{Provider: "bedrock-us", ProviderType: "bedrock", Region: "us-east-1", UpstreamModel: "anthropic.claude-y", Price: bedrockPrice},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// history is 3 days of traffic as it was served: everything of gpt-x on
// Azure, claude-y on Bedrock, and a model the proposal drops.
func history() ledger {
	var l ledger
	for i := range 3 * 24 * 6 {
		at := start.Add(time.Duration(i) * 10 * time.Minute)
		tenant := []string{"ten_acme", "ten_globex"}[i%2]
		traffic := []string{route.Stateless, route.Stateful, route.Stateless}[i%3]
		model, provider, price := "gpt-x", "azure-east", azurePrice
		switch i % 7 {
		case 3:
			model, provider, price = "claude-y", "bedrock-us", bedrockPrice
		case 5:
			model, provider, price = "old-model", "azure-east", route.Price{InputPerMTok: 1, OutputPerMTok: 1}
		}
		u := llm.Usage{InputTokens: int64(1000 + 37*i), OutputTokens: int64(200 + 11*i%300), CachedInputTokens: int64(i % 400)}
		r := store.UsageRecord{RequestID: fmt.Sprint(i), TenantID: tenant, Model: model, Provider: provider, Traffic: traffic,
			InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CachedInputTokens: u.CachedInputTokens,
			CostUSD: usage.Cost(u, usage.Price(price)), Status: 200, Latency: time.Duration(100+i%50) * time.Millisecond, CreatedAt: at}
		if i%13 == 0 {
			r.Status, r.ErrorKind, r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.CostUSD = 503, "unavailable", 0, 0, 0, 0
		}
		l = append(l, r)
	}
	return l
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestWhatIf_MovesStatefulTraffic proposes that stateful traffic go to
// Bedrock only, and that acme's claude-y stay on Azure, which does not
// offer it: the report's figures must equal a direct computation over the
// same records, and every request the proposal cannot place is counted.
func TestWhatIf_MovesStatefulTraffic(t *testing.T) {
	l := history()
	contracts := []route.Contract{
		{Name: "stateful-on-bedrock", Match: route.Match{Traffic: route.Stateful}, Allow: &route.Allow{ProviderTypes: []string{"bedrock"}}},
		{Name: "acme-azure-only", Match: route.Match{Models: []string{"claude-*"}, Tenants: []string{"acme"}},
			Allow: &route.Allow{Providers: []string{"azure-east"}}},
	}
	rep, err := WhatIf(t.Context(), l, WhatIfOptions{
		Proposed: route.Options{Catalog: catalog(t, ""), Contracts: contracts},
		Tenants:  map[string]string{"ten_acme": "acme", "ten_globex": "globex"},
		Since:    start.Add(-30 * time.Minute), Until: start.Add(72 * time.Hour),
		Book: &usage.PriceBook{BuiltIn: usage.BuiltinCatalogue()},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The direct computation, record by record.
	type sums struct {
		n   int64
		usd float64
	}
	wantChannel := map[string]*sums{}
	var actual, proposed, unplaced sums
	unplacedBy := map[string]int64{}
	for _, r := range l {
		actual.n++
		actual.usd += r.CostUSD
		var channel string
		var price route.Price
		switch {
		case r.Model == "old-model":
			unplacedBy["unknown_model"]++
		case r.Model == "claude-y" && r.TenantID == "ten_acme":
			unplacedBy["contract"]++
		case r.Traffic == route.Stateful || r.Model == "claude-y":
			channel, price = "bedrock-us", bedrockPrice
		default:
			channel, price = "azure-east", azurePrice
		}
		if channel == "" {
			unplaced.n++
			unplaced.usd += r.CostUSD
			continue
		}
		c := usage.Cost(llm.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CachedInputTokens: r.CachedInputTokens}, usage.Price(price))
		proposed.n++
		proposed.usd += c
		if wantChannel[channel] == nil {
			wantChannel[channel] = &sums{}
		}
		wantChannel[channel].n++
		wantChannel[channel].usd += c
	}
	if rep.Actual.Requests != actual.n || !near(rep.Actual.CostUSD, actual.usd) {
		t.Errorf("actual = %+v, want %d requests, $%v", rep.Actual, actual.n, actual.usd)
	}
	if rep.Proposed.Requests != proposed.n || !near(rep.Proposed.CostUSD, proposed.usd) {
		t.Errorf("proposed = %+v, want %d requests, $%v", rep.Proposed, proposed.n, proposed.usd)
	}
	if rep.Unplaced.Requests != unplaced.n || !near(rep.Unplaced.CostUSD, unplaced.usd) || unplaced.n == 0 {
		t.Errorf("unplaced = %+v, want %d requests, $%v", rep.Unplaced, unplaced.n, unplaced.usd)
	}
	if rep.Actual.Requests != rep.Proposed.Requests+rep.Unplaced.Requests {
		t.Errorf("requests dropped: %d actual, %d placed + %d unplaced", rep.Actual.Requests, rep.Proposed.Requests, rep.Unplaced.Requests)
	}
	for _, c := range rep.ByChannel {
		w := wantChannel[c.Name]
		if w == nil {
			w = &sums{}
		}
		if c.ProposedRequests != w.n || !near(c.ProposedUSD, w.usd) {
			t.Errorf("channel %s: proposed %d requests $%v, want %d $%v", c.Name, c.ProposedRequests, c.ProposedUSD, w.n, w.usd)
		}
	}
	gotBy := map[string]int64{}
	for _, u := range rep.Unplaceable {
		gotBy[u.Reason] += u.Requests
		if u.Reason == "contract" && !slices.Equal(u.Contracts, []string{"acme-azure-only"}) {
			t.Errorf("unplaceable %+v: want it to name contract acme-azure-only", u)
		}
	}
	if diff := cmp.Diff(unplacedBy, gotBy); diff != "" {
		t.Errorf("unplaceable by reason (-want +got):\n%s", diff)
	}
	if !rep.Exact {
		t.Errorf("priority routing without commitments reported as estimated: %q", rep.Notes)
	}
	var sumContracts int64
	for _, c := range rep.ByContract {
		if c.Name == "stateful-on-bedrock" {
			sumContracts += c.ProposedRequests
		}
	}
	if sumContracts == 0 {
		t.Error("no proposed requests under contract stateful-on-bedrock")
	}
	var tenants int64
	for _, c := range rep.ByTenant {
		tenants += c.ActualRequests
		if c.Name != "acme" && c.Name != "globex" {
			t.Errorf("tenant row %q: want tenant names", c.Name)
		}
	}
	if tenants != actual.n {
		t.Errorf("tenant rows count %d requests, want %d", tenants, actual.n)
	}
}

// TestWhatIf_WeightedSplit: a weighted model's requests are split by the
// weights of the channels the contracts leave, and say they are estimated.
func TestWhatIf_WeightedSplit(t *testing.T) {
	var l ledger
	for i := range 400 {
		l = append(l, store.UsageRecord{TenantID: "t", Model: "gpt-x", Provider: "azure-east", Traffic: route.Stateless,
			InputTokens: 1000, OutputTokens: 100, Status: 200, CreatedAt: start.Add(time.Duration(i) * time.Minute)})
	}
	rep, err := WhatIf(t.Context(), l, WhatIfOptions{Proposed: route.Options{Catalog: catalog(t, route.StrategyWeighted)},
		Since: start, Until: start.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var usd float64
	for _, c := range rep.ByChannel {
		got[c.Name] = c.ProposedRequests
		usd += c.ProposedUSD
	}
	if diff := cmp.Diff(map[string]int64{"azure-east": 300, "bedrock-us": 100}, got); diff != "" {
		t.Errorf("weighted 3:1 split (-want +got):\n%s", diff)
	}
	u := llm.Usage{InputTokens: 400 * 1000, OutputTokens: 400 * 100}
	want := 0.75*usage.Cost(u, usage.Price(azurePrice)) + 0.25*usage.Cost(u, usage.Price(bedrockPrice))
	if !near(usd, want) || !near(rep.Proposed.CostUSD, want) {
		t.Errorf("proposed cost $%v (total $%v), want $%v", usd, rep.Proposed.CostUSD, want)
	}
	if rep.Exact || rep.ByModel[0].Basis != basisWeighted {
		t.Errorf("exact %v, basis %q: a weighted split is an estimate", rep.Exact, rep.ByModel[0].Basis)
	}
}

// TestWhatIf_CommitmentPace: a commitment behind pace draws the traffic
// to its channel, and its pace is reported per period.
func TestWhatIf_CommitmentPace(t *testing.T) {
	var l ledger
	for i := range 48 * 4 {
		l = append(l, store.UsageRecord{TenantID: "t", Model: "gpt-x", Provider: "azure-east", Traffic: route.Stateless,
			InputTokens: 100000, OutputTokens: 10000, Status: 200, CostUSD: 0.28, CreatedAt: start.Add(time.Duration(i) * 15 * time.Minute)})
	}
	contracts := []route.Contract{{Name: "bedrock-daily", Commitment: &route.Commitment{Provider: "bedrock-us", AmountUSD: 20, Period: route.PeriodDay}}}
	rep, err := WhatIf(t.Context(), l, WhatIfOptions{Proposed: route.Options{Catalog: catalog(t, ""), Contracts: contracts},
		Since: start, Until: start.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Commitments) != 2 {
		t.Fatalf("commitments = %+v, want one row per day", rep.Commitments)
	}
	for _, p := range rep.Commitments {
		// A request on Bedrock costs $0.45: pacing keeps the day's spend
		// within one hour's traffic of the $20 line.
		if p.Covered != 1 || p.ProposedUSD < 20-4*0.45 || p.ProposedUSD > 20+4*0.45 || p.ActualUSD != 0 {
			t.Errorf("pace %+v: want the day covered and about $20 proposed on bedrock-us", p)
		}
		if p.Short != (p.ProjectedUSD < 20) {
			t.Errorf("pace %+v: short disagrees with the projection", p)
		}
	}
	if rep.Exact {
		t.Error("commitment-steered placements reported as exact")
	}
}

func TestWhatIf_Errors(t *testing.T) {
	opts := WhatIfOptions{Proposed: route.Options{Catalog: catalog(t, "")}, Since: start, Until: start}
	if _, err := WhatIf(t.Context(), ledger{}, opts); err == nil {
		t.Error("empty window accepted")
	}
	opts.Until = start.Add(MaxWhatIfWindow + time.Hour)
	if _, err := WhatIf(t.Context(), ledger{}, opts); err == nil {
		t.Error("a window beyond MaxWhatIfWindow accepted")
	}
	opts.Until = start.Add(time.Hour)
	opts.Proposed.Contracts = []route.Contract{{Name: "bad"}}
	if _, err := WhatIf(t.Context(), ledger{}, opts); err == nil {
		t.Error("an invalid contract accepted")
	}
	stop := errors.New("ledger down")
	opts.Proposed.Contracts = nil
	if _, err := WhatIf(t.Context(), failing{stop}, opts); !errors.Is(err, stop) {
		t.Errorf("a ledger error: got %v, want it wrapped", err)
	}
}

type failing struct{ err error }

func (f failing) ScanUsageHours(context.Context, time.Time, time.Time, func(*store.UsageHour) error) error {
	return f.err
}

func TestApportion(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		fracs []float64
		want  []int64
	}{
		{10, []float64{0.75, 0.25}, []int64{8, 2}},
		{1, []float64{0.5, 0.5}, []int64{1, 0}},
		{7, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, []int64{3, 2, 2}},
		{0, []float64{1}, []int64{0}},
	} {
		if got := apportion(tc.n, tc.fracs); !slices.Equal(got, tc.want) {
			t.Errorf("apportion(%d, %v) = %v, want %v", tc.n, tc.fracs, got, tc.want)
		}
	}
}
