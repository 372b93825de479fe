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

// The Azure Cost Management cost details columns reconciliation reads
// (Exports and the portal's download, EA and MCA schemas alike, whose
// names differ only in case), lower-cased. Others are ignored.
const (
	azDate         = "date"
	azCost         = "costinbillingcurrency"
	azCurrency     = "billingcurrency"
	azCurrencyCode = "billingcurrencycode" // the EA schema's name
	azResourceID   = "resourceid"
	azLocation     = "resourcelocation"
	azSubscription = "subscriptionid"
	azMeter        = "metername"
)

// azureAccounts is the part of a resource ID before an Azure OpenAI (AI
// Services, Foundry) resource's name.
const azureAccounts = "/providers/microsoft.cognitiveservices/accounts/"

// ParseAzureCosts reads an Azure Cost Management cost details CSV and
// keeps the lines of Cognitive Services accounts (Azure OpenAI and
// Foundry resources), whose name is kept as the line's resource.
// Amounts must be in USD.
func ParseAzureCosts(r io.Reader) (*Bill, error) {
	cr := csv.NewReader(io.LimitReader(r, MaxBillBytes))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the cost details header: %w", err)
	}
	col := indexHeader(head, strings.ToLower)
	if _, ok := col[azCurrency]; !ok {
		if i, ok := col[azCurrencyCode]; ok {
			col[azCurrency] = i
		}
	}
	if missing := col.missing(azDate, azCost, azCurrency, azResourceID); len(missing) > 0 {
		return nil, fmt.Errorf("not an Azure cost details export: the header lacks %s", strings.Join(missing, ", "))
	}
	get := col.get
	bill := &Bill{Provider: "azure", Lines: []BillLine{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return bill, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the cost details: %w", err)
		}
		id := strings.ToLower(get(rec, azResourceID))
		i := strings.Index(id, azureAccounts)
		if i < 0 {
			bill.Skipped++
			continue
		}
		account, _, _ := strings.Cut(id[i+len(azureAccounts):], "/")
		if c := get(rec, azCurrency); !strings.EqualFold(c, "USD") {
			return nil, fmt.Errorf("cost details line %d: currency %q: only USD bills can be compared with the ledger", line, c)
		}
		day, err := parseAzureDate(get(rec, azDate))
		if err != nil {
			return nil, fmt.Errorf("cost details line %d: date: %w", line, err)
		}
		cost, err := strconv.ParseFloat(get(rec, azCost), 64)
		if err != nil || isBad(cost) {
			return nil, fmt.Errorf("cost details line %d: costInBillingCurrency: not an amount: %q", line, get(rec, azCost))
		}
		if len(bill.Lines) == maxBillLines {
			return nil, fmt.Errorf("cost details: more than %d Azure OpenAI lines; export a shorter period", maxBillLines)
		}
		bill.Lines = append(bill.Lines, BillLine{Day: day, Account: get(rec, azSubscription), Region: get(rec, azLocation),
			Resource: account, Model: get(rec, azMeter), CostUSD: cost})
	}
}

// parseAzureDate reads the dates of cost details files: MM/DD/YYYY in
// the EA and older schemas, ISO dates and times in the others.
func parseAzureDate(s string) (time.Time, error) {
	if t, err := time.Parse("01/02/2006", s); err == nil {
		return t, nil
	}
	return parseBillTime(s)
}
