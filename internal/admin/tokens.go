package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/auth"
	"switchyard/internal/store"
)

// AdminTokenPrefix starts every scoped admin token's secret, so that a
// leaked one is recognisable (and never mistaken for a client key).
const AdminTokenPrefix = "sy-admin-"

// AdminTokenSpec describes an admin token to create.
type AdminTokenSpec struct {
	Name string `json:"name"`
	// Role is viewer, tenant-admin, operator or admin.
	Role string `json:"role"`
	// Tenants scope a tenant-admin token: one or more tenant names (or
	// IDs, stored as the names). Only a tenant-admin token takes them.
	Tenants []string `json:"tenants"`
}

// AdminTokenView is an admin token as the API shows it: never its secret
// or hash.
type AdminTokenView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	Role      string     `json:"role"`
	Tenants   []string   `json:"tenants,omitempty"`
	Prefix    string     `json:"prefix"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// IssuedAdminToken is a freshly created admin token: the only time its
// secret is shown.
type IssuedAdminToken struct {
	Token  AdminTokenView `json:"token"`
	Secret string         `json:"secret"`
}

// ViewAdminToken renders an admin token for the API.
func ViewAdminToken(t *store.AdminToken) AdminTokenView {
	return AdminTokenView{ID: t.ID, Name: t.Name, Role: t.Role, Tenants: t.Tenants, Prefix: t.Prefix, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

// CreateAdminToken makes a scoped admin token and returns its secret,
// which is stored only as a hash.
func (s *Service) CreateAdminToken(ctx context.Context, spec AdminTokenSpec) (*IssuedAdminToken, error) {
	role := access.Role(spec.Role)
	if !role.Valid() {
		return nil, &FieldError{"role", "must be viewer, tenant-admin, operator or admin"}
	}
	if len(spec.Name) > 128 {
		return nil, &FieldError{"name", "at most 128 characters"}
	}
	var tenants []string
	switch {
	case role == access.TenantAdmin && len(spec.Tenants) == 0:
		return nil, &FieldError{"tenants", "a tenant-admin token needs at least one tenant"}
	case role != access.TenantAdmin && len(spec.Tenants) > 0:
		return nil, &FieldError{"tenants", "only a tenant-admin token is scoped to tenants"}
	}
	for i, name := range spec.Tenants {
		t, err := s.Tenant(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &FieldError{fmt.Sprintf("tenants[%d]", i), fmt.Sprintf("no tenant %q", name)}
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(tenants, t.Name) {
			tenants = append(tenants, t.Name)
		}
	}
	secret := AdminTokenPrefix + strings.ToLower(rand.Text())
	t := &store.AdminToken{Name: spec.Name, Role: string(role), Tenants: tenants, Hash: auth.HashKey(secret),
		Prefix: secret[:len(AdminTokenPrefix)+4], CreatedBy: who(ctx).Subject, CreatedAt: s.now()}
	if err := s.Store.CreateAdminToken(ctx, t); err != nil {
		return nil, err
	}
	v := ViewAdminToken(t)
	s.record(ctx, access.AdminTokensWrite, store.AuditOK, t.ID, map[string]any{"op": "create", "role": v.Role,
		"tenants": v.Tenants, "name": v.Name})
	return &IssuedAdminToken{Token: v, Secret: secret}, nil
}

// ListAdminTokens lists every admin token, revoked ones included.
func (s *Service) ListAdminTokens(ctx context.Context) ([]AdminTokenView, error) {
	ts, err := s.Store.ListAdminTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AdminTokenView, 0, len(ts))
	for i := range ts {
		out = append(out, ViewAdminToken(&ts[i]))
	}
	return out, nil
}

// RevokeAdminToken revokes the admin token id; every replica refuses it
// from its next request (tokens are looked up in the store each time).
func (s *Service) RevokeAdminToken(ctx context.Context, id string) (*AdminTokenView, error) {
	t, err := s.Store.AdminTokenByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.RevokedAt == nil {
		if err := s.Store.RevokeAdminToken(ctx, t.ID, s.now()); err != nil {
			return nil, err
		}
		s.record(ctx, access.AdminTokensWrite, store.AuditOK, t.ID, map[string]any{"op": "revoke", "role": t.Role, "name": t.Name})
	}
	if t, err = s.Store.AdminTokenByID(ctx, id); err != nil {
		return nil, err
	}
	v := ViewAdminToken(t)
	return &v, nil
}

// AdminTokens is the Authenticator of scoped admin tokens. It holds no
// cache: each credential is looked up in the store, so a revocation is
// honoured by every replica from its next request.
func (s *Service) AdminTokens() access.Authenticator {
	return access.AuthenticatorFunc(func(ctx context.Context, credential string) (access.Principal, error) {
		if !strings.HasPrefix(credential, AdminTokenPrefix) {
			return access.Principal{}, access.ErrNoMatch
		}
		ctx, cancel := context.WithTimeout(ctx, storeTimeout)
		defer cancel()
		t, err := s.Store.AdminTokenByHash(ctx, auth.HashKey(credential))
		if errors.Is(err, store.ErrNotFound) {
			return access.Principal{}, access.ErrNoMatch
		}
		if err != nil {
			return access.Principal{}, err
		}
		if t.RevokedAt != nil && !t.RevokedAt.After(s.now()) {
			return access.Principal{}, access.ErrNoMatch
		}
		return access.Principal{Subject: "token:" + t.ID, Name: t.Name, Role: access.Role(t.Role), Tenants: t.Tenants}, nil
	})
}

// StillValid reports whether p's credential still holds: false for a
// scoped admin token revoked since p was resolved (a console session
// signed in with it ends), true for every other principal.
func (s *Service) StillValid(ctx context.Context, p access.Principal) (bool, error) {
	id, ok := strings.CutPrefix(p.Subject, "token:")
	if !ok {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := s.Store.AdminTokenByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.RevokedAt == nil || t.RevokedAt.After(s.now()), nil
}

func (a *api) createAdminToken(w http.ResponseWriter, r *http.Request) error {
	var spec AdminTokenSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	out, err := a.svc.CreateAdminToken(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *api) listAdminTokens(w http.ResponseWriter, r *http.Request) error {
	out, err := a.svc.ListAdminTokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (a *api) revokeAdminToken(w http.ResponseWriter, r *http.Request) error {
	out, err := a.svc.RevokeAdminToken(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
