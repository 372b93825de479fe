package sqlstore

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"switchyard/internal/store"
)

// ScratchSchema gives a store of its own in an existing database, and its
// drop function removes everything in it.
func TestScratchSchema(t *testing.T) {
	dsn := os.Getenv(PostgresDSNEnv)
	if dsn == "" {
		t.Skipf("skipping postgres test: %s is not set", PostgresDSNEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	scoped, drop, err := ScratchSchema(ctx, dsn, "switchyard_scratch_test_")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, DriverPostgres, scoped)
	if err != nil {
		drop(ctx)
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &store.Tenant{Name: "scratch"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := drop(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(scoped)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", u.Query().Get("search_path")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s still there after the drop", u.Query().Get("search_path"))
	}
}
