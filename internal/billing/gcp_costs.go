package billing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The Cloud Billing standard usage cost columns reconciliation reads, as
// a CSV of the BigQuery export carries them ("service.description", or
// "service_description" from tools that flatten the records with
// underscores). Others are ignored.
const (
	gcpService  = "service_description"
	gcpStart    = "usage_start_time"
	gcpCost     = "cost"
	gcpCurrency = "currency"
	gcpProject  = "project_id"
	gcpRegion   = "location_region"
	gcpCostType = "cost_type"
	gcpSKU      = "sku_description"
)

// ParseGCPCosts reads a Cloud Billing export (standard usage cost data)
// as CSV and keeps the Vertex AI lines of cost type regular (or no cost
// type). Amounts must be in USD.
func ParseGCPCosts(r io.Reader) (*Bill, error) {
	cr := csv.NewReader(io.LimitReader(r, MaxBillBytes))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the billing export header: %w", err)
	}
	col := indexHeader(head, func(h string) string { return strings.ReplaceAll(strings.ToLower(h), ".", "_") })
	if missing := col.missing(gcpService, gcpStart, gcpCost, gcpCurrency, gcpProject); len(missing) > 0 {
		for i, c := range missing {
			missing[i] = strings.Replace(c, "_", ".", 1)
		}
		return nil, fmt.Errorf("not a Cloud Billing export: the header lacks %s", strings.Join(missing, ", "))
	}
	get := col.get
	bill := &Bill{Provider: "gcp", Lines: []BillLine{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return bill, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the billing export: %w", err)
		}
		if get(rec, gcpService) != "Vertex AI" {
			bill.Skipped++
			continue
		}
		if t := get(rec, gcpCostType); t != "" && t != "regular" {
			bill.Skipped++
			continue
		}
		if c := get(rec, gcpCurrency); c != "USD" {
			return nil, fmt.Errorf("billing export line %d: currency %q: only USD bills can be compared with the ledger", line, c)
		}
		day, err := parseBillTime(strings.TrimSuffix(get(rec, gcpStart), " UTC"))
		if err != nil {
			return nil, fmt.Errorf("billing export line %d: usage_start_time: %w", line, err)
		}
		cost, err := strconv.ParseFloat(get(rec, gcpCost), 64)
		if err != nil || isBad(cost) {
			return nil, fmt.Errorf("billing export line %d: cost: not an amount: %q", line, get(rec, gcpCost))
		}
		if len(bill.Lines) == maxBillLines {
			return nil, fmt.Errorf("billing export: more than %d Vertex AI lines; export a shorter period", maxBillLines)
		}
		bill.Lines = append(bill.Lines, BillLine{Day: day, Account: get(rec, gcpProject), Region: get(rec, gcpRegion),
			Model: get(rec, gcpSKU), CostUSD: cost})
	}
}
