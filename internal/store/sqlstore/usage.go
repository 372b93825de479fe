package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchyard/internal/store"
)

const usageColumns = `request_id, tenant_id, key_id, model, provider, upstream_model, dialect, endpoint, traffic, stream,
input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd,
latency_ns, ttfb_ns, status, error_kind, attempts, route, contracts, created_at, trace_id, error, detail`

// usageColumnCount is the number of columns in usageColumns.
const usageColumnCount = 27

// nanoUSD is the number of stored cost units per US dollar.
const nanoUSD = 1e9

// sqliteInsertUsage inserts a whole batch in one statement whose only
// parameter is the batch as a JSON array of rows, each an array of the
// usageColumns values in order (see appendSQLiteRow). The statement is
// prepared once for the life of the store, whatever the batch size, and
// jsonb_each parses the batch once into SQLite's binary JSON, which the
// value->>N of each column reads without parsing again (json_each would
// hand each row back as text, parsed once per column: twice the CPU).
// Binding 27 parameters a row instead cost about 2.4 KB of Go allocations
// a row in database/sql and the driver; this costs about 150 bytes, for
// about the same CPU a row in batches of 16 and about a fifth more in
// batches of 256 (SQLite walks each row's array to every column:
// BenchmarkInsertUsage). The
// parameter is bound as a BLOB (the driver copies it out of the Go heap)
// and read as TEXT. "WHERE true" settles the parsing ambiguity of an
// upsert on a SELECT.
var sqliteInsertUsage = func() string {
	cols := make([]string, usageColumnCount)
	for i := range cols {
		cols[i] = "value->>" + strconv.Itoa(i)
	}
	return `INSERT INTO usage_records (` + usageColumns + `)
SELECT ` + strings.Join(cols, ", ") + ` FROM jsonb_each(CAST(? AS TEXT)) WHERE true
ON CONFLICT (request_id) DO NOTHING`
}()

// insertPayload stores one captured payload; a retried batch finds it
// already there.
const insertPayload = `INSERT INTO request_payloads (request_id, request, response, request_bytes, response_bytes, truncated, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`

// InsertUsage appends records to the ledger in one transaction: all of them
// or none. Records whose RequestID is already stored are skipped, so
// retrying a batch whose commit outcome was unknown never counts a request
// twice; records with an empty RequestID are always inserted. A zero
// CreatedAt is set to now. Costs are kept to the nano-dollar.
func (s *Store) InsertUsage(ctx context.Context, recs []store.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	rows, err := usageRows(recs, s.now(), &s.bufs)
	if err != nil {
		return fmt.Errorf("inserting %d usage records: %w", len(recs), err)
	}
	if s.d.name == DriverPostgres {
		err = s.insertUsagePostgres(ctx, rows)
	} else {
		err = s.insertUsageSQLite(ctx, rows)
	}
	if err != nil {
		return fmt.Errorf("inserting %d usage records: %w", len(recs), err)
	}
	return nil
}

// usageRow is a usage record as its columns store it.
type usageRow struct {
	r         *store.UsageRecord
	contracts string
	detail    string
	costNano  int64
	created   time.Time
}

// usageDetail is what the detail column holds: the route decision and the
// attempts, which only the request log reads. appendDetail writes it.
type usageDetail struct {
	Strategy   string                 `json:"strategy,omitempty"`
	Candidates []store.RouteCandidate `json:"candidates,omitempty"`
	Attempts   []store.Attempt        `json:"attempts,omitempty"`
}

// encodeDetail renders r's detail column; "" when it has none.
func encodeDetail(r *store.UsageRecord) string {
	return string(appendDetail(nil, r))
}

// decodeDetail fills r's detail fields from its column.
func decodeDetail(s string, r *store.UsageRecord) error {
	if s == "" {
		return nil
	}
	var d usageDetail
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return err
	}
	r.Strategy, r.Candidates, r.AttemptLog = d.Strategy, d.Candidates, d.Attempts
	return nil
}

// maxKeptBuffer is the largest batch buffer kept for the next batch.
const maxKeptBuffer = 4 << 20

// bufferCache keeps a few batch buffers (the rendered JSON columns, the
// SQLite batch) from one batch to the next. Unlike a sync.Pool, a garbage
// collection does not empty it: on a busy gateway many collections pass
// between two of the usage writer's batches.
type bufferCache struct {
	mu   sync.Mutex
	free []*[]byte
}

