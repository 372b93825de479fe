package admin_test

import (
	"context"
	"testing"

	"switchyard/internal/admin"
	"switchyard/internal/store/sqlstore"
)

// TestService_ChangedAfterEveryKeyOrTenantChange: each change to a key or
// tenant calls Changed once it is in the store (the authenticator drops
// its cache then); reads do not.
func TestService_ChangedAfterEveryKeyOrTenantChange(t *testing.T) {
	ctx := context.Background()
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	calls := 0
	svc := &admin.Service{Store: st, Changed: func() { calls++ }}
	expect := func(what string, want int) {
		t.Helper()
		if calls != want {
			t.Errorf("after %s: Changed called %d times, want %d", what, calls, want)
		}
	}
	iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "acme", CreateTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	expect("issue", 1)
	if _, err := svc.ListKeys(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FindKey(ctx, iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	expect("reads", 1)
	rpm := 5
	if _, err := svc.UpdateKey(ctx, iss.Key.ID, admin.KeyUpdate{LimitsUpdate: admin.LimitsUpdate{RPM: &rpm}}); err != nil {
		t.Fatal(err)
	}
	expect("update key", 2)
	disabled := true
	if _, err := svc.UpdateTenant(ctx, "acme", admin.TenantUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	expect("update tenant", 3)
	if _, err := svc.RotateKey(ctx, iss.Key.ID, 0); err != nil {
		t.Fatal(err)
	}
	expect("rotate", 4)
	if _, err := svc.RevokeKey(ctx, iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	expect("revoke", 5)
	// A refused change changes nothing.
	if _, err := svc.RotateKey(ctx, iss.Key.ID, 0); err == nil {
		t.Fatal("rotating a revoked key succeeded")
	}
	expect("refused rotation", 5)
}
