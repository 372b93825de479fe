// Package admin owns the operator's view of the gateway: the admin JSON API
// under /admin/v1 on its own listener (tenants, keys, usage, routing
// explanations, reload), authenticated by the admin token, and the Service
// that issues and revokes keys, shared by that API and the CLI's direct
// store mode. Keys are shown once and stored hashed; no response here ever
// carries a stored secret.
package admin

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/store"
)

// Store is what the admin service needs from the store.
type Store interface {
	CreateTenant(ctx context.Context, t *store.Tenant) error
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	TenantByName(ctx context.Context, name string) (*store.Tenant, error)
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	UpdateTenant(ctx context.Context, t *store.Tenant) error
	CreateKey(ctx context.Context, k *store.Key) error
	KeyByID(ctx context.Context, id string) (*store.Key, error)
	KeyByHash(ctx context.Context, hash []byte) (*store.Key, error)
	ListKeys(ctx context.Context, tenantID string) ([]store.Key, error)
	RevokeKey(ctx context.Context, id string, at time.Time) error
	SumUsage(ctx context.Context, f store.UsageFilter, groupBy string) ([]store.UsageSummary, error)
	SumUsageByHour(ctx context.Context, f store.UsageFilter) ([]store.HourUsage, error)
	ListRequests(ctx context.Context, f store.RequestFilter) ([]store.UsageRecord, string, error)
	GetRequest(ctx context.Context, requestID string) (*store.UsageRecord, error)
}