func (c *bufferCache) get() *[]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return new([]byte)
}

func (c *bufferCache) put(b *[]byte) {
	if cap(*b) > maxKeptBuffer {
		return
	}
	*b = (*b)[:0]
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.free) < 4 {
		c.free = append(c.free, b)
	}
}

// usageRows checks recs and converts the fields stored differently from
// the record: the contract list, the detail, the cost and a zero creation
// time. The JSON columns of the whole batch share one string.
func usageRows(recs []store.UsageRecord, now time.Time, bufs *bufferCache) ([]usageRow, error) {
	rows := make([]usageRow, len(recs))
	buf := bufs.get()
	defer bufs.put(buf)
	arena := *buf
	// ends[2i] and ends[2i+1] are where row i's contracts and detail end
	// in arena.
	ends := make([]int, 2*len(recs))
	for i := range recs {
		r := &recs[i]
		if math.IsNaN(r.CostUSD) || math.IsInf(r.CostUSD, 0) || math.Abs(r.CostUSD) > math.MaxInt64/nanoUSD {
			return nil, fmt.Errorf("request %q: cost %v out of range: %w", r.RequestID, r.CostUSD, store.ErrInvalid)
		}
		if r.Payload != nil && r.RequestID == "" {
			return nil, fmt.Errorf("a payload needs a request ID: %w", store.ErrInvalid)
		}
		arena = appendList(arena, r.Contracts)
		ends[2*i] = len(arena)
		arena = appendDetail(arena, r)
		ends[2*i+1] = len(arena)
		created := r.CreatedAt
		if created.IsZero() {
			created = now
		}
		rows[i] = usageRow{r: r, costNano: int64(math.Round(r.CostUSD * nanoUSD)), created: created.Truncate(time.Microsecond)}
	}
	*buf = arena
	all, at := string(arena), 0
	for i := range rows {
		rows[i].contracts, rows[i].detail = all[at:ends[2*i]], all[ends[2*i]:ends[2*i+1]]
		at = ends[2*i+1]
	}
	return rows, nil
}

// appendSQLiteRow appends row as one element of sqliteInsertUsage's
// parameter: its usageColumns values in order, a NULL request ID as null.
func appendSQLiteRow(dst []byte, row *usageRow) []byte {
	r := row.r
	dst = append(dst, '[')
	if r.RequestID == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendSQLiteText(dst, r.RequestID)
	}
	for _, s := range [...]string{r.TenantID, r.KeyID, r.Model, r.Provider, r.UpstreamModel, r.Dialect, r.Endpoint, r.Traffic} {
		dst = append(dst, ',')
		dst = appendSQLiteText(dst, s)
	}
	dst = append(dst, ',')
	dst = strconv.AppendBool(dst, r.Stream)
	for _, n := range [...]int64{r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.CacheWriteTokens, r.ReasoningTokens,
		row.costNano, int64(r.Latency), int64(r.TTFB), int64(r.Status)} {
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, n, 10)
	}
	dst = append(dst, ',')
	dst = appendSQLiteText(dst, r.ErrorKind)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(r.Attempts), 10)
	for _, s := range [...]string{r.Route, row.contracts} {
		dst = append(dst, ',')
		dst = appendSQLiteText(dst, s)
	}
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, row.created.UnixMicro(), 10)
	for _, s := range [...]string{r.TraceID, r.Error, row.detail} {
		dst = append(dst, ',')
		dst = appendSQLiteText(dst, s)
	}
	return append(dst, ']')
}

// insertUsageSQLite writes rows with sqliteInsertUsage, in one statement
// (with their payloads, in one transaction).
func (s *Store) insertUsageSQLite(ctx context.Context, rows []usageRow) error {
	// The statement is prepared before a transaction takes the writer
	// pool's only connection.
	stmt, err := s.usageInsertStmt(ctx)
	if err != nil {
		return err
	}
	buf := s.bufs.get()
	defer s.bufs.put(buf)
	batch := append(*buf, '[')
	for i := range rows {
		if i > 0 {
			batch = append(batch, ',')
		}
		batch = appendSQLiteRow(batch, &rows[i])
	}
	batch = append(batch, ']')
	*buf = batch
	if !hasPayloads(rows) {
		// One statement is a transaction of its own: all rows or none.
		_, err := stmt.ExecContext(ctx, batch)
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, batch); err != nil {
			return err
		}
		return s.insertPayloads(ctx, tx, rows)
	})
}

