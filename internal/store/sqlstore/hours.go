package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"switchyard/internal/store"
)

// ScanUsageHours calls fn with the ledger's traffic in the hours from the
// one containing since to the one containing until (exclusive when until
// is an hour boundary), summed per hour, tenant, model, channel, traffic
// class and contract list (store.UsageHour), hour by hour in time order,
// and stops at the first error fn returns, which it returns unchanged.
//
// Whole hours are what the rollup keeps, so the window is widened to
// them: the rolled hours are read from usage_hourly and the records not
// rolled yet (the current hour, late arrivals) are summed per hour from
// usage_records, in one query over one snapshot, so every record counts
// exactly once whatever rollups and prunes run meanwhile. Rows stream
// from the database as fn consumes them: memory does not grow with the
// ledger. fn must not use the store (the scan holds a connection) nor keep the
// UsageHour, which the next call reuses.
func (s *Store) ScanUsageHours(ctx context.Context, since, until time.Time, fn func(*store.UsageHour) error) error {
	from := hourOf(since)
	to := hourOf(until)
	if !to.Equal(until.UTC()) {
		to = to.Add(time.Hour)
	}
	if !from.Before(to) {
		return nil
	}
	q := `SELECT hour, tenant_id, model, provider, traffic, contracts,
CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT), CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
CAST(SUM(cached_input_tokens) AS BIGINT), CAST(SUM(cache_write_tokens) AS BIGINT), CAST(SUM(reasoning_tokens) AS BIGINT),
CAST(SUM(cost_nano_usd) AS BIGINT), CAST(SUM(latency_ns) AS BIGINT)
FROM (
SELECT hour_start AS hour, tenant_id, model, provider, traffic, contracts, ` + hourlySumColumns + `
FROM usage_hourly WHERE hour_start >= ? AND hour_start < ?
UNION ALL
SELECT ` + s.d.hourStart("created_at") + ` AS hour, tenant_id, model, provider, traffic, contracts, ` + rawPartSelect + `, latency_ns
FROM ` + s.unrolledRecords() + ` WHERE NOT rolled AND created_at >= ? AND created_at < ?
) parts
GROUP BY hour, tenant_id, model, provider, traffic, contracts
ORDER BY hour, tenant_id, model, provider, traffic, contracts`
	args := []any{s.d.dbTime(from), s.d.dbTime(to), s.d.dbTime(from), s.d.dbTime(to)}
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.d.rebind(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			h             store.UsageHour
			contracts     string
			lastContracts string
			decoded       bool
			cost, latency int64
		)
		for rows.Next() {
			if err := rows.Scan(timeColumn{t: &h.Hour}, &h.TenantID, &h.Model, &h.Provider, &h.Traffic, &contracts,
				&h.Requests, &h.Errors, &h.InputTokens, &h.OutputTokens, &h.CachedInputTokens, &h.CacheWriteTokens,
				&h.ReasoningTokens, &cost, &latency); err != nil {
				return err
			}
			// Groups of one hour often share a contract list: decode it
			// once per change.
			if !decoded || contracts != lastContracts {
				h.Contracts, decoded = nil, true
				if err := decodeJSON(contracts, &h.Contracts); err != nil {
					return fmt.Errorf("decoding contracts %q: %w", contracts, err)
				}
				if h.Contracts == nil {
					h.Contracts = []string{}
				}
				lastContracts = contracts
			}
			h.CostUSD = float64(cost) / nanoUSD
			h.Latency = time.Duration(latency)
			if err := fn(&h); err != nil {
				return &callbackError{err}
			}
		}
		return rows.Err()
	})
	if ce := (*callbackError)(nil); errors.As(err, &ce) {
		return ce.err
	}
	if err != nil {
		return fmt.Errorf("scanning usage hours: %w", err)
	}
	return nil
}

// callbackError carries an error of a caller's function through a
// transaction unchanged.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
