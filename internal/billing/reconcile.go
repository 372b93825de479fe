package billing

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"switchyard/internal/store"
)

// BillLine is one line of a cloud's bill, reduced to what reconciliation
// compares: when, where (the keys that find the channel) and how much.
type BillLine struct {
	// Day is the UTC day the usage took place.
	Day time.Time
	// Account, Region and Resource identify where the usage ran, as far
	// as the bill says: a channel is found from them.
	Account, Region, Resource string
	// Model is the bill's own words for what was used (a usage type, a
	// meter, a SKU's description, a model id), which ResolveModel finds
	// a configured model in; empty when the bill does not say.
	Model string
	// CostUSD is the billed amount.
	CostUSD float64
}

// Bill is a cloud's cost export, parsed.
type Bill struct {
	// Provider is the format's cloud: aws, azure, gcp, openai or
	// anthropic.
	Provider string
	Lines    []BillLine
	// Skipped counts lines that are not model usage (other services,
	// taxes, credits), which reconciliation leaves out.
	Skipped int64
}

// ChannelMatcher finds the channel a bill line was incurred on: ok is
// false, with why, when no configured channel (or more than one) fits.
type ChannelMatcher func(l BillLine) (channel string, why string, ok bool)

// ReconcileOptions describe a reconciliation.
type ReconcileOptions struct {
	Match ChannelMatcher
	// Account, when set, keeps only the bill lines of that account
	// (AWS account, OpenAI project...): the others are counted as
	// skipped.
	Account string
	// Offerings, when set, lists the models configured on a channel, so
	// that bill lines are compared by model as well (ResolveModel); nil
	// compares by channel only.
	Offerings func(channel string) []Offering
	// ThresholdPct and ThresholdUSD: a row's difference is a discrepancy
	// when it exceeds both. Zero means 5% and $0.01.
	ThresholdPct, ThresholdUSD float64
}

