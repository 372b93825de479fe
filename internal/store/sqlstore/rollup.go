package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The ledger stays small and fast without hand work: Rollup folds the raw
// usage_records rows of every complete hour into usage_hourly, and into
// usage_daily (each day's row the sum of its hours' rows), PruneUsage
// deletes raw rows once they are rolled and past their retention, and
// SumUsage reads the aggregates wherever it can (see usage.go).
//
// Rolling is tracked per raw row, with a rolled column, rather than with a
// time watermark alone: a replica that flushes its queue after a crash may
// insert rows for an hour that was rolled long ago, and such late rows stay
// unrolled, are counted raw by SumUsage, and are added to their hour's
// aggregate (and its day's) by the next Rollup. A batch of rows is marked
// rolled and added to the aggregates in one transaction, so a row is always counted exactly
// once, by its aggregate or by itself.

// rollupBatch bounds the raw rows one rollup transaction takes, and
// pruneBatch the rows one prune statement deletes, so that neither holds
// the write lock (SQLite) or row locks (Postgres) for long.
const (
	rollupBatch = 5000
	pruneBatch  = 5000
)

// vacuumStep bounds the free pages one PRAGMA incremental_vacuum returns
// to the file system (8 MiB at the default 4 KiB page size).
const vacuumStep = 2048

// aggregateDimColumns are the columns that, after its period's start,
// identify a usage_hourly or usage_daily row, and hourlySumColumns the ones
// both sum, in the order rollups write them.
const (
	aggregateDimColumns = `tenant_id, key_id, model, provider, traffic, contracts, status_class`
	hourlySumColumns    = `requests, errors, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, latency_ns`
	hourlyColumnCount   = 17
)

// Status classes of usage_hourly rows.
const (
	statusOK    = "ok"
	statusError = "error"
)

// hourOf returns the start, in UTC, of the hour containing t.
func hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// rollupState is the usage_rollup_state row. Nil times were never set.
type rollupState struct {
	rolledUntil, prunedBefore *time.Time
}

// lockRollupState reads the rollup state row inside tx, locking it until tx
// ends so that rollups and prunes, even from several replicas, run one at a
// time. Postgres locks the row; SQLite write transactions already hold the
// database's only write lock from the moment they begin.
func (s *Store) lockRollupState(ctx context.Context, tx *sql.Tx) (rollupState, error) {
	q := `SELECT rolled_until, pruned_before FROM usage_rollup_state WHERE id = 1`
	if s.d.name == DriverPostgres {
		q += ` FOR UPDATE`
	}
	var st rollupState
	err := tx.QueryRowContext(ctx, q).Scan(timeColumn{ptr: &st.rolledUntil}, timeColumn{ptr: &st.prunedBefore})
	if errors.Is(err, sql.ErrNoRows) {
		return st, errors.New("reading rollup state: usage_rollup_state has no row")
	}
	if err != nil {
		return st, fmt.Errorf("reading rollup state: %w", err)
	}
	return st, nil
}

// prunedBefore returns the hour below which raw rows may have been pruned,
// or the zero time when nothing ever was. tx is the transaction SumUsage
// reads in, so that the answer and the sums come from one snapshot.
func (s *Store) prunedBefore(ctx context.Context, tx *sql.Tx) (time.Time, error) {
	var p *time.Time
	if err := tx.QueryRowContext(ctx, `SELECT pruned_before FROM usage_rollup_state WHERE id = 1`).Scan(timeColumn{ptr: &p}); err != nil {
		return time.Time{}, fmt.Errorf("reading rollup state: %w", err)
	}
	if p == nil {
		return time.Time{}, nil
	}
	return *p, nil
}

