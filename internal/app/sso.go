package app

import (
	"context"
	"log/slog"

	"switchyard/internal/access"
	"switchyard/internal/config"
	"switchyard/internal/sso"
)

// singleSignOn builds the admin.oidc provider, or nil when it is not
// configured. Discovery failing is not an error: the provider retries in
// the background while the gateway serves.
func singleSignOn(ctx context.Context, c *config.OIDC, getenv func(string) string, log *slog.Logger) (*sso.Provider, error) {
	if c == nil {
		return nil, nil
	}
	secret, err := secret(getenv, "admin.oidc.client_secret", c.ClientSecretEnv, c.ClientSecretFile)
	if err != nil {
		return nil, err
	}
	rules := make([]sso.Rule, len(c.Roles))
	for i, r := range c.Roles {
		rules[i] = sso.Rule{Group: r.Group, Claim: r.Claim, Value: r.Value, Role: access.Role(r.Role), Tenants: r.Tenants}
	}
	return sso.New(ctx, sso.Options{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: secret, Scopes: c.Scopes,
		Mapping: sso.Mapping{GroupsClaim: c.GroupsClaim, Rules: rules}, Logger: log}), nil
}