// Reconciliation compares a bill with the ledger, day by channel by
// model. A channel's day is compared as a whole (Model empty) when some of
// its billed lines name no configured model of the channel.
type Reconciliation struct {
	Provider string    `json:"provider"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	// Rows is every day and channel either side has, in order.
	Rows []ReconcileRow `json:"rows"`
	// Discrepancies are the rows beyond the thresholds.
	Discrepancies []ReconcileRow `json:"discrepancies"`
	// Unmatched sums the bill lines no channel could be found for, by
	// reason.
	Unmatched    []UnmatchedBill `json:"unmatched"`
	BilledUSD    float64         `json:"billed_usd"`
	LedgerUSD    float64         `json:"ledger_usd"`
	Skipped      int64           `json:"skipped_lines"`
	ThresholdPct float64         `json:"threshold_pct"`
	ThresholdUSD float64         `json:"threshold_usd"`
}

// ReconcileRow is one day on one channel, for one model or (Model
// empty) for all of them.
type ReconcileRow struct {
	Day       time.Time `json:"day"`
	Channel   string    `json:"channel"`
	Model     string    `json:"model,omitempty"`
	BilledUSD float64   `json:"billed_usd"`
	LedgerUSD float64   `json:"ledger_usd"`
	// DiffUSD is BilledUSD - LedgerUSD; DiffPct relative to the ledger
	// (100 when the ledger has nothing).
	DiffUSD float64 `json:"diff_usd"`
	DiffPct float64 `json:"diff_pct"`
}

// UnmatchedBill is billed spend that found no channel.
type UnmatchedBill struct {
	Why     string  `json:"why"`
	Lines   int64   `json:"lines"`
	CostUSD float64 `json:"cost_usd"`
}

// Reconcile compares bill with the ledger's spend per day and channel
// over the days the bill covers. The ledger is read as hourly groups
// (src), so its days are exact.
func Reconcile(ctx context.Context, src HourSource, bill *Bill, o ReconcileOptions) (*Reconciliation, error) {
	if o.ThresholdPct == 0 {
		o.ThresholdPct = 5
	}
	if o.ThresholdUSD == 0 {
		o.ThresholdUSD = 0.01
	}
	rec := &Reconciliation{Provider: bill.Provider, Skipped: bill.Skipped, ThresholdPct: o.ThresholdPct, ThresholdUSD: o.ThresholdUSD,
		Rows: []ReconcileRow{}, Discrepancies: []ReconcileRow{}, Unmatched: []UnmatchedBill{}}
	type key struct {
		day            time.Time
		channel, model string
	}
	type channelDay struct {
		day     time.Time
		channel string
	}
	rows := map[key]*ReconcileRow{}
	row := func(day time.Time, channel, model string) *ReconcileRow {
		k := key{day, channel, model}
		r := rows[k]
		if r == nil {
			r = &ReconcileRow{Day: day, Channel: channel, Model: model}
			rows[k] = r
		}
		return r
	}
	// wholeDays are the channels' days some billed line of which named
	// no model: they are compared by channel.
	wholeDays := map[channelDay]bool{}
	offerings := map[string][]Offering{}
	unmatched := map[string]*UnmatchedBill{}
	channels := map[string]bool{}
	for _, l := range bill.Lines {
		if o.Account != "" && l.Account != o.Account {
			rec.Skipped++
			continue
		}
		day := l.Day.UTC().Truncate(24 * time.Hour)
		if rec.Since.IsZero() || day.Before(rec.Since) {
			rec.Since = day
		}
		if end := day.Add(24 * time.Hour); end.After(rec.Until) {
			rec.Until = end
		}
		rec.BilledUSD += l.CostUSD
		ch, why, ok := o.Match(l)
		if !ok {
			u := unmatched[why]
			if u == nil {
				u = &UnmatchedBill{Why: why}
				unmatched[why] = u
			}
			u.Lines++
			u.CostUSD += l.CostUSD
			continue
		}
		channels[ch] = true
		model := ""
		if o.Offerings != nil {
			if _, seen := offerings[ch]; !seen {
				offerings[ch] = o.Offerings(ch)
			}
			model, _ = ResolveModel(l.Model, offerings[ch])
		}
		if model == "" {
			wholeDays[channelDay{day, ch}] = true
		}
		row(day, ch, model).BilledUSD += l.CostUSD
	}
	if len(channels) > 0 {
		err := src.ScanUsageHours(ctx, rec.Since, rec.Until, func(h *store.UsageHour) error {
			if !channels[h.Provider] {
				return nil // a channel of another cloud, or of no bill line
			}
			rec.LedgerUSD += h.CostUSD
			model := ""
			if o.Offerings != nil {
				model = h.Model
			}
			row(h.Hour.Truncate(24*time.Hour), h.Provider, model).LedgerUSD += h.CostUSD
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reconciling: %w", err)
		}
	}
	for k, r := range rows {
		if k.model != "" && wholeDays[channelDay{k.day, k.channel}] {
			whole := row(k.day, k.channel, "")
			whole.BilledUSD += r.BilledUSD
			whole.LedgerUSD += r.LedgerUSD
			delete(rows, k)
		}
	}
	for _, r := range rows {
		r.DiffUSD = r.BilledUSD - r.LedgerUSD
		r.DiffPct = 100
		if r.LedgerUSD != 0 {
			r.DiffPct = r.DiffUSD / r.LedgerUSD * 100
		} else if r.DiffUSD == 0 {
			r.DiffPct = 0
		}
		rec.Rows = append(rec.Rows, *r)
	}
	slices.SortFunc(rec.Rows, func(a, b ReconcileRow) int {
		return cmp.Or(a.Day.Compare(b.Day), strings.Compare(a.Channel, b.Channel), strings.Compare(a.Model, b.Model))
	})
	for _, r := range rec.Rows {
		if math.Abs(r.DiffUSD) > o.ThresholdUSD && math.Abs(r.DiffPct) > o.ThresholdPct {
			rec.Discrepancies = append(rec.Discrepancies, r)
		}
	}
	for _, why := range slices.Sorted(maps.Keys(unmatched)) {
		rec.Unmatched = append(rec.Unmatched, *unmatched[why])
	}
	return rec, nil
}

// BillFormats are the cost exports ParseBill reads, by provider.
var BillFormats = []string{"aws", "azure", "gcp", "openai", "anthropic"}

// ParseBill reads a cost export of provider's format: aws (Cost and
// Usage Report 2.0, CSV or Parquet, told apart by Parquet's magic
// bytes), azure, gcp, openai or anthropic.
func ParseBill(provider string, r io.ReaderAt, size int64) (*Bill, error) {
	whole := io.NewSectionReader(r, 0, size)
	switch provider {
	case "aws":
		magic := make([]byte, 4)
		if n, _ := r.ReadAt(magic, 0); n == 4 && string(magic) == "PAR1" {
			return ParseCURParquet(r, size)
		}
		return ParseCUR(whole)
	case "azure":
		return ParseAzureCosts(whole)
	case "gcp":
		return ParseGCPCosts(whole)
	case "openai":
		return ParseOpenAICosts(whole)
	case "anthropic":
		return ParseAnthropicCosts(whole)
	}
	return nil, fmt.Errorf("no bill format %q: want one of %s", provider, strings.Join(BillFormats, ", "))
}

// BilledDays returns the bill's amount on every channel it was matched
// to, for every day it covers: zero on a covered day with nothing billed
// on the channel. These are what `reconcile -save` records.
func (rec *Reconciliation) BilledDays() []store.BilledDay {
	sums := map[string]map[time.Time]float64{}
	for _, r := range rec.Rows {
		if sums[r.Channel] == nil {
			sums[r.Channel] = map[time.Time]float64{}
		}
		sums[r.Channel][r.Day] += r.BilledUSD
	}
	var out []store.BilledDay
	for _, ch := range slices.Sorted(maps.Keys(sums)) {
		for day := rec.Since; day.Before(rec.Until); day = day.Add(24 * time.Hour) {
			out = append(out, store.BilledDay{Channel: ch, Day: day, CostUSD: sums[ch][day], Bill: rec.Provider})
		}
	}
	return out
}
