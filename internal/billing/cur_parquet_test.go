package billing

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite testdata/aws-cur2.parquet from testdata/aws-cur2.csv")

// curParquetRow is a CUR 2.0 row as Data Exports writes it in Parquet:
// typed columns (timestamps, doubles) and nested maps, which the reader
// must step over.
type curParquetRow struct {
	ID          string            `parquet:"identity_line_item_id"`
	Payer       string            `parquet:"bill_payer_account_id"`
	Account     string            `parquet:"line_item_usage_account_id"`
	Type        string            `parquet:"line_item_line_item_type"`
	Start       time.Time         `parquet:"line_item_usage_start_date,timestamp(millisecond)"`
	Product     string            `parquet:"line_item_product_code"`
	UsageType   string            `parquet:"line_item_usage_type"`
	Resource    string            `parquet:"line_item_resource_id,optional"`
	Amount      float64           `parquet:"line_item_usage_amount"`
	Currency    string            `parquet:"line_item_currency_code"`
	Cost        float64           `parquet:"line_item_unblended_cost"`
	Region      string            `parquet:"product_region_code"`
	ProductAttr map[string]string `parquet:"product"`
}

// curParquet turns the CUR CSV testdata into the same export in Parquet.
func curParquet(t testing.TB, path string, rowGroup int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := indexHeader(recs[0], nil)
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[curParquetRow](&buf, parquet.MaxRowsPerRowGroup(int64(rowGroup)))
	for _, rec := range recs[1:] {
		get := func(n string) string { return col.get(rec, n) }
		start, err := time.Parse(time.RFC3339, get(curStart))
		if err != nil {
			t.Fatal(err)
		}
		cost, _ := strconv.ParseFloat(get(curCost), 64)
		amount, _ := strconv.ParseFloat(get("line_item_usage_amount"), 64)
		row := curParquetRow{ID: get("identity_line_item_id"), Payer: get("bill_payer_account_id"), Account: get(curAccount),
			Type: get(curType), Start: start, Product: get(curProduct), UsageType: get("line_item_usage_type"),
			Resource: get(curResource), Amount: amount, Currency: get(curCurrency), Cost: cost, Region: get(curRegion),
			ProductAttr: map[string]string{"product_name": "Amazon Bedrock", "region": get(curRegion)}}
		if _, err := w.Write([]curParquetRow{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParseCURParquet: the Parquet export of a bill reads as the same
// bill as its CSV export, over several row groups.
func TestParseCURParquet(t *testing.T) {
	f, err := os.Open("testdata/aws-cur2.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := ParseCUR(f)
	if err != nil {
		t.Fatal(err)
	}
	pq := curParquet(t, "testdata/aws-cur2.csv", 3)
	if *update {
		if err := os.WriteFile("testdata/aws-cur2.parquet", pq, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The committed export (written by -update) and a fresh one.
	committed, err := os.ReadFile("testdata/aws-cur2.parquet")
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{"fresh": pq, "testdata": committed} {
		got, err := ParseBill("aws", bytes.NewReader(in), int64(len(in)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the Parquet bill differs from the CSV one (-csv +parquet):\n%s", name, diff)
		}
	}
}

func TestParseCURParquet_Errors(t *testing.T) {
	type notCUR struct {
		A string `parquet:"a"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[notCUR](&buf)
	_, _ = w.Write([]notCUR{{"x"}})
	_ = w.Close()
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"not_parquet": {[]byte("line_item_usage_start_date,line_item_product_code\n"), "not a Parquet file"},
		"not_cur":     {buf.Bytes(), "the schema lacks line_item_usage_start_date"},
		"empty":       {nil, "not a Parquet file"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCURParquet(bytes.NewReader(tc.in), int64(len(tc.in))); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzParseCURParquet: any bytes are a bill or an error, never a panic.
func FuzzParseCURParquet(f *testing.F) {
	f.Add(curParquet(f, "testdata/aws-cur2.csv", 4))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		bill, err := ParseCURParquet(bytes.NewReader(in), int64(len(in)))
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

// BenchmarkParseCURParquet parses the CSV benchmark's export written as
// Parquet (-cur.lines lines, a third of them Bedrock usage).
func BenchmarkParseCURParquet(b *testing.B) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[curParquetRow](&buf)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]curParquetRow, 0, 1024)
	for i := range *curLines {
		rows = append(rows, curParquetRow{ID: fmt.Sprint("li-", i), Account: "444455556666", Type: "Usage",
			Start: start.Add(time.Duration(i%720) * time.Hour), Product: []string{"AmazonBedrock", "AmazonEC2", "AmazonS3"}[i%3],
			UsageType: "USE1-Claude-input-tokens", Amount: float64(i % 5000), Currency: "USD", Cost: float64(i%997) / 100,
			Region: []string{"us-east-1", "eu-central-1"}[i%2]})
		if len(rows) == cap(rows) || i == *curLines-1 {
			if _, err := w.Write(rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		bill, err := ParseCURParquet(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		if len(bill.Lines) != (*curLines+2)/3 {
			b.Fatalf("%d lines", len(bill.Lines))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(*curLines), "ns/line")
}
