package console

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// writeUsageCSV writes the usage page's rows as CSV. A cell that a
// spreadsheet would read as a formula is prefixed with a quote.
func writeUsageCSV(w io.Writer, d *usageData) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{d.By, "group_id", "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens",
		"reasoning_tokens", "cost_usd"})
	for _, r := range d.Rows {
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		_ = cw.Write([]string{cell(r.Name), cell(r.Group), i(r.Requests), i(r.Errors), i(r.InputTokens), i(r.OutputTokens),
			i(r.CachedInputTokens), i(r.ReasoningTokens), strconv.FormatFloat(r.CostUSD, 'f', 6, 64)})
	}
	cw.Flush()
	return cw.Error()
}

func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
