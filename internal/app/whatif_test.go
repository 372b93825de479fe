package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/billing"
	"switchyard/internal/llm"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/usage"
)

// whatIfProposal moves stateful traffic from Azure to Bedrock and keeps
// acme-eu's traffic in the EU, where only Bedrock carries gpt-4o-mini and
// nothing carries gpt-4o.
const whatIfProposal = `
store: {driver: sqlite, dsn: DIR/ledger.db}
providers:
  - {name: azure-east, type: azure, base_url: https://example.invalid/azure, api_key_env: K, region: eastus}
  - {name: openai-us, type: openai, base_url: https://example.invalid/v1, api_key_env: K, region: us}
  - {name: bedrock-eu, type: bedrock, base_url: https://example.invalid/bedrock, region: eu-west-1, access_key_id_env: A, secret_access_key_env: S}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-east, upstream_model: mini-deployment, price: {input_per_mtok: 0.12, output_per_mtok: 0.48}}
      - {provider: bedrock-eu, upstream_model: openai.gpt-4o-mini-v1:0, price: {input_per_mtok: 0.2, output_per_mtok: 0.9}}
  - name: gpt-4o
    offerings:
      - {provider: openai-us, upstream_model: gpt-4o, price: {input_per_mtok: 2.5, output_per_mtok: 10}}
contracts:
  - name: stateful-on-bedrock
    match: {traffic: stateful}
    allow: {provider_types: [bedrock]}
  - name: eu-stays-in-eu
    match: {tenants: [acme-eu]}
    allow: {regions: ["eu-*"]}
`

var (
	proposedMini    = usage.Price{InputPerMTok: 0.12, OutputPerMTok: 0.48} // 20% below list
	proposedMiniEU  = usage.Price{InputPerMTok: 0.2, OutputPerMTok: 0.9}
	proposedGPT4o   = usage.Price{InputPerMTok: 2.5, OutputPerMTok: 10}
	whatIfLedgerDay = time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
)

// whatIfLedger writes two days of traffic, all served in the US, into
// the store at path, rolls the first day up, and returns the records.
func whatIfLedger(t *testing.T, path string) []store.UsageRecord {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[string]string{}
	for _, name := range []string{"acme", "acme-eu"} {
		tn := &store.Tenant{Name: name}
		if err := st.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		ids[name] = tn.ID
	}
	var recs []store.UsageRecord
	for i := range 2 * 24 * 4 {
		tenant := []string{"acme", "acme", "acme-eu"}[i%3]
		model, provider := "gpt-4o-mini", "azure-east"
		if i%5 == 0 {
			model, provider = "gpt-4o", "openai-us"
		}
		recs = append(recs, store.UsageRecord{RequestID: fmt.Sprint("r", i), TenantID: ids[tenant], KeyID: "k", Model: model,
			Provider: provider, Traffic: []string{"stateless", "stateful"}[i%2], Dialect: "openai", Endpoint: "chat", Status: 200,
			InputTokens: int64(500 + 13*i), OutputTokens: int64(50 + 7*i), CostUSD: 0.001 * float64(1+i%4),
			Latency: 200 * time.Millisecond, CreatedAt: whatIfLedgerDay.Add(time.Duration(i) * 15 * time.Minute)})
	}
	if err := st.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rollup(ctx, whatIfLedgerDay.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].TenantID = map[string]string{ids["acme"]: "acme", ids["acme-eu"]: "acme-eu"}[recs[i].TenantID]
	}
	return recs
}

