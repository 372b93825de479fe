package billing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxBillBytes bounds a bill file read for reconciliation.
const MaxBillBytes = 1 << 30

// maxBillLines bounds the model-usage lines kept from one bill.
const maxBillLines = 5_000_000

// The AWS Cost and Usage Report 2.0 columns reconciliation reads (the
// Data Exports COST_AND_USAGE_REPORT table, exported as CSV). Others are
// ignored.
const (
	curStart    = "line_item_usage_start_date"
	curProduct  = "line_item_product_code"
	curType     = "line_item_line_item_type"
	curCost     = "line_item_unblended_cost"
	curCurrency = "line_item_currency_code"
	curRegion   = "product_region_code"
	curAccount  = "line_item_usage_account_id"
	curResource = "line_item_resource_id"
	curUsage    = "line_item_usage_type"
)

// curUsageTypes are the line item types that are usage billed at the
// line's own cost; credits, taxes, refunds and fees are not traffic.
var curUsageTypes = map[string]bool{"Usage": true, "DiscountedUsage": true, "SavingsPlanCoveredUsage": true}

// ParseCUR reads an AWS CUR 2.0 CSV export and keeps the Amazon Bedrock
// usage lines. Every column it needs must be in the header; amounts must
// be in USD.
func ParseCUR(r io.Reader) (*Bill, error) {
	cr := csv.NewReader(io.LimitReader(r, MaxBillBytes))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the CUR header: %w", err)
	}
	col := indexHeader(head, nil)
	if missing := col.missing(curStart, curProduct, curType, curCost, curCurrency, curRegion); len(missing) > 0 {
		return nil, fmt.Errorf("not a CUR 2.0 export: the header lacks %s", strings.Join(missing, ", "))
	}
	bill := &Bill{Provider: "aws", Lines: []BillLine{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return bill, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the CUR: %w", err)
		}
		if err := bill.addCURLine(line, func(name string) string { return col.get(rec, name) }); err != nil {
			return nil, err
		}
	}
}

// addCURLine keeps the CUR line (the line'th of its file, the header
// being line 1), whose columns get reads, when it is Bedrock usage.
func (bill *Bill) addCURLine(line int, get func(column string) string) error {
	if get(curProduct) != "AmazonBedrock" || !curUsageTypes[get(curType)] {
		bill.Skipped++
		return nil
	}
	if c := get(curCurrency); c != "USD" {
		return fmt.Errorf("CUR line %d: currency %q: only USD bills can be compared with the ledger", line, c)
	}
	day, err := parseBillTime(get(curStart))
	if err != nil {
		return fmt.Errorf("CUR line %d: %s: %w", line, curStart, err)
	}
	cost, err := strconv.ParseFloat(get(curCost), 64)
	if err != nil || isBad(cost) {
		return fmt.Errorf("CUR line %d: %s: not an amount: %q", line, curCost, get(curCost))
	}
	if len(bill.Lines) == maxBillLines {
		return fmt.Errorf("CUR: more than %d Bedrock usage lines; export a shorter period", maxBillLines)
	}
	bill.Lines = append(bill.Lines, BillLine{Day: day, Region: get(curRegion), Account: get(curAccount),
		Resource: get(curResource), Model: get(curUsage), CostUSD: cost})
	return nil
}

// parseBillTime reads the timestamps bills use: RFC 3339, with or
// without a zone, or a bare date.
func parseBillTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

func isBad(v float64) bool { return v != v || v > 1e15 || v < -1e15 }