// insertPayloads stores the captured payloads of rows, in the
// transaction that inserts the rows.
func (s *Store) insertPayloads(ctx context.Context, tx *sql.Tx, rows []usageRow) error {
	q := ""
	for _, row := range rows {
		p := row.r.Payload
		if p == nil {
			continue
		}
		if q == "" {
			q = s.d.rebind(insertPayload)
		}
		if _, err := tx.ExecContext(ctx, q, row.r.RequestID, p.Request, p.Response, p.RequestBytes, p.ResponseBytes,
			p.Truncated, s.d.dbTime(row.created)); err != nil {
			return fmt.Errorf("inserting payload of request %q: %w", row.r.RequestID, err)
		}
	}
	return nil
}

// hasPayloads reports whether any of rows carries a captured payload.
func hasPayloads(rows []usageRow) bool {
	for _, row := range rows {
		if row.r.Payload != nil {
			return true
		}
	}
	return false
}

// usageInsertStmt returns the prepared sqliteInsertUsage, preparing it
// on first use. The writer pool has one connection, so the statement is
// parsed once for the life of the store (again only if that connection is
// replaced).
func (s *Store) usageInsertStmt(ctx context.Context) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if s.usageStmt != nil {
		return s.usageStmt, nil
	}
	st, err := s.w.PrepareContext(ctx, sqliteInsertUsage)
	if err != nil {
		return nil, fmt.Errorf("preparing usage insert: %w", err)
	}
	s.usageStmt = st
	return st, nil
}

// usageGroupColumn returns the column of a SumUsage grouping, the same in
// usage_records and usage_hourly.
func usageGroupColumn(groupBy string) (string, bool) {
	switch groupBy {
	case store.GroupNone:
		return "''", true
	case store.GroupTenant:
		return "tenant_id", true
	case store.GroupKey:
		return "key_id", true
	case store.GroupModel:
		return "model", true
	case store.GroupProvider:
		return "provider", true
	case store.GroupContract:
		return "contracts", true
	case store.GroupLine:
		return "tenant_id || '" + store.LineSep + "' || key_id || '" + store.LineSep + "' || provider || '" + store.LineSep + "' || model", true
	}
	return "", false
}

// usageSpan is a half-open time range [from, to); a zero bound is
// unbounded.
type usageSpan struct{ from, to time.Time }

// usageReads is how SumUsage reads a window: the whole hours from the
// aggregates plus the raw records not rolled yet, and each edge from every
// raw record in it, rolled or not. The whole hours are read as whole UTC
// days from the daily aggregates, plus or minus hours from the hourly ones:
// a partial day at either end is either added hour by hour, or read whole
// from its day's aggregate less the hours outside the window, whichever
// reads fewer hours that can hold traffic. Both give the same sums, since a
// day's aggregate is always the sum of its hours' (see Rollup).
type usageReads struct {
	whole    usageSpan
	hasWhole bool
	edges    []usageSpan
	// days is read from usage_daily when hasDays; hours are added from
	// usage_hourly and minus subtracted from it.
	days    usageSpan
	hasDays bool
	hours   []usageSpan
	minus   []usageSpan
}

// liveHours counts the hours of the hour-aligned span [from, to) that can
// hold traffic: those that began by now (all of them when now is zero).
func liveHours(from, to, now time.Time) int {
	if !now.IsZero() {
		if end := hourOf(now).Add(time.Hour); to.After(end) {
			to = end
		}
	}
	if !from.Before(to) {
		return 0
	}
	return int(to.Sub(from) / time.Hour)
}

