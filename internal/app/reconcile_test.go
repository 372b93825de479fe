package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchyard/internal/billing"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

const reconcileConfig = `
store: {driver: sqlite, dsn: DIR/ledger.db}
providers:
  - {name: bedrock-us, type: bedrock, region: us-east-1}
  - {name: bedrock-eu, type: bedrock, region: eu-central-1}
  - {name: vertex-eu, type: vertex, project: gateway-prod, region: europe-west1}
  - {name: azure-sweden, type: azure, base_url: https://contoso-sweden.openai.azure.com, api_key_env: K, region: swedencentral}
models:
  - name: claude
    offerings: [{provider: bedrock-us, price: {input_per_mtok: 3, output_per_mtok: 15}}, {provider: bedrock-eu, price: {input_per_mtok: 3, output_per_mtok: 15}}]
`

// TestReconcile_Command reconciles the CUR 2.0 testdata against a ledger
// built to match it but for one day, which the report names.
func TestReconcile_Command(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	var rows []store.UsageRecord
	for i, r := range []struct {
		at       time.Time
		provider string
		usd      float64
	}{
		{day(1, 10), "bedrock-us", 1.2}, {day(1, 15), "bedrock-us", 3.0},
		{day(2, 9), "bedrock-us", 2.5}, {day(2, 23), "bedrock-us", 3.5}, // the bill says 9.90
		{day(2, 12), "bedrock-eu", 3.6}, {day(3, 1), "bedrock-us", 1.5},
	} {
		rows = append(rows, store.UsageRecord{RequestID: fmt.Sprint("r", i), TenantID: "t", Model: "claude", Provider: r.provider,
			Traffic: "stateless", Status: 200, CostUSD: r.usd, CreatedAt: r.at})
	}
	if err := st.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(reconcileConfig, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	bill := filepath.Join("..", "billing", "testdata", "aws-cur2.csv")
	// The same export as CSV and as Parquet.
	for _, file := range []string{bill, filepath.Join("..", "billing", "testdata", "aws-cur2.parquet")} {
		out, err := runApp(t, "reconcile", "-provider", "aws", "-file", file, "-config", path, "-json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var rec billing.Reconciliation
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(rec.Discrepancies) != 1 || rec.Discrepancies[0].Channel != "bedrock-us" || !rec.Discrepancies[0].Day.Equal(day(2, 0)) ||
			!near(rec.Discrepancies[0].DiffUSD, 3.9) {
			t.Errorf("%s: discrepancies %+v, want 2026-11-02 on bedrock-us, $3.90 over", file, rec.Discrepancies)
		}
		if len(rec.Unmatched) != 1 || !strings.Contains(rec.Unmatched[0].Why, "ap-southeast-2") {
			t.Errorf("%s: unmatched %+v, want the ap-southeast-2 line", file, rec.Unmatched)
		}
	}
	out, err := runApp(t, "reconcile", "-provider", "aws", "-file", bill, "-config", path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^2026-11-02\s+bedrock-us\s+claude\s+9\.90\s+6\.00\s+3\.90\s+65\.0\s+DISCREPANCY$`).MatchString(out) {
		t.Errorf("table:\n%s", out)
	}
	// Azure: found by resource name; the planted day is named.
	out, err = runApp(t, "reconcile", "-provider", "azure", "-file", filepath.Join("..", "billing", "testdata", "azure-costs.csv"), "-config", path)
	if err != nil || !regexp.MustCompile(`(?m)^2026-11-02\s+azure-sweden\s+\(all\)\s+2\.75\s+0\.00\s+2\.75\s+100\.0\s+DISCREPANCY$`).MatchString(out) ||
		!strings.Contains(out, `no azure channel's base_url names resource "contoso-east": 3 lines, 5.70`) {
		t.Errorf("azure: %v\n%s", err, out)
	}
	// Google Cloud: found by project and region.
	out, err = runApp(t, "reconcile", "-provider", "gcp", "-file", filepath.Join("..", "billing", "testdata", "gcp-billing.csv"), "-config", path)
	if err != nil || !regexp.MustCompile(`(?m)^2026-11-02\s+vertex-eu\s+\(all\)\s+4\.00\s+0\.00\s+4\.00\s+100\.0\s+DISCREPANCY$`).MatchString(out) ||
		!strings.Contains(out, `no vertex channel for project "research-sandbox" in region "us-central1": 1 lines, 0.60`) {
		t.Errorf("gcp: %v\n%s", err, out)
	}
	out, err = runApp(t, "reconcile", "-provider", "anthropic", "-file", filepath.Join("..", "billing", "testdata", "anthropic-costs.json"),
		"-config", path, "-account", "wrkspc_gateway")
	if err != nil || !strings.Contains(out, "no anthropic channel is configured: 3 lines, 10.05") {
		t.Errorf("anthropic without a channel: %v\n%s", err, out)
	}
	if _, err := runApp(t, "reconcile", "-provider", "oracle", "-file", bill, "-config", path); err == nil {
		t.Error("an unknown provider accepted")
	}
	// The configuration has no OpenAI channel: every line says so.
	out, err = runApp(t, "reconcile", "-provider", "openai", "-file", filepath.Join("..", "billing", "testdata", "openai-costs.json"),
		"-config", path, "-account", "proj_gateway")
	if err != nil || !strings.Contains(out, "no openai channel is configured: 5 lines, 11.60") {
		t.Errorf("openai without a channel: %v\n%s", err, out)
	}
}
