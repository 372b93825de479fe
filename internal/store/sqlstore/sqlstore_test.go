package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
	"switchyard/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) storetest.StoreUnderTest
	}{
		{"sqlite_file", func(t *testing.T) storetest.StoreUnderTest { return OpenTestStore(t, DriverSQLite) }},
		{"sqlite_memory", func(t *testing.T) storetest.StoreUnderTest {
			s, err := Open(t.Context(), DriverSQLite, ":memory:")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(t *testing.T) storetest.StoreUnderTest { return OpenTestStore(t, DriverPostgres) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "postgres" && os.Getenv(PostgresDSNEnv) == "" {
				t.Skipf("skipping postgres conformance: %s is not set", PostgresDSNEnv)
			}
			storetest.Run(t, tc.open)
		})
	}
}

// drivers lists the drivers to test: SQLite always, Postgres when
// configured.
func drivers() []string {
	if os.Getenv(PostgresDSNEnv) == "" {
		return []string{DriverSQLite}
	}
	return []string{DriverSQLite, DriverPostgres}
}

func TestOpen_UnknownDriver(t *testing.T) {
	_, err := Open(t.Context(), "mysql", "x")
	if err == nil || !strings.Contains(err.Error(), `unknown store driver "mysql"`) {
		t.Errorf("Open(mysql) error = %v", err)
	}
}

func TestOpen_BadDSN(t *testing.T) {
	for _, tc := range []struct{ driver, dsn string }{
		{DriverSQLite, ""},
		{DriverSQLite, filepath.Join(t.TempDir(), "missing-dir", "x.db")},
		{DriverPostgres, "postgres://127.0.0.1:1/x?sslmode=disable&connect_timeout=1"},
		{DriverPostgres, "postgres://%zz"},
	} {
		if s, err := Open(t.Context(), tc.driver, tc.dsn); err == nil {
			s.Close()
			t.Errorf("Open(%s, %q) succeeded, want error", tc.driver, tc.dsn)
		}
	}
}

func TestOpen_SQLiteSettings(t *testing.T) {
	s := OpenTestStore(t, DriverSQLite)
	ctx := t.Context()
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for _, db := range []struct {
		name string
		q    string
		want int
	}{
		{"writer foreign_keys", "PRAGMA foreign_keys", 1},
		{"writer busy_timeout", "PRAGMA busy_timeout", int(sqliteBusyTimeout.Milliseconds())},
		{"writer cache_size", "PRAGMA cache_size", -sqliteCacheKiB},
		{"writer temp_store", "PRAGMA temp_store", 2},   // memory
		{"writer synchronous", "PRAGMA synchronous", 1}, // normal
	} {
		var got int
		if err := s.w.QueryRowContext(ctx, db.q).Scan(&got); err != nil || got != db.want {
			t.Errorf("%s = %d, %v; want %d", db.name, got, err, db.want)
		}
	}
	var cache int
	if err := s.r.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil || cache != -sqliteCacheKiB {
		t.Errorf("reader cache_size = %d, %v; want %d", cache, err, -sqliteCacheKiB)
	}
	var qo int
	if err := s.r.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("reader query_only = %d, %v; want 1", qo, err)
	}
	if s.w.Stats().MaxOpenConnections != 1 {
		t.Errorf("writer pool allows %d connections, want 1", s.w.Stats().MaxOpenConnections)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestMigrate_ReopenAppliesNothingTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	for i := range 3 {
		s, err := Open(t.Context(), DriverSQLite, path)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		if i == 0 {
			if err := s.CreateTenant(t.Context(), &store.Tenant{Name: "kept"}); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := s.w.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("open #%d: %d schema_migrations rows, want %d", i, n, len(ms))
		}
		if _, err := s.TenantByName(t.Context(), "kept"); err != nil {
			t.Errorf("open #%d: %v", i, err)
		}
		s.Close()
	}
}

func TestMigrate_ConcurrentOpens(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			first := OpenTestStore(t, driver)
			// Start over in the same database with several migrators at
			// once, as replicas starting together would.
			if _, err := first.w.ExecContext(t.Context(), "DROP TABLE usage_records"); err != nil {
				t.Fatal(err)
			}
			if _, err := first.w.ExecContext(t.Context(), "DROP TABLE api_keys"); err != nil {
				t.Fatal(err)
			}
			if _, err := first.w.ExecContext(t.Context(), "DROP TABLE tenants"); err != nil {
				t.Fatal(err)
			}
			if _, err := first.w.ExecContext(t.Context(), "DROP TABLE schema_migrations"); err != nil {
				t.Fatal(err)
			}
			dsn := sameDatabase(t, first)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					s, err := Open(context.Background(), driver, dsn)
					if err == nil {
						s.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("concurrent Open: %v", err)
			}
			if err := first.CreateTenant(t.Context(), &store.Tenant{Name: "after"}); err != nil {
				t.Errorf("store unusable after concurrent migration: %v", err)
			}
		})
	}
}

