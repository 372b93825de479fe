package sqlstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresDSNEnv names the environment variable holding the Postgres
// connection string tests use, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Postgres tests
// are skipped when it is unset.
const PostgresDSNEnv = "SWITCHYARD_TEST_POSTGRES_DSN"

// OpenTestStore returns an empty, migrated store for a test and closes it
// when the test ends. DriverSQLite uses a file in t.TempDir(). DriverPostgres
// uses the database named by PostgresDSNEnv (skipping the test when it is
// unset) inside a fresh schema of its own, dropped at cleanup, so that
// tests of any number of packages can share one database at the same time.
func OpenTestStore(t testing.TB, driver string) *Store {
	t.Helper()
	dsn := ""
	if driver == DriverSQLite {
		dsn = sqliteFromTemplate(t)
	} else {
		dsn = TestDSN(t, driver)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, driver, dsn)
	if err != nil {
		t.Fatalf("opening %s test store: %v", driver, err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
	return s
}

// sqliteTemplate is a migrated SQLite file, made once per test process
// and copied for each test store: a copy costs one file write where
// migrating costs a transaction (and its fsyncs) per migration.
var sqliteTemplate struct {
	once sync.Once
	data []byte
	err  error
}

// sqliteFromTemplate writes a copy of the migrated template into
// t.TempDir() and returns its path; Open then finds every migration
// applied, as on any restart.
func sqliteFromTemplate(t testing.TB) string {
	t.Helper()
	sqliteTemplate.once.Do(func() {
		dir, err := os.MkdirTemp("", "switchyard-sqlite-template-")
		if err != nil {
			sqliteTemplate.err = err
			return
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		path := filepath.Join(dir, "template.db")
		s, err := Open(ctx, DriverSQLite, path)
		if err != nil {
			sqliteTemplate.err = err
			return
		}
		// Closing checkpoints the write-ahead log into the file, so the
		// file alone is the whole database.
		if err := s.Close(); err != nil {
			sqliteTemplate.err = err
			return
		}
		sqliteTemplate.data, sqliteTemplate.err = os.ReadFile(path)
	})
	if sqliteTemplate.err != nil {
		t.Fatalf("making the sqlite test template: %v", sqliteTemplate.err)
	}
	path := filepath.Join(t.TempDir(), "switchyard.db")
	if err := os.WriteFile(path, sqliteTemplate.data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDSN returns a DSN for an empty database of a test's own, for tests
// that run gateway processes against it: a file in t.TempDir() for
// DriverSQLite, a fresh schema (dropped at cleanup) of the database named
// by PostgresDSNEnv for DriverPostgres, skipping the test when that is
// unset.
func TestDSN(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case DriverSQLite:
		return filepath.Join(t.TempDir(), "switchyard.db")
	case DriverPostgres:
		dsn := os.Getenv(PostgresDSNEnv)
		if dsn == "" {
			t.Skipf("skipping postgres test: %s is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", PostgresDSNEnv)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		schema := "switchyard_test_" + strings.ToLower(rand.Text())
		if err := createSchema(ctx, dsn, schema); err != nil {
			t.Fatalf("creating postgres test schema: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := dropSchema(ctx, dsn, schema); err != nil {
				t.Errorf("dropping postgres test schema %s: %v", schema, err)
			}
		})
		scoped, err := dsnWithSearchPath(dsn, schema)
		if err != nil {
			t.Fatal(err)
		}
		return scoped
	}
	t.Fatalf("TestDSN: unknown driver %q", driver)
	return ""
}

// ScratchSchema creates a fresh schema named prefix followed by a random
// suffix in the Postgres database dsn names, for a benchmark or a test run
// that must not touch other data there. It returns dsn scoped to that
// schema (through search_path) and a function that drops the schema and
// everything in it.
func ScratchSchema(ctx context.Context, dsn, prefix string) (scoped string, drop func(context.Context) error, err error) {
	schema := prefix + strings.ToLower(rand.Text())
	if scoped, err = dsnWithSearchPath(dsn, schema); err != nil {
		return "", nil, err
	}
	if err := createSchema(ctx, dsn, schema); err != nil {
		return "", nil, fmt.Errorf("creating postgres schema: %w", err)
	}
	return scoped, func(ctx context.Context) error { return dropSchema(ctx, dsn, schema) }, nil
}

func createSchema(ctx context.Context, dsn, schema string) error {
	return execAdmin(ctx, dsn, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
}

func dropSchema(ctx context.Context, dsn, schema string) error {
	return execAdmin(ctx, dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

// execAdmin runs one statement on a short-lived connection.
func execAdmin(ctx context.Context, dsn, stmt string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("parsing postgres dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// dsnWithSearchPath returns dsn with its search_path runtime parameter set
// to schema, in URL or keyword/value form.
func dsnWithSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing postgres dsn: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema, nil
}

// ExecForTest runs a raw statement ("?" placeholders) on the store's
// database, for tests that must change what the store's own methods never
// would, such as editing an audit record to see verification fail.
func (s *Store) ExecForTest(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := s.w.Exec(s.d.rebind(q), args...); err != nil {
		t.Fatalf("exec %q: %v", q, err)
	}
}