// TestWhatIf_Command replays a ledger through a proposal that moves the
// stateful traffic class from Azure to Bedrock: the report's totals equal
// a direct computation over the same rows, and the requests the
// proposal's contracts cannot place are counted.
func TestWhatIf_Command(t *testing.T) {
	dir := t.TempDir()
	recs := whatIfLedger(t, filepath.Join(dir, "ledger.db"))
	path := filepath.Join(dir, "proposed.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(whatIfProposal, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}

	// The direct computation.
	var actual, proposed float64
	channels := map[string]int64{}
	unplaced := map[string]int64{}
	for _, r := range recs {
		actual += r.CostUSD
		u := llm.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens}
		switch {
		case r.Model == "gpt-4o" && r.Traffic == "stateful" && r.TenantID == "acme-eu":
			unplaced["stateful-on-bedrock,eu-stays-in-eu"]++
		case r.Model == "gpt-4o" && r.Traffic == "stateful":
			unplaced["stateful-on-bedrock"]++
		case r.Model == "gpt-4o" && r.TenantID == "acme-eu":
			unplaced["eu-stays-in-eu"]++
		case r.Model == "gpt-4o":
			channels["openai-us"]++
			proposed += usage.Cost(u, proposedGPT4o)
		case r.Traffic == "stateful" || r.TenantID == "acme-eu":
			channels["bedrock-eu"]++
			proposed += usage.Cost(u, proposedMiniEU)
		default:
			channels["azure-east"]++
			proposed += usage.Cost(u, proposedMini)
		}
	}

	var out, errs bytes.Buffer
	getenv := func(string) string { return "" }
	err := Run(context.Background(), []string{"whatif", "-config", path, "-since", whatIfLedgerDay.Format(time.RFC3339),
		"-until", whatIfLedgerDay.Add(48 * time.Hour).Format(time.RFC3339), "-json"}, getenv, &out, &errs)
	if err != nil {
		t.Fatalf("whatif: %v\n%s", err, errs.String())
	}
	var rep billing.WhatIfReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if rep.Actual.Requests != int64(len(recs)) || !near(rep.Actual.CostUSD, actual) {
		t.Errorf("actual %+v, want %d requests costing $%v", rep.Actual, len(recs), actual)
	}
	if !near(rep.Proposed.CostUSD, proposed) {
		t.Errorf("proposed $%v, want $%v", rep.Proposed.CostUSD, proposed)
	}
	gotChannels := map[string]int64{}
	for _, c := range rep.ByChannel {
		if c.ProposedRequests > 0 {
			gotChannels[c.Name] = c.ProposedRequests
		}
	}
	if diff := cmp.Diff(channels, gotChannels); diff != "" {
		t.Errorf("proposed requests by channel (-want +got):\n%s", diff)
	}
	gotUnplaced := map[string]int64{}
	for _, u := range rep.Unplaceable {
		gotUnplaced[strings.Join(u.Contracts, ",")] += u.Requests
	}
	if diff := cmp.Diff(unplaced, gotUnplaced); diff != "" {
		t.Errorf("unplaceable by contract (-want +got):\n%s", diff)
	}
	if rep.Proposed.Requests+rep.Unplaced.Requests != int64(len(recs)) {
		t.Errorf("%d placed + %d unplaced != %d requests", rep.Proposed.Requests, rep.Unplaced.Requests, len(recs))
	}
	if !rep.Exact {
		t.Errorf("priority routing reported as estimated: %q", rep.Notes)
	}
	// List prices: Azure's gpt-4o-mini is configured 20% below the
	// catalogue, OpenAI's gpt-4o at it, and the catalogue does not list
	// gpt-4o-mini on Bedrock.
	for _, m := range rep.ByModel {
		switch m.Name {
		case "gpt-4o-mini":
			if m.ProposedListUSD == 0 || !near(m.ListDeltaUSD, -0.2*m.ProposedListUSD) || m.UnlistedProposed != channels["bedrock-eu"] {
				t.Errorf("gpt-4o-mini list figures %+v: want 20%% below list and the Bedrock requests unlisted", m)
			}
		case "gpt-4o":
			if m.ProposedListUSD == 0 || !near(m.ListDeltaUSD, 0) || m.UnlistedProposed != 0 {
				t.Errorf("gpt-4o list figures %+v: want the list price", m)
			}
		}
	}

	// The table names the unplaceable requests' contracts.
	out.Reset()
	if err := Run(context.Background(), []string{"whatif", "-config", path, "-since", whatIfLedgerDay.Format(time.RFC3339)}, getenv, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `no channel allowed by contract "eu-stays-in-eu" serves model "gpt-4o"`) {
		t.Errorf("table:\n%s", out.String())
	}

	// A proposal that does not validate is refused, naming the problem.
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(whatIfProposal, "traffic: stateful", "traffic: sideways")), 0o600); err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), []string{"whatif", "-config", path}, getenv, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Errorf("invalid proposal: %v", err)
	}
}

// TestWhatIf_AdminAPI posts a proposal to a running gateway, which
// replays its own ledger.
func TestWhatIf_AdminAPI(t *testing.T) {
	g, _, _ := startFromFile(t, contractConfig)
	ctx := context.Background()
	st := g.inst.Store()
	acme, err := st.TenantByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-2 * time.Hour)
	var rows []store.UsageRecord
	for i := range 10 {
		rows = append(rows, store.UsageRecord{RequestID: fmt.Sprint("w", i), TenantID: acme.ID, Model: "gpt-4o-mini", Provider: "azure-sim",
			Traffic: "stateless", Status: 200, InputTokens: 1000, OutputTokens: 100, CostUSD: 0.01, CreatedAt: at})
	}
	if err := st.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// The proposal drops the Azure-only contract: stateless traffic goes
	// back to openai-sim, first in priority order.
	proposal := strings.Replace(contractConfig, "  - name: stateless-on-azure\n    match: {models: [\"gpt-*\"], traffic: stateless}\n    allow: {provider_types: [azure]}\n", "", 1)
	if proposal == contractConfig {
		t.Fatal("the proposal did not change the configuration")
	}
	proposal = strings.NewReplacer("FAKECLOUD", "http://127.0.0.1:1", "DIR", t.TempDir()).Replace(proposal)
	status, body := adminCall(t, g, "POST", "/admin/v1/whatif?since=1d", proposal)
	var rep billing.WhatIfReport
	if status != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("whatif: %d %s", status, body)
	}
	got := map[string]int64{}
	for _, c := range rep.ByChannel {
		got[c.Name] = c.ProposedRequests
	}
	if got["openai-sim"] != 10 || rep.Actual.Requests != 10 {
		t.Errorf("proposed by channel %v, actual %+v: want the 10 requests on openai-sim", got, rep.Actual)
	}
	status, body = adminCall(t, g, "POST", "/admin/v1/whatif", "models: [{name: x}]\n")
	if status != 422 || !strings.Contains(body, "models") {
		t.Errorf("invalid proposal: %d %s", status, body)
	}
	// A posted proposal may not make the gateway read its host's files.
	status, body = adminCall(t, g, "POST", "/admin/v1/whatif", proposal+"prices: {file: /etc/passwd}\n")
	if status != 422 || !strings.Contains(body, "prices.file") {
		t.Errorf("a proposal naming another price file: %d %s", status, body)
	}
}
