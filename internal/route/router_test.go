package route

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPlan_UnknownModel(t *testing.T) {
	r := twoChannelRouter(t, newClock(t0))
	d, err := r.Plan(Input{Model: "nope"})
	if !errors.Is(err, ErrUnknownModel) || d != nil {
		t.Fatalf("Plan(nope) = %v, %v", d, err)
	}
}

func TestPlan_Strategies(t *testing.T) {
	withWeights := func(ws ...float64) []Offering {
		var out []Offering
		for i, w := range ws {
			o := off(string(rune('a'+i)), "", "")
			o.Weight = w
			out = append(out, o)
		}
		return out
	}
	priced := func(prices ...[2]float64) []Offering {
		var out []Offering
		for i, p := range prices {
			o := off(string(rune('a'+i)), "", "")
			o.Price = Price{InputPerMTok: p[0], OutputPerMTok: p[1]}
			out = append(out, o)
		}
		return out
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		strategy  string
		offerings []Offering
		in        Input
		samples   map[string]time.Duration // TTFB per channel
		latencies map[string]time.Duration // total latency only
		draws     []float64
		want      []string
		why       string
	}{
		{name: "priority", strategy: StrategyPriority, offerings: withWeights(1, 1, 1), want: []string{"a", "b", "c"},
			why: "priority: configured order"},
		{name: "default_is_priority", offerings: withWeights(1, 1), want: []string{"a", "b"}},
		// Weights 1, 2, 1 (total 4): 0.3×4 = 1.2 falls in b's share [1, 3).
		// Then a, c with total 2: 0.6×2 = 1.2 falls in c's share [1, 2).
		{name: "weighted_middle_then_last", strategy: StrategyWeighted, offerings: withWeights(1, 2, 1),
			draws: []float64{0.3, 0.6}, want: []string{"b", "c", "a"},
			why: "weighted: drew b first (weight 2 of 4), then c, a by weight"},
		{name: "weighted_first_then_first", strategy: StrategyWeighted, offerings: withWeights(1, 2, 1),
			draws: []float64{0.1, 0.1}, want: []string{"a", "b", "c"}},
		{name: "weighted_last_edge", strategy: StrategyWeighted, offerings: withWeights(1, 2, 1),
			draws: []float64{0.999, 0.999}, want: []string{"c", "b", "a"}},
		{name: "weighted_zero_is_one", strategy: StrategyWeighted, offerings: withWeights(0, 3),
			draws: []float64{0.2}, want: []string{"a", "b"}},
		{name: "weighted_heavy", strategy: StrategyWeighted, offerings: withWeights(1, 99),
			draws: []float64{0.02}, want: []string{"b", "a"}},
		{name: "least_latency", strategy: StrategyLeastLatency, offerings: withWeights(1, 1, 1),
			samples: map[string]time.Duration{"a": 300 * ms, "b": 100 * ms, "c": 200 * ms},
			draws:   []float64{0.5}, want: []string{"b", "c", "a"},
			why: "least_latency: b 100ms, c 200ms, a 300ms"},
		{name: "least_latency_unsampled_first", strategy: StrategyLeastLatency, offerings: withWeights(1, 1, 1),
			samples: map[string]time.Duration{"a": 300 * ms, "b": 100 * ms},
			want:    []string{"c", "b", "a"}, // no exploration draw while c needs samples
			why:     "least_latency: c (no samples yet), b 100ms, a 300ms"},
		{name: "least_latency_total_without_ttfb", strategy: StrategyLeastLatency, offerings: withWeights(1, 1),
			samples: map[string]time.Duration{"a": 300 * ms}, latencies: map[string]time.Duration{"b": 200 * ms},
			draws: []float64{0.5}, want: []string{"b", "a"}},
		// 0.04 < 5% explores; 0.75 picks the second of the two others.
		{name: "least_latency_explores", strategy: StrategyLeastLatency, offerings: withWeights(1, 1, 1),
			samples: map[string]time.Duration{"a": 300 * ms, "b": 100 * ms, "c": 200 * ms},
			draws:   []float64{0.04, 0.75}, want: []string{"a", "b", "c"},
			why: "least_latency: b 100ms, c 200ms, a 300ms; exploring a first (5% of requests)"},
		{name: "lowest_cost_for_tokens", strategy: StrategyLowestCost,
			offerings: priced([2]float64{3, 15}, [2]float64{1, 20}, [2]float64{2, 10}),
			in:        Input{EstInputTokens: 10000, EstOutputTokens: 1000},
			// a: 0.03+0.015 = 0.045; b: 0.01+0.02 = 0.03; c: 0.02+0.01 = 0.03
			want: []string{"b", "c", "a"},
			why:  "lowest_cost for 10000 input and 1000 output tokens: b $0.03, c $0.03, a $0.045"},
		{name: "lowest_cost_output_heavy", strategy: StrategyLowestCost,
			offerings: priced([2]float64{3, 15}, [2]float64{1, 20}, [2]float64{2, 10}),
			in:        Input{EstInputTokens: 100, EstOutputTokens: 10000},
			want:      []string{"c", "a", "b"}},
		{name: "lowest_cost_without_estimate", strategy: StrategyLowestCost,
			offerings: priced([2]float64{3, 15}, [2]float64{1, 20}, [2]float64{2, 10}),
			want:      []string{"c", "a", "b"},
			why:       "lowest_cost per million input and output tokens: c $12, a $18, b $21"},
		{name: "lowest_cost_ties_keep_order", strategy: StrategyLowestCost,
			offerings: priced([2]float64{1, 1}, [2]float64{1, 1}, [2]float64{1, 1}),
			in:        Input{EstInputTokens: 5}, want: []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(t0)
			r := newTestRouter(t, []Model{{Name: "m", Strategy: tc.strategy, Offerings: tc.offerings}}, nil, clk, draws(t, tc.draws...))
			for ch, d := range tc.samples {
				r.Observe(ch, Outcome{Success: true, TTFB: d, Latency: 2 * d})
			}
			for ch, d := range tc.latencies {
				r.Observe(ch, Outcome{Success: true, Latency: d})
			}
			tc.in.Model = "m"
			d := mustPlan(t, r, tc.in)
			if diff := cmp.Diff(tc.want, providers(d.Order)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if tc.why != "" && !containsString(d.Why, tc.why) {
				t.Errorf("why %q lacks %q", d.Why, tc.why)
			}
			if d.MaxAttempts != len(d.Order) {
				t.Errorf("max attempts %d for %d offerings", d.MaxAttempts, len(d.Order))
			}
		})
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestPlan_WeightedDistribution(t *testing.T) {
	// With a real source, first choices follow the weights.
	offs := []Offering{off("a", "", ""), off("b", "", ""), off("c", "", "")}
	offs[0].Weight, offs[1].Weight, offs[2].Weight = 1, 3, 6
	var mu sync.Mutex
	x := uint64(1)
	lcg := func() float64 { // a small deterministic generator
		mu.Lock()
		defer mu.Unlock()
		x = x*6364136223846793005 + 1442695040888963407
		return float64(x>>11) / (1 << 53)
	}
	r := newTestRouter(t, []Model{{Name: "m", Strategy: StrategyWeighted, Offerings: offs}}, nil, newClock(t0), lcg)
	first := map[string]int{}
	const n = 20000
	for range n {
		first[mustPlan(t, r, Input{Model: "m"}).Order[0].Provider]++
	}
	for ch, share := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6} {
		if got := float64(first[ch]) / n; got < share-0.02 || got > share+0.02 {
			t.Errorf("%s first in %.3f of plans, want about %.2f", ch, got, share)
		}
	}
}

// contractModels is a small estate: gpt-5 on Azure (two regions), Bedrock
// and OpenAI; claude on Anthropic and Bedrock.
func contractModels() []Model {
	return []Model{
		{Name: "gpt-5", Aliases: []string{"openai.gpt-5-v1:0"}, Offerings: []Offering{
			off("azure-eastus", "azure", "eastus"), off("azure-weu", "azure", "westeurope"),
			off("aws-us-east-1", "bedrock", "us-east-1"), off("openai-direct", "openai", ""),
		}},
		{Name: "claude-sonnet", Offerings: []Offering{
			off("anthropic", "anthropic", ""), off("aws-us-east-1", "bedrock", "us-east-1"), off("aws-eu-central-1", "bedrock", "eu-central-1"),
		}},
	}
}

func TestPlan_Exclusivity(t *testing.T) {
	azureOnly := Contract{Name: "stateless-on-azure", Match: Match{Models: []string{"gpt-*"}, Traffic: Stateless},
		Allow: &Allow{ProviderTypes: []string{"azure"}}}
	euOnly := Contract{Name: "eu-data-stays-in-eu", Match: Match{Tenants: []string{"acme-eu"}},
		Allow: &Allow{Regions: []string{"eu-*", "westeurope"}}}
	notWEU := Contract{Name: "no-weu", Match: Match{Tenants: []string{"acme-eu"}}, Allow: &Allow{Regions: []string{"eu-*"}}}
	bedrockOnly := Contract{Name: "bedrock-only", Match: Match{Models: []string{"claude-*"}}, Allow: &Allow{Providers: []string{"aws-us-east-1", "aws-eu-central-1"}}}
	for _, tc := range []struct {
		name      string
		contracts []Contract
		in        Input
		order     []string
		contract  []string // Decision.Contracts
		removedBy map[string][]string
		err       string
	}{
		{name: "no_contract", in: Input{Model: "gpt-5"}, order: []string{"azure-eastus", "azure-weu", "aws-us-east-1"}},
		{name: "stateless_on_azure", contracts: []Contract{azureOnly}, in: Input{Model: "gpt-5"},
			order: []string{"azure-eastus", "azure-weu"}, contract: []string{"stateless-on-azure"},
			removedBy: map[string][]string{"aws-us-east-1": {"stateless-on-azure"}, "openai-direct": {"stateless-on-azure"}}},
		{name: "alias_is_the_same_model", contracts: []Contract{azureOnly}, in: Input{Model: "openai.gpt-5-v1:0"},
			order: []string{"azure-eastus", "azure-weu"}, contract: []string{"stateless-on-azure"}},
		{name: "stateful_not_matched", contracts: []Contract{azureOnly}, in: Input{Model: "gpt-5", Traffic: Stateful},
			order: []string{"azure-eastus", "azure-weu", "aws-us-east-1"}},
		{name: "other_model_not_matched", contracts: []Contract{azureOnly}, in: Input{Model: "claude-sonnet"},
			order: []string{"anthropic", "aws-us-east-1", "aws-eu-central-1"}},
		{name: "residency_for_tenant", contracts: []Contract{euOnly}, in: Input{Model: "claude-sonnet", Tenant: "acme-eu"},
			order: []string{"aws-eu-central-1"}, contract: []string{"eu-data-stays-in-eu"}},
		{name: "residency_other_tenant", contracts: []Contract{euOnly}, in: Input{Model: "claude-sonnet", Tenant: "acme"},
			order: []string{"anthropic", "aws-us-east-1", "aws-eu-central-1"}},
		{name: "two_contracts_both_hold", contracts: []Contract{azureOnly, euOnly}, in: Input{Model: "gpt-5", Tenant: "acme-eu"},
			order: []string{"azure-weu"}, contract: []string{"stateless-on-azure", "eu-data-stays-in-eu"},
			removedBy: map[string][]string{
				"azure-eastus":  {"eu-data-stays-in-eu"},
				"aws-us-east-1": {"stateless-on-azure", "eu-data-stays-in-eu"},
				"openai-direct": {"stateless-on-azure", "eu-data-stays-in-eu"},
			}},
		{name: "contracts_leave_nothing", contracts: []Contract{azureOnly, notWEU}, in: Input{Model: "gpt-5", Tenant: "acme-eu"},
			contract: []string{"stateless-on-azure", "no-weu"},
			err:      `no channel allowed by contracts "stateless-on-azure" and "no-weu" serves model "gpt-5"`},
		{name: "one_contract_leaves_nothing", contracts: []Contract{notWEU}, in: Input{Model: "gpt-5", Tenant: "acme-eu"},
			contract: []string{"no-weu"},
			err:      `no channel allowed by contract "no-weu" serves model "gpt-5"`},
		{name: "matched_contract_that_removes_nothing_is_not_blamed", contracts: []Contract{bedrockOnly, euOnly}, in: Input{Model: "claude-sonnet", Tenant: "acme-eu"},
			order: []string{"aws-eu-central-1"}, contract: []string{"bedrock-only", "eu-data-stays-in-eu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t, contractModels(), tc.contracts, newClock(t0), nil)
			d, err := r.Plan(tc.in)
			if tc.err != "" {
				var ne *NoChannelError
				if err == nil || err.Error() != tc.err || !errors.Is(err, ErrNoChannel) || !errors.As(err, &ne) {
					t.Fatalf("err = %v, want %q wrapping ErrNoChannel", err, tc.err)
				}
				if d == nil || len(d.Order) != 0 {
					t.Fatalf("decision with the error: %+v", d)
				}
				for _, c := range d.Candidates {
					if c.Reason != ReasonContract || c.Removed == "" {
						t.Errorf("candidate %s: reason %q removed %q", c.Provider, c.Reason, c.Removed)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.order, providers(d.Order), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.contract, d.Contracts); diff != "" {
				t.Errorf("contracts (-want +got):\n%s", diff)
			}
			for _, c := range d.Candidates {
				if want, ok := tc.removedBy[c.Provider]; ok {
					if diff := cmp.Diff(want, c.Contracts); diff != "" || c.Reason != ReasonContract {
						t.Errorf("%s removed by %v (reason %q), want %v", c.Provider, c.Contracts, c.Reason, want)
					}
					if !strings.Contains(c.Removed, want[len(want)-1]) {
						t.Errorf("%s: removal %q does not name %q", c.Provider, c.Removed, want[len(want)-1])
					}
				}
			}
		})
	}
}

func TestPlan_ExclusivityNeverFallsBackWhenUnhealthy(t *testing.T) {
	clk := newClock(t0)
	azureOnly := Contract{Name: "stateless-on-azure", Match: Match{Models: []string{"gpt-*"}}, Allow: &Allow{ProviderTypes: []string{"azure"}}}
	r := newTestRouter(t, contractModels(), []Contract{azureOnly}, clk, nil)
	for range 20 {
		r.Observe("azure-eastus", fail)
		r.Observe("azure-weu", fail)
	}
	d, err := r.Plan(Input{Model: "gpt-5"})
	want := `every channel allowed by contract "stateless-on-azure" for model "gpt-5" is unhealthy (circuit breaker open)`
	var ne *NoChannelError
	if !errors.As(err, &ne) || !ne.Unhealthy || err.Error() != want || !errors.Is(err, ErrNoChannel) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if len(d.Order) != 0 {
		t.Fatalf("order %v", providers(d.Order))
	}
	reasons := map[string]Reason{}
	for _, c := range d.Candidates {
		reasons[c.Provider] = c.Reason
	}
	if diff := cmp.Diff(map[string]Reason{"azure-eastus": ReasonBreakerOpen, "azure-weu": ReasonBreakerOpen,
		"aws-us-east-1": ReasonContract, "openai-direct": ReasonContract}, reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	// Both half-open: one plan probes both; eastus recovers but asks for
	// a minute's rest. Cool-downs are advice: an allowed channel that is
	// only cooling is still tried when nothing else is.
	clk.Advance(10 * time.Second)
	d = mustPlan(t, r, Input{Model: "gpt-5"})
	if len(d.Order) != 2 || len(d.Probes) != 2 {
		t.Fatalf("half-open probes: order %v, probes %v", providers(d.Order), d.Probes)
	}
	r.Observe("azure-eastus", probed(t, d, "azure-eastus", Outcome{Success: true, RetryAfter: time.Minute}))
	d = mustPlan(t, r, Input{Model: "gpt-5"})
	if got := providers(d.Order); len(got) != 1 || got[0] != "azure-eastus" || d.Candidates[1].Reason != ReasonProbeBusy {
		t.Errorf("cooling allowed channel: order %v, candidates %+v", got, d.Candidates)
	}
}

func TestPlan_WithoutExclusivityProbesTheLeastBad(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	for range 20 {
		r.Observe("b", fail)
	}
	clk.Advance(2 * time.Second)
	for range 20 {
		r.Observe("a", fail)
	}
	d := mustPlan(t, r, Input{Model: "m"})
	// b's breaker opened first, so it half-opens first: it leads.
	if diff := cmp.Diff([]string{"b", "a"}, providers(d.Order)); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
	if h := healthOf(t, r, "b"); h.State != StateHalfOpen {
		t.Errorf("b forced to probe is %s", h.State)
	}
	r.Observe("b", probed(t, d, "b", success))
	if h := healthOf(t, r, "b"); h.State != StateClosed {
		t.Errorf("b after a successful forced probe is %s", h.State)
	}
	if d := mustPlan(t, r, Input{Model: "m"}); len(d.Order) != 1 || d.Order[0].Provider != "b" || d.Candidates[0].Reason != ReasonProbeBusy {
		t.Errorf("after recovery: %+v", d)
	}
}

func TestPlan_CoolDown(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	r.CoolDown("a", 3*time.Second)
	r.CoolDown("a", time.Second) // a shorter cool-down does not shorten it
	d := mustPlan(t, r, Input{Model: "m"})
	if got := providers(d.Order); len(got) != 1 || got[0] != "b" {
		t.Fatalf("order %v", got)
	}
	if c := d.Candidates[0]; c.Reason != ReasonCoolingDown || c.Removed != "cooling down after a rate limit until 2025-05-14T12:00:03Z" {
		t.Errorf("candidate a: %+v", c)
	}
	r.Observe("b", Outcome{Retryable: true, RetryAfter: 5 * time.Second})
	d = mustPlan(t, r, Input{Model: "m"})
	if got := providers(d.Order); len(got) != 2 {
		t.Errorf("all cooling: order %v, want both", got)
	}
	clk.Advance(3 * time.Second)
	if got := providers(mustPlan(t, r, Input{Model: "m"}).Order); len(got) != 1 || got[0] != "a" {
		t.Errorf("a's cool-down over: order %v", got)
	}
}

func TestPlan_AttemptBudget(t *testing.T) {
	offs := []Offering{off("a", "", ""), off("b", "", ""), off("c", "", ""), off("d", "", "")}
	for _, tc := range []struct {
		max  int
		want []string
	}{{0, []string{"a", "b", "c"}}, {1, []string{"a"}}, {4, []string{"a", "b", "c", "d"}}, {9, []string{"a", "b", "c", "d"}}} {
		r := newTestRouter(t, []Model{{Name: "m", MaxAttempts: tc.max, Offerings: offs}}, nil, newClock(t0), nil)
		d := mustPlan(t, r, Input{Model: "m"})
		if diff := cmp.Diff(tc.want, providers(d.Order)); diff != "" || d.MaxAttempts != len(tc.want) {
			t.Errorf("MaxAttempts %d: order (-want +got):\n%s", tc.max, diff)
		}
		for _, c := range d.Candidates[len(tc.want):] {
			if c.Reason != ReasonAttemptBudget {
				t.Errorf("MaxAttempts %d: %s reason %q", tc.max, c.Provider, c.Reason)
			}
		}
	}
}

func TestPlan_PerAttemptTimeout(t *testing.T) {
	r := newTestRouter(t, []Model{{Name: "m", PerAttemptTimeout: 20 * time.Second, Offerings: []Offering{off("a", "", "")}}}, nil, newClock(t0), nil)
	if d := mustPlan(t, r, Input{Model: "m"}); d.PerAttemptTimeout != 20*time.Second {
		t.Errorf("per-attempt timeout %v", d.PerAttemptTimeout)
	}
}

func TestDecision_Header(t *testing.T) {
	d := &Decision{Strategy: "priority", Contracts: []string{"x", "y"}}
	if got, want := d.Header([]string{"a", "b"}), "strategy=priority; attempts=a,b; contracts=x,y"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := (&Decision{Strategy: "weighted"}).Header(nil), "strategy=weighted"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		d                   *Decision
		attempted           []string
		wantAtt, wantContrs []string
	}{
		{&Decision{Strategy: "priority", Contracts: []string{"x", "y"}}, []string{"a", "b"}, []string{"a", "b"}, []string{"x", "y"}},
		{&Decision{Strategy: "weighted"}, nil, nil, nil},
		{&Decision{Strategy: "priority", Contracts: []string{"eu-only"}}, nil, nil, []string{"eu-only"}},
		{&Decision{Strategy: "lowest_cost"}, []string{"azure-sim"}, []string{"azure-sim"}, nil},
	} {
		h := tc.d.Header(tc.attempted)
		att, contrs := ParseHeader(h)
		if !slices.Equal(att, tc.wantAtt) || !slices.Equal(contrs, tc.wantContrs) {
			t.Errorf("ParseHeader(%q) = %q, %q; want %q, %q", h, att, contrs, tc.wantAtt, tc.wantContrs)
		}
	}
}

func TestExplain_HasNoSideEffects(t *testing.T) {
	clk := newClock(t0)
	r := twoChannelRouter(t, clk)
	for range 20 {
		r.Observe("a", fail)
	}
	clk.Advance(10 * time.Second)
	for range 3 {
		d, err := r.Explain(Input{Model: "m"})
		if err != nil || len(d.Order) != 2 {
			t.Fatalf("explain: %v %+v", err, d)
		}
	}
	// Plan still finds the probe slot free.
	if d := mustPlan(t, r, Input{Model: "m"}); len(d.Order) != 2 {
		t.Errorf("plan after explain: %v", providers(d.Order))
	}
}

func TestCommitment_PacingAcrossPeriod(t *testing.T) {
	// A $3100 monthly commitment on aws over May (31 days): the pacing
	// line rises by $100 a day.
	commit := Contract{Name: "aws-commitment", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 3100, Period: PeriodMonth}}
	clk := newClock(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC))
	r := newTestRouter(t, contractModels(), []Contract{commit}, clk, nil)
	type check struct {
		day      int     // day of May, at 00:00 UTC
		spend    float64 // observed on aws before the check
		behind   bool
		first    string
		pacing   float64
		spentUSD float64
	}
	for i, c := range []check{
		{day: 1, behind: false, first: "azure-eastus", pacing: 0},                                     // nothing due yet
		{day: 2, behind: true, first: "aws-us-east-1", pacing: 100},                                   // $100 due, $0 spent
		{day: 2, spend: 99, behind: true, first: "aws-us-east-1", pacing: 100, spentUSD: 99},          // still behind
		{day: 2, spend: 1, behind: false, first: "azure-eastus", pacing: 100, spentUSD: 100},          // on the line: not preferred
		{day: 11, spend: 0, behind: true, first: "aws-us-east-1", pacing: 1000, spentUSD: 100},        // time passes
		{day: 11, spend: 1500, behind: false, first: "azure-eastus", pacing: 1000, spentUSD: 1600},    // ahead
		{day: 17, spend: 0, behind: false, first: "azure-eastus", pacing: 1600, spentUSD: 1600},       // exactly on pace
		{day: 31, spend: 0, behind: true, first: "aws-us-east-1", pacing: 3000, spentUSD: 1600},       // behind at month end
		{day: 32, spend: 0, behind: false, first: "azure-eastus", pacing: 0, spentUSD: 0},             // June 1st: a new period
		{day: 33, spend: 50, behind: true, first: "aws-us-east-1", pacing: 3100.0 / 30, spentUSD: 50}, // June 2nd
	} {
		clk.Set(time.Date(2025, 5, c.day, 0, 0, 0, 0, time.UTC))
		if c.spend > 0 {
			r.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: c.spend})
		}
		st := r.CommitmentStatus(clk.Now())
		if len(st) != 1 {
			t.Fatalf("check %d: %d states", i, len(st))
		}
		s := st[0]
		if s.Behind != c.behind || !near(s.PacingUSD, c.pacing) || !near(s.SpentUSD, c.spentUSD) || s.Contract != "aws-commitment" || s.Provider != "aws-us-east-1" {
			t.Errorf("check %d: status %+v, want behind %v pacing %v spent %v", i, s, c.behind, c.pacing, c.spentUSD)
		}
		d := mustPlan(t, r, Input{Model: "gpt-5"})
		if d.Order[0].Provider != c.first {
			t.Errorf("check %d (day %d): first %s, want %s (why %q)", i, c.day, d.Order[0].Provider, c.first, d.Why)
		}
		if got := containsString(d.Contracts, "aws-commitment"); got != c.behind {
			t.Errorf("check %d: commitment in contracts = %v, want %v", i, got, c.behind)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func TestCommitment_NeverOverridesExclusivityOrHealth(t *testing.T) {
	clk := newClock(time.Date(2025, 5, 20, 0, 0, 0, 0, time.UTC))
	commit := Contract{Name: "aws-commitment", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 1000, Period: PeriodMonth}}
	azureOnly := Contract{Name: "stateless-on-azure", Match: Match{Models: []string{"gpt-*"}, Traffic: Stateless},
		Allow: &Allow{ProviderTypes: []string{"azure"}}}
	r := newTestRouter(t, contractModels(), []Contract{azureOnly, commit}, clk, nil)

	d := mustPlan(t, r, Input{Model: "gpt-5"})
	if diff := cmp.Diff([]string{"azure-eastus", "azure-weu"}, providers(d.Order)); diff != "" {
		t.Errorf("exclusivity: order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"stateless-on-azure"}, d.Contracts); diff != "" {
		t.Errorf("exclusivity: contracts (-want +got):\n%s", diff)
	}
	d = mustPlan(t, r, Input{Model: "gpt-5", Traffic: Stateful})
	if diff := cmp.Diff([]string{"aws-us-east-1", "azure-eastus", "azure-weu"}, providers(d.Order)); diff != "" {
		t.Errorf("stateful: order (-want +got):\n%s", diff)
	}
	for range 20 {
		r.Observe("aws-us-east-1", fail)
	}
	d = mustPlan(t, r, Input{Model: "gpt-5", Traffic: Stateful})
	if diff := cmp.Diff([]string{"azure-eastus", "azure-weu", "openai-direct"}, providers(d.Order)); diff != "" {
		t.Errorf("unhealthy: order (-want +got):\n%s", diff)
	}
}

func TestCommitment_MostBehindFirstAndMatch(t *testing.T) {
	clk := newClock(time.Date(2025, 5, 16, 12, 0, 0, 0, time.UTC)) // half of May
	contracts := []Contract{
		{Name: "openai-commit", Commitment: &Commitment{Provider: "openai-direct", AmountUSD: 100, Period: PeriodMonth}},
		{Name: "aws-commit", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodMonth}},
		{Name: "weu-for-acme", Match: Match{Tenants: []string{"acme"}}, Commitment: &Commitment{Provider: "azure-weu", AmountUSD: 100, Period: PeriodDay}},
	}
	r := newTestRouter(t, contractModels(), contracts, clk, nil)
	r.Observe("openai-direct", Outcome{Success: true, CostUSD: 30}) // 20 behind
	r.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 10}) // 40 behind
	d := mustPlan(t, r, Input{Model: "gpt-5"})
	if diff := cmp.Diff([]string{"aws-us-east-1", "openai-direct", "azure-eastus"}, providers(d.Order)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"aws-commit", "openai-commit"}, d.Contracts); diff != "" {
		t.Errorf("contracts (-want +got):\n%s", diff)
	}
	// acme's day commitment on azure-weu is 50% behind; aws 40%.
	d = mustPlan(t, r, Input{Model: "gpt-5", Tenant: "acme"})
	if diff := cmp.Diff([]string{"azure-weu", "aws-us-east-1", "openai-direct"}, providers(d.Order)); diff != "" {
		t.Errorf("acme: order (-want +got):\n%s", diff)
	}
}

