package billing

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// TestReconcile_AWSCUR reads a CUR 2.0 export written from the published
// column definitions, with one day billed $3.90 more than the ledger
// recorded: the report names that day and channel, and nothing else.
func TestReconcile_AWSCUR(t *testing.T) {
	f, err := os.Open("testdata/aws-cur2.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bill, err := ParseCUR(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(bill.Lines) != 8 || bill.Skipped != 2 {
		t.Fatalf("%d Bedrock usage lines and %d skipped, want 8 and 2 (EC2, tax)", len(bill.Lines), bill.Skipped)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	rec := func(at time.Time, provider string, usd float64) store.UsageRecord {
		return store.UsageRecord{TenantID: "t", Model: "claude", Provider: provider, Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: at}
	}
	l := ledger{
		rec(day(1, 10), "bedrock-us", 1.2), rec(day(1, 15), "bedrock-us", 3.0), rec(day(1, 15), "azure-east", 9),
		rec(day(2, 9), "bedrock-us", 2.5), rec(day(2, 23), "bedrock-us", 3.5), // billed 9.90: the planted discrepancy
		rec(day(2, 12), "bedrock-eu", 3.6),
		rec(day(3, 1), "bedrock-us", 1.5), rec(day(3, 2), "bedrock-eu", 0.005),
		rec(day(4, 1), "bedrock-us", 7), // after the bill's last day
	}
	regions := map[string]string{"us-east-1": "bedrock-us", "eu-central-1": "bedrock-eu"}
	r, err := Reconcile(t.Context(), l, bill, ReconcileOptions{Match: func(b BillLine) (string, string, bool) {
		ch, ok := regions[b.Region]
		return ch, "no bedrock channel in region " + b.Region, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	want := []ReconcileRow{{Day: day(2, 0), Channel: "bedrock-us", BilledUSD: 9.9, LedgerUSD: 6, DiffUSD: 3.9, DiffPct: 65}}
	if diff := cmp.Diff(want, r.Discrepancies, approx); diff != "" {
		t.Errorf("discrepancies (-want +got):\n%s", diff)
	}
	if len(r.Rows) != 5 {
		t.Errorf("rows %+v, want 5 days × channels", r.Rows)
	}
	if diff := cmp.Diff([]UnmatchedBill{{Why: "no bedrock channel in region ap-southeast-2", Lines: 1, CostUSD: 0.3}}, r.Unmatched, approx); diff != "" {
		t.Errorf("unmatched (-want +got):\n%s", diff)
	}
	if !r.Since.Equal(day(1, 0)) || !r.Until.Equal(day(4, 0)) || math.Abs(r.BilledUSD-19.5) > 1e-9 || math.Abs(r.LedgerUSD-15.305) > 1e-9 {
		t.Errorf("window %v .. %v, billed %v, ledger %v", r.Since, r.Until, r.BilledUSD, r.LedgerUSD)
	}
}

func TestParseCUR_Errors(t *testing.T) {
	head := "line_item_usage_start_date,line_item_product_code,line_item_line_item_type,line_item_unblended_cost,line_item_currency_code,product_region_code\n"
	for name, tc := range map[string]struct{ in, want string }{
		"not_cur":     {"a,b,c\n1,2,3\n", "the header lacks line_item_usage_start_date"},
		"currency":    {head + "2026-11-01T00:00:00Z,AmazonBedrock,Usage,1.5,EUR,eu-west-1\n", `currency "EUR"`},
		"bad_amount":  {head + "2026-11-01T00:00:00Z,AmazonBedrock,Usage,lots,USD,eu-west-1\n", "not an amount"},
		"bad_time":    {head + "yesterday,AmazonBedrock,Usage,1,USD,eu-west-1\n", "not a time"},
		"ragged":      {head + "2026-11-01T00:00:00Z,AmazonBedrock\n", "wrong number of fields"},
		"empty_input": {"", "reading the CUR header"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCUR(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzParseCUR: any input is a bill or an error, never a panic, and a
// bill's lines are Bedrock usage with finite amounts.
func FuzzParseCUR(f *testing.F) {
	if b, err := os.ReadFile("testdata/aws-cur2.csv"); err == nil {
		f.Add(string(b))
	}
	f.Add("line_item_usage_start_date,line_item_product_code,line_item_line_item_type,line_item_unblended_cost,line_item_currency_code,product_region_code\n" +
		"2026-11-01,AmazonBedrock,Usage,1e308,USD,x\n")
	f.Fuzz(func(t *testing.T, in string) {
		bill, err := ParseCUR(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range bill.Lines {
			if isBad(l.CostUSD) || l.Day.IsZero() && !strings.Contains(in, "0001-01-01") {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// TestReconcile_OpenAICosts reads two pages of the OpenAI organization
// costs API written from its published schema, keeps the gateway's
// project, and names the one day billed $0.50 more than the ledger.
func TestReconcile_OpenAICosts(t *testing.T) {
	f, err := os.Open("testdata/openai-costs.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bill, err := ParseOpenAICosts(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(bill.Lines) != 6 {
		t.Fatalf("%d lines, want 6", len(bill.Lines))
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	rec := func(at time.Time, usd float64) store.UsageRecord {
		return store.UsageRecord{TenantID: "t", Model: "gpt-4o", Provider: "openai-direct", Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: at}
	}
	l := ledger{rec(day(1, 3), 6.5), rec(day(2, 4), 1.5), rec(day(2, 20), 0.5), rec(day(3, 7), 2.6)}
	r, err := Reconcile(t.Context(), l, bill, ReconcileOptions{Account: "proj_gateway",
		Match: func(BillLine) (string, string, bool) { return "openai-direct", "", true }})
	if err != nil {
		t.Fatal(err)
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	want := []ReconcileRow{{Day: day(3, 0), Channel: "openai-direct", BilledUSD: 3.1, LedgerUSD: 2.6, DiffUSD: 0.5, DiffPct: 0.5 / 2.6 * 100}}
	if diff := cmp.Diff(want, r.Discrepancies, approx); diff != "" {
		t.Errorf("discrepancies (-want +got):\n%s", diff)
	}
	if r.Skipped != 1 || len(r.Rows) != 3 {
		t.Errorf("skipped %d (want the other project's line), rows %+v", r.Skipped, r.Rows)
	}
}

func TestParseOpenAICosts_Errors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"not_json":  {"nope", "not OpenAI organization costs"},
		"not_page":  {`{"object":"list","data":[]}`, `object "list"`},
		"currency":  {`{"object":"page","data":[{"start_time":1793491200,"results":[{"amount":{"value":1,"currency":"eur"}}]}]}`, `currency "eur"`},
		"no_amount": {`{"object":"page","data":[{"start_time":1793491200,"results":[{"object":"organization.costs.result"}]}]}`, "without amount"},
		"bad_time":  {`{"object":"page","data":[{"start_time":-5,"results":[]}]}`, "not a Unix time"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseOpenAICosts(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzParseOpenAICosts: any input is a bill or an error, never a panic.
func FuzzParseOpenAICosts(f *testing.F) {
	if b, err := os.ReadFile("testdata/openai-costs.json"); err == nil {
		f.Add(string(b))
	}
	f.Add(`{"object":"page","data":[{"start_time":1793491200,"results":[{"amount":{"value":1e300,"currency":"usd"}}]}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		bill, err := ParseOpenAICosts(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range bill.Lines {
			if isBad(l.CostUSD) {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// TestReconcile_AzureCosts reads an EA cost details export written from
// the published field list, keeps the Azure OpenAI resources' lines, and
// names the one day billed $0.55 more than the ledger.
func TestReconcile_AzureCosts(t *testing.T) {
	f, err := os.Open("testdata/azure-costs.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bill, err := ParseAzureCosts(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(bill.Lines) != 5 || bill.Skipped != 1 || bill.Lines[0].Resource != "contoso-east" {
		t.Fatalf("lines %+v, %d skipped: want 5 Azure OpenAI lines and the VM skipped", bill.Lines, bill.Skipped)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	rec := func(at time.Time, provider string, usd float64) store.UsageRecord {
		return store.UsageRecord{TenantID: "t", Model: "gpt-4o", Provider: provider, Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: at}
	}
	l := ledger{rec(day(1, 3), "azure-east", 4.2), rec(day(2, 4), "azure-east", 1.5), rec(day(2, 8), "azure-sweden", 2.2)}
	channels := map[string]string{"contoso-east": "azure-east", "contoso-sweden": "azure-sweden"}
	r, err := Reconcile(t.Context(), l, bill, ReconcileOptions{Match: func(b BillLine) (string, string, bool) {
		ch, ok := channels[b.Resource]
		return ch, "no azure channel for resource " + b.Resource, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	want := []ReconcileRow{{Day: day(2, 0), Channel: "azure-sweden", BilledUSD: 2.75, LedgerUSD: 2.2, DiffUSD: 0.55, DiffPct: 25}}
	if diff := cmp.Diff(want, r.Discrepancies, approx); diff != "" {
		t.Errorf("discrepancies (-want +got):\n%s", diff)
	}
	if len(r.Unmatched) != 1 || r.Unmatched[0].Why != "no azure channel for resource lab-west" {
		t.Errorf("unmatched %+v", r.Unmatched)
	}
}

func TestParseAzureCosts_Errors(t *testing.T) {
	head := "Date,CostInBillingCurrency,BillingCurrency,ResourceId\n"
	id := "/subscriptions/s/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/a"
	for name, tc := range map[string]struct{ in, want string }{
		"not_azure": {"a,b\n1,2\n", "the header lacks date"},
		"currency":  {head + "11/01/2026,1,EUR," + id + "\n", `currency "EUR"`},
		"amount":    {head + "11/01/2026,x,USD," + id + "\n", "not an amount"},
		"date":      {head + "31/31/2026,1,USD," + id + "\n", "not a time"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseAzureCosts(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzParseAzureCosts: any input is a bill or an error, never a panic.
func FuzzParseAzureCosts(f *testing.F) {
	if b, err := os.ReadFile("testdata/azure-costs.csv"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		bill, err := ParseAzureCosts(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range bill.Lines {
			if isBad(l.CostUSD) {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// TestReconcile_GCPCosts reads a Cloud Billing export CSV written from
// the published standard usage cost schema and names the one day billed
// $1.00 more than the ledger.
func TestReconcile_GCPCosts(t *testing.T) {
	f, err := os.Open("testdata/gcp-billing.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bill, err := ParseGCPCosts(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(bill.Lines) != 4 || bill.Skipped != 2 {
		t.Fatalf("%d Vertex AI lines, %d skipped: want 4 and 2 (Compute Engine, tax)", len(bill.Lines), bill.Skipped)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	rec := func(at time.Time, usd float64) store.UsageRecord {
		return store.UsageRecord{TenantID: "t", Model: "claude", Provider: "vertex-eu", Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: at}
	}
	l := ledger{rec(day(1, 0), 2.2), rec(day(1, 5), 3.3), rec(day(2, 10), 3.0)}
	r, err := Reconcile(t.Context(), l, bill, ReconcileOptions{Match: func(b BillLine) (string, string, bool) {
		if b.Account == "gateway-prod" && b.Region == "europe-west1" {
			return "vertex-eu", "", true
		}
		return "", "no vertex channel for project " + b.Account, false
	}})
	if err != nil {
		t.Fatal(err)
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	want := []ReconcileRow{{Day: day(2, 0), Channel: "vertex-eu", BilledUSD: 4, LedgerUSD: 3, DiffUSD: 1, DiffPct: 100.0 / 3}}
	if diff := cmp.Diff(want, r.Discrepancies, approx); diff != "" {
		t.Errorf("discrepancies (-want +got):\n%s", diff)
	}
	if len(r.Unmatched) != 1 || r.Unmatched[0].Why != "no vertex channel for project research-sandbox" {
		t.Errorf("unmatched %+v", r.Unmatched)
	}
}

// FuzzParseGCPCosts: any input is a bill or an error, never a panic.
func FuzzParseGCPCosts(f *testing.F) {
	if b, err := os.ReadFile("testdata/gcp-billing.csv"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		bill, err := ParseGCPCosts(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range bill.Lines {
			if isBad(l.CostUSD) {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// TestReconcile_AnthropicCosts reads an Anthropic cost report written
// from its published schema (amounts in cents), keeps the gateway's
// workspace, and names the one day billed $0.80 more than the ledger.
func TestReconcile_AnthropicCosts(t *testing.T) {
	f, err := os.Open("testdata/anthropic-costs.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bill, err := ParseAnthropicCosts(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(bill.Lines) != 4 || math.Abs(bill.Lines[0].CostUSD-1.8) > 1e-9 {
		t.Fatalf("lines %+v: want 4, the first $1.80", bill.Lines)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	rec := func(at time.Time, usd float64) store.UsageRecord {
		return store.UsageRecord{TenantID: "t", Model: "claude", Provider: "anthropic-direct", Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: at}
	}
	l := ledger{rec(day(1, 3), 6.3), rec(day(2, 7), 2.955)}
	r, err := Reconcile(t.Context(), l, bill, ReconcileOptions{Account: "wrkspc_gateway",
		Match: func(BillLine) (string, string, bool) { return "anthropic-direct", "", true }})
	if err != nil {
		t.Fatal(err)
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	want := []ReconcileRow{{Day: day(2, 0), Channel: "anthropic-direct", BilledUSD: 3.755, LedgerUSD: 2.955, DiffUSD: 0.8, DiffPct: 0.8 / 2.955 * 100}}
	if diff := cmp.Diff(want, r.Discrepancies, approx); diff != "" {
		t.Errorf("discrepancies (-want +got):\n%s", diff)
	}
	if r.Skipped != 1 {
		t.Errorf("skipped %d, want the result of no workspace", r.Skipped)
	}
}

// FuzzParseAnthropicCosts: any input is a bill or an error, never a panic.
func FuzzParseAnthropicCosts(f *testing.F) {
	if b, err := os.ReadFile("testdata/anthropic-costs.json"); err == nil {
		f.Add(string(b))
	}
	f.Add(`[{"data":[{"starting_at":"2026-11-01T00:00:00Z","results":[{"amount":"1e400","currency":"USD"}]}]}]`)
	f.Fuzz(func(t *testing.T, in string) {
		bill, err := ParseAnthropicCosts(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range bill.Lines {
			if isBad(l.CostUSD) {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// TestReconcile_ByModel: with the channels' offerings, a day whose
// channel total agrees but whose models do not is named per model, and
// a day with a line naming no configured model is compared as a whole.
func TestReconcile_ByModel(t *testing.T) {
	f, err := os.Open("testdata/azure-costs.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bill, err := ParseAzureCosts(f)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, time.UTC) }
	// A line on day 3 whose meter names no model of the channel.
	bill.Lines = append(bill.Lines, BillLine{Day: day(3, 0), Resource: "contoso-east", Model: "Phi-4 Input Tokens", CostUSD: 0.5})
	rec := func(at time.Time, model, provider string, usd float64) store.UsageRecord {
		return store.UsageRecord{TenantID: "t", Model: model, Provider: provider, Traffic: "stateless", Status: 200, CostUSD: usd, CreatedAt: at}
	}
	l := ledger{
		// Day 1 on azure-east: $4.20 billed, all of it gpt-4o-mini; the
		// ledger has $4.20 too, but $1 of it as gpt-4o (the planted
		// discrepancy, invisible by channel).
		rec(day(1, 3), "mini", "azure-east", 3.2), rec(day(1, 4), "4o", "azure-east", 1),
		rec(day(2, 4), "mini", "azure-east", 1.5), rec(day(2, 8), "4o", "azure-sweden", 2.75),
		rec(day(3, 1), "mini", "azure-east", 0.2), rec(day(3, 2), "4o", "azure-east", 0.3),
	}
	channels := map[string]string{"contoso-east": "azure-east", "contoso-sweden": "azure-sweden"}
	offerings := map[string][]Offering{
		"azure-east":   {{"mini", "gpt-4o-mini"}, {"4o", "gpt-4o"}},
		"azure-sweden": {{"4o", "gpt-4o"}},
	}
	r, err := Reconcile(t.Context(), l, bill, ReconcileOptions{
		Match: func(b BillLine) (string, string, bool) {
			ch, ok := channels[b.Resource]
			return ch, "no azure channel for resource " + b.Resource, ok
		},
		Offerings: func(ch string) []Offering { return offerings[ch] },
	})
	if err != nil {
		t.Fatal(err)
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	want := []ReconcileRow{
		{Day: day(1, 0), Channel: "azure-east", Model: "4o", BilledUSD: 0, LedgerUSD: 1, DiffUSD: -1, DiffPct: -100},
		{Day: day(1, 0), Channel: "azure-east", Model: "mini", BilledUSD: 4.2, LedgerUSD: 3.2, DiffUSD: 1, DiffPct: 31.25},
	}
	if diff := cmp.Diff(want, r.Discrepancies, approx); diff != "" {
		t.Errorf("discrepancies (-want +got):\n%s", diff)
	}
	var whole *ReconcileRow
	for i, row := range r.Rows {
		if row.Day.Equal(day(3, 0)) {
			if whole != nil || row.Model != "" {
				t.Fatalf("day 3 rows %+v, want one row for the whole channel", r.Rows)
			}
			whole = &r.Rows[i]
		}
	}
	if whole == nil || math.Abs(whole.BilledUSD-0.5) > 1e-9 || math.Abs(whole.LedgerUSD-0.5) > 1e-9 {
		t.Errorf("day 3: %+v, want $0.50 billed and in the ledger for the whole channel", whole)
	}
}
