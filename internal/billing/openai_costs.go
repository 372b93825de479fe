package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// openAIPage is a page of the OpenAI organization costs API
// (GET /v1/organization/costs): daily buckets of cost results.
type openAIPage struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string `json:"object"`
		StartTime int64  `json:"start_time"`
		EndTime   int64  `json:"end_time"`
		Results   []struct {
			Object string `json:"object"`
			Amount *struct {
				Value    *float64 `json:"value"`
				Currency string   `json:"currency"`
			} `json:"amount"`
			LineItem  *string `json:"line_item"`
			ProjectID *string `json:"project_id"`
		} `json:"results"`
	} `json:"data"`
}

// ParseOpenAICosts reads what the OpenAI organization costs API returns:
// one page, or a JSON array of the pages of one query. Every result is
// model usage; its project is kept as the line's account. Amounts must be
// in USD.
func ParseOpenAICosts(r io.Reader) (*Bill, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBillBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the costs: %w", err)
	}
	if len(data) > MaxBillBytes {
		return nil, fmt.Errorf("the costs are larger than %d bytes", MaxBillBytes)
	}
	var pages []openAIPage
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(t, &pages)
	} else {
		var p openAIPage
		err = json.Unmarshal(t, &p)
		pages = []openAIPage{p}
	}
	if err != nil {
		return nil, fmt.Errorf("not OpenAI organization costs: %w", err)
	}
	bill := &Bill{Provider: "openai", Lines: []BillLine{}}
	for i, p := range pages {
		if p.Object != "page" {
			return nil, fmt.Errorf("not OpenAI organization costs: page %d has object %q, want \"page\"", i, p.Object)
		}
		for _, b := range p.Data {
			if b.StartTime < 0 || b.StartTime > 1e11 {
				return nil, fmt.Errorf("a bucket's start_time %d is not a Unix time", b.StartTime)
			}
			day := time.Unix(b.StartTime, 0).UTC()
			for _, res := range b.Results {
				if res.Amount == nil || res.Amount.Value == nil {
					return nil, errors.New("a cost result without amount.value")
				}
				if c := strings.ToLower(res.Amount.Currency); c != "usd" {
					return nil, fmt.Errorf("currency %q: only USD costs can be compared with the ledger", res.Amount.Currency)
				}
				if isBad(*res.Amount.Value) {
					return nil, fmt.Errorf("amount %v is not an amount", *res.Amount.Value)
				}
				if len(bill.Lines) == maxBillLines {
					return nil, fmt.Errorf("more than %d cost results; export a shorter period", maxBillLines)
				}
				l := BillLine{Day: day, CostUSD: *res.Amount.Value}
				if res.ProjectID != nil {
					l.Account = *res.ProjectID
				}
				if res.LineItem != nil {
					l.Model = *res.LineItem
				}
				bill.Lines = append(bill.Lines, l)
			}
		}
	}
	return bill, nil
}
