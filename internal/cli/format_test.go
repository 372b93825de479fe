package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"switchyard/internal/admin"
)

func TestUSD(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.00", 50: "50.00", 12.345: "12.35", 0.5: "0.50", 0.1: "0.10", 0.05: "0.05", 0.015: "0.015",
		0.0123: "0.012", 0.000001: "0.000001", 0.0000012345: "0.0000012", 0.00999: "0.01", 1234567.891: "1234567.89", -0.002: "-0.002",
	} {
		if got := USD(v); got != want {
			t.Errorf("USD(%v) = %q, want %q", v, got, want)
		}
	}
}

// reportBackend answers usage with a fixed report.
type reportBackend struct {
	fakeBackend
	raw string
}

func (r *reportBackend) Usage(context.Context, admin.UsageQuery) (json.RawMessage, error) {
	return json.RawMessage(r.raw), nil
}

// TestUsage_ReportTables: the contract, commitment and compliance reports
// print as tables, with tiny amounts visible.
func TestUsage_ReportTables(t *testing.T) {
	commitment := `{"contract":"aws-commit","provider":"bedrock-us","period":"month","period_start":"2026-12-01T00:00:00Z",
		"period_end":"2027-01-01T00:00:00Z","amount_usd":1000,"spent_usd":0.000004,"pacing_usd":225.8,"behind":true,
		"forecast":{"method":"linear","run_rate_usd_per_day":0.0000005,"projected_usd":0.000016,"ends_short":true}}`
	for _, tc := range []struct {
		by, raw string
		want    []string
	}{
		{"contract", `{"since":"2026-12-06T00:00:00Z","until":"2026-12-07T00:00:00Z","contracts":[{"group":"","requests":2,"cost_usd":0.000003},
			{"group":"eu-only","requests":5,"errors":1,"input_tokens":10,"output_tokens":20,"cost_usd":1.5}],"commitments":[` + commitment + `]}`,
			[]string{`(?m)^\s*\(no contract\)\s+2\s+0\s+0\s+0\s+0\s+0\.000003$`, `(?m)^\s*eu-only\s+5\s+1\s+10\s+20\s+0\s+1\.50$`,
				`(?m)^aws-commit\s+bedrock-us\s+month\s+2027-01-01T00:00:00Z\s+1000\.00\s+0\.000004\s+225\.80\s+behind \(preferred\)\s+0\.0000005\s+0\.000016\s+ends short$`,
				`(?m)^forecast: linear: `}},
		{"budget", `[{"scope":"tenant","id":"ten_1","name":"acme","period":"month","period_start":"2026-12-01T00:00:00Z",
			"period_end":"2027-01-01T00:00:00Z","budget_usd":100,"spent_usd":60,"forecast":{"method":"linear","run_rate_usd_per_day":7,
			"projected_usd":235,"runs_out":true,"exhausts_at":"2026-12-12T17:00:00Z"}},
			{"scope":"key","id":"key_1","name":"ci","tenant":"acme","period":"","period_start":"0001-01-01T00:00:00Z","budget_usd":5,
			"spent_usd":1,"forecast":{"method":"linear","run_rate_usd_per_day":0,"projected_usd":0}}]`,
			[]string{`(?m)^tenant\s+acme\s+-\s+month\s+2027-01-01T00:00:00Z\s+100\.00\s+60\.00\s+7\.00\s+235\.00\s+runs out 2026-12-12T17:00:00Z$`,
				`(?m)^key\s+ci\s+acme\s+-\s+never\s+5\.00\s+1\.00\s+0\.00\s+-\s+lasts$`}},
		{"budget", `[]`, []string{`no budgets set`}},
		{"commitment", `[` + commitment + `]`, []string{`(?m)^COMMITMENT\s+PROVIDER`, `(?m)^aws-commit\s+bedrock-us\s`}},
		{"commitment", `[]`, []string{`no commitments configured`}},
		{"compliance", `{"since":"2026-12-06T00:00:00Z","until":"2026-12-07T00:00:00Z","checked":7,"unjudged":1,"unrecorded":[],
			"violations":[{"request_id":"req_1","time":"2026-12-06T10:00:00Z","tenant":"acme","model":"gpt-5","traffic":"stateless",
			"provider":"openai-direct","status":200,"contracts":["azure-only"]}]}`,
			[]string{`7 requests checked, 1 violations, 0 against contracts added or widened since, 1 unjudged`,
				`(?m)^req_1\s+2026-12-06T10:00:00Z\s+acme\s+gpt-5\s+stateless\s+openai-direct\s+200\s+azure-only$`}},
	} {
		var out bytes.Buffer
		b := &reportBackend{raw: tc.raw}
		if err := Usage(t.Context(), testEnv(b, &out), []string{"-config", "x.yaml", "-by", tc.by}); err != nil {
			t.Fatalf("-by %s: %v", tc.by, err)
		}
		for _, w := range tc.want {
			if !regexp.MustCompile(w).MatchString(out.String()) {
				t.Errorf("-by %s: output lacks %s:\n%s", tc.by, w, out.String())
			}
		}
	}
}