// splitDays sets r's days, hours and minus from its whole span, now being
// the clock that tells which hours can hold traffic.
func (r *usageReads) splitDays(now time.Time) {
	if !r.hasWhole {
		return
	}
	const day = 24 * time.Hour
	w := r.whole
	r.days, r.hasDays = w, true
	var lead, trail *usageSpan // partial days at the ends, when any
	if !w.from.IsZero() && !w.from.Equal(dayOf(w.from)) {
		lead = &usageSpan{w.from, dayOf(w.from).Add(day)}
		if !w.to.IsZero() && w.to.Before(lead.to) {
			lead.to = w.to // the window lies within one day
		}
		r.days.from = lead.to
	}
	if !w.to.IsZero() && !w.to.Equal(dayOf(w.to)) && (lead == nil || lead.to.Before(w.to)) {
		trail = &usageSpan{dayOf(w.to), w.to}
		r.days.to = trail.from
	}
	if lead != nil {
		d := dayOf(lead.from)
		if liveHours(d, lead.from, now)+liveHours(lead.to, d.Add(day), now) < liveHours(lead.from, lead.to, now) {
			r.minus = append(r.minus, usageSpan{d, lead.from})
			if lead.to.Before(d.Add(day)) {
				r.minus = append(r.minus, usageSpan{lead.to, d.Add(day)})
			}
			r.days.from = d
			if lead.to.Equal(w.to) {
				r.days.to = d.Add(day)
			}
		} else {
			r.hours = append(r.hours, *lead)
		}
	}
	if trail != nil {
		d := trail.from
		if liveHours(trail.to, d.Add(day), now) < liveHours(trail.from, trail.to, now) {
			r.minus = append(r.minus, usageSpan{trail.to, d.Add(day)})
			r.days.to = d.Add(day)
		} else {
			r.hours = append(r.hours, *trail)
		}
	}
	r.hasDays = r.days.from.IsZero() || r.days.to.IsZero() || r.days.from.Before(r.days.to)
	if !r.hasDays {
		r.days = usageSpan{}
	}
}

// planUsageReads splits the window [since, until) (zero bounds unbounded,
// both in UTC microseconds) into hours read from the aggregates and
// partial hours at its edges read from raw records. An edge hour before
// prunedBefore (hour-aligned; zero when nothing was pruned) may have lost
// its raw records, so it is read whole, from the aggregates, instead.
func planUsageReads(since, until, prunedBefore, now time.Time) usageReads {
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return usageReads{}
	}
	pruned := func(hour time.Time) bool { return hour.Before(prunedBefore) }
	startHour, endHour := hourOf(since), hourOf(until)
	startEdge := !since.IsZero() && !since.Equal(startHour)
	endEdge := !until.IsZero() && !until.Equal(endHour)
	if startEdge && endEdge && startHour.Equal(endHour) {
		if pruned(startHour) {
			r := usageReads{whole: usageSpan{startHour, startHour.Add(time.Hour)}, hasWhole: true}
			r.splitDays(now)
			return r
		}
		return usageReads{edges: []usageSpan{{since, until}}}
	}
	r := usageReads{whole: usageSpan{since, until}}
	if startEdge {
		if pruned(startHour) {
			r.whole.from = startHour
		} else {
			r.whole.from = startHour.Add(time.Hour)
			r.edges = append(r.edges, usageSpan{since, r.whole.from})
		}
	}
	if endEdge {
		if pruned(endHour) {
			r.whole.to = endHour.Add(time.Hour)
		} else {
			r.whole.to = endHour
			r.edges = append(r.edges, usageSpan{endHour, until})
		}
	}
	r.hasWhole = r.whole.from.IsZero() || r.whole.to.IsZero() || r.whole.from.Before(r.whole.to)
	r.splitDays(now)
	return r
}