func TestSeedSpend(t *testing.T) {
	clk := newClock(time.Date(2025, 5, 16, 12, 0, 0, 0, time.UTC))
	contracts := []Contract{
		{Name: "month", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodMonth}},
		{Name: "year", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 1000, Period: PeriodYear}},
	}
	r := newTestRouter(t, contractModels(), contracts, clk, nil)
	may := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r.SeedSpend("aws-us-east-1", may, 40)
	r.SeedSpend("aws-us-east-1", may, 45) // replaces
	r.SeedSpend("aws-us-east-1", jan, 300)
	r.SeedSpend("aws-us-east-1", may.AddDate(0, -1, 0), 999) // a past period: ignored
	r.SeedSpend("anthropic", may, 10)                        // no commitment: ignored
	r.SeedSpend("nope", may, 10)
	r.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 5})
	got := map[string]float64{}
	for _, s := range r.CommitmentStatus(clk.Now()) {
		got[s.Contract] = s.SpentUSD
	}
	if diff := cmp.Diff(map[string]float64{"month": 50, "year": 305}, got); diff != "" {
		t.Errorf("spent (-want +got):\n%s", diff)
	}
}

func TestAdopt(t *testing.T) {
	clk := newClock(time.Date(2025, 5, 16, 12, 0, 0, 0, time.UTC))
	commit := []Contract{{Name: "aws", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodMonth}}}
	old := newTestRouter(t, contractModels(), commit, clk, nil)
	for range 20 {
		old.Observe("azure-eastus", fail)
	}
	old.Observe("azure-weu", Outcome{Success: true, TTFB: 80 * time.Millisecond, Latency: time.Second, RetryAfter: time.Minute})
	old.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 12})

	// The new configuration drops openai-direct and adds gemini.
	models := contractModels()
	models[0].Offerings[3] = off("gemini", "gemini", "")
	r := newTestRouter(t, models, commit, clk, nil)
	r.Adopt(old)
	r.Adopt(nil)
	r.Adopt(r)
	want := map[string]ChannelHealth{}
	for _, h := range old.Health() {
		if h.Channel != "openai-direct" {
			want[h.Channel] = h
		}
	}
	want["gemini"] = ChannelHealth{Channel: "gemini", State: StateClosed}
	got := map[string]ChannelHealth{}
	for _, h := range r.Health() {
		got[h.Channel] = h
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("health after adopt (-want +got):\n%s", diff)
	}
	if s := r.CommitmentStatus(clk.Now()); s[0].SpentUSD != 12 {
		t.Errorf("spend after adopt: %+v", s)
	}
	// The old router's state is its own: observing on the new one leaves
	// it alone.
	r.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 1})
	if s := old.CommitmentStatus(clk.Now()); s[0].SpentUSD != 12 {
		t.Errorf("old router's spend changed: %+v", s)
	}
}

