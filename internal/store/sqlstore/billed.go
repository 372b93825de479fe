package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"switchyard/internal/store"
)

// SaveBilledDays records billed days, replacing the rows of the same
// channel and day, in one transaction.
func (s *Store) SaveBilledDays(ctx context.Context, days []store.BilledDay) error {
	now := time.Now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		q := s.d.rebind(`INSERT INTO billed_days (channel, day_start, cost_nano_usd, bill, imported_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (channel, day_start) DO UPDATE SET cost_nano_usd = excluded.cost_nano_usd, bill = excluded.bill, imported_at = excluded.imported_at`)
		for _, d := range days {
			day := d.Day.UTC().Truncate(24 * time.Hour)
			if _, err := tx.ExecContext(ctx, q, d.Channel, s.d.dbTime(day), int64(math.Round(d.CostUSD*nanoUSD)), d.Bill, s.d.dbTime(now)); err != nil {
				return fmt.Errorf("saving billed days: %w", err)
			}
		}
		return nil
	})
}

// BilledDays returns the billed days of channel in [since, until), in
// order.
func (s *Store) BilledDays(ctx context.Context, channel string, since, until time.Time) ([]store.BilledDay, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT day_start, cost_nano_usd, bill FROM billed_days
WHERE channel = ? AND day_start >= ? AND day_start < ? ORDER BY day_start`), channel, s.d.dbTime(since), s.d.dbTime(until))
	if err != nil {
		return nil, fmt.Errorf("reading billed days: %w", err)
	}
	defer rows.Close()
	var out []store.BilledDay
	for rows.Next() {
		d := store.BilledDay{Channel: channel}
		var nano int64
		if err := rows.Scan(timeColumn{t: &d.Day}, &nano, &d.Bill); err != nil {
			return nil, fmt.Errorf("reading billed days: %w", err)
		}
		d.CostUSD = float64(nano) / nanoUSD
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading billed days: %w", err)
	}
	return out, nil
}
