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
	"log/slog"
	"path"
	"regexp"
	"strings"
	"time"

	"switchyard/internal/access"
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
	UpdateKey(ctx context.Context, k *store.Key) error
	RotateKeySecret(ctx context.Context, id string, r store.Rotation) error
	ResealSecrets(ctx context.Context, reseal func(store.Sealed) ([]byte, error)) (int, error)
	SumUsage(ctx context.Context, f store.UsageFilter, groupBy string) ([]store.UsageSummary, error)
	SumUsageByHour(ctx context.Context, f store.UsageFilter) ([]store.HourUsage, error)
	SumUsageByDay(ctx context.Context, f store.UsageFilter) ([]store.DayUsage, error)
	ListRequests(ctx context.Context, f store.RequestFilter) ([]store.UsageRecord, string, error)
	GetRequest(ctx context.Context, requestID string) (*store.UsageRecord, error)
	CreateAdminToken(ctx context.Context, t *store.AdminToken) error
	AdminTokenByHash(ctx context.Context, hash []byte) (*store.AdminToken, error)
	AdminTokenByID(ctx context.Context, id string) (*store.AdminToken, error)
	ListAdminTokens(ctx context.Context) ([]store.AdminToken, error)
	RevokeAdminToken(ctx context.Context, id string, at time.Time) error
	AppendAudit(ctx context.Context, r *store.AuditRecord) error
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error)
}

// Service issues, lists and revokes tenants, keys and admin tokens, and
// writes the audit log: every change it makes is recorded there, with the
// principal the context carries (access.FromContext), so that the admin
// API, the console and the CLI are recorded the same way. A tenant-admin
// principal sees only its own tenants: any other tenant, its keys, usage
// and requests are store.ErrNotFound to it.
type Service struct {
	Store Store
	// Logger receives every audit record as one line.
	Logger *slog.Logger
	// Sealer encrypts the AWS-style secret of each key; without it keys get
	// no AWS pair (SigV4 clients then use the key as a Bedrock API key).
	Sealer *auth.Sealer
	Now    func() time.Time
	// Changed, when set, is called after each change to a key or a
	// tenant made through the service (issue, revoke, rotate, update, a
	// master key rotation), so that what this process caches of them
	// (the authenticator's lookups) is read anew by the next request.
	Changed func()
}

// changed tells s.Changed of a change to a key or tenant.
func (s *Service) changed() {
	if s.Changed != nil {
		s.Changed()
	}
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
	// AllowedCIDRs are the networks the tenant's keys may be used from
	// (CIDR prefixes, IPv4 or IPv6); empty allows every address.
	AllowedCIDRs []string `json:"allowed_cidrs"`
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
	if err := validateCIDRs(spec.AllowedCIDRs); err != nil {
		return nil, err
	}
	if err := validateLabels(spec.Metadata); err != nil {
		return nil, err
	}
	t := &store.Tenant{Name: spec.Name, Metadata: spec.Metadata, RPM: spec.RPM, TPM: spec.TPM, MaxStreams: spec.MaxStreams,
		BudgetUSD: spec.BudgetUSD, BudgetPeriod: spec.BudgetPeriod, CreatedAt: s.now(), UpdatedAt: s.now(),
		AllowedCIDRs: spec.AllowedCIDRs}
	if err := s.Store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	s.record(ctx, access.TenantsCreate, store.AuditOK, t.Name, spec)
	return t, nil
}

// Tenant finds a tenant by id or name; a tenant the principal in ctx may
// not see is store.ErrNotFound.
func (s *Service) Tenant(ctx context.Context, idOrName string) (*store.Tenant, error) {
	t, err := s.Store.TenantByID(ctx, idOrName)
	if errors.Is(err, store.ErrNotFound) {
		t, err = s.Store.TenantByName(ctx, idOrName)
	}
	if err != nil {
		return nil, err
	}
	if !who(ctx).Sees(t.ID, t.Name) {
		return nil, fmt.Errorf("tenant %q: %w", idOrName, store.ErrNotFound)
	}
	return t, nil
}

