package sqlstore

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file holds every difference between SQLite and Postgres the store
// has to know about: column types in migrations, placeholders, how
// timestamps are stored, how constraint violations are reported and how
// many bind parameters one statement may carry. Queries elsewhere are
// written once, in the common subset, with "?" placeholders.

// dialect describes one database engine.
type dialect struct {
	name string
	// ddl replaces the {{type}} tokens of migrations with the engine's
	// column types.
	ddl *strings.Replacer
	// numbered is true when placeholders are $1, $2, ... instead of ?.
	numbered bool
	// maxParams bounds the bind parameters of one statement.
	maxParams int
	// migrationLock, when set, runs first in every migration transaction
	// to serialize concurrent migrators.
	migrationLock string
	// auditLock, when set, runs first in every audit append transaction
	// so that appends from every replica queue for the chain's head
	// (SQLite's write lock already serialises them).
	auditLock string
	// timeArg converts a timestamp to its column value.
	timeArg func(time.Time) any
	// hourStart is an SQL expression for the start of the UTC hour of
	// the timestamp column col, of the same type as col.
	hourStart func(col string) string
	// dayStart is an SQL expression for the start of the UTC day of the
	// timestamp column col, of the same type as col.
	dayStart func(col string) string
	// constraint classifies a constraint violation.
	constraint func(error) constraintKind
}

// constraintKind is the kind of integrity constraint a write violated.
type constraintKind uint8

const (
	constraintNone constraintKind = iota
	constraintUnique
	constraintForeignKey
)

// SQLite stores timestamps as INTEGER microseconds since the Unix epoch:
// they sort and compare as numbers, are indexable and round-trip exactly to
// the microsecond, like Postgres's TIMESTAMPTZ.
var sqliteDialect = dialect{
	name: "sqlite",
	ddl: strings.NewReplacer(
		"{{bytes}}", "BLOB",
		"{{timestamp}}", "INTEGER",
		"{{bool}}", "INTEGER",
		"{{serial_pk}}", "INTEGER PRIMARY KEY",
		"{{day_of_hour_start}}", sqliteDayStart("hour_start"),
	),
	// SQLITE_MAX_VARIABLE_NUMBER is 32766 since SQLite 3.32; stay well
	// below it.
	maxParams: 16000,
	timeArg:   func(t time.Time) any { return t.UnixMicro() },
	hourStart: func(col string) string { return "((" + col + " / 3600000000) * 3600000000)" },
	dayStart:  sqliteDayStart,
	constraint: func(err error) constraintKind {
		var se *sqlite.Error
		if !errors.As(err, &se) {
			return constraintNone
		}
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return constraintUnique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return constraintForeignKey
		}
		return constraintNone
	},
}

var postgresDialect = dialect{
	name: "postgres",
	ddl: strings.NewReplacer(
		"{{bytes}}", "BYTEA",
		"{{timestamp}}", "TIMESTAMPTZ",
		"{{bool}}", "BOOLEAN",
		"{{serial_pk}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
		"{{day_of_hour_start}}", postgresDayStart("hour_start"),
	),
	numbered: true,
	// The wire protocol counts parameters in an int16.
	maxParams: 32000,
	// Scoped to the current schema so that isolated schemas (tests, or
	// several deployments sharing a database) migrate independently.
	migrationLock: "SELECT pg_advisory_xact_lock(hashtext('switchyard_migrations:' || current_schema()))",
	auditLock:     "SELECT pg_advisory_xact_lock(hashtext('switchyard_audit:' || current_schema()))",
	timeArg:       func(t time.Time) any { return t },
	hourStart: func(col string) string {
		return "(date_trunc('hour', " + col + " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
	},
	dayStart: postgresDayStart,
	constraint: func(err error) constraintKind {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			return constraintNone
		}
		switch pe.Code {
		case "23505": // unique_violation
			return constraintUnique
		case "23503": // foreign_key_violation
			return constraintForeignKey
		}
		return constraintNone
	},
}

// sqliteDayStart and postgresDayStart are the dialects' dayStart.
func sqliteDayStart(col string) string { return "((" + col + " / 86400000000) * 86400000000)" }

func postgresDayStart(col string) string {
	return "(date_trunc('day', " + col + " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
}

// rebind rewrites the "?" placeholders of q for the dialect. Queries in
// this package never contain a literal question mark.
func (d *dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// renderDDL replaces a migration's type tokens and refuses any left over,
// so that a typo fails at start rather than creating a wrong column.
func (d *dialect) renderDDL(src string) (string, error) {
	out := d.ddl.Replace(src)
	if i := strings.Index(out, "{{"); i >= 0 {
		end := min(i+24, len(out))
		return "", fmt.Errorf("unknown type token near %q", out[i:end])
	}
	return out, nil
}

// dbTime truncates t to the microsecond, the precision both engines keep,
// and converts it to its column value.
func (d *dialect) dbTime(t time.Time) any {
	return d.timeArg(t.Truncate(time.Microsecond))
}

// dbTimePtr is dbTime for a nullable column.
func (d *dialect) dbTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.dbTime(*t)
}

// timeColumn scans a timestamp column of either engine into a UTC
// time.Time: INTEGER microseconds from SQLite, TIMESTAMPTZ from Postgres.
// A NULL leaves a nil *time.Time when ptr is set.
type timeColumn struct {
	t   *time.Time
	ptr **time.Time
}

// Scan implements sql.Scanner.
func (c timeColumn) Scan(src any) error {
	var t time.Time
	switch v := src.(type) {
	case nil:
		if c.ptr == nil {
			return errors.New("scanning timestamp: unexpected NULL")
		}
		*c.ptr = nil
		return nil
	case int64:
		t = time.UnixMicro(v).UTC()
	case time.Time:
		t = v.UTC()
	default:
		return fmt.Errorf("scanning timestamp: unsupported type %T", src)
	}
	if c.ptr != nil {
		*c.ptr = &t
		return nil
	}
	*c.t = t
	return nil
}

var _ driver.Valuer = nullString("")

// nullString stores the empty string as NULL, for optional columns that
// carry a uniqueness constraint (many keys have no AWS access key ID).
type nullString string

// Value implements driver.Valuer.
func (s nullString) Value() (driver.Value, error) {
	if s == "" {
		return nil, nil
	}
	return string(s), nil
}