// SumUsage aggregates the records matching f. With store.GroupNone it
// returns exactly one summary (zero when nothing matches); otherwise one
// summary per distinct value of the grouping, ordered by that value (byte
// order). With store.GroupContract a record counts once under each of its
// contracts, and under "" when it has none.
//
// The hours that lie wholly inside the window are read from the
// aggregates Rollup maintains (by the day from the daily ones, with the
// hours of partial days from the hourly ones; see usageReads), plus the
// records Rollup has not reached yet (the current hour, late arrivals), so
// long windows cost little whatever the traffic. A window that starts or
// ends inside an hour reads that partial hour from the raw records, rolled or not, and is exact to the
// microsecond as long as they exist. Once PruneUsage has deleted the raw
// records of that hour, the hour is counted whole instead: a window
// starting at 10:20 in a pruned hour counts from 10:00, one ending at
// 10:40 counts to 11:00. Reads are consistent with concurrent rollups and
// prunes: every record is counted exactly once.
func (s *Store) SumUsage(ctx context.Context, f store.UsageFilter, groupBy string) ([]store.UsageSummary, error) {
	group, ok := usageGroupColumn(groupBy)
	if !ok {
		return nil, fmt.Errorf("summing usage: unknown grouping %q: %w", groupBy, store.ErrInvalid)
	}
	since, until := dbInstant(f.Since), dbInstant(f.Until)
	type acc struct {
		u        store.UsageSummary
		costNano int64
	}
	sums := map[string]*acc{}
	add := func(g string, u *store.UsageSummary, costNano int64) {
		a := sums[g]
		if a == nil {
			a = &acc{u: store.UsageSummary{Group: g}}
			sums[g] = a
		}
		a.u.Requests += u.Requests
		a.u.Errors += u.Errors
		a.u.InputTokens += u.InputTokens
		a.u.OutputTokens += u.OutputTokens
		a.u.CachedInputTokens += u.CachedInputTokens
		a.u.CacheWriteTokens += u.CacheWriteTokens
		a.u.ReasoningTokens += u.ReasoningTokens
		a.costNano += costNano
	}
	read := func(q queryer, plan usageReads) error {
		query, args := s.sumUsageQuery(plan, f, partGroups{daily: group, hourly: group, raw: group}, groupBy != store.GroupNone)
		if query == "" {
			return nil
		}
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				g    string
				u    store.UsageSummary
				cost int64
			)
			if err := rows.Scan(&g, &u.Requests, &u.Errors, &u.InputTokens, &u.OutputTokens, &u.CachedInputTokens,
				&u.CacheWriteTokens, &u.ReasoningTokens, &cost); err != nil {
				return err
			}
			if u.Requests == 0 {
				continue // an ungrouped part with nothing in it
			}
			if groupBy != store.GroupContract {
				add(g, &u, cost)
				continue
			}
			var contracts []string
			if err := decodeJSON(g, &contracts); err != nil {
				return fmt.Errorf("decoding contracts %q: %w", g, err)
			}
			if len(contracts) == 0 {
				add("", &u, cost)
			}
			slices.Sort(contracts)
			for _, c := range slices.Compact(contracts) {
				add(c, &u, cost)
			}
		}
		return rows.Err()
	}
	if err := s.readPlanned(ctx, since, until, read); err != nil {
		return nil, fmt.Errorf("summing usage: %w", err)
	}
	if groupBy == store.GroupNone && len(sums) == 0 {
		sums[""] = &acc{}
	}
	out := make([]store.UsageSummary, 0, len(sums))
	for _, a := range sums {
		a.u.CostUSD = float64(a.costNano) / nanoUSD
		out = append(out, a.u)
	}
	slices.SortFunc(out, func(a, b store.UsageSummary) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

// SumUsageByHour sums the records matching f per clock hour (UTC) of
// their creation, oldest hour first; hours without records are absent.
// It reads as SumUsage does, in one statement: whole hours from the hourly
// aggregates plus the records not rolled yet, and a window's partial edge
// hours from the raw records (whole, when pruned). One call draws a chart
// of any length at the cost of one SumUsage, instead of a query per bar.
func (s *Store) SumUsageByHour(ctx context.Context, f store.UsageFilter) ([]store.HourUsage, error) {
	var out []store.HourUsage
	err := s.sumUsageSeries(ctx, f, partGroups{hourly: "hour_start", raw: s.d.hourStart("created_at")},
		func(at time.Time, u store.UsageSummary) {
			out = append(out, store.HourUsage{Hour: at, UsageSummary: u})
		})
	if err != nil {
		return nil, fmt.Errorf("summing usage by hour: %w", err)
	}
	return out, nil
}

// SumUsageByDay sums the records matching f per UTC day of their
// creation, oldest day first; days without records are absent. It reads
// as SumUsage does, in one statement: whole days and hours from the daily
// and hourly aggregates (see usageReads), the records not rolled yet, and
// a window's partial edge hours from the raw records (whole, when
// pruned). The days at the window's edges count only the part inside it.
func (s *Store) SumUsageByDay(ctx context.Context, f store.UsageFilter) ([]store.DayUsage, error) {
	var out []store.DayUsage
	g := partGroups{daily: "day_start", hourly: s.d.dayStart("hour_start"), raw: s.d.dayStart("created_at")}
	err := s.sumUsageSeries(ctx, f, g,
		func(at time.Time, u store.UsageSummary) { out = append(out, store.DayUsage{Day: at, UsageSummary: u}) })
	if err != nil {
		return nil, fmt.Errorf("summing usage by day: %w", err)
	}
	return out, nil
}

// sumUsageSeries sums the records matching f per period, whose start each
// part of the read computes as g says, and hands each period that holds
// records to add, oldest first.
func (s *Store) sumUsageSeries(ctx context.Context, f store.UsageFilter, g partGroups, add func(time.Time, store.UsageSummary)) error {
	read := func(q queryer, plan usageReads) error {
		query, args := s.sumUsageQuery(plan, f, g, true)
		if query == "" {
			return nil
		}
		rows, err := q.QueryContext(ctx, query+" ORDER BY g", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				at   time.Time
				u    store.UsageSummary
				cost int64
			)
			if err := rows.Scan(timeColumn{t: &at}, &u.Requests, &u.Errors, &u.InputTokens, &u.OutputTokens,
				&u.CachedInputTokens, &u.CacheWriteTokens, &u.ReasoningTokens, &cost); err != nil {
				return err
			}
			if u.Requests == 0 {
				continue
			}
			u.CostUSD = float64(cost) / nanoUSD
			add(at, u)
		}
		return rows.Err()
	}
	return s.readPlanned(ctx, dbInstant(f.Since), dbInstant(f.Until), read)
}