// scopedTenant resolves the tenant a listing or report is filtered to:
// the one named, or for a tenant admin that names none its only tenant
// ("" for everyone else, meaning every tenant).
func (s *Service) scopedTenant(ctx context.Context, named string) (string, error) {
	p := who(ctx)
	if named == "" && p.Scoped() {
		if len(p.Tenants) != 1 {
			return "", &FieldError{"tenant", fmt.Sprintf("required: you administer several tenants (%s); name one", strings.Join(p.Tenants, ", "))}
		}
		named = p.Tenants[0]
	}
	if named == "" {
		return "", nil
	}
	t, err := s.Tenant(ctx, named)
	if err != nil {
		return "", err
	}
	return t.ID, nil
}

// keyVisible returns store.ErrNotFound for a key of a tenant the
// principal in ctx may not see.
func (s *Service) keyVisible(ctx context.Context, k *store.Key) error {
	p := who(ctx)
	if !p.Scoped() {
		return nil
	}
	t, err := s.Store.TenantByID(ctx, k.TenantID)
	if err != nil {
		return err
	}
	if !p.Sees(t.ID, t.Name) {
		return fmt.Errorf("key %s: %w", k.ID, store.ErrNotFound)
	}
	return nil
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
	Labels map[string]string `json:"labels"`
	LimitsUpdate
	// AllowedCIDRs replaces the tenant's IP allow-list; an empty list
	// removes it.
	AllowedCIDRs *[]string `json:"allowed_cidrs"`
}

// LimitsUpdate changes some of a tenant's or a key's limits; nil fields
// stay. Its members sit at the top level of the JSON body.
type LimitsUpdate struct {
	RPM          *int     `json:"rpm"`
	TPM          *int     `json:"tpm"`
	MaxStreams   *int     `json:"max_streams"`
	BudgetUSD    *float64 `json:"budget_usd"`
	BudgetPeriod *string  `json:"budget_period"`
}

