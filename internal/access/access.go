// Package access owns who may do what on the admin side: the principal a
// credential names (the break-glass admin token, a scoped admin token, a
// single sign-on identity), its role, and the tenants a tenant admin is
// scoped to. The admin API, the console and the CLI resolve a credential
// to a Principal through the Authenticators here and carry it in the
// request's context.
package access

import (
	"context"
	"errors"
	"slices"
)

// Role is what a principal may do.
type Role string

// The roles, from least to most.
const (
	// Viewer reads everything but secrets.
	Viewer Role = "viewer"
	// TenantAdmin manages its own tenants' keys, limits within the
	// tenant's and usage; nothing else is visible to it.
	TenantAdmin Role = "tenant-admin"
	// Operator manages keys, tenants, breakers and reloads.
	Operator Role = "operator"
	// Admin does everything, configuration and admin tokens included.
	Admin Role = "admin"
)

// Roles lists every role.
var Roles = []Role{Viewer, TenantAdmin, Operator, Admin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Principal is who is acting.
type Principal struct {
	// Subject identifies the principal in the audit log: "admin-token"
	// for the break-glass token, "token:<id>" for a scoped admin token,
	// "oidc:<issuer's subject>" for a signed-in identity.
	Subject string
	// Name is a readable name (an email, a token's label), if any.
	Name string
	Role Role
	// Tenants scope a TenantAdmin; empty for every other role.
	Tenants []string
}

// BreakGlass is the principal of the admin token from admin.token_env.
var BreakGlass = Principal{Subject: "admin-token", Name: "admin token", Role: Admin}

// Local is the principal of the CLI's direct store mode (-config), which
// holds the store's own credentials and so every power.
var Local = Principal{Subject: "local", Name: "direct store access", Role: Admin}

// ErrNoMatch is an Authenticator's answer for a credential it does not
// recognise: the next one is tried.
var ErrNoMatch = errors.New("access: credential not recognised")

// An Authenticator resolves a bearer credential to its principal, or
// returns ErrNoMatch. Any other error is a failure to judge (a store
// outage), not a refusal.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, credential string) (Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, credential string) (Principal, error) {
	return f(ctx, credential)
}

// Chain tries each Authenticator in turn and returns the first match, or
// ErrNoMatch.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(ctx context.Context, credential string) (Principal, error) {
	if credential == "" {
		return Principal{}, ErrNoMatch
	}
	for _, a := range c {
		p, err := a.Authenticate(ctx, credential)
		if errors.Is(err, ErrNoMatch) {
			continue
		}
		return p, err
	}
	return Principal{}, ErrNoMatch
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