// sameDatabase returns a DSN that opens the database s uses.
func sameDatabase(t *testing.T, s *Store) string {
	t.Helper()
	switch s.d.name {
	case DriverSQLite:
		var file string
		if err := s.w.QueryRowContext(t.Context(), "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
			t.Fatal(err)
		}
		return file
	default:
		var schema string
		if err := s.w.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		dsn, err := dsnWithSearchPath(os.Getenv(PostgresDSNEnv), schema)
		if err != nil {
			t.Fatal(err)
		}
		return dsn
	}
}

func TestMigrate_RefusesNewerSchema(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			_, err := s.w.ExecContext(t.Context(), s.d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				999999, "future", s.d.dbTime(s.now()))
			if err != nil {
				t.Fatal(err)
			}
			again, err := Open(t.Context(), driver, sameDatabase(t, s))
			if err == nil {
				again.Close()
				t.Fatal("Open succeeded on a schema newer than the binary")
			}
			if !strings.Contains(err.Error(), "newer than this binary") {
				t.Errorf("error = %v, want one about a newer schema", err)
			}
		})
	}
}

func TestMigrations_RenderForEveryDialect(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*dialect{&sqliteDialect, &postgresDialect} {
		for _, m := range ms {
			out, err := d.renderDDL(m.sql)
			if err != nil {
				t.Errorf("%s: migration %d: %v", d.name, m.version, err)
			}
			if strings.Contains(out, "?") {
				t.Errorf("%s: migration %d contains a placeholder", d.name, m.version)
			}
		}
	}
	if _, err := sqliteDialect.renderDDL("CREATE TABLE t (x {{money}})"); err == nil {
		t.Error("renderDDL accepted an unknown token")
	}
}

func TestMigrations_FileNames(t *testing.T) {
	names, err := fs.Glob(migrationFiles, "migrations/*")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(ms) {
		t.Errorf("%d files under migrations/, %d migrations; every file must be NNNN_name.sql", len(names), len(ms))
	}
	for i, m := range ms {
		if m.version != int64(i+1) {
			t.Errorf("migration %d has version %d; versions must be 1, 2, 3, ...", i, m.version)
		}
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct {
		d    *dialect
		in   string
		want string
	}{
		{&sqliteDialect, "a = ? AND b = ?", "a = ? AND b = ?"},
		{&postgresDialect, "a = ? AND b = ?", "a = $1 AND b = $2"},
		{&postgresDialect, "VALUES (?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2), ($3, $4, $5, $6, $7, $8, $9, $10, $11)"},
		{&postgresDialect, "SELECT 1", "SELECT 1"},
	} {
		if got := tc.d.rebind(tc.in); got != tc.want {
			t.Errorf("%s rebind(%q) = %q, want %q", tc.d.name, tc.in, got, tc.want)
		}
	}
}

func TestDSNWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s1&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s1"},
		{"postgres://u@h/db?search_path=old", "postgres://u@h/db?search_path=s1"},
		{"host=h user=u dbname=db", "host=h user=u dbname=db search_path=s1"},
	} {
		got, err := dsnWithSearchPath(tc.in, "s1")
		if err != nil || got != tc.want {
			t.Errorf("dsnWithSearchPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestOpenTestStore_PostgresIsolated(t *testing.T) {
	if os.Getenv(PostgresDSNEnv) == "" {
		t.Skipf("skipping: %s is not set", PostgresDSNEnv)
	}
	a := OpenTestStore(t, DriverPostgres)
	b := OpenTestStore(t, DriverPostgres)
	if err := a.CreateTenant(t.Context(), &store.Tenant{Name: "only-in-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TenantByName(t.Context(), "only-in-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant created in one test store is visible in another: %v", err)
	}
}

// TestInsertUsage_BatchSizes writes batches that need every prepared
// statement size, and statements reused across batches, and reads every
// record back in order with every field.
func TestInsertUsage_BatchSizes(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			seq := 0
			var want []store.UsageRecord
			for _, n := range []int{1, 7, 8, 9, 64, 65, 137, 1} {
				recs := benchUsage(n, &seq)
				for i := range recs {
					recs[i].CreatedAt = time.UnixMicro(int64(seq*1000 + i)).UTC()
					recs[i].InputTokens = int64(seq + i)
					recs[i].Stream = i%2 == 0
					if i == 3 {
						recs[i].RequestID, recs[i].Contracts = "", nil
					}
				}
				if err := s.InsertUsage(t.Context(), recs); err != nil {
					t.Fatalf("InsertUsage(%d records): %v", n, err)
				}
				want = append(want, recs...)
			}
			// A retried batch adds only the records without a request ID.
			if err := s.InsertUsage(t.Context(), want[17:81]); err != nil {
				t.Fatal(err)
			}
			for _, r := range want[17:81] {
				if r.RequestID == "" {
					want = append(want, r)
				}
			}
			slices.SortStableFunc(want, func(a, b store.UsageRecord) int { return a.CreatedAt.Compare(b.CreatedAt) })
			var got []store.UsageRecord
			err := s.ScanUsage(t.Context(), store.UsageFilter{}, func(r store.UsageRecord) error {
				got = append(got, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("records read back (-want +got):\n%s", diff)
			}
		})
	}
}
