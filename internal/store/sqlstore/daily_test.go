package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// dailyRows returns usage_daily as text rows, in key order.
func dailyRows(t *testing.T, s *Store, q string) []string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			day                                                     time.Time
			tenant, key, model, provider, traffic, contracts, class string
			v                                                       [9]int64
		)
		if err := rows.Scan(timeColumn{t: &day}, &tenant, &key, &model, &provider, &traffic, &contracts, &class,
			&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(day.UTC().Format(time.DateOnly), tenant, key, model, provider, traffic, contracts, class, v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// hourlyByDay is usage_hourly folded into days, as usage_daily must be.
func hourlyByDay(s *Store) string {
	return `SELECT ` + s.d.dayStart("hour_start") + ` AS d, ` + aggregateDimColumns + `,
CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT), CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
CAST(SUM(cached_input_tokens) AS BIGINT), CAST(SUM(cache_write_tokens) AS BIGINT), CAST(SUM(reasoning_tokens) AS BIGINT),
CAST(SUM(cost_nano_usd) AS BIGINT), CAST(SUM(latency_ns) AS BIGINT)
FROM usage_hourly GROUP BY d, ` + aggregateDimColumns + ` ORDER BY d, ` + aggregateDimColumns
}

const dailyTable = `SELECT day_start, ` + aggregateDimColumns + `, ` + hourlySumColumns + `
FROM usage_daily ORDER BY day_start, ` + aggregateDimColumns

// TestDailyRollup_EqualsHourlyAndBackfills checks that every rollup keeps
// usage_daily equal to usage_hourly summed per day, late records included,
// and that migration 0009 builds the same table from usage_hourly for a
// ledger rolled before it existed.
func TestDailyRollup_EqualsHourlyAndBackfills(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			ctx := t.Context()
			s := OpenTestStore(t, driver)
			var recs []store.UsageRecord
			for i := range 400 {
				status := 200
				if i%13 == 0 {
					status = 502
				}
				recs = append(recs, store.UsageRecord{
					RequestID: fmt.Sprintf("daily-%d", i), TenantID: fmt.Sprintf("ten_%d", i%3), KeyID: fmt.Sprintf("key_%d", i%5),
					Model: []string{"gpt-5", "nova"}[i%2], Provider: []string{"azure", "bedrock", "vertex"}[i%3], Traffic: "stateless",
					Status: status, InputTokens: int64(100 + i), OutputTokens: int64(i % 70), CostUSD: float64(1+i%89) * 0.0000123,
					Latency: time.Duration(i) * time.Millisecond, Contracts: []string{"eu-only"},
					CreatedAt: h(19, 7).Add(time.Duration(i) * 13 * time.Minute),
				})
			}
			if err := s.InsertUsage(ctx, recs[:300]); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rollup(ctx, h(60, 30)); err != nil {
				t.Fatal(err)
			}
			// Late records for days already rolled, then the rest.
			late := recs[300:]
			for i := range late {
				late[i].CreatedAt = h(23, 58).Add(time.Duration(i) * 3 * time.Second)
			}
			if err := s.InsertUsage(ctx, late); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rollup(ctx, h(200, 0)); err != nil {
				t.Fatal(err)
			}
			want := dailyRows(t, s, hourlyByDay(s))
			if len(want) == 0 {
				t.Fatal("usage_hourly is empty")
			}
			if diff := gocmp.Diff(want, dailyRows(t, s, dailyTable)); diff != "" {
				t.Fatalf("usage_daily after rollups (-hourly by day +daily):\n%s", diff)
			}
			windows := []store.UsageFilter{{}, {Since: h(20, 30), Until: h(90, 10)}, {TenantID: "ten_1", Since: h(24, 0)}}
			var before [][]store.UsageSummary
			for _, f := range windows {
				sums, err := s.SumUsage(ctx, f, store.GroupKey)
				if err != nil {
					t.Fatal(err)
				}
				before = append(before, sums)
			}

			// A ledger rolled before usage_daily existed: migration 0009
			// backfills it when the store opens.
			for _, q := range []string{`DROP TABLE usage_daily`, `DELETE FROM schema_migrations WHERE version = 9`} {
				if _, err := s.w.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			again, err := Open(context.Background(), driver, sameDatabase(t, s))
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if diff := gocmp.Diff(want, dailyRows(t, again, dailyTable)); diff != "" {
				t.Fatalf("usage_daily after the backfill (-hourly by day +daily):\n%s", diff)
			}
			for i, f := range windows {
				sums, err := again.SumUsage(ctx, f, store.GroupKey)
				if err != nil {
					t.Fatal(err)
				}
				if diff := gocmp.Diff(before[i], sums); diff != "" {
					t.Errorf("SumUsage(%+v) after the backfill (-before +after):\n%s", f, diff)
				}
			}
		})
	}
}

// TestRefreshLedgerStatistics checks that on Postgres the ledger's tables
// are vacuumed and analyzed, and that on SQLite nothing fails.
func TestRefreshLedgerStatistics(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			if err := s.InsertUsage(t.Context(), []store.UsageRecord{{RequestID: "r1", TenantID: "t", CreatedAt: h(1, 5)}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rollup(t.Context(), h(3, 0)); err != nil {
				t.Fatal(err)
			}
			if err := s.RefreshLedgerStatistics(t.Context()); err != nil {
				t.Fatal(err)
			}
			if driver != DriverPostgres {
				return
			}
			for _, table := range ledgerTables {
				var vacuumed, analyzed bool
				err := s.r.QueryRowContext(t.Context(), `SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL
FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&vacuumed, &analyzed)
				if err != nil {
					t.Fatalf("%s: %v", table, err)
				}
				if !vacuumed || !analyzed {
					t.Errorf("%s: vacuumed %v, analyzed %v; want both", table, vacuumed, analyzed)
				}
			}
		})
	}
}