// apply returns l with u's fields set.
func (u LimitsUpdate) apply(l Limits) Limits {
	for _, f := range []struct{ dst, v *int }{{&l.RPM, u.RPM}, {&l.TPM, u.TPM}, {&l.MaxStreams, u.MaxStreams}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if u.BudgetUSD != nil {
		l.BudgetUSD = *u.BudgetUSD
	}
	if u.BudgetPeriod != nil {
		l.BudgetPeriod = *u.BudgetPeriod
	}
	return l
}

// UpdateTenant applies u to the tenant idOrName.
func (s *Service) UpdateTenant(ctx context.Context, idOrName string, u TenantUpdate) (*store.Tenant, error) {
	t, err := s.Tenant(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	if u.Disabled != nil {
		t.Disabled = *u.Disabled
	}
	md, err := applyLabels(t.Metadata, u.Metadata, u.Labels)
	if err != nil {
		return nil, err
	}
	t.Metadata = md
	if u.AllowedCIDRs != nil {
		if err := validateCIDRs(*u.AllowedCIDRs); err != nil {
			return nil, err
		}
		t.AllowedCIDRs = *u.AllowedCIDRs
	}
	l := u.apply(Limits{RPM: t.RPM, TPM: t.TPM, MaxStreams: t.MaxStreams, BudgetUSD: t.BudgetUSD, BudgetPeriod: t.BudgetPeriod})
	t.RPM, t.TPM, t.MaxStreams, t.BudgetUSD, t.BudgetPeriod = l.RPM, l.TPM, l.MaxStreams, l.BudgetUSD, l.BudgetPeriod
	if err := l.validate(); err != nil {
		return nil, err
	}
	t.UpdatedAt = s.now()
	if err := s.Store.UpdateTenant(ctx, t); err != nil {
		return nil, err
	}
	s.changed()
	s.record(ctx, access.TenantsWrite, store.AuditOK, t.Name, u)
	return t, nil
}

// KeySpec describes a key to issue.
type KeySpec struct {
	// Tenant is the owning tenant's name or id.
	Tenant string `json:"tenant"`
	// CreateTenant makes the tenant when it does not exist (the CLI's
	// bootstrap mode).
	CreateTenant  bool       `json:"create_tenant"`
	Name          string     `json:"name"`
	ExpiresAt     *time.Time `json:"expires_at"`
	AllowedModels []string   `json:"allowed_models"`
	// Metadata holds the key's labels (team=search).
	Metadata map[string]string `json:"metadata"`
	// AllowedCIDRs are the networks the key may be used from, within its
	// tenant's (CIDR prefixes, IPv4 or IPv6); empty allows every address.
	AllowedCIDRs []string `json:"allowed_cidrs"`
	Limits
}

// Issued is a freshly issued (or rotated) key: the only time its secrets
// are shown.
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
	if err := validateGlobs(spec.AllowedModels); err != nil {
		return nil, err
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(s.now()) {
		return nil, &FieldError{"expires_at", "must be in the future"}
	}
	if err := validateCIDRs(spec.AllowedCIDRs); err != nil {
		return nil, err
	}
	if err := validateLabels(spec.Metadata); err != nil {
		return nil, err
	}
	var t *store.Tenant
	var err error
	// A role that may not create tenants issues keys for existing ones
	// only, whatever create_tenant says.
	if spec.CreateTenant && access.Allowed(who(ctx), access.TenantsCreate) {
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
	if who(ctx).Scoped() {
		if err := withinTenant(spec.Limits, t); err != nil {
			return nil, err
		}
	}
	iss, err := s.issue(ctx, t, spec, "")
	if err != nil {
		return nil, err
	}
	s.record(ctx, access.KeysWrite, store.AuditOK, iss.Key.ID, map[string]any{"op": "create", "tenant": t.Name,
		"name": spec.Name, "expires_at": spec.ExpiresAt, "allowed_models": spec.AllowedModels,
		"metadata": spec.Metadata, "limits": spec.Limits})
	return iss, nil
}

// withinTenant checks that a tenant admin's key limits stay within the
// tenant's own: where the tenant has a limit, the key must have one no
// larger.
func withinTenant(l Limits, t *store.Tenant) error {
	over := func(key, tenant int) bool { return tenant > 0 && (key == 0 || key > tenant) }
	switch {
	case over(l.RPM, t.RPM):
		return &FieldError{"rpm", fmt.Sprintf("must be 1 to the tenant's %d", t.RPM)}
	case over(l.TPM, t.TPM):
		return &FieldError{"tpm", fmt.Sprintf("must be 1 to the tenant's %d", t.TPM)}
	case over(l.MaxStreams, t.MaxStreams):
		return &FieldError{"max_streams", fmt.Sprintf("must be 1 to the tenant's %d", t.MaxStreams)}
	case t.BudgetUSD > 0 && (l.BudgetUSD == 0 || l.BudgetUSD > t.BudgetUSD):
		return &FieldError{"budget_usd", fmt.Sprintf("must be above 0 and at most the tenant's %g", t.BudgetUSD)}
	}
	return nil
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
		ExpiresAt: spec.ExpiresAt, AllowedModels: spec.AllowedModels, Metadata: spec.Metadata, AllowedCIDRs: spec.AllowedCIDRs,
		RPM: spec.RPM, TPM: spec.TPM, MaxStreams: spec.MaxStreams, BudgetUSD: spec.BudgetUSD, BudgetPeriod: spec.BudgetPeriod}
	out := &Issued{Key: k, Secret: secret}
	if s.Sealer != nil {
		var err error
		if out.AWSAccessKeyID, out.AWSSecretAccessKey, k.AWSSecretSealed, err = s.awsPair(); err != nil {
			return nil, err
		}
		k.AWSAccessKeyID = out.AWSAccessKeyID
	}
	if err := s.Store.CreateKey(ctx, k); err != nil {
		return nil, fmt.Errorf("creating key: %w", err)
	}
	// A fixed secret may have been presented, and its failure cached,
	// before it was issued.
	s.changed()
	return out, nil
}

// FindKey resolves a key id, or a whole secret (sk-sy-...), to its key;
// a key the principal in ctx may not see is store.ErrNotFound.
func (s *Service) FindKey(ctx context.Context, idOrSecret string) (*store.Key, error) {
	var k *store.Key
	var err error
	if len(idOrSecret) > 6 && idOrSecret[:6] == "sk-sy-" {
		k, err = s.Store.KeyByHash(ctx, auth.HashKey(idOrSecret))
	} else {
		k, err = s.Store.KeyByID(ctx, idOrSecret)
	}
	if err != nil {
		return nil, err
	}
	if err := s.keyVisible(ctx, k); err != nil {
		return nil, err
	}
	return k, nil
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
		s.changed()
		s.record(ctx, access.KeysWrite, store.AuditOK, k.ID, map[string]any{"op": "revoke"})
	}
	return s.Store.KeyByID(ctx, k.ID)
}

// awsPair makes a SigV4 key pair and seals its secret.
func (s *Service) awsPair() (akid, secret string, sealed []byte, err error) {
	if akid, secret, err = auth.NewAWSKeyPair(); err != nil {
		return "", "", nil, err
	}
	if sealed, err = s.Sealer.Seal([]byte(secret)); err != nil {
		return "", "", nil, err
	}
	return akid, secret, sealed, nil
}

// MaxRotationGrace bounds a rotation's grace window: long enough for any
// deployment to roll out a new secret, short enough that a forgotten old
// secret does not live on.
const MaxRotationGrace = 90 * 24 * time.Hour

// RotateKey gives a key a new secret (and, when the key has SigV4
// credentials, a new SigV4 pair), returned once. The key keeps its ID,
// and with it its settings, limits, budget, labels and usage. With a
// positive grace the old secret and pair keep working until grace has
// passed, then are refused; with none they stop at once. A secret still
// in the grace window of an earlier rotation stops at once either way.
// The change is one store write, so there is never a moment when
// neither secret works or a half-rotated key.
func (s *Service) RotateKey(ctx context.Context, idOrSecret string, grace time.Duration) (*Issued, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return nil, &FieldError{"grace", fmt.Sprintf("must be between 0 and %s", MaxRotationGrace)}
	}
	k, err := s.FindKey(ctx, idOrSecret)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, &FieldError{"key", "is revoked; issue a new key instead"}
	}
	secret, hash, prefix, err := auth.NewKey()
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := store.Rotation{Hash: hash, Prefix: prefix, At: now}
	if grace > 0 {
		r.GraceUntil = now.Add(grace)
	}
	out := &Issued{Secret: secret}
	switch {
	case s.Sealer != nil:
		if out.AWSAccessKeyID, out.AWSSecretAccessKey, r.AWSSecretSealed, err = s.awsPair(); err != nil {
			return nil, err
		}
		r.AWSAccessKeyID = out.AWSAccessKeyID
	case k.AWSAccessKeyID != "":
		// Rotating without a sealer would silently take the key's SigV4
		// pair away.
		return nil, fmt.Errorf("key %s has a SigV4 key pair, and a new one cannot be sealed without %s", k.ID, auth.MasterKeyEnv)
	}
	if err := s.Store.RotateKeySecret(ctx, k.ID, r); err != nil {
		return nil, err
	}
	s.changed()
	if out.Key, err = s.Store.KeyByID(ctx, k.ID); err != nil {
		return nil, err
	}
	s.record(ctx, access.KeysWrite, store.AuditOK, k.ID, map[string]any{"op": "rotate", "grace": grace.String()})
	return out, nil
}