// queryer is what SumUsage reads with: the reader pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// dbInstant is t as the database keeps it: UTC, to the microsecond. The
// zero time stays zero.
func dbInstant(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

// needsPruneHorizon reports whether a window has an edge inside an hour,
// whose reading depends on whether that hour was pruned.
func needsPruneHorizon(since, until time.Time) bool {
	return !since.IsZero() && !since.Equal(hourOf(since)) || !until.IsZero() && !until.Equal(hourOf(until))
}

// inReadTx runs fn in a read-only transaction that sees one snapshot of
// the database throughout: REPEATABLE READ on Postgres, and on SQLite any
// transaction (in WAL mode its reads share the snapshot of the first).
func (s *Store) inReadTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("beginning read transaction: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// The parts of a sum query select, after their group, these values of
// each aggregate or raw record; the outer query sums them.
const (
	hourlyPartSelect  = `requests, errors, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd`
	hourlyMinusSelect = `-requests, -errors, -input_tokens, -output_tokens, -cached_input_tokens, -cache_write_tokens, -reasoning_tokens, -cost_nano_usd`
	rawPartSelect     = `1 AS requests, CASE WHEN status >= 400 OR error_kind <> '' THEN 1 ELSE 0 END AS errors, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd`
	sumSelect         = `CAST(COALESCE(SUM(requests), 0) AS BIGINT), CAST(COALESCE(SUM(errors), 0) AS BIGINT),
CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT),
CAST(COALESCE(SUM(cached_input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cache_write_tokens), 0) AS BIGINT),
CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cost_nano_usd), 0) AS BIGINT)`
)

// partGroups are a grouping's expression in each table a sum reads:
// usage_daily, usage_hourly and usage_records (the same column, except for
// a period, which each table keeps its own way). An empty daily reads the
// whole days from usage_hourly too, for a grouping finer than a day.
type partGroups struct{ daily, hourly, raw string }

// sumUsageQuery builds one statement that sums every part of plan, so that
// all parts read one snapshot. The parts only filter, and the grouping is
// done once over their union: grouping inside a part would let SQLite
// prefer an index that yields rows in group order over the one that
// narrows the part down (the partial index of unrolled records, an hour
// range), and read every raw record. It returns "" when the plan reads
// nothing.
func (s *Store) sumUsageQuery(plan usageReads, f store.UsageFilter, g partGroups, grouped bool) (string, []any) {
	var (
		parts []string
		args  []any
	)
	part := func(group, sel, table, timeCol, extra string, span usageSpan) {
		where, a := usageConds(s.d, f, timeCol, span, extra)
		parts, args = append(parts, `SELECT `+group+` AS g, `+sel+` FROM `+table+where), append(args, a...)
	}
	if plan.hasWhole {
		if g.daily == "" {
			part(g.hourly, hourlyPartSelect, "usage_hourly", "hour_start", "", plan.whole)
		} else {
			if plan.hasDays {
				part(g.daily, hourlyPartSelect, "usage_daily", "day_start", "", plan.days)
			}
			for _, h := range plan.hours {
				part(g.hourly, hourlyPartSelect, "usage_hourly", "hour_start", "", h)
			}
			for _, h := range plan.minus {
				part(g.hourly, hourlyMinusSelect, "usage_hourly", "hour_start", "", h)
			}
		}
		part(g.raw, rawPartSelect, s.unrolledRecords(), "created_at", "NOT rolled", plan.whole)
	}
	for _, e := range plan.edges {
		part(g.raw, rawPartSelect, "usage_records", "created_at", "", e)
	}
	if len(parts) == 0 {
		return "", nil
	}
	union := strings.Join(parts, "\nUNION ALL\n")
	if !grouped {
		return s.d.rebind(`SELECT '', ` + sumSelect + ` FROM (` + union + `) parts`), args
	}
	q := `SELECT g, ` + sumSelect + ` FROM (` + union + `) parts GROUP BY g`
	return s.d.rebind(q), args
}

// unrolledRecords names usage_records for a query of its unrolled records.
// They are few (the current hour and late arrivals), so the partial index
// of them is always the way in. Postgres chooses it from its statistics;
// SQLite, without statistics, would rather use the tenant or key index
// that a filter matches and read every raw record of that tenant or key,
// rolled or not, so it is told to.
func (s *Store) unrolledRecords() string {
	if s.d.name == DriverSQLite {
		return "usage_records INDEXED BY usage_records_unrolled_idx"
	}
	return "usage_records"
}

// usageConds renders f's tenant, key, model and provider, span on timeCol
// and an extra condition as a WHERE clause with "?" placeholders.
func usageConds(d *dialect, f store.UsageFilter, timeCol string, span usageSpan, extra string) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if extra != "" {
		conds = append(conds, extra)
	}
	if !span.from.IsZero() {
		conds, args = append(conds, timeCol+" >= ?"), append(args, d.dbTime(span.from))
	}
	if !span.to.IsZero() {
		conds, args = append(conds, timeCol+" < ?"), append(args, d.dbTime(span.to))
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
// Budget checks call it with the start of the budget period. It reads as
// SumUsage does, so a since inside a pruned hour counts that hour whole.
func (s *Store) SpendSince(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error) {
	sums, err := s.SumUsage(ctx, store.UsageFilter{Since: since, TenantID: tenantID, KeyID: keyID}, store.GroupNone)
	if err != nil {
		return 0, fmt.Errorf("summing spend: %w", err)
	}
	return sums[0].CostUSD, nil
}

// SpendByProvider returns the cost in USD of the records created at or
// after since, per provider (channel) that served them; providers without
// records are absent. Commitments call it with the start of their period.
// It reads as SumUsage does.
func (s *Store) SpendByProvider(ctx context.Context, since time.Time) (map[string]float64, error) {
	sums, err := s.SumUsage(ctx, store.UsageFilter{Since: since}, store.GroupProvider)
	if err != nil {
		return nil, fmt.Errorf("summing spend by provider: %w", err)
	}
	out := make(map[string]float64, len(sums))
	for _, u := range sums {
		out[u.Group] = u.CostUSD
	}
	return out, nil
}

// SumUsageRoutes counts the raw usage records created in [since, until)
// (zero bounds unbounded) per tenant, model, traffic class, channel,
// route decision and contract list (store.RouteUsage), in no particular
// order. Like ScanUsage it reads the raw records only, but in one
// grouping query that returns a row per distinct route rather than per
// request: a compliance check judges each once, and reads the records of
// only the routes it finds wanting.
func (s *Store) SumUsageRoutes(ctx context.Context, since, until time.Time) ([]store.RouteUsage, error) {
	where, args := usageConds(s.d, store.UsageFilter{}, "created_at", usageSpan{dbInstant(since), dbInstant(until)}, "")
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT tenant_id, model, traffic, provider, route, contracts, COUNT(*)
FROM usage_records`+where+` GROUP BY tenant_id, model, traffic, provider, route, contracts`), args...)
	if err != nil {
		return nil, fmt.Errorf("summing usage routes: %w", err)
	}
	defer rows.Close()
	var out []store.RouteUsage
	for rows.Next() {
		var (
			r         store.RouteUsage
			contracts string
		)
		if err := rows.Scan(&r.TenantID, &r.Model, &r.Traffic, &r.Provider, &r.Route, &contracts, &r.Requests); err != nil {
			return nil, fmt.Errorf("summing usage routes: %w", err)
		}
		if err := decodeJSON(contracts, &r.Contracts); err != nil {
			return nil, fmt.Errorf("decoding contracts %q: %w", contracts, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summing usage routes: %w", err)
	}
	return out, nil
}

// scanPageSize is how many records ScanUsage reads per query.
const scanPageSize = 1000

// ScanUsage calls fn with every raw usage record matching f, oldest first
// (by creation time, then insertion order), and stops at the first error
// fn returns, which it returns unchanged. It reads the raw records only:
// those PruneUsage deleted are not seen (SumUsage still counts them).
//
// Records are read in pages, each by its own query, and fn runs between
// queries, so a long scan holds no connection or snapshot while fn works,
// and fn may use the store. The scan is therefore not a snapshot: a record
// inserted meanwhile is seen if it sorts after the records already passed
// to fn, and one pruned meanwhile may be missed.
func (s *Store) ScanUsage(ctx context.Context, f store.UsageFilter, fn func(store.UsageRecord) error) error {
	span := usageSpan{dbInstant(f.Since), dbInstant(f.Until)}
	recs := make([]store.UsageRecord, 0, scanPageSize)
	var (
		afterTime time.Time
		afterID   int64
		started   bool
	)
	for {
		extra, extraArgs := "", []any(nil)
		window := span
		if started {
			// The page starts at the last record's time, as the range the
			// index is read from (not a condition checked on every record
			// from the window's start), then skips what was passed.
			window.from = afterTime
			extra = "(created_at > ? OR id > ?)"
			extraArgs = []any{s.d.dbTime(afterTime), afterID}
		}
		where, args := usageConds(s.d, f, "created_at", window, extra)
		args = append(extraArgs, args...)
		q := s.d.rebind(`SELECT id, ` + usageColumns + ` FROM usage_records` + where +
			` ORDER BY created_at, id LIMIT ` + strconv.Itoa(scanPageSize))
		var err error
		recs, afterID, err = s.usagePage(ctx, q, args, recs[:0])
		if err != nil {
			return fmt.Errorf("scanning usage: %w", err)
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < scanPageSize {
			return nil
		}
		afterTime, started = recs[len(recs)-1].CreatedAt, true
	}
}

// usagePage runs a page query of ScanUsage, appending its records to dst.
// It returns the ID of the last one.
func (s *Store) usagePage(ctx context.Context, q string, args []any, dst []store.UsageRecord) ([]store.UsageRecord, int64, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return dst, 0, err
	}
	defer rows.Close()
	var lastID int64
	for rows.Next() {
		r, id, err := scanUsage(rows)
		if err != nil {
			return dst, 0, err
		}
		lastID = id
		dst = append(dst, r)
	}
	return dst, lastID, rows.Err()
}

// scanUsage reads one row of "SELECT id, usageColumns".
func scanUsage(rows *sql.Rows) (store.UsageRecord, int64, error) {
	var (
		r                 store.UsageRecord
		id                int64
		requestID         sql.NullString
		contracts         string
		costNano          int64
		latencyNS, ttfbNS int64
		detail            string
	)
	err := rows.Scan(&id, &requestID, &r.TenantID, &r.KeyID, &r.Model, &r.Provider, &r.UpstreamModel, &r.Dialect,
		&r.Endpoint, &r.Traffic, &r.Stream, &r.InputTokens, &r.OutputTokens, &r.CachedInputTokens, &r.CacheWriteTokens,
		&r.ReasoningTokens, &costNano, &latencyNS, &ttfbNS, &r.Status, &r.ErrorKind, &r.Attempts, &r.Route, &contracts,
		timeColumn{t: &r.CreatedAt}, &r.TraceID, &r.Error, &detail)
	if err != nil {
		return r, 0, err
	}
	r.RequestID = requestID.String
	r.CostUSD = float64(costNano) / nanoUSD
	r.Latency, r.TTFB = time.Duration(latencyNS), time.Duration(ttfbNS)
	if err := decodeJSON(contracts, &r.Contracts); err != nil {
		return r, 0, fmt.Errorf("decoding contracts of usage record %d: %w", id, err)
	}
	if err := decodeDetail(detail, &r); err != nil {
		return r, 0, fmt.Errorf("decoding detail of usage record %d: %w", id, err)
	}
	return r, id, nil
}

// readPlanned runs read over the plan of reads (rolled hours, raw edges)
// that covers [since, until). Which edge hours still have raw records
// depends on PruneUsage: when that matters, its horizon and the reads
// share one snapshot.
func (s *Store) readPlanned(ctx context.Context, since, until time.Time, read func(queryer, usageReads) error) error {
	if !needsPruneHorizon(since, until) {
		return read(s.r, planUsageReads(since, until, time.Time{}, s.now()))
	}
	return s.inReadTx(ctx, func(tx *sql.Tx) error {
		p, err := s.prunedBefore(ctx, tx)
		if err != nil {
			return err
		}
		return read(tx, planUsageReads(since, until, p, s.now()))
	})
}