// Rollup folds the raw usage records of every complete hour before now
// that are not rolled yet into the hourly aggregates SumUsage reads, and
// returns how many records it rolled. Records of the hour containing now
// stay raw until the hour is over. Records that arrived late for an hour
// rolled before are added to that hour's aggregate.
//
// Records are taken in batches, each in its own transaction that marks its
// records rolled and adds them to the aggregates together, so a failed or
// cancelled rollup leaves every record counted once and the next one
// carries on. Rollup is idempotent, and safe to run from several replicas
// at once: the transactions lock the rollup state row (Postgres) or take
// the database's write lock (SQLite), so they never take the same record
// twice. On Postgres, marking records rolled leaves the replaced row
// versions to autovacuum, which also refreshes the statistics that tell
// the planner unrolled records are few.
func (s *Store) Rollup(ctx context.Context, now time.Time) (rolled int, err error) {
	return s.rollup(ctx, now, rollupBatch)
}

func (s *Store) rollup(ctx context.Context, now time.Time, batch int) (int, error) {
	cutoff := hourOf(now)
	total := 0
	for {
		var n int
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			st, err := s.lockRollupState(ctx, tx)
			if err != nil {
				return err
			}
			n, err = s.rollBatch(ctx, tx, cutoff, batch)
			if err != nil {
				return err
			}
			if n == batch || st.rolledUntil != nil && !st.rolledUntil.Before(cutoff) {
				return nil
			}
			_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE usage_rollup_state SET rolled_until = ? WHERE id = 1`), s.d.dbTime(cutoff))
			if err != nil {
				return fmt.Errorf("advancing rollup watermark: %w", err)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("rolling up usage before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// hourlyKey identifies one usage_hourly row.
type hourlyKey struct {
	hour                                                    time.Time
	tenant, key, model, provider, traffic, contracts, class string
}

// hourlySums are the sums of one usage_hourly row.
type hourlySums struct {
	requests, errors                                  int64
	input, output, cachedInput, cacheWrite, reasoning int64
	costNano, latencyNS                               int64
}

// rollBatch marks up to batch unrolled records created before cutoff as
// rolled and adds them to their hours' aggregates, within tx. It returns
// how many records it rolled.
func (s *Store) rollBatch(ctx context.Context, tx *sql.Tx, cutoff time.Time, batch int) (int, error) {
	// The outer NOT rolled matters on Postgres even under the state lock:
	// it is re-checked against the latest row version, so a record can
	// never be returned twice.
	rows, err := tx.QueryContext(ctx, s.d.rebind(`UPDATE usage_records SET rolled = TRUE
WHERE NOT rolled AND id IN (SELECT id FROM usage_records WHERE NOT rolled AND created_at < ? LIMIT ?)
RETURNING tenant_id, key_id, model, provider, traffic, contracts, status, error_kind,
input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, latency_ns, created_at`),
		s.d.dbTime(cutoff), batch)
	if err != nil {
		return 0, fmt.Errorf("marking records rolled: %w", err)
	}
	defer rows.Close()
	agg := map[hourlyKey]*hourlySums{}
	n := 0
	for rows.Next() {
		var (
			k         hourlyKey
			status    int
			errorKind string
			created   time.Time
			v         hourlySums
		)
		if err := rows.Scan(&k.tenant, &k.key, &k.model, &k.provider, &k.traffic, &k.contracts, &status, &errorKind,
			&v.input, &v.output, &v.cachedInput, &v.cacheWrite, &v.reasoning, &v.costNano, &v.latencyNS,
			timeColumn{t: &created}); err != nil {
			return 0, fmt.Errorf("reading rolled records: %w", err)
		}
		n++
		k.hour = hourOf(created)
		k.class = statusOK
		if errorKind != "" || status >= 400 {
			k.class = statusError
		}
		v.requests = 1
		if k.class == statusError {
			v.errors = 1
		}
		addSums(agg, k, &v)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading rolled records: %w", err)
	}
	rows.Close()
	if err := s.addAggregates(ctx, tx, "usage_hourly", "hour_start", agg); err != nil {
		return 0, err
	}
	if err := s.addAggregates(ctx, tx, "usage_daily", "day_start", daily(agg)); err != nil {
		return 0, err
	}
	return n, nil
}

// dayOf returns the start, in UTC, of the day containing t.
func dayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// daily folds hourly aggregates into the aggregates of their days.
func daily(hourly map[hourlyKey]*hourlySums) map[hourlyKey]*hourlySums {
	out := make(map[hourlyKey]*hourlySums, len(hourly))
	for k, v := range hourly {
		k.hour = dayOf(k.hour)
		addSums(out, k, v)
	}
	return out
}

// addSums adds v to agg's sums for k.
func addSums(agg map[hourlyKey]*hourlySums, k hourlyKey, v *hourlySums) {
	sum := agg[k]
	if sum == nil {
		sum = &hourlySums{}
		agg[k] = sum
	}
	sum.requests += v.requests
	sum.errors += v.errors
	sum.input += v.input
	sum.output += v.output
	sum.cachedInput += v.cachedInput
	sum.cacheWrite += v.cacheWrite
	sum.reasoning += v.reasoning
	sum.costNano += v.costNano
	sum.latencyNS += v.latencyNS
}

// addAggregates adds agg to the rows it names of table (usage_hourly, whose
// period column timeCol is hour_start, or usage_daily, day_start), creating
// the ones that do not exist yet. Rows are written in key order, so that
// concurrent writers would lock them in the same order.
func (s *Store) addAggregates(ctx context.Context, tx *sql.Tx, table, timeCol string, agg map[hourlyKey]*hourlySums) error {
	keys := make([]hourlyKey, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareHourlyKeys)
	var set strings.Builder
	for i, col := range strings.Split(hourlySumColumns, ", ") {
		if i > 0 {
			set.WriteString(", ")
		}
		set.WriteString(col + " = " + table + "." + col + " + excluded." + col)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", hourlyColumnCount), ", ") + ")"
	perStmt := s.d.maxParams / hourlyColumnCount
	for start := 0; start < len(keys); start += perStmt {
		chunk := keys[start:min(start+perStmt, len(keys))]
		var b strings.Builder
		b.WriteString(`INSERT INTO ` + table + ` (` + timeCol + ", " + aggregateDimColumns + `, ` + hourlySumColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*hourlyColumnCount)
		for i, k := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			v := agg[k]
			args = append(args, s.d.dbTime(k.hour), k.tenant, k.key, k.model, k.provider, k.traffic, k.contracts, k.class,
				v.requests, v.errors, v.input, v.output, v.cachedInput, v.cacheWrite, v.reasoning, v.costNano, v.latencyNS)
		}
		b.WriteString(` ON CONFLICT (` + timeCol + ", " + aggregateDimColumns + `) DO UPDATE SET ` + set.String())
		if _, err := tx.ExecContext(ctx, s.d.rebind(b.String()), args...); err != nil {
			return fmt.Errorf("adding to %s: %w", table, err)
		}
	}
	return nil
}

func compareHourlyKeys(a, b hourlyKey) int {
	if c := a.hour.Compare(b.hour); c != 0 {
		return c
	}
	for _, p := range [...][2]string{
		{a.tenant, b.tenant}, {a.key, b.key}, {a.model, b.model}, {a.provider, b.provider},
		{a.traffic, b.traffic}, {a.contracts, b.contracts}, {a.class, b.class},
	} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}

// PruneUsage deletes the raw usage records of the hours that ended at or
// before before (records created before the start of before's hour) that
// Rollup has already rolled, and returns how many it deleted. Unrolled
// records are kept whatever their age, so nothing is ever lost from the
// sums; the next Rollup and PruneUsage take them. Call it with now minus
// the raw retention; records pruned are gone from ScanUsage, while SumUsage
// keeps counting them through the aggregates (see SumUsage for windows
// that start or end inside a pruned hour).
//
// Records are deleted in batches of a few thousand per statement, so a
// large prune never holds the write lock for long. On SQLite the pages
// freed are then returned to the file system with PRAGMA incremental_vacuum
// (databases created by this package use auto_vacuum=INCREMENTAL), so the
// file shrinks without a VACUUM; on a database file created without it the
// freed pages are reused by later inserts instead. On Postgres, autovacuum
// reclaims the deleted rows' space for reuse.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (deleted int64, err error) {
	return s.pruneUsage(ctx, before, pruneBatch)
}

func (s *Store) pruneUsage(ctx context.Context, before time.Time, batch int) (int64, error) {
	// Record the horizon first: from the moment SumUsage sees it, it counts
	// the hours below it whole from the aggregates, which stays exact while
	// their raw rows are being deleted.
	var cutoff time.Time
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.lockRollupState(ctx, tx)
		if err != nil {
			return err
		}
		if st.rolledUntil == nil {
			return nil // nothing was ever rolled, so nothing may be pruned
		}
		cutoff = hourOf(before)
		if st.rolledUntil.Before(cutoff) {
			cutoff = *st.rolledUntil // no record at or after it is rolled
		}
		if st.prunedBefore != nil && !st.prunedBefore.Before(cutoff) {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE usage_rollup_state SET pruned_before = ? WHERE id = 1`), s.d.dbTime(cutoff))
		if err != nil {
			return fmt.Errorf("recording prune horizon: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pruning usage: %w", err)
	}
	if cutoff.IsZero() {
		return 0, nil
	}
	del := s.d.rebind(`DELETE FROM usage_records WHERE id IN (SELECT id FROM usage_records WHERE rolled AND created_at < ? LIMIT ?)`)
	var deleted int64
	for {
		res, err := s.w.ExecContext(ctx, del, s.d.dbTime(cutoff), batch)
		if err != nil {
			return deleted, fmt.Errorf("pruning usage before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, fmt.Errorf("pruning usage: %w", err)
		}
		deleted += n
		if n < int64(batch) {
			break
		}
	}
	if deleted > 0 {
		if err := s.releaseFreePages(ctx); err != nil {
			return deleted, fmt.Errorf("pruning usage: %w", err)
		}
	}
	return deleted, nil
}

// releaseFreePages returns a SQLite database's free pages to the file
// system, a bounded step at a time so that each step holds the write lock
// only briefly. It does nothing on Postgres, or on a SQLite database
// without auto_vacuum=INCREMENTAL, where the pragma has no effect.
func (s *Store) releaseFreePages(ctx context.Context) error {
	if s.d.name != DriverSQLite {
		return nil
	}
	var mode int
	if err := s.w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("reading auto_vacuum: %w", err)
	}
	const incremental = 2
	if mode != incremental {
		return nil
	}
	step := fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumStep)
	prev := int64(-1)
	for {
		var free int64
		if err := s.w.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return fmt.Errorf("reading freelist_count: %w", err)
		}
		if free == 0 || free == prev {
			return nil
		}
		prev = free
		if _, err := s.w.ExecContext(ctx, step); err != nil {
			return fmt.Errorf("releasing free pages: %w", err)
		}
	}
}

// ledgerTables are the tables of the usage ledger and its rollups.
var ledgerTables = []string{"usage_records", "usage_hourly", "usage_daily"}

// RefreshLedgerStatistics does on Postgres what autovacuum does after a
// bulk load and rollup of the ledger, at once rather than when its
// thresholds are next crossed: VACUUM ANALYZE of the ledger's tables, which
// clears the row versions a rollup replaced from the indexes and gives the
// planner statistics (that unrolled records are rare, how many rows an hour
// or a day holds). A deployment leaves this to autovacuum; a benchmark that
// loads a million rows and reads them a minute later calls it. It does
// nothing on SQLite, whose plans here do not depend on statistics.
func (s *Store) RefreshLedgerStatistics(ctx context.Context) error {
	if s.d.name != DriverPostgres {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, "VACUUM ANALYZE "+strings.Join(ledgerTables, ", ")); err != nil {
		return fmt.Errorf("refreshing ledger statistics: %w", err)
	}
	return nil
}