// KeyUpdate changes some of a key's fields; nil fields stay.
type KeyUpdate struct {
	Name *string `json:"name"`
	// Metadata replaces the key's labels; Labels sets single ones,
	// keeping the others (an empty value removes its entry), after
	// Metadata.
	Metadata      map[string]string `json:"metadata"`
	Labels        map[string]string `json:"labels"`
	AllowedModels *[]string         `json:"allowed_models"`
	// AllowedCIDRs replaces the key's IP allow-list; an empty list
	// removes it.
	AllowedCIDRs *[]string `json:"allowed_cidrs"`
	LimitsUpdate
}

// UpdateKey applies u to the key named by id or secret. A revoked key
// can still be relabelled (its usage keeps being reported).
func (s *Service) UpdateKey(ctx context.Context, idOrSecret string, u KeyUpdate) (*store.Key, error) {
	k, err := s.FindKey(ctx, idOrSecret)
	if err != nil {
		return nil, err
	}
	if u.Name != nil {
		k.Name = *u.Name
	}
	if k.Metadata, err = applyLabels(k.Metadata, u.Metadata, u.Labels); err != nil {
		return nil, err
	}
	if u.AllowedModels != nil {
		if err := validateGlobs(*u.AllowedModels); err != nil {
			return nil, err
		}
		k.AllowedModels = *u.AllowedModels
	}
	if u.AllowedCIDRs != nil {
		if err := validateCIDRs(*u.AllowedCIDRs); err != nil {
			return nil, err
		}
		k.AllowedCIDRs = *u.AllowedCIDRs
	}
	l := u.apply(Limits{RPM: k.RPM, TPM: k.TPM, MaxStreams: k.MaxStreams, BudgetUSD: k.BudgetUSD, BudgetPeriod: k.BudgetPeriod})
	k.RPM, k.TPM, k.MaxStreams, k.BudgetUSD, k.BudgetPeriod = l.RPM, l.TPM, l.MaxStreams, l.BudgetUSD, l.BudgetPeriod
	if err := l.validate(); err != nil {
		return nil, err
	}
	if who(ctx).Scoped() {
		t, err := s.Store.TenantByID(ctx, k.TenantID)
		if err != nil {
			return nil, err
		}
		if err := withinTenant(l, t); err != nil {
			return nil, err
		}
	}
	if err := s.Store.UpdateKey(ctx, k); err != nil {
		return nil, err
	}
	s.changed()
	s.record(ctx, access.KeysWrite, store.AuditOK, k.ID, map[string]any{"op": "update", "change": u})
	return s.Store.KeyByID(ctx, k.ID)
}

