package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"switchyard/internal/store"
)

// Two replicas (two stores on one database) appending at once keep one
// chain: every record numbered once, each linked to the one before.
func TestAuditChain_ConcurrentReplicas(t *testing.T) {
	for _, driver := range []string{DriverSQLite, DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			var a, b *Store
			if driver == DriverPostgres {
				dsn := TestDSN(t, driver)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var err error
				if a, err = Open(ctx, driver, dsn); err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				if b, err = Open(ctx, driver, dsn); err != nil {
					t.Fatal(err)
				}
				defer b.Close()
			} else {
				path := t.TempDir() + "/audit.db"
				var err error
				if a, err = Open(context.Background(), driver, path); err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				if b, err = Open(context.Background(), driver, path); err != nil {
					t.Fatal(err)
				}
				defer b.Close()
			}
			const perWriter, writers = 25, 4
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				s := a
				if w%2 == 1 {
					s = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						err := s.AppendAudit(ctx, &store.AuditRecord{Subject: fmt.Sprintf("writer-%d", w), Role: "admin",
							Action: "keys.write", Target: fmt.Sprint(i), Outcome: store.AuditOK})
						cancel()
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			recs, err := b.ListAudit(context.Background(), store.AuditFilter{Ascending: true, Limit: store.MaxAuditPage})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != perWriter*writers {
				t.Fatalf("%d records, want %d", len(recs), perWriter*writers)
			}
			if fault := store.VerifyChain(0, []byte{}, recs); fault != nil {
				t.Fatalf("chain broken: %+v", fault)
			}
		})
	}
}

func TestAdminTokens_Store(t *testing.T) {
	for _, driver := range []string{DriverSQLite, DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := context.Background()
			h := sha256.Sum256([]byte("sy-admin-x"))
			tok := &store.AdminToken{Name: "ops", Role: "tenant-admin", Tenants: []string{"acme", "globex"}, Hash: h[:], Prefix: "sy-admin-x", CreatedBy: "admin-token"}
			if err := s.CreateAdminToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			dup := *tok
			dup.ID = ""
			if err := s.CreateAdminToken(ctx, &dup); !errors.Is(err, store.ErrConflict) {
				t.Errorf("duplicate hash: %v", err)
			}
			got, err := s.AdminTokenByHash(ctx, h[:])
			if err != nil || got.ID != tok.ID || len(got.Tenants) != 2 || got.RevokedAt != nil {
				t.Fatalf("by hash: %+v %v", got, err)
			}
			if err := s.RevokeAdminToken(ctx, tok.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.AdminTokenByID(ctx, tok.ID); got.RevokedAt == nil {
				t.Error("not revoked")
			}
			if err := s.RevokeAdminToken(ctx, "adm_nope", time.Now()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown: %v", err)
			}
			if l, err := s.ListAdminTokens(ctx); err != nil || len(l) != 1 {
				t.Errorf("list: %v %v", l, err)
			}
		})
	}
}