func TestAdopt_KeepsSeedsOfNewPeriods(t *testing.T) {
	clk := newClock(time.Date(2025, 5, 16, 12, 0, 0, 0, time.UTC))
	old := newTestRouter(t, contractModels(), []Contract{
		{Name: "aws", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodMonth}},
	}, clk, nil)
	old.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 12})
	// The reload keeps the month, adds a year on the same channel and a
	// commitment on a channel that had none; the new router is seeded
	// from the ledger before it adopts the old one's state.
	r := newTestRouter(t, contractModels(), []Contract{
		{Name: "aws", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodMonth}},
		{Name: "aws-year", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 1000, Period: PeriodYear}},
		{Name: "weu", Commitment: &Commitment{Provider: "azure-weu", AmountUSD: 100, Period: PeriodMonth}},
	}, clk, nil)
	may, jan := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r.SeedSpend("aws-us-east-1", may, 11) // the old router's count is more recent
	r.SeedSpend("aws-us-east-1", jan, 300)
	r.SeedSpend("azure-weu", may, 7)
	r.Adopt(old)
	got := map[string]float64{}
	for _, s := range r.CommitmentStatus(clk.Now()) {
		got[s.Contract] = s.SpentUSD
	}
	if diff := cmp.Diff(map[string]float64{"aws": 12, "aws-year": 300, "weu": 7}, got); diff != "" {
		t.Errorf("spent after adopt (-want +got):\n%s", diff)
	}
}

