package billing

import (
	"cmp"
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/store"
	"switchyard/internal/usage"
)

// Pricing is what a model costs on a channel under the configuration, as
// its one cost lookup decides it, step by step.
type Pricing struct {
	// List is the catalogue's price; Listed is false when no catalogue
	// lists the model on the channel.
	List   usage.Price
	Listed bool
	// Configured is the offering's own price, else its list price.
	Configured usage.Price
	// DiscountPct is the negotiated discount off Configured.
	DiscountPct float64
}

// ChargebackOptions describe a chargeback export.
type ChargebackOptions struct {
	// Label is the label rows are grouped by (cost_centre, team...).
	Label string
	// LabelOf returns the label's value for a tenant and key: the key's
	// own, else its tenant's, else "".
	LabelOf func(tenantID, keyID string) string
	// Price returns a model's pricing on a channel; false when the
	// configuration no longer offers the model there.
	Price func(model, channel string) (Pricing, bool)
	// Since and Until are the billed window, for the report.
	Since, Until time.Time
}

// Chargeback is an invoice-ready breakdown of the ledger by label value,
// channel and model.
type Chargeback struct {
	Label string          `json:"label"`
	Since time.Time       `json:"since"`
	Until time.Time       `json:"until"`
	Rows  []ChargebackRow `json:"rows"`
	// Total sums the rows; its Priced and Listed are true only when every
	// row's is.
	Total ChargebackRow `json:"total"`
}

