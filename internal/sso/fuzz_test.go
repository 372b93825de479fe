package sso_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"switchyard/internal/access"
	"switchyard/internal/sso"
)

func FuzzIssuer(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://id.example.com"}`)) + ".sig")
	f.Add("a.b.c")
	f.Add("sk-xyz")
	f.Fuzz(func(t *testing.T, cred string) {
		_ = sso.Issuer(cred)
	})
}

func FuzzMapping(f *testing.F) {
	f.Add([]byte(`{"sub":"1","email":"a@b","groups":["sre","acme-admins"]}`))
	f.Add([]byte(`{"sub":"1","realm_access":{"roles":"sre"},"email_verified":true}`))
	f.Add([]byte(`{"sub":2,"groups":[1,{"a":null},true]}`))
	m := sso.Mapping{GroupsClaim: "realm_access.roles", Rules: []sso.Rule{
		{Group: "sre", Role: access.Operator},
		{Group: "acme-admins", Role: access.TenantAdmin, Tenants: []string{"acme"}},
		{Claim: "email_verified", Value: "true", Role: access.Viewer},
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims map[string]any
		if json.Unmarshal(data, &claims) != nil {
			return
		}
		p, err := m.Principal(claims)
		if err == nil && (!p.Role.Valid() || p.Subject == "oidc:") {
			t.Fatalf("mapped to %+v", p)
		}
		if err == nil && p.Role != access.TenantAdmin && len(p.Tenants) > 0 {
			t.Fatalf("%s with tenants %v", p.Role, p.Tenants)
		}
	})
}
