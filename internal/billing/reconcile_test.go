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
