package route

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// explainModels is the estate the explain goldens are made on.
func explainModels() []Model {
	price := func(o Offering, in, out float64) Offering {
		o.Price = Price{InputPerMTok: in, OutputPerMTok: out}
		return o
	}
	return []Model{
		{Name: "gpt-5", Aliases: []string{"openai.gpt-5-v1:0"}, Strategy: StrategyLowestCost, MaxAttempts: 2,
			PerAttemptTimeout: 30 * time.Second, Offerings: []Offering{
				price(off("azure-eastus", "azure", "eastus"), 1.25, 10),
				price(off("azure-weu", "azure", "westeurope"), 1.25, 10),
				price(off("aws-eu-central-1", "bedrock", "eu-central-1"), 1.1, 9),
				price(off("aws-eu-west-3", "bedrock", "eu-west-3"), 1.0, 8),
				price(off("openai-direct", "openai", ""), 1.25, 10),
				price(off("aws-eu-north-1", "bedrock", "eu-north-1"), 1.5, 12),
			}},
		{Name: "claude-sonnet", Strategy: StrategyWeighted, Offerings: []Offering{
			{Provider: "anthropic", ProviderType: "anthropic", UpstreamModel: "claude-sonnet-4-5", Weight: 1},
			{Provider: "aws-eu-central-1", ProviderType: "bedrock", Region: "eu-central-1", UpstreamModel: "anthropic.claude-sonnet-4-5-v1:0", Weight: 3},
			{Provider: "aws-eu-west-3", ProviderType: "bedrock", Region: "eu-west-3", UpstreamModel: "anthropic.claude-sonnet-4-5-v1:0", Weight: 2},
		}},
		{Name: "llama", Strategy: StrategyLeastLatency, Offerings: []Offering{
			off("vllm-a", "openai-compatible", "eu-central-1"), off("vllm-b", "openai-compatible", "eu-central-1"), off("vllm-c", "openai-compatible", "eu-central-1"),
		}},
	}
}

func explainContracts() []Contract {
	return []Contract{
		{Name: "stateless-on-azure", Match: Match{Models: []string{"gpt-*"}, Traffic: Stateless}, Allow: &Allow{ProviderTypes: []string{"azure"}}},
		{Name: "eu-data-stays-in-eu", Match: Match{Tenants: []string{"acme-eu"}}, Allow: &Allow{Regions: []string{"eu-*", "westeurope"}}},
		{Name: "aws-commitment", Commitment: &Commitment{Provider: "aws-eu-west-3", AmountUSD: 3100, Period: PeriodMonth, Pacing: PacingEven}},
		{Name: "no-anthropic-direct", Match: Match{Models: []string{"claude-*"}, Tenants: []string{"bank"}}, Allow: &Allow{ProviderTypes: []string{"bedrock"}}},
		{Name: "gov-on-vertex", Match: Match{Tenants: []string{"gov"}}, Allow: &Allow{ProviderTypes: []string{"vertex"}}},
	}
}

func TestExplain_Golden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    Input
		draws []float64
		// prepare sets up health and spend at 2025-05-11 00:00 UTC, ten
		// days into May: $1000 is due on the commitment.
		prepare func(r *Router, clk *clock)
	}{
		{name: "stateful_eu_tenant_commitment_health_budget", in: Input{Model: "gpt-5", Tenant: "acme-eu", Traffic: Stateful, EstInputTokens: 2000, EstOutputTokens: 500},
			prepare: func(r *Router, clk *clock) {
				r.SeedSpend("aws-eu-west-3", time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), 400)
				r.Observe("azure-weu", Outcome{Retryable: true, RetryAfter: 30 * time.Second})
				for range 20 {
					r.Observe("aws-eu-central-1", fail)
				}
			}},
		{name: "commitment_ahead", in: Input{Model: "openai.gpt-5-v1:0", Traffic: Stateful},
			prepare: func(r *Router, clk *clock) {
				r.SeedSpend("aws-eu-west-3", time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), 1200)
			}},
		{name: "stateless_eu_tenant_two_contracts", in: Input{Model: "gpt-5", Tenant: "acme-eu"}},
		{name: "contracts_leave_nothing", in: Input{Model: "claude-sonnet", Tenant: "gov"}},
		{name: "exclusive_channels_unhealthy", in: Input{Model: "gpt-5"},
			prepare: func(r *Router, clk *clock) {
				for range 20 {
					r.Observe("azure-eastus", fail)
					r.Observe("azure-weu", fail)
				}
			}},
		{name: "weighted_bank", in: Input{Model: "claude-sonnet", Tenant: "bank"}, draws: []float64{0.7}},
		{name: "least_latency_explores_and_probes", in: Input{Model: "llama"}, draws: []float64{0.01, 0.9},
			prepare: func(r *Router, clk *clock) {
				r.Observe("vllm-a", Outcome{Success: true, TTFB: 80 * time.Millisecond, Latency: 900 * time.Millisecond})
				r.Observe("vllm-b", Outcome{Success: true, TTFB: 40 * time.Millisecond, Latency: 700 * time.Millisecond})
				r.Observe("vllm-c", Outcome{Success: true, TTFB: 500 * time.Millisecond, Latency: 3 * time.Second})
				for range 20 {
					r.Observe("vllm-c", fail)
				}
				clk.Advance(10 * time.Second)
			}},
		{name: "all_down_without_exclusivity", in: Input{Model: "llama"},
			prepare: func(r *Router, clk *clock) {
				for _, ch := range []string{"vllm-c", "vllm-a", "vllm-b"} {
					for range 20 {
						r.Observe(ch, fail)
					}
					clk.Advance(time.Second)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(time.Date(2025, 5, 11, 0, 0, 0, 0, time.UTC))
			r := newTestRouter(t, explainModels(), explainContracts(), clk, draws(t, tc.draws...))
			if tc.prepare != nil {
				tc.prepare(r, clk)
			}
			d, err := r.Plan(tc.in)
			out := struct {
				Decision *Decision `json:"decision"`
				Error    string    `json:"error,omitempty"`
			}{Decision: d}
			if err != nil {
				out.Error = err.Error()
			}
			got, jerr := json.MarshalIndent(out, "", "  ")
			if jerr != nil {
				t.Fatal(jerr)
			}
			golden(t, "explain/"+tc.name+".json", append(got, '\n'))
		})
	}
}
