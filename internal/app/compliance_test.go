package app

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
)

// TestComplianceReport plants ledger rows that break the exclusivity and
// residency contracts of contractConfig next to rows that keep them, and
// checks that the report lists exactly the former.
func TestComplianceReport(t *testing.T) {
	g, _, _ := startFromFile(t, contractConfig)
	ctx := context.Background()
	st := g.inst.Store()
	tenantID := func(name string) string {
		tn, err := st.TenantByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return tn.ID
	}
	acme, eu := tenantID("acme"), tenantID("acme-eu")
	const azureOnly, euOnly = "stateless-on-azure", "eu-data-stays-in-eu"
	at := time.Now().Add(-time.Minute)
	row := func(id, tenant, traffic, provider string, status int, route string, contracts ...string) store.UsageRecord {
		return store.UsageRecord{RequestID: id, TenantID: tenant, Model: "gpt-4o-mini", Provider: provider, Traffic: traffic,
			Dialect: "openai", Endpoint: "chat", Status: status, Attempts: 1, Route: route, Contracts: contracts,
			InputTokens: 10, OutputTokens: 5, CreatedAt: at}
	}
	cut := row("cut-stream-on-openai", acme, "stateless", "openai-sim", 502, "strategy=priority; attempts=openai-sim; contracts="+azureOnly, azureOnly)
	cut.Stream, cut.TTFB, cut.ErrorKind = true, 30*time.Millisecond, "bad_response"
	rows := []store.UsageRecord{
		// Stateless GPT traffic must stay on Azure.
		row("stateless-on-openai", acme, "stateless", "openai-sim", 200, "strategy=priority; attempts=openai-sim; contracts="+azureOnly, azureOnly),
		row("stateless-on-azure", acme, "stateless", "azure-sim", 200, "strategy=priority; attempts=azure-sim; contracts="+azureOnly, azureOnly),
		// Stateful traffic is outside that contract.
		row("stateful-on-openai", acme, "stateful", "openai-sim", 200, "strategy=priority; attempts=openai-sim"),
		// Residency: the EU tenant's traffic stays in EU regions.
		row("eu-tenant-in-eastus", eu, "stateful", "azure-sim", 200, "strategy=priority; attempts=azure-sim; contracts="+euOnly, euOnly),
		row("eu-tenant-in-eu", eu, "stateful", "bedrock-eu", 200, "strategy=priority; attempts=bedrock-eu; contracts="+euOnly, euOnly),
		// In the EU but not on Azure: one of its two contracts is broken.
		row("eu-tenant-stateless-in-eu", eu, "stateless", "bedrock-eu", 200, "strategy=priority; attempts=bedrock-eu; contracts="+azureOnly+","+euOnly, azureOnly, euOnly),
		// A stream cut after its first bytes failed, but it was carried.
		cut,
		// A first attempt on a forbidden channel, then a fallback.
		row("attempted-on-openai", acme, "stateless", "azure-sim", 200, "strategy=priority; attempts=openai-sim,azure-sim; contracts="+azureOnly, azureOnly),
		// Refused before any channel saw it.
		row("refused-by-limits", acme, "stateless", "", 429, ""),
		// Routed before the contract applied: its record does not name it.
		row("before-the-contract", acme, "stateless", "openai-sim", 200, "strategy=priority; attempts=openai-sim"),
		// A row without a route is judged by the current contracts.
		row("no-route-on-openai", acme, "stateless", "openai-sim", 200, ""),
		// A recorded contract that is no longer configured.
		row("retired-contract", acme, "stateful", "openai-sim", 200, "strategy=priority; attempts=openai-sim; contracts=retired", "retired"),
	}
	if err := st.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	status, body := adminCall(t, g, "GET", "/admin/v1/usage?by=compliance", "")
	var rep ComplianceReport
	if status != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("compliance report: %d %s", status, body)
	}
	listed := func(vs []Violation) map[string]string {
		out := map[string]string{}
		for _, v := range vs {
			out[v.RequestID] = v.Provider + " " + strings.Join(v.Contracts, ",")
		}
		return out
	}
	wantViolations := map[string]string{
		"stateless-on-openai":       "openai-sim " + azureOnly,
		"eu-tenant-in-eastus":       "azure-sim " + euOnly,
		"eu-tenant-stateless-in-eu": "bedrock-eu " + azureOnly,
		"cut-stream-on-openai":      "openai-sim " + azureOnly,
		"attempted-on-openai":       "openai-sim " + azureOnly,
		"no-route-on-openai":        "openai-sim " + azureOnly,
	}
	if got := listed(rep.Violations); !maps.Equal(got, wantViolations) {
		t.Errorf("violations\n got %v\nwant %v", got, wantViolations)
	}
	wantUnrecorded := map[string]string{"before-the-contract": "openai-sim " + azureOnly}
	if got := listed(rep.Unrecorded); !maps.Equal(got, wantUnrecorded) {
		t.Errorf("unrecorded\n got %v\nwant %v", got, wantUnrecorded)
	}
	if want := int64(len(rows) - 1); rep.Checked != want || rep.Unjudged != 1 {
		t.Errorf("checked %d, unjudged %d; want %d and 1", rep.Checked, rep.Unjudged, want)
	}
	for _, v := range rep.Violations {
		if v.RequestID == "cut-stream-on-openai" && v.Status != 502 {
			t.Errorf("cut stream listed with status %d", v.Status)
		}
		if v.RequestID == "eu-tenant-in-eastus" && v.Tenant != "acme-eu" {
			t.Errorf("residency violation names tenant %q", v.Tenant)
		}
	}

	// What the gateway itself records is judged compliant: a request it
	// served within the contracts, and one it refused.
	c := g.client()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	if _, err := c.Chat.Completions.New(ctx, params); err != nil {
		t.Fatal(err)
	}
	g.cloud.SetFaults("azure", fakecloud.Faults{FailRate: 1, FailStatus: 503})
	_, _ = c.Chat.Completions.New(ctx, params)
	g.cloud.SetFaults("", fakecloud.Faults{})
	waitFor(t, 5*time.Second, func() bool {
		_, body := adminCall(t, g, "GET", "/admin/v1/usage?by=compliance", "")
		rep = ComplianceReport{}
		return json.Unmarshal([]byte(body), &rep) == nil && rep.Checked == int64(len(rows)-1)+2
	})
	if got := listed(rep.Violations); !maps.Equal(got, wantViolations) {
		t.Errorf("after live traffic, violations %v", got)
	}
}