// ChargebackRow is one label value's use of one model on one channel.
type ChargebackRow struct {
	// Value is the label's value; "" for traffic of tenants and keys
	// without the label.
	Value             string `json:"value"`
	Channel           string `json:"channel"`
	Model             string `json:"model"`
	Requests          int64  `json:"requests"`
	InputTokens       int64  `json:"input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	CacheWriteTokens  int64  `json:"cache_write_tokens"`
	ReasoningTokens   int64  `json:"reasoning_tokens"`
	// ListUSD prices the tokens at the catalogue's list price (0 when
	// Listed is false); ConfiguredUSD at the configured price before the
	// discount; DiscountUSD is DiscountPct of ConfiguredUSD, and NetUSD
	// what is left: the price the configuration charges today.
	ListUSD       float64 `json:"list_usd"`
	Listed        bool    `json:"listed"`
	ConfiguredUSD float64 `json:"configured_usd"`
	DiscountPct   float64 `json:"discount_pct"`
	DiscountUSD   float64 `json:"discount_usd"`
	NetUSD        float64 `json:"net_usd"`
	// Priced is false when the configuration no longer offers the model
	// on the channel: only ChargedUSD is known.
	Priced bool `json:"priced"`
	// ChargedUSD is the cost the ledger recorded when the requests were
	// served (at the prices then in force): the amount to charge back.
	ChargedUSD float64 `json:"charged_usd"`
}

// BuildChargeback groups the ledger's lines (store.GroupLine sums) by the
// label's value, channel and model, and prices them.
func BuildChargeback(lines []store.UsageSummary, o ChargebackOptions) *Chargeback {
	type key struct{ value, channel, model string }
	rows := map[key]*ChargebackRow{}
	for _, l := range lines {
		tenant, keyID, channel, model := store.SplitLine(l.Group)
		k := key{o.LabelOf(tenant, keyID), channel, model}
		r := rows[k]
		if r == nil {
			r = &ChargebackRow{Value: k.value, Channel: channel, Model: model}
			if p, ok := o.Price(model, channel); ok {
				r.Priced, r.Listed, r.DiscountPct = true, p.Listed, p.DiscountPct
			}
			rows[k] = r
		}
		r.Requests += l.Requests
		r.InputTokens += l.InputTokens
		r.OutputTokens += l.OutputTokens
		r.CachedInputTokens += l.CachedInputTokens
		r.CacheWriteTokens += l.CacheWriteTokens
		r.ReasoningTokens += l.ReasoningTokens
		r.ChargedUSD += l.CostUSD
	}
	out := &Chargeback{Label: o.Label, Since: o.Since.UTC(), Until: o.Until.UTC(), Rows: make([]ChargebackRow, 0, len(rows)),
		Total: ChargebackRow{Priced: true, Listed: true}}
	for _, r := range rows {
		if p, ok := o.Price(r.Model, r.Channel); ok {
			u := llm.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CachedInputTokens: r.CachedInputTokens,
				CacheWriteTokens: r.CacheWriteTokens, ReasoningTokens: r.ReasoningTokens}
			if p.Listed {
				r.ListUSD = usage.Cost(u, p.List)
			}
			r.ConfiguredUSD = usage.Cost(u, p.Configured)
			r.DiscountUSD = r.ConfiguredUSD * p.DiscountPct / 100
			r.NetUSD = r.ConfiguredUSD - r.DiscountUSD
		}
		t := &out.Total
		t.Requests += r.Requests
		t.InputTokens += r.InputTokens
		t.OutputTokens += r.OutputTokens
		t.CachedInputTokens += r.CachedInputTokens
		t.CacheWriteTokens += r.CacheWriteTokens
		t.ReasoningTokens += r.ReasoningTokens
		t.ListUSD += r.ListUSD
		t.ConfiguredUSD += r.ConfiguredUSD
		t.DiscountUSD += r.DiscountUSD
		t.NetUSD += r.NetUSD
		t.ChargedUSD += r.ChargedUSD
		t.Priced = t.Priced && r.Priced
		t.Listed = t.Listed && r.Listed
		out.Rows = append(out.Rows, *r)
	}
	slices.SortFunc(out.Rows, func(a, b ChargebackRow) int {
		return cmp.Or(strings.Compare(a.Value, b.Value), strings.Compare(a.Channel, b.Channel), strings.Compare(a.Model, b.Model))
	})
	return out
}

// chargebackHeader names the CSV columns.
var chargebackHeader = []string{"label", "value", "channel", "model", "requests", "input_tokens", "output_tokens",
	"cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "list_usd", "configured_usd", "discount_pct",
	"discount_usd", "net_usd", "charged_usd", "since", "until"}

// WriteCSV writes the chargeback as CSV: a header, one line per row and a
// total line, whose value is "(total)". Money is in US dollars to the nano-dollar; a price the
// configuration cannot state (no list price, a model no longer offered) is
// an empty cell, not a zero.
func (c *Chargeback) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(chargebackHeader); err != nil {
		return err
	}
	for i, r := range append(slices.Clip(c.Rows), c.Total) {
		total := i == len(c.Rows)
		list, configured, pct, discount, net := usd(r.ListUSD), usd(r.ConfiguredUSD), strconv.FormatFloat(r.DiscountPct, 'f', -1, 64),
			usd(r.DiscountUSD), usd(r.NetUSD)
		if !r.Listed {
			list = ""
		}
		if !r.Priced {
			configured, pct, discount, net = "", "", "", ""
		}
		value := csvSafe(r.Value)
		if total {
			value, pct = "(total)", ""
		}
		rec := []string{c.Label, value, csvSafe(r.Channel), csvSafe(r.Model), strconv.FormatInt(r.Requests, 10),
			strconv.FormatInt(r.InputTokens, 10), strconv.FormatInt(r.OutputTokens, 10), strconv.FormatInt(r.CachedInputTokens, 10),
			strconv.FormatInt(r.CacheWriteTokens, 10), strconv.FormatInt(r.ReasoningTokens, 10), list, configured, pct, discount, net,
			usd(r.ChargedUSD), c.Since.Format(time.RFC3339), c.Until.Format(time.RFC3339)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func usd(v float64) string { return strconv.FormatFloat(v, 'f', 9, 64) }

// csvSafe keeps a label value from being read as a formula by the
// spreadsheets invoices are opened in.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
