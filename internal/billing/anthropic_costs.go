package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// anthropicPage is a page of the Anthropic Admin API cost report
// (GET /v1/organizations/cost_report): daily buckets of cost results.
type anthropicPage struct {
	Data *[]struct {
		StartingAt string `json:"starting_at"`
		Results    []struct {
			// Amount is a decimal string in the currency's lowest unit:
			// "123.45" USD is $1.2345.
			Amount      *string `json:"amount"`
			Currency    string  `json:"currency"`
			WorkspaceID *string `json:"workspace_id"`
			Model       *string `json:"model"`
		} `json:"results"`
	} `json:"data"`
}

// ParseAnthropicCosts reads what the Anthropic cost report returns: one
// page, or a JSON array of the pages of one query. The workspace is kept
// as the line's account. Amounts must be in USD.
func ParseAnthropicCosts(r io.Reader) (*Bill, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBillBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the cost report: %w", err)
	}
	if len(data) > MaxBillBytes {
		return nil, fmt.Errorf("the cost report is larger than %d bytes", MaxBillBytes)
	}
	var pages []anthropicPage
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(t, &pages)
	} else {
		var p anthropicPage
		err = json.Unmarshal(t, &p)
		pages = []anthropicPage{p}
	}
	if err != nil {
		return nil, fmt.Errorf("not an Anthropic cost report: %w", err)
	}
	bill := &Bill{Provider: "anthropic", Lines: []BillLine{}}
	for i, p := range pages {
		if p.Data == nil {
			return nil, fmt.Errorf("not an Anthropic cost report: page %d has no data", i)
		}
		for _, b := range *p.Data {
			day, err := parseBillTime(b.StartingAt)
			if err != nil {
				return nil, fmt.Errorf("a bucket's starting_at: %w", err)
			}
			for _, res := range b.Results {
				if res.Amount == nil {
					return nil, errors.New("a cost result without amount")
				}
				if c := res.Currency; c != "" && !strings.EqualFold(c, "USD") {
					return nil, fmt.Errorf("currency %q: only USD costs can be compared with the ledger", c)
				}
				cents, err := strconv.ParseFloat(*res.Amount, 64)
				if err != nil || isBad(cents) {
					return nil, fmt.Errorf("amount %q is not an amount", *res.Amount)
				}
				if len(bill.Lines) == maxBillLines {
					return nil, fmt.Errorf("more than %d cost results; export a shorter period", maxBillLines)
				}
				l := BillLine{Day: day, CostUSD: cents / 100}
				if res.WorkspaceID != nil {
					l.Account = *res.WorkspaceID
				}
				if res.Model != nil {
					l.Model = *res.Model
				}
				bill.Lines = append(bill.Lines, l)
			}
		}
	}
	return bill, nil
}
