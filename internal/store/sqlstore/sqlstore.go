// Package sqlstore implements the gateway's store on database/sql, for
// SQLite (modernc.org/sqlite, pure Go, the default) and Postgres (pgx). It
// is the only package that imports a database driver. The schema is created
// and upgraded by embedded migrations when the store opens; every
// engine-specific detail lives in dialect.go.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// migrationFiles holds the schema migrations, applied in file-name order.
// A file is named NNNN_description.sql; NNNN is its version.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Drivers accepted by Open.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// sqliteBusyTimeout is how long a SQLite connection waits for a lock held
// by another connection or process before failing with SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// sqliteCacheKiB bounds the page cache of each SQLite connection (the
// writer and up to sqliteReaders readers), which lives outside the Go heap
// and, once filled, stays for the connection's life. At SQLite's default
// of 2000 KiB a gateway's resident memory grew by about 25 MiB over its
// first 30,000 ledger rows with a 400 KiB Go heap; at 1 MiB by about 16
// MiB, for the same insert cost: the operating system's file cache serves
// the pages it no longer keeps.
const sqliteCacheKiB = 1024

// sqliteReaders is the size of SQLite's reader pool.
const sqliteReaders = 4

// Store is a SQL-backed store, safe for concurrent use.
type Store struct {
	d *dialect
	// w runs writes; r runs reads. For SQLite they are separate pools,
	// because SQLite allows one writer at a time while WAL mode lets
	// readers proceed alongside it. For Postgres (and in-memory SQLite)
	// they are the same pool.
	w, r *sql.DB
	now  func() time.Time

	// usageStmt is the prepared ledger insert, sqliteInsertUsage,
	// prepared on first use on w (SQLite only).
	stmtMu    sync.Mutex
	usageStmt *sql.Stmt
	// bufs keeps the ledger insert's buffers between batches.
	bufs bufferCache
}

// Open connects to the database and brings its schema up to date.
//
// For DriverSQLite, dsn is a file path (or a "file:" URI); ":memory:" opens
// a private in-memory database that lives as long as the Store. The file is
// put in WAL mode, foreign keys are enforced, and writes go through a
// single connection that takes the write lock when its transaction begins,
// so concurrent writers queue instead of failing with SQLITE_BUSY. Each
// connection's page cache is bounded to sqliteCacheKiB, so SQLite holds at
// most about 5 MiB of cached pages.
//
// For DriverPostgres, dsn is a pgx connection string (URL or key=value);
// runtime parameters such as search_path may be given in it.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	var (
		s   *Store
		err error
	)
	switch driver {
	case DriverSQLite:
		s, err = openSQLite(dsn)
	case DriverPostgres:
		s, err = openPostgres(dsn)
	default:
		return nil, fmt.Errorf("unknown store driver %q (want %q or %q)", driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connecting to %s: %w", driver, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrating %s schema: %w", driver, err)
	}
	return s, nil
}

func openSQLite(dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("opening sqlite: empty path")
	}
	busy := "_pragma=busy_timeout(" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + ")"
	common := busy + "&_pragma=foreign_keys(1)&_pragma=cache_size(-" + strconv.Itoa(sqliteCacheKiB) + ")"
	if isSQLiteMemory(dsn) {
		// Every connection to ":memory:" is a different database, so the
		// store keeps exactly one, forever.
		db, err := sql.Open("sqlite", withQuery(dsn, common))
		if err != nil {
			return nil, fmt.Errorf("opening sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		return &Store{d: &sqliteDialect, w: db, r: db, now: time.Now}, nil
	}
	// auto_vacuum only takes effect on a file with no table yet, so the
	// writer, which creates the schema, sets it before anything else: pages
	// freed by PruneUsage can then be returned to the file system. Setting
	// it takes the write lock, and the driver applies it before the _pragma
	// list, so the busy timeout is also given by the key applied before it.
	vacuum := "&_busy_timeout=" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + "&_auto_vacuum=INCREMENTAL"
	w, err := sql.Open("sqlite", withQuery(dsn, common+vacuum+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", withQuery(dsn, common+"&_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	r.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{d: &sqliteDialect, w: w, r: r, now: time.Now}, nil
}

// isSQLiteMemory reports whether dsn names an in-memory database.
func isSQLiteMemory(dsn string) bool {
	return dsn == ":memory:" || strings.HasPrefix(dsn, "file::memory:") || strings.Contains(dsn, "mode=memory")
}

// withQuery appends query parameters to a SQLite DSN.
func withQuery(dsn, q string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + q
	}
	return dsn + "?" + q
}

func openPostgres(dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	return &Store{d: &postgresDialect, w: db, r: db, now: time.Now}, nil
}

// Close closes the database connections.
func (s *Store) Close() error {
	var err error
	s.stmtMu.Lock()
	if s.usageStmt != nil {
		err = s.usageStmt.Close()
		s.usageStmt = nil
	}
	s.stmtMu.Unlock()
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging %s: %w", s.d.name, err)
	}
	return nil
}

// Driver returns the driver the store was opened with.
func (s *Store) Driver() string { return s.d.name }

// migration is one embedded schema change.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".sql")
		num, desc, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", n)
		}
		body, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: desc, sql: string(body)})
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations embedded")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migration version %d appears twice", ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database has not seen yet, each in its
// own transaction together with its schema_migrations row, so a failed
// migration leaves no trace and a finished one is never run again. Several
// processes may start at once: Postgres serializes them with an advisory
// lock, SQLite with the write lock its transactions take when they begin.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	createTable, err := s.d.renderDDL(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at {{timestamp}} NOT NULL
)`)
	if err != nil {
		return err
	}
	for _, m := range ms {
		body, err := s.d.renderDDL(m.sql)
		if err != nil {
			return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
		}
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if s.d.migrationLock != "" {
				if _, err := tx.ExecContext(ctx, s.d.migrationLock); err != nil {
					return fmt.Errorf("locking: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, createTable); err != nil {
				return fmt.Errorf("creating schema_migrations: %w", err)
			}
			var n int
			err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n)
			if err != nil {
				return fmt.Errorf("reading schema_migrations: %w", err)
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, body); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, s.d.dbTime(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
		}
	}
	var latest sql.NullInt64
	if err := s.w.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&latest); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if known := ms[len(ms)-1].version; latest.Int64 > known {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", latest.Int64, known)
	}
	return nil
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// newID returns prefix followed by 26 random lower-case base32 characters
// (128 bits).
func newID(prefix string) string {
	return prefix + strings.ToLower(rand.Text())
}
