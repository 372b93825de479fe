package sqlstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch driver {
	case DriverSQLite:
		s, err := Open(ctx, DriverSQLite, filepath.Join(t.TempDir(), "switchyard.db"))
		if err != nil {
			t.Fatalf("opening sqlite test store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	case DriverPostgres:
		dsn := os.Getenv(PostgresDSNEnv)
		if dsn == "" {
			t.Skipf("skipping postgres test: %s is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", PostgresDSNEnv)
		}
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
		s, err := Open(ctx, DriverPostgres, scoped)
		if err != nil {
			t.Fatalf("opening postgres test store: %v", err)
		}
		t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
		return s
	}
	t.Fatalf("OpenTestStore: unknown driver %q", driver)
	return nil
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
