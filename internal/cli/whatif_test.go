package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/billing"
)

func TestWhatIf_Table(t *testing.T) {
	rep := billing.WhatIfReport{
		Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Groups: 7,
		Actual: billing.Totals{Requests: 10, CostUSD: 5}, Proposed: billing.Totals{Requests: 8, CostUSD: 6}, Unplaced: billing.Totals{Requests: 2, CostUSD: 1},
		DeltaUSD:  1,
		ByChannel: []billing.Comparison{{Name: "azure-east", ActualRequests: 10, ActualUSD: 5}, {Name: "bedrock-us", ProposedRequests: 8, ProposedUSD: 6, DeltaUSD: 6}},
		ByModel: []billing.ModelRow{{Comparison: billing.Comparison{Name: "gpt-x", ActualRequests: 10, ProposedRequests: 8},
			Basis: "exact", ProposedListUSD: 7, ListDeltaUSD: -1}},
		Unplaceable: []billing.Unplaceable{{Reason: "contract", Model: "gpt-x", Requests: 2, ActualUSD: 1,
			Detail: `no channel allowed by contract "eu-only" serves model "gpt-x"`}},
		Commitments: []billing.CommitmentPace{{Contract: "bedrock-monthly", Provider: "bedrock-us", Period: "month",
			PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), AmountUSD: 100, Covered: 1, ProposedUSD: 6, ProjectedUSD: 6, Short: true}},
		Exact: true, Notes: []string{"every proposed channel is assumed healthy"},
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "proposed.yaml")
	if err := os.WriteFile(path, []byte("models: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{report: raw}
	var out bytes.Buffer
	if err := WhatIf(t.Context(), testEnv(b, &out), []string{"-config", path, "-since", "2026-11-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"models: []\n", "2026-11-01T00:00:00Z", ""}, b.whatIf); diff != "" {
		t.Errorf("asked (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		"10 requests in 7 hourly groups; every figure exact",
		"actual 5.00, proposed 6.00 (+1.00); 2 requests unplaceable (1.00 as served)",
		"bedrock-us", "+6.00",
		`no channel allowed by contract "eu-only" serves model "gpt-x"`,
		"bedrock-monthly", "short",
		"- every proposed channel is assumed healthy",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := WhatIf(t.Context(), testEnv(b, &out), []string{"-config", path, "-json"}); err != nil {
		t.Fatal(err)
	}
	var back billing.WhatIfReport
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Actual != rep.Actual {
		t.Errorf("-json printed %s (%v)", out.String(), err)
	}
	if err := WhatIf(t.Context(), testEnv(b, &out), []string{"-since", "30d"}); err == nil || !strings.Contains(err.Error(), "-config") {
		t.Errorf("without -config: %v", err)
	}
}