func TestRefreshSpend(t *testing.T) {
	clk := newClock(time.Date(2025, 5, 16, 12, 0, 0, 0, time.UTC))
	r := newTestRouter(t, contractModels(), []Contract{
		{Name: "month", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodMonth}},
		{Name: "day", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 10, Period: PeriodDay}},
	}, clk, nil)
	spent := func() map[string]float64 {
		got := map[string]float64{}
		for _, s := range r.CommitmentStatus(clk.Now()) {
			got[s.Contract] = s.SpentUSD
		}
		return got
	}
	may, today := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 5, 16, 0, 0, 0, 0, time.UTC)
	r.SeedSpend("aws-us-east-1", may, 40)
	r.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 5})
	marks := r.MarkSpend()
	if len(marks) != 2 || marks[0].Channel != "aws-us-east-1" || !marks[0].PeriodStart.Equal(may) || !marks[1].PeriodStart.Equal(today) {
		t.Fatalf("marks %+v", marks)
	}
	// Spent after the mark, while the ledger is read: not yet in the sums.
	r.Observe("aws-us-east-1", Outcome{Success: true, CostUSD: 2})
	// The ledger holds this router's 5 and 30 from other replicas this
	// month, 3 of them today.
	r.RefreshSpend(marks[0], 40+5+30)
	r.RefreshSpend(marks[1], 5+3)
	if diff := cmp.Diff(map[string]float64{"month": 77, "day": 10}, spent()); diff != "" {
		t.Errorf("after refresh (-want +got):\n%s", diff)
	}
	// The next refresh counts the 2 from the ledger, not twice.
	marks = r.MarkSpend()
	r.RefreshSpend(marks[0], 77)
	r.RefreshSpend(marks[1], 10)
	if diff := cmp.Diff(map[string]float64{"month": 77, "day": 10}, spent()); diff != "" {
		t.Errorf("second refresh (-want +got):\n%s", diff)
	}
	// A mark of a period that ended is ignored.
	clk.Advance(24 * time.Hour)
	r.RefreshSpend(marks[1], 99)
	if got := spent()["day"]; got != 0 {
		t.Errorf("new day's spend %v after a refresh of the old day", got)
	}
}

func TestNewRouter_Compat(t *testing.T) {
	cat, err := NewCatalog([]Model{{Name: "m", Offerings: []Offering{off("a", "", "")}}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(cat, nil)
	if r.Catalog() != cat {
		t.Error("Catalog() is not the router's catalog")
	}
	if d := mustPlan(t, r, Input{Model: "m"}); d.Strategy != StrategyPriority || d.Traffic != Stateless {
		t.Errorf("decision %+v", d)
	}
}

func TestPlan_Concurrent(t *testing.T) {
	// Run with -race: plans, outcomes and reports from many goroutines.
	clk := newClock(t0)
	cat, err := NewCatalog(contractModels())
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Catalog: cat, Now: clk.Now, Contracts: []Contract{
		{Name: "aws", Commitment: &Commitment{Provider: "aws-us-east-1", AmountUSD: 100, Period: PeriodDay}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				d, err := r.Plan(Input{Model: "gpt-5"})
				if err != nil {
					t.Error(err)
					return
				}
				o := success
				if (g+i)%3 == 0 {
					o = fail
				}
				o.CostUSD = 0.01
				r.Observe(d.Order[0].Provider, o)
				if i%50 == 0 {
					r.Health()
					r.CommitmentStatus(clk.Now())
					clk.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
}
