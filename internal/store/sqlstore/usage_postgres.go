package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"
)

// postgresInsertUsage inserts a whole batch in one statement whose 27
// parameters are the columns, each a Postgres array literal sent as text
// and parsed by the server ($n::text::type[]), so pgx prepares it once per
// connection whatever the batch size. pgArray writes each literal in one
// allocation; passed as Go slices instead, every value of every column was
// boxed in an interface for pgx to encode it, an allocation per value and
// most of the insert's CPU on the client, which is the gateway. COPY
// would send rows as cheaply but cannot skip the request IDs already
// stored, which a retried batch needs.
const postgresInsertUsage = `INSERT INTO usage_records (` + usageColumns + `)
SELECT * FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::text[], $5::text::text[],
$6::text::text[], $7::text::text[], $8::text::text[], $9::text::text[], $10::text::bool[], $11::text::int8[],
$12::text::int8[], $13::text::int8[], $14::text::int8[], $15::text::int8[], $16::text::int8[], $17::text::int8[],
$18::text::int8[], $19::text::int8[], $20::text::text[], $21::text::int8[], $22::text::text[], $23::text::text[],
$24::text::timestamptz[], $25::text::text[], $26::text::text[], $27::text::text[])
ON CONFLICT (request_id) DO NOTHING`

// pgArray writes a one-dimensional Postgres array literal: every string
// element double-quoted with its backslashes and double quotes escaped, so
// no content (commas, braces, spaces, "NULL") is read as syntax. A first
// pass with sizing set only counts the bytes, so the second writes into
// one allocation of the right size, which String returns without a copy.
type pgArray struct {
	b      strings.Builder
	size   int
	sizing bool
	empty  bool // nothing written yet
}

// start begins a pass: sizing, or writing what the sizing pass counted.
func (a *pgArray) start(sizing bool) {
	a.sizing, a.empty = sizing, true
	if sizing {
		a.size = 2 // the braces
	} else {
		a.b.Grow(a.size)
		a.b.WriteByte('{')
	}
}

func (a *pgArray) sep() {
	if !a.empty {
		if a.sizing {
			a.size++
		} else {
			a.b.WriteByte(',')
		}
	}
	a.empty = false
}

func (a *pgArray) str(s string) {
	a.sep()
	if a.sizing {
		a.size += len(s) + 2 + strings.Count(s, `"`) + strings.Count(s, `\`)
		return
	}
	a.b.WriteByte('"')
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		a.b.WriteString(s[:i])
		a.b.WriteByte('\\')
		a.b.WriteByte(s[i])
		s = s[i+1:]
	}
	a.b.WriteString(s)
	a.b.WriteByte('"')
}

func (a *pgArray) null() { a.raw("NULL") }

func (a *pgArray) bool(v bool) {
	if v {
		a.raw("t")
	} else {
		a.raw("f")
	}
}

func (a *pgArray) int(n int64) {
	var buf [20]byte
	a.rawBytes(strconv.AppendInt(buf[:0], n, 10))
}

// time writes t to the microsecond, the column's precision, in UTC.
func (a *pgArray) time(t time.Time) {
	var buf [40]byte
	a.rawBytes(t.UTC().AppendFormat(buf[:0], "2006-01-02T15:04:05.999999Z07:00"))
}

func (a *pgArray) raw(s string) {
	a.sep()
	if a.sizing {
		a.size += len(s)
	} else {
		a.b.WriteString(s)
	}
}

func (a *pgArray) rawBytes(p []byte) {
	a.sep()
	if a.sizing {
		a.size += len(p)
	} else {
		a.b.Write(p)
	}
}

// String ends the writing pass and returns the literal.
func (a *pgArray) String() string {
	a.b.WriteByte('}')
	return a.b.String()
}

// insertUsagePostgres writes rows with postgresInsertUsage.
func (s *Store) insertUsagePostgres(ctx context.Context, rows []usageRow) error {
	var cols [usageColumnCount]pgArray
	for _, sizing := range [...]bool{true, false} {
		for i := range cols {
			cols[i].start(sizing)
		}
		for _, row := range rows {
			r := row.r
			if r.RequestID == "" {
				cols[0].null()
			} else {
				cols[0].str(r.RequestID)
			}
			for i, v := range [...]string{r.TenantID, r.KeyID, r.Model, r.Provider, r.UpstreamModel, r.Dialect, r.Endpoint, r.Traffic} {
				cols[1+i].str(v)
			}
			cols[9].bool(r.Stream)
			for i, v := range [...]int64{r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.CacheWriteTokens, r.ReasoningTokens,
				row.costNano, int64(r.Latency), int64(r.TTFB), int64(r.Status)} {
				cols[10+i].int(v)
			}
			cols[19].str(r.ErrorKind)
			cols[20].int(int64(r.Attempts))
			cols[21].str(r.Route)
			cols[22].str(row.contracts)
			cols[23].time(row.created)
			cols[24].str(r.TraceID)
			cols[25].str(r.Error)
			cols[26].str(row.detail)
		}
	}
	args := make([]any, usageColumnCount)
	for i := range cols {
		args[i] = cols[i].String()
	}
	if !hasPayloads(rows) {
		// One statement is a transaction of its own: all rows or none.
		_, err := s.w.ExecContext(ctx, postgresInsertUsage, args...)
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, postgresInsertUsage, args...); err != nil {
			return err
		}
		return s.insertPayloads(ctx, tx, rows)
	})
}