// RotateMasterKey re-seals every stored secret, now sealed under old,
// under next, in one store transaction. It refuses, changing nothing,
// when old does not open every one of them (the wrong old key, or
// secrets already re-sealed). It returns how many secrets it re-sealed.
func (s *Service) RotateMasterKey(ctx context.Context, old, next *auth.Sealer) (int, error) {
	if old == nil || next == nil {
		return 0, errors.New("rotating the master key needs the old and the new key")
	}
	defer s.changed()
	return s.Store.ResealSecrets(ctx, func(v store.Sealed) ([]byte, error) {
		plain, err := old.Open(v.Value)
		if err != nil {
			return nil, fmt.Errorf("the old master key does not open it (nothing was changed): %w", err)
		}
		sealed, err := next.Seal(plain)
		if err != nil {
			return nil, err
		}
		if check, err := next.Open(sealed); err != nil || string(check) != string(plain) {
			return nil, errors.New("the new master key does not open what it sealed")
		}
		return sealed, nil
	})
}

// applyLabels returns md replaced by replace when that is not nil, then
// with set applied: each entry set, or removed when its value is empty.
// md itself is not changed.
func applyLabels(md, replace, set map[string]string) (map[string]string, error) {
	if replace != nil {
		if err := validateLabels(replace); err != nil {
			return nil, err
		}
		md = replace
	}
	if len(set) == 0 {
		return md, nil
	}
	out := make(map[string]string, len(md)+len(set))
	for k, v := range md {
		out[k] = v
	}
	for k, v := range set {
		if k == "" {
			return nil, &FieldError{"labels", "a label needs a name"}
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// validateLabels checks label names.
func validateLabels(md map[string]string) error {
	for k := range md {
		if k == "" {
			return &FieldError{"metadata", "a label needs a name"}
		}
	}
	return nil
}

// validateCIDRs checks an IP allow-list.
func validateCIDRs(cidrs []string) error {
	if _, err := auth.ParseCIDRs(cidrs); err != nil {
		return &FieldError{"allowed_cidrs", err.Error()}
	}
	return nil
}

// validateGlobs checks allowed-model patterns.
func validateGlobs(globs []string) error {
	for i, g := range globs {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return &FieldError{fmt.Sprintf("allowed_models[%d]", i), fmt.Sprintf("invalid glob %q", g)}
		}
	}
	return nil
}
