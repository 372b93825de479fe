package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"switchyard/internal/store"
)

const keyColumns = `id, tenant_id, name, hash, prefix, created_at, expires_at, revoked_at, allowed_models, metadata,
rpm, tpm, max_streams, budget_usd, budget_period, aws_access_key_id, aws_secret_sealed`

// CreateKey stores a new key for an existing tenant. An empty ID is
// generated ("key_…"), a zero CreatedAt is set to now, and on success k
// holds the stored values. A key whose tenant does not exist is
// store.ErrNotFound; a duplicate ID, hash or AWS access key ID is
// store.ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k *store.Key) error {
	if err := validateKey(k); err != nil {
		return err
	}
	row := *k
	if row.ID == "" {
		row.ID = newID("key_")
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = s.now()
	}
	row.CreatedAt = row.CreatedAt.Truncate(time.Microsecond).UTC()
	row.ExpiresAt = truncPtr(row.ExpiresAt)
	row.RevokedAt = truncPtr(row.RevokedAt)
	models, err := encodeList(row.AllowedModels)
	if err != nil {
		return fmt.Errorf("encoding allowed models: %w", err)
	}
	meta, err := encodeMap(row.Metadata)
	if err != nil {
		return fmt.Errorf("encoding key metadata: %w", err)
	}
	_, err = s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO api_keys (`+keyColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		row.ID, row.TenantID, row.Name, row.Hash, row.Prefix,
		s.d.dbTime(row.CreatedAt), s.d.dbTimePtr(row.ExpiresAt), s.d.dbTimePtr(row.RevokedAt),
		models, meta, row.RPM, row.TPM, row.MaxStreams, row.BudgetUSD, row.BudgetPeriod,
		nullString(row.AWSAccessKeyID), nullBytes(row.AWSSecretSealed))
	if err != nil {
		switch s.d.constraint(err) {
		case constraintUnique:
			return fmt.Errorf("creating key %q: ID, hash or access key ID already in use: %w", row.ID, store.ErrConflict)
		case constraintForeignKey:
			return fmt.Errorf("creating key %q: tenant %q: %w", row.ID, row.TenantID, store.ErrNotFound)
		}
		return fmt.Errorf("creating key %q: %w", row.ID, err)
	}
	*k = row
	return nil
}

// KeyByHash returns the key whose secret hashes to hash, or
// store.ErrNotFound.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (*store.Key, error) {
	if len(hash) == 0 {
		return nil, fmt.Errorf("key by hash: %w", store.ErrNotFound)
	}
	return s.keyWhere(ctx, "hash", hash)
}

// KeyByID returns the key with the given ID, or store.ErrNotFound.
func (s *Store) KeyByID(ctx context.Context, id string) (*store.Key, error) {
	return s.keyWhere(ctx, "id", id)
}

// KeyByAccessKeyID returns the key with the given AWS access key ID, or
// store.ErrNotFound.
func (s *Store) KeyByAccessKeyID(ctx context.Context, akid string) (*store.Key, error) {
	if akid == "" {
		return nil, fmt.Errorf("key by access key ID: %w", store.ErrNotFound)
	}
	return s.keyWhere(ctx, "aws_access_key_id", akid)
}

// keyWhere reads the key whose column col (a constant) equals v. Errors
// never include v, which may be secret material.
func (s *Store) keyWhere(ctx context.Context, col string, v any) (*store.Key, error) {
	row := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+keyColumns+` FROM api_keys WHERE `+col+` = ?`), v)
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key by %s: %w", col, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading key by %s: %w", col, err)
	}
	return k, nil
}

// ListKeys returns the keys of one tenant, or of every tenant when tenantID
// is empty, oldest first.
func (s *Store) ListKeys(ctx context.Context, tenantID string) ([]store.Key, error) {
	q, args := `SELECT `+keyColumns+` FROM api_keys`, []any(nil)
	if tenantID != "" {
		q += ` WHERE tenant_id = ?`
		args = append(args, tenantID)
	}
	q += ` ORDER BY created_at, id`
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	defer rows.Close()
	var ks []store.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("listing keys: %w", err)
		}
		ks = append(ks, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return ks, nil
}

// RevokeKey marks the key revoked as of at. Revoking a revoked key keeps
// its first revocation time. An unknown ID is store.ErrNotFound.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`),
		s.d.dbTime(at), id)
	if err != nil {
		return fmt.Errorf("revoking key %q: %w", id, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("revoking key %q: %w", id, err)
	}
	return nil
}

func validateKey(k *store.Key) error {
	switch {
	case k.TenantID == "":
		return fmt.Errorf("key: empty tenant ID: %w", store.ErrInvalid)
	case len(k.Hash) != sha256.Size:
		return fmt.Errorf("key: hash must be a %d-byte SHA-256, got %d bytes: %w", sha256.Size, len(k.Hash), store.ErrInvalid)
	case k.RPM < 0 || k.TPM < 0 || k.MaxStreams < 0 || k.BudgetUSD < 0:
		return fmt.Errorf("key: negative limit or budget: %w", store.ErrInvalid)
	case !store.ValidPeriod(k.BudgetPeriod):
		return fmt.Errorf("key: budget period %q: %w", k.BudgetPeriod, store.ErrInvalid)
	case (k.AWSAccessKeyID == "") != (len(k.AWSSecretSealed) == 0):
		return fmt.Errorf("key: AWS access key ID and sealed secret must be set together: %w", store.ErrInvalid)
	}
	return nil
}

func scanKey(sc scanner) (*store.Key, error) {
	var (
		k              store.Key
		models, meta   string
		akid           sql.NullString
		sealed, hashed []byte
	)
	err := sc.Scan(&k.ID, &k.TenantID, &k.Name, &hashed, &k.Prefix,
		timeColumn{t: &k.CreatedAt}, timeColumn{ptr: &k.ExpiresAt}, timeColumn{ptr: &k.RevokedAt},
		&models, &meta, &k.RPM, &k.TPM, &k.MaxStreams, &k.BudgetUSD, &k.BudgetPeriod, &akid, &sealed)
	if err != nil {
		return nil, err
	}
	k.Hash = hashed
	k.AWSAccessKeyID = akid.String
	if len(sealed) > 0 {
		k.AWSSecretSealed = sealed
	}
	if err := decodeJSON(models, &k.AllowedModels); err != nil {
		return nil, fmt.Errorf("decoding allowed models of key %q: %w", k.ID, err)
	}
	if err := decodeJSON(meta, &k.Metadata); err != nil {
		return nil, fmt.Errorf("decoding metadata of key %q: %w", k.ID, err)
	}
	return &k, nil
}

// truncPtr returns a copy of *t truncated to the microsecond, in UTC.
func truncPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Truncate(time.Microsecond).UTC()
	return &v
}

// nullBytes stores an empty byte slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