// Service issues, lists and revokes tenants and keys.
type Service struct {
	Store Store
	// Sealer encrypts the AWS-style secret of each key; without it keys get
	// no AWS pair (SigV4 clients then use the key as a Bedrock API key).
	Sealer *auth.Sealer
	Now    func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// FieldError is a request problem tied to one field.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

var tenantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Limits are the per-tenant or per-key limits and budget.
type Limits struct {
	RPM          int     `json:"rpm"`
	TPM          int     `json:"tpm"`
	MaxStreams   int     `json:"max_streams"`
	BudgetUSD    float64 `json:"budget_usd"`
	BudgetPeriod string  `json:"budget_period"`
}

func (l Limits) validate() error {
	switch {
	case l.RPM < 0:
		return &FieldError{"rpm", "must not be negative"}
	case l.TPM < 0:
		return &FieldError{"tpm", "must not be negative"}
	case l.MaxStreams < 0:
		return &FieldError{"max_streams", "must not be negative"}
	case l.BudgetUSD < 0:
		return &FieldError{"budget_usd", "must not be negative"}
	case l.BudgetUSD > 0 && l.BudgetPeriod != store.PeriodDay && l.BudgetPeriod != store.PeriodMonth:
		return &FieldError{"budget_period", `must be "day" or "month" when budget_usd is set`}
	case l.BudgetUSD == 0 && l.BudgetPeriod != "" && l.BudgetPeriod != store.PeriodDay && l.BudgetPeriod != store.PeriodMonth:
		return &FieldError{"budget_period", `must be "day" or "month"`}
	}
	return nil
}

// TenantSpec describes a tenant to create.
type TenantSpec struct {
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata"`
	Limits
}

// CreateTenant creates a tenant; a duplicate name is store.ErrConflict.
func (s *Service) CreateTenant(ctx context.Context, spec TenantSpec) (*store.Tenant, error) {
	if !tenantName.MatchString(spec.Name) {
		return nil, &FieldError{"name", "required: 1-63 letters, digits, '.', '_' or '-'"}
	}
	if err := spec.Limits.validate(); err != nil {
		return nil, err
	}
	t := &store.Tenant{Name: spec.Name, Metadata: spec.Metadata, RPM: spec.RPM, TPM: spec.TPM, MaxStreams: spec.MaxStreams,
		BudgetUSD: spec.BudgetUSD, BudgetPeriod: spec.BudgetPeriod, CreatedAt: s.now(), UpdatedAt: s.now()}
	if err := s.Store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// Tenant finds a tenant by id or name.
func (s *Service) Tenant(ctx context.Context, idOrName string) (*store.Tenant, error) {
	t, err := s.Store.TenantByID(ctx, idOrName)
	if errors.Is(err, store.ErrNotFound) {
		return s.Store.TenantByName(ctx, idOrName)
	}
	return t, err
}

// EnsureTenant returns the named tenant, creating it if missing.
func (s *Service) EnsureTenant(ctx context.Context, name string) (*store.Tenant, error) {
	t, err := s.Store.TenantByName(ctx, name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	t, err = s.CreateTenant(ctx, TenantSpec{Name: name})
	if errors.Is(err, store.ErrConflict) {
		return s.Store.TenantByName(ctx, name)
	}
	return t, err
}

// TenantUpdate changes some of a tenant's fields; nil fields stay.
type TenantUpdate struct {
	Disabled *bool             `json:"disabled"`
	Metadata map[string]string `json:"metadata"`
	// Labels sets single metadata entries, keeping the others; an empty
	// value removes its entry. Applied after Metadata.
	Labels       map[string]string `json:"labels"`
	RPM          *int              `json:"rpm"`
	TPM          *int              `json:"tpm"`
	MaxStreams   *int              `json:"max_streams"`
	BudgetUSD    *float64          `json:"budget_usd"`
	BudgetPeriod *string           `json:"budget_period"`
}

// UpdateTenant applies u to the tenant idOrName.
func (s *Service) UpdateTenant(ctx context.Context, idOrName string, u TenantUpdate) (*store.Tenant, error) {
	t, err := s.Tenant(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	if u.Disabled != nil {
		t.Disabled = *u.Disabled
	}
	if u.Metadata != nil {
		t.Metadata = u.Metadata
	}
	if len(u.Labels) > 0 {
		md := make(map[string]string, len(t.Metadata)+len(u.Labels))
		for k, v := range t.Metadata {
			md[k] = v
		}
		for k, v := range u.Labels {
			if k == "" {
				return nil, &FieldError{"labels", "a label needs a name"}
			}
			if v == "" {
				delete(md, k)
			} else {
				md[k] = v
			}
		}
		t.Metadata = md
	}
	set(&t.RPM, u.RPM)
	set(&t.TPM, u.TPM)
	set(&t.MaxStreams, u.MaxStreams)
	if u.BudgetUSD != nil {
		t.BudgetUSD = *u.BudgetUSD
	}
	if u.BudgetPeriod != nil {
		t.BudgetPeriod = *u.BudgetPeriod
	}
	l := Limits{RPM: t.RPM, TPM: t.TPM, MaxStreams: t.MaxStreams, BudgetUSD: t.BudgetUSD, BudgetPeriod: t.BudgetPeriod}
	if err := l.validate(); err != nil {
		return nil, err
	}
	t.UpdatedAt = s.now()
	if err := s.Store.UpdateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// KeySpec describes a key to issue.
type KeySpec struct {
	// Tenant is the owning tenant's name or id.
	Tenant string `json:"tenant"`
	// CreateTenant makes the tenant when it does not exist (the CLI's
	// bootstrap mode).
	CreateTenant  bool              `json:"create_tenant"`
	Name          string            `json:"name"`
	ExpiresAt     *time.Time        `json:"expires_at"`
	AllowedModels []string          `json:"allowed_models"`
	Metadata      map[string]string `json:"metadata"`
	Limits
}

// Issued is a freshly issued key: the only time its secrets are shown.
type Issued struct {
	Key                *store.Key
	Secret             string
	AWSAccessKeyID     string
	AWSSecretAccessKey string
}

// IssueKey creates a key (and, with a sealer, its AWS-style pair).
func (s *Service) IssueKey(ctx context.Context, spec KeySpec) (*Issued, error) {
	if spec.Tenant == "" {
		return nil, &FieldError{"tenant", "required"}
	}
	if err := spec.Limits.validate(); err != nil {
		return nil, err
	}
	for i, g := range spec.AllowedModels {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return nil, &FieldError{fmt.Sprintf("allowed_models[%d]", i), fmt.Sprintf("invalid glob %q", g)}
		}
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(s.now()) {
		return nil, &FieldError{"expires_at", "must be in the future"}
	}
	var t *store.Tenant
	var err error
	if spec.CreateTenant {
		t, err = s.EnsureTenant(ctx, spec.Tenant)
	} else {
		t, err = s.Tenant(ctx, spec.Tenant)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &FieldError{"tenant", fmt.Sprintf("no tenant %q", spec.Tenant)}
		}
	}
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, t, spec, "")
}

// IssueFixedKey stores a caller-chosen secret (the demo's -key) for the
// tenant, or returns the existing key when that secret is already stored.
func (s *Service) IssueFixedKey(ctx context.Context, tenant, secret string) (*Issued, error) {
	t, err := s.EnsureTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if k, err := s.Store.KeyByHash(ctx, auth.HashKey(secret)); err == nil {
		if k.RevokedAt != nil {
			return nil, fmt.Errorf("key %s is revoked", k.ID)
		}
		return &Issued{Key: k, Secret: secret}, nil
	}
	return s.issue(ctx, t, KeySpec{Name: tenant}, secret)
}

func (s *Service) issue(ctx context.Context, t *store.Tenant, spec KeySpec, secret string) (*Issued, error) {
	var hash []byte
	var prefix string
	if secret == "" {
		var err error
		if secret, hash, prefix, err = auth.NewKey(); err != nil {
			return nil, err
		}
	} else {
		hash, prefix = auth.HashKey(secret), secret[:min(len(secret), 10)]
	}
	k := &store.Key{TenantID: t.ID, Name: spec.Name, Hash: hash, Prefix: prefix, CreatedAt: s.now(),
		ExpiresAt: spec.ExpiresAt, AllowedModels: spec.AllowedModels, Metadata: spec.Metadata,
		RPM: spec.RPM, TPM: spec.TPM, MaxStreams: spec.MaxStreams, BudgetUSD: spec.BudgetUSD, BudgetPeriod: spec.BudgetPeriod}
	out := &Issued{Key: k, Secret: secret}
	if s.Sealer != nil {
		akid, awsSecret, err := auth.NewAWSKeyPair()
		if err != nil {
			return nil, err
		}
		sealed, err := s.Sealer.Seal([]byte(awsSecret))
		if err != nil {
			return nil, err
		}
		k.AWSAccessKeyID, k.AWSSecretSealed = akid, sealed
		out.AWSAccessKeyID, out.AWSSecretAccessKey = akid, awsSecret
	}
	if err := s.Store.CreateKey(ctx, k); err != nil {
		return nil, fmt.Errorf("creating key: %w", err)
	}
	return out, nil
}

// FindKey resolves a key id, or a whole secret (sk-sy-...), to its key.
func (s *Service) FindKey(ctx context.Context, idOrSecret string) (*store.Key, error) {
	if len(idOrSecret) > 6 && idOrSecret[:6] == "sk-sy-" {
		return s.Store.KeyByHash(ctx, auth.HashKey(idOrSecret))
	}
	return s.Store.KeyByID(ctx, idOrSecret)
}

// RevokeKey revokes a key by id or secret.
func (s *Service) RevokeKey(ctx context.Context, idOrSecret string) (*store.Key, error) {
	k, err := s.FindKey(ctx, idOrSecret)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt == nil {
		if err := s.Store.RevokeKey(ctx, k.ID, s.now()); err != nil {
			return nil, err
		}
	}
	return s.Store.KeyByID(ctx, k.ID)
}

// RotateKey issues a new key with the old one's settings and revokes the
// old one.
//
// The two steps are not one transaction: Store has no transaction that
// spans them. The order makes every failure safe instead: the new key is
// created first, so a failure there leaves the old key working and nothing
// else; if revoking the old key then fails, the new key is revoked again
// before the error is returned, so the caller never ends up with two live
// keys, and a new key whose secret was never shown can do nothing even if
// that revocation fails too.
func (s *Service) RotateKey(ctx context.Context, idOrSecret string) (*Issued, error) {
	old, err := s.FindKey(ctx, idOrSecret)
	if err != nil {
		return nil, err
	}
	if old.RevokedAt != nil {
		return nil, &FieldError{"key", "is revoked; issue a new key instead"}
	}
	t, err := s.Store.TenantByID(ctx, old.TenantID)
	if err != nil {
		return nil, err
	}
	spec := KeySpec{Name: old.Name, ExpiresAt: old.ExpiresAt, AllowedModels: old.AllowedModels, Metadata: old.Metadata,
		Limits: Limits{RPM: old.RPM, TPM: old.TPM, MaxStreams: old.MaxStreams, BudgetUSD: old.BudgetUSD, BudgetPeriod: old.BudgetPeriod}}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(s.now()) {
		spec.ExpiresAt = nil
	}
	issued, err := s.issue(ctx, t, spec, "")
	if err != nil {
		return nil, err
	}
	if err := s.Store.RevokeKey(ctx, old.ID, s.now()); err != nil {
		if undo := s.Store.RevokeKey(ctx, issued.Key.ID, s.now()); undo != nil {
			err = errors.Join(err, fmt.Errorf("revoking the new key %s: %w", issued.Key.ID, undo))
		}
		return nil, fmt.Errorf("rotating key %s: revoking it: %w", old.ID, err)
	}
	return issued, nil
}
