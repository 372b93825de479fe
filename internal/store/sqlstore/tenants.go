package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchyard/internal/store"
)

const tenantColumns = `id, name, disabled, metadata, rpm, tpm, max_streams, budget_usd, budget_period, created_at, updated_at, allowed_cidrs`

// CreateTenant stores a new tenant. An empty ID is generated ("ten_…"),
// zero CreatedAt and UpdatedAt are set to now, and on success t holds the
// stored values (timestamps in UTC, to the microsecond). A duplicate name
// or ID is store.ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t *store.Tenant) error {
	if err := validateTenant(t); err != nil {
		return err
	}
	row := *t
	if row.ID == "" {
		row.ID = newID("ten_")
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = s.now()
	}
	if row.UpdatedAt.IsZero() {
		row.UpdatedAt = row.CreatedAt
	}
	row.CreatedAt = row.CreatedAt.Truncate(time.Microsecond).UTC()
	row.UpdatedAt = row.UpdatedAt.Truncate(time.Microsecond).UTC()
	meta, err := encodeMap(row.Metadata)
	if err != nil {
		return fmt.Errorf("encoding tenant metadata: %w", err)
	}
	cidrs, err := encodeList(row.AllowedCIDRs)
	if err != nil {
		return fmt.Errorf("encoding allowed CIDRs: %w", err)
	}
	_, err = s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO tenants (`+tenantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		row.ID, row.Name, row.Disabled, meta, row.RPM, row.TPM, row.MaxStreams, row.BudgetUSD, row.BudgetPeriod,
		s.d.dbTime(row.CreatedAt), s.d.dbTime(row.UpdatedAt), cidrs)
	if err != nil {
		if s.d.constraint(err) == constraintUnique {
			return fmt.Errorf("creating tenant %q: %w", row.Name, store.ErrConflict)
		}
		return fmt.Errorf("creating tenant %q: %w", row.Name, err)
	}
	*t = row
	return nil
}

// TenantByID returns the tenant with the given ID, or store.ErrNotFound.
func (s *Store) TenantByID(ctx context.Context, id string) (*store.Tenant, error) {
	return s.tenantWhere(ctx, "id", id)
}

// TenantByName returns the tenant with the given name, or
// store.ErrNotFound.
func (s *Store) TenantByName(ctx context.Context, name string) (*store.Tenant, error) {
	return s.tenantWhere(ctx, "name", name)
}

// tenantWhere reads the tenant whose column col (a constant) equals v.
func (s *Store) tenantWhere(ctx context.Context, col, v string) (*store.Tenant, error) {
	row := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+tenantColumns+` FROM tenants WHERE `+col+` = ?`), v)
	t, err := scanTenant(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tenant %s %q: %w", col, v, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading tenant %s %q: %w", col, v, err)
	}
	return t, nil
}

// ListTenants returns every tenant, ordered by name.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing tenants: %w", err)
	}
	defer rows.Close()
	var ts []store.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tenants: %w", err)
		}
		ts = append(ts, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tenants: %w", err)
	}
	return ts, nil
}

// UpdateTenant writes every field of t except CreatedAt to the tenant with
// t.ID and sets t.UpdatedAt to now. An unknown ID is store.ErrNotFound; a
// name taken by another tenant is store.ErrConflict.
func (s *Store) UpdateTenant(ctx context.Context, t *store.Tenant) error {
	if t.ID == "" {
		return fmt.Errorf("updating tenant: empty ID: %w", store.ErrInvalid)
	}
	if err := validateTenant(t); err != nil {
		return err
	}
	meta, err := encodeMap(t.Metadata)
	if err != nil {
		return fmt.Errorf("encoding tenant metadata: %w", err)
	}
	cidrs, err := encodeList(t.AllowedCIDRs)
	if err != nil {
		return fmt.Errorf("encoding allowed CIDRs: %w", err)
	}
	updated := s.now().Truncate(time.Microsecond).UTC()
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE tenants SET name = ?, disabled = ?, metadata = ?, rpm = ?, tpm = ?,
max_streams = ?, budget_usd = ?, budget_period = ?, updated_at = ?, allowed_cidrs = ? WHERE id = ?`),
		t.Name, t.Disabled, meta, t.RPM, t.TPM, t.MaxStreams, t.BudgetUSD, t.BudgetPeriod, s.d.dbTime(updated), cidrs, t.ID)
	if err != nil {
		if s.d.constraint(err) == constraintUnique {
			return fmt.Errorf("updating tenant %q: name %q: %w", t.ID, t.Name, store.ErrConflict)
		}
		return fmt.Errorf("updating tenant %q: %w", t.ID, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("updating tenant %q: %w", t.ID, err)
	}
	t.UpdatedAt = updated
	return nil
}

func validateTenant(t *store.Tenant) error {
	switch {
	case t.Name == "":
		return fmt.Errorf("tenant: empty name: %w", store.ErrInvalid)
	case t.RPM < 0 || t.TPM < 0 || t.MaxStreams < 0 || t.BudgetUSD < 0:
		return fmt.Errorf("tenant %q: negative limit or budget: %w", t.Name, store.ErrInvalid)
	case !store.ValidPeriod(t.BudgetPeriod):
		return fmt.Errorf("tenant %q: budget period %q: %w", t.Name, t.BudgetPeriod, store.ErrInvalid)
	}
	return validateCIDRs("tenant "+t.Name, t.AllowedCIDRs)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanTenant(sc scanner) (*store.Tenant, error) {
	var (
		t           store.Tenant
		meta, cidrs string
	)
	err := sc.Scan(&t.ID, &t.Name, &t.Disabled, &meta, &t.RPM, &t.TPM, &t.MaxStreams, &t.BudgetUSD, &t.BudgetPeriod,
		timeColumn{t: &t.CreatedAt}, timeColumn{t: &t.UpdatedAt}, &cidrs)
	if err != nil {
		return nil, err
	}
	if err := decodeJSON(cidrs, &t.AllowedCIDRs); err != nil {
		return nil, fmt.Errorf("decoding allowed CIDRs of tenant %q: %w", t.ID, err)
	}
	if err := decodeJSON(meta, &t.Metadata); err != nil {
		return nil, fmt.Errorf("decoding metadata of tenant %q: %w", t.ID, err)
	}
	return &t, nil
}

// expectOneRow turns an update that matched nothing into store.ErrNotFound.
func expectOneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// encodeMap encodes a map for a TEXT column; an empty map is stored as
// "{}" and read back as nil.
func encodeMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// encodeList encodes a list for a TEXT column; an empty list is stored as
// "[]" and read back as nil.
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeJSON decodes a TEXT column written by encodeMap or encodeList;
// empty values decode to nil.
func decodeJSON[T map[string]string | []string](s string, dst *T) error {
	if s == "{}" || s == "[]" {
		*dst = nil
		return nil
	}
	return json.Unmarshal([]byte(s), dst)
}
