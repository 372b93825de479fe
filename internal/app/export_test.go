package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// exportConfig negotiates 20% off Azure's list price and 10% off an own
// price on OpenAI.
const exportConfig = `
store: {driver: sqlite, dsn: DIR/ledger.db}
providers:
  - {name: azure-east, type: azure, base_url: https://example.invalid/azure, api_key_env: K, region: eastus, price: {discount_pct: 20}}
  - {name: openai-us, type: openai, api_key_env: K}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-east, upstream_model: mini-deployment}
  - name: gpt-4o
    offerings:
      - {provider: openai-us, price: {input_per_mtok: 2, output_per_mtok: 8, discount_pct: 10}}
`

// TestUsageExport_ByLabel exports a month of a labelled ledger by cost
// centre: each row's tokens and prices match a direct computation, a
// key's label wins over its tenant's, and unlabelled traffic has a row of
// its own.
func TestUsageExport_ByLabel(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for name, md := range map[string]map[string]string{"search": {"cost_centre": "cc-100"}, "ads": {"cost_centre": "cc-200"}, "lab": nil} {
		tn := &store.Tenant{Name: name, Metadata: md}
		if err := st.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		ids[name] = tn.ID
	}
	// An ads key billed to the search cost centre.
	k := &store.Key{TenantID: ids["ads"], Name: "shared", Hash: bytes.Repeat([]byte{1}, 32), Prefix: "sk-sy-x", Metadata: map[string]string{"cost_centre": "cc-100"}}
	if err := st.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	type want struct {
		requests, in, out int64
		charged           float64
	}
	wants := map[string]*want{}
	var recs []store.UsageRecord
	for i := range 300 {
		tenant := []string{"search", "ads", "lab"}[i%3]
		key := ""
		if tenant == "ads" && i%2 == 0 {
			key = k.ID
		}
		model, provider := "gpt-4o-mini", "azure-east"
		if i%4 == 0 {
			model, provider = "gpt-4o", "openai-us"
		}
		at := nov.Add(time.Duration(i) * 3 * time.Hour) // 37.5 days: the last ones fall in December
		r := store.UsageRecord{RequestID: fmt.Sprint("e", i), TenantID: ids[tenant], KeyID: key, Model: model, Provider: provider,
			Traffic: "stateless", Status: 200, InputTokens: int64(1000 + i), OutputTokens: int64(100 + i), CostUSD: 0.001 * float64(i%5+1), CreatedAt: at}
		recs = append(recs, r)
		if !at.Before(nov.AddDate(0, 1, 0)) {
			continue
		}
		cc := map[string]string{"search": "cc-100", "ads": "cc-200", "lab": ""}[tenant]
		if key != "" {
			cc = "cc-100"
		}
		w := wants[cc+"/"+provider+"/"+model]
		if w == nil {
			w = &want{}
			wants[cc+"/"+provider+"/"+model] = w
		}
		w.requests++
		w.in += r.InputTokens
		w.out += r.OutputTokens
		w.charged += r.CostUSD
	}
	if err := st.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rollup(ctx, nov.AddDate(0, 0, 20)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(exportConfig, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}

	var out, errs bytes.Buffer
	err = Run(ctx, []string{"usage", "export", "-config", path, "-by", "label:cost_centre", "-since", "2026-11-01", "-until", "2026-12-01",
		"-format", "csv"}, func(string) string { return "" }, &out, &errs)
	if err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	lines, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	list := map[string]usage.Price{"gpt-4o-mini": {InputPerMTok: 0.15, OutputPerMTok: 0.6}, "gpt-4o": {InputPerMTok: 2.5, OutputPerMTok: 10}}
	configured := map[string]usage.Price{"gpt-4o-mini": {InputPerMTok: 0.15, OutputPerMTok: 0.6}, "gpt-4o": {InputPerMTok: 2, OutputPerMTok: 8}}
	discount := map[string]float64{"gpt-4o-mini": 20, "gpt-4o": 10}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	near := func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
	seen := map[string]bool{}
	for _, l := range lines[1 : len(lines)-1] {
		key := l[1] + "/" + l[2] + "/" + l[3]
		w := wants[key]
		if w == nil {
			t.Errorf("unexpected row %q", l)
			continue
		}
		seen[key] = true
		model := l[3]
		u := llm.Usage{InputTokens: w.in, OutputTokens: w.out}
		cfgUSD := usage.Cost(u, configured[model])
		if l[0] != "cost_centre" || l[4] != fmt.Sprint(w.requests) || l[5] != fmt.Sprint(w.in) || l[6] != fmt.Sprint(w.out) ||
			!near(num(l[10]), usage.Cost(u, list[model])) || !near(num(l[11]), cfgUSD) || num(l[12]) != discount[model] ||
			!near(num(l[13]), cfgUSD*discount[model]/100) || !near(num(l[14]), cfgUSD*(1-discount[model]/100)) || !near(num(l[15]), w.charged) {
			t.Errorf("row %q: want %d requests, %d in, %d out, configured $%v less %v%%, charged $%v", l, w.requests, w.in, w.out, cfgUSD, discount[model], w.charged)
		}
	}
	if len(seen) != len(wants) || !seen["/azure-east/gpt-4o-mini"] || !seen["cc-100/azure-east/gpt-4o-mini"] {
		t.Errorf("rows %v, want %d including the unlabelled", seen, len(wants))
	}
	if total := lines[len(lines)-1]; total[1] != "(total)" {
		t.Errorf("last line %q, want the total", total)
	}

	// JSON carries the same figures.
	out.Reset()
	err = Run(ctx, []string{"usage", "export", "-config", path, "-by", "label:cost_centre", "-since", "2026-11-01", "-until", "2026-12-01",
		"-format", "json"}, func(string) string { return "" }, &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	var cb billing.Chargeback
	if err := json.Unmarshal(out.Bytes(), &cb); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, w := range wants {
		n += w.requests
	}
	if cb.Total.Requests != n || len(cb.Rows) != len(wants) {
		t.Errorf("json total %+v with %d rows, want %d requests in %d rows", cb.Total, len(cb.Rows), n, len(wants))
	}
	if diff := cmp.Diff("label:cost_centre", "label:"+cb.Label); diff != "" {
		t.Error(diff)
	}
	if err := Run(ctx, []string{"usage", "export", "-config", path, "-by", "tenant", "-since", "2026-11-01"}, func(string) string { return "" }, &out, &errs); err == nil ||
		!strings.Contains(err.Error(), "label:NAME") {
		t.Errorf("-by tenant: %v", err)
	}
}

// TestUsageExport_AdminAPI serves the export from a running gateway.
func TestUsageExport_AdminAPI(t *testing.T) {
	g, _, _ := startFromFile(t, contractConfig)
	ctx := context.Background()
	st := g.inst.Store()
	acme, err := st.TenantByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := adminCall(t, g, "PATCH", "/admin/v1/tenants/acme", `{"labels":{"team":"payments"}}`); status != 200 {
		t.Fatalf("label: %d %s", status, body)
	}
	at := time.Now().Add(-time.Hour)
	if err := st.InsertUsage(ctx, []store.UsageRecord{{RequestID: "x1", TenantID: acme.ID, Model: "gpt-4o-mini", Provider: "azure-sim",
		Traffic: "stateless", Status: 200, InputTokens: 1000, OutputTokens: 10, CostUSD: 0.5, CreatedAt: at}}); err != nil {
		t.Fatal(err)
	}
	status, body := adminCall(t, g, "GET", "/admin/v1/usage/export?by=label:team&since=1d&format=csv", "")
	if status != 200 || !strings.Contains(body, "team,payments,azure-sim,gpt-4o-mini,1,1000,10,") {
		t.Errorf("export: %d %s", status, body)
	}
	status, body = adminCall(t, g, "GET", "/admin/v1/usage/export?by=team&since=1d", "")
	if status != 400 || !strings.Contains(body, "label:NAME") {
		t.Errorf("a bad -by: %d %s", status, body)
	}
}
