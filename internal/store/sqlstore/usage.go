package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"switchyard/internal/store"
)

const usageColumns = `request_id, tenant_id, key_id, model, provider, upstream_model, dialect, endpoint, traffic, stream,
input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd,
latency_ns, ttfb_ns, status, error_kind, attempts, route, contracts, created_at`

// usageColumnCount is the number of columns in usageColumns.
const usageColumnCount = 24

// nanoUSD is the number of stored cost units per US dollar.
const nanoUSD = 1e9

// InsertUsage appends records to the ledger in one transaction: all of them
// or none. Records whose RequestID is already stored are skipped, so
// retrying a batch whose commit outcome was unknown never counts a request
// twice; records with an empty RequestID are always inserted. A zero
// CreatedAt is set to now. Costs are kept to the nano-dollar.
func (s *Store) InsertUsage(ctx context.Context, recs []store.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := s.now()
	perStmt := s.d.maxParams / usageColumnCount
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(recs); start += perStmt {
			chunk := recs[start:min(start+perStmt, len(recs))]
			q, args, err := s.insertUsageStmt(chunk, now)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inserting %d usage records: %w", len(recs), err)
	}
	return nil
}

// insertUsageStmt builds one multi-row INSERT for recs.
func (s *Store) insertUsageStmt(recs []store.UsageRecord, now time.Time) (string, []any, error) {
	var b strings.Builder
	b.WriteString(`INSERT INTO usage_records (` + usageColumns + `) VALUES `)
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", usageColumnCount), ", ") + ")"
	args := make([]any, 0, len(recs)*usageColumnCount)
	for i := range recs {
		r := &recs[i]
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		contracts, err := encodeList(r.Contracts)
		if err != nil {
			return "", nil, fmt.Errorf("encoding contracts of request %q: %w", r.RequestID, err)
		}
		if math.IsNaN(r.CostUSD) || math.IsInf(r.CostUSD, 0) || math.Abs(r.CostUSD) > math.MaxInt64/nanoUSD {
			return "", nil, fmt.Errorf("request %q: cost %v out of range: %w", r.RequestID, r.CostUSD, store.ErrInvalid)
		}
		created := r.CreatedAt
		if created.IsZero() {
			created = now
		}
		args = append(args,
			nullString(r.RequestID), r.TenantID, r.KeyID, r.Model, r.Provider, r.UpstreamModel, r.Dialect, r.Endpoint, r.Traffic, r.Stream,
			r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.CacheWriteTokens, r.ReasoningTokens,
			int64(math.Round(r.CostUSD*nanoUSD)),
			int64(r.Latency), int64(r.TTFB), r.Status, r.ErrorKind, r.Attempts, r.Route, contracts,
			s.d.dbTime(created))
	}
	b.WriteString(` ON CONFLICT (request_id) DO NOTHING`)
	return s.d.rebind(b.String()), args, nil
}

// usageGroupColumn returns the column of a SumUsage grouping.
func usageGroupColumn(groupBy string) (string, bool) {
	switch groupBy {
	case store.GroupTenant:
		return "tenant_id", true
	case store.GroupKey:
		return "key_id", true
	case store.GroupModel:
		return "model", true
	case store.GroupProvider:
		return "provider", true
	}
	return "", false
}

// SumUsage aggregates the records matching f. With store.GroupNone it
// returns exactly one summary (zero when nothing matches); otherwise one
// summary per distinct value of the grouping, ordered by that value.
func (s *Store) SumUsage(ctx context.Context, f store.UsageFilter, groupBy string) ([]store.UsageSummary, error) {
	group := "''"
	if groupBy != store.GroupNone {
		col, ok := usageGroupColumn(groupBy)
		if !ok {
			return nil, fmt.Errorf("summing usage: unknown grouping %q: %w", groupBy, store.ErrInvalid)
		}
		group = col
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + group + `, COUNT(*)`)
	for _, col := range []string{"input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "cost_nano_usd"} {
		b.WriteString(`, CAST(COALESCE(SUM(` + col + `), 0) AS BIGINT)`)
	}
	b.WriteString(`, CAST(COALESCE(SUM(CASE WHEN status >= 400 OR error_kind <> '' THEN 1 ELSE 0 END), 0) AS BIGINT)`)
	b.WriteString(` FROM usage_records`)
	where, args := usageWhere(s.d, f)
	b.WriteString(where)
	if groupBy != store.GroupNone {
		b.WriteString(` GROUP BY ` + group + ` ORDER BY ` + group)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(b.String()), args...)
	if err != nil {
		return nil, fmt.Errorf("summing usage: %w", err)
	}
	defer rows.Close()
	var out []store.UsageSummary
	for rows.Next() {
		var (
			u    store.UsageSummary
			cost int64
		)
		if err := rows.Scan(&u.Group, &u.Requests, &u.InputTokens, &u.OutputTokens, &u.CachedInputTokens,
			&u.CacheWriteTokens, &u.ReasoningTokens, &cost, &u.Errors); err != nil {
			return nil, fmt.Errorf("summing usage: %w", err)
		}
		u.CostUSD = float64(cost) / nanoUSD
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summing usage: %w", err)
	}
	return out, nil
}

// usageWhere renders f as a WHERE clause with "?" placeholders.
func usageWhere(d *dialect, f store.UsageFilter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if !f.Since.IsZero() {
		conds, args = append(conds, "created_at >= ?"), append(args, d.dbTime(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, d.dbTime(f.Until))
	}
	for _, c := range []struct{ col, v string }{
		{"tenant_id", f.TenantID}, {"key_id", f.KeyID}, {"model", f.Model}, {"provider", f.Provider},
	} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// SpendSince returns the cost in USD of the records created at or after
// since, for one tenant and/or one key (an empty ID does not filter).
// Budget checks call it with the start of the budget period.
func (s *Store) SpendSince(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error) {
	where, args := usageWhere(s.d, store.UsageFilter{Since: since, TenantID: tenantID, KeyID: keyID})
	var cost int64
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT CAST(COALESCE(SUM(cost_nano_usd), 0) AS BIGINT) FROM usage_records`+where), args...).Scan(&cost)
	if err != nil {
		return 0, fmt.Errorf("summing spend: %w", err)
	}
	return float64(cost) / nanoUSD, nil
}
