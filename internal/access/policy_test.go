package access

import (
	"context"
	"testing"
)

func TestSees(t *testing.T) {
	ta := Principal{Role: TenantAdmin, Tenants: []string{"acme", "ten_2"}}
	for _, tc := range []struct {
		p        Principal
		id, name string
		want     bool
	}{
		{ta, "ten_1", "acme", true},
		{ta, "ten_2", "globex", true},
		{ta, "ten_3", "initech", false},
		{Principal{Role: TenantAdmin}, "ten_1", "acme", false},
		{Principal{Role: TenantAdmin, Tenants: []string{""}}, "", "", false},
		{Principal{Role: Viewer}, "ten_3", "initech", true},
		{BreakGlass, "ten_3", "initech", true},
	} {
		if got := tc.p.Sees(tc.id, tc.name); got != tc.want {
			t.Errorf("%+v sees %s/%s = %v, want %v", tc.p, tc.id, tc.name, got, tc.want)
		}
	}
}

// Every action has a rule, admin may do everything, and each other role
// may do a strict subset of what admin may.
func TestPolicyShape(t *testing.T) {
	for _, a := range Actions() {
		if !Allowed(BreakGlass, a) {
			t.Errorf("admin may not %s", a)
		}
	}
	for _, a := range []Action{AdminTokensRead, AdminTokensWrite} {
		for _, r := range []Role{Viewer, TenantAdmin, Operator} {
			if Allowed(Principal{Role: r}, a) {
				t.Errorf("%s may %s", r, a)
			}
		}
	}
	if Allowed(Principal{Role: Viewer}, KeysWrite) || Allowed(Principal{Role: TenantAdmin}, ChannelsRead) {
		t.Error("a viewer writes keys or a tenant admin sees channels")
	}
	if Allowed(Principal{}, SignIn) {
		t.Error("a principal without a role may sign in")
	}
}

func TestOrigin(t *testing.T) {
	if o := OriginFrom(context.Background()); o != (Origin{}) {
		t.Errorf("empty context: %+v", o)
	}
	ctx := WithOrigin(context.Background(), Origin{Address: "10.0.0.1:5", RequestID: "r1"})
	if o := OriginFrom(ctx); o.Address != "10.0.0.1:5" || o.RequestID != "r1" {
		t.Errorf("%+v", o)
	}
}
