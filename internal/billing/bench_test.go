package billing

import (
	"bytes"
	"flag"
	"fmt"
	"testing"
	"time"
)

// curLines sizes BenchmarkParseCUR's export; the default keeps it quick.
var curLines = flag.Int("cur.lines", 20_000, "lines of the CUR export BenchmarkParseCUR parses")

// BenchmarkParseCUR parses a synthetic CUR 2.0 export of -cur.lines lines
// over 30 days, a third of them Bedrock usage, and reconciles it against
// an empty ledger (the ledger's side is the scan BenchmarkWhatIf
// measures).
func BenchmarkParseCUR(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("identity_line_item_id,line_item_usage_account_id,line_item_line_item_type,line_item_usage_start_date,line_item_product_code," +
		"line_item_usage_type,line_item_resource_id,line_item_usage_amount,line_item_currency_code,line_item_unblended_cost,product_region_code\n")
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range *curLines {
		product := []string{"AmazonBedrock", "AmazonEC2", "AmazonS3"}[i%3]
		fmt.Fprintf(&buf, "li-%d,444455556666,Usage,%s,%s,USE1-Claude-input-tokens,,%d,USD,%.6f,%s\n", i,
			start.Add(time.Duration(i%720)*time.Hour).Format(time.RFC3339), product, i%5000, float64(i%997)/100, []string{"us-east-1", "eu-central-1"}[i%2])
	}
	data := buf.Bytes()
	match := func(l BillLine) (string, string, bool) { return "bedrock-" + l.Region, "", true }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		bill, err := ParseCUR(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Reconcile(b.Context(), ledger{}, bill, ReconcileOptions{Match: match}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(*curLines), "ns/line")
}
