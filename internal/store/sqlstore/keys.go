package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"switchyard/internal/store"
)

const keyColumns = `id, tenant_id, name, hash, prefix, created_at, expires_at, revoked_at, allowed_models, metadata,
rpm, tpm, max_streams, budget_usd, budget_period, aws_access_key_id, aws_secret_sealed,
allowed_cidrs, last_used_at, rotated_at, previous_hash, previous_prefix, previous_aws_access_key_id,
previous_aws_secret_sealed, previous_until`

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
	cidrs, err := encodeList(row.AllowedCIDRs)
	if err != nil {
		return fmt.Errorf("encoding allowed CIDRs: %w", err)
	}
	// A new key has no previous secret and has never been used.
	row.Previous, row.LastUsedAt, row.RotatedAt = nil, nil, nil
	_, err = s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO api_keys (`+keyColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, '', NULL, NULL, NULL)`),
		row.ID, row.TenantID, row.Name, row.Hash, row.Prefix,
		s.d.dbTime(row.CreatedAt), s.d.dbTimePtr(row.ExpiresAt), s.d.dbTimePtr(row.RevokedAt),
		models, meta, row.RPM, row.TPM, row.MaxStreams, row.BudgetUSD, row.BudgetPeriod,
		nullString(row.AWSAccessKeyID), nullBytes(row.AWSSecretSealed), cidrs)
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

// KeyByHash returns the key whose secret, or whose previous secret still
// on record (see store.Key.Previous), hashes to hash, or
// store.ErrNotFound. The caller tells which by comparing the hashes, and
// checks the previous secret's grace window.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (*store.Key, error) {
	if len(hash) == 0 {
		return nil, fmt.Errorf("key by hash: %w", store.ErrNotFound)
	}
	return s.keyWhere(ctx, "hash", hash, "previous_hash")
}

// KeyByID returns the key with the given ID, or store.ErrNotFound.
func (s *Store) KeyByID(ctx context.Context, id string) (*store.Key, error) {
	return s.keyWhere(ctx, "id", id)
}

// KeyByAccessKeyID returns the key with the given AWS access key ID, or
// with it as its previous one still on record, or store.ErrNotFound.
func (s *Store) KeyByAccessKeyID(ctx context.Context, akid string) (*store.Key, error) {
	if akid == "" {
		return nil, fmt.Errorf("key by access key ID: %w", store.ErrNotFound)
	}
	return s.keyWhere(ctx, "aws_access_key_id", akid, "previous_aws_access_key_id")
}

// keyWhere reads the key whose column col (a constant), or else column
// alt when given, equals v. Errors never include v, which may be secret
// material.
func (s *Store) keyWhere(ctx context.Context, col string, v any, alt ...string) (*store.Key, error) {
	q, args := `SELECT `+keyColumns+` FROM api_keys WHERE `+col+` = ?`, []any{v}
	for _, a := range alt {
		// A UNION of two index lookups rather than an OR, which not every
		// engine answers from both indexes.
		q += ` UNION ALL SELECT ` + keyColumns + ` FROM api_keys WHERE ` + a + ` = ?`
		args = append(args, v)
	}
	row := s.r.QueryRowContext(ctx, s.d.rebind(q), args...)
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
	return validateCIDRs("key", k.AllowedCIDRs)
}

// validateCIDRs checks that every entry is a CIDR prefix without host
// bits set (10.0.0.0/8, not 10.1.2.3/8).
func validateCIDRs(what string, cidrs []string) error {
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err != nil || p != p.Masked() {
			return fmt.Errorf("%s: allowed CIDR %q: %w", what, c, store.ErrInvalid)
		}
	}
	return nil
}

func scanKey(sc scanner) (*store.Key, error) {
	var (
		k                    store.Key
		models, meta, cidrs  string
		akid, prevAKID       sql.NullString
		sealed, hashed       []byte
		prevHash, prevSealed []byte
		prevPrefix           string
		prevUntil            *time.Time
	)
	err := sc.Scan(&k.ID, &k.TenantID, &k.Name, &hashed, &k.Prefix,
		timeColumn{t: &k.CreatedAt}, timeColumn{ptr: &k.ExpiresAt}, timeColumn{ptr: &k.RevokedAt},
		&models, &meta, &k.RPM, &k.TPM, &k.MaxStreams, &k.BudgetUSD, &k.BudgetPeriod, &akid, &sealed,
		&cidrs, timeColumn{ptr: &k.LastUsedAt}, timeColumn{ptr: &k.RotatedAt}, &prevHash, &prevPrefix, &prevAKID,
		&prevSealed, timeColumn{ptr: &prevUntil})
	if err != nil {
		return nil, err
	}
	k.Hash = hashed
	k.AWSAccessKeyID = akid.String
	if len(sealed) > 0 {
		k.AWSSecretSealed = sealed
	}
	if len(prevHash) > 0 && prevUntil != nil {
		k.Previous = &store.PreviousSecret{Hash: prevHash, Prefix: prevPrefix, AWSAccessKeyID: prevAKID.String, Until: *prevUntil}
		if len(prevSealed) > 0 {
			k.Previous.AWSSecretSealed = prevSealed
		}
	}
	if err := decodeJSON(cidrs, &k.AllowedCIDRs); err != nil {
		return nil, fmt.Errorf("decoding allowed CIDRs of key %q: %w", k.ID, err)
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

// UpdateKey writes the editable fields of k to the key with k.ID: name,
// expiry, allowed models, labels (Metadata), allowed CIDRs, limits and
// budget. Its secrets, tenant, revocation and usage times are not
// touched. An unknown ID is store.ErrNotFound.
func (s *Store) UpdateKey(ctx context.Context, k *store.Key) error {
	if k.ID == "" {
		return fmt.Errorf("updating key: empty ID: %w", store.ErrInvalid)
	}
	if err := validateKey(k); err != nil {
		return err
	}
	models, err := encodeList(k.AllowedModels)
	if err != nil {
		return fmt.Errorf("encoding allowed models: %w", err)
	}
	meta, err := encodeMap(k.Metadata)
	if err != nil {
		return fmt.Errorf("encoding key metadata: %w", err)
	}
	cidrs, err := encodeList(k.AllowedCIDRs)
	if err != nil {
		return fmt.Errorf("encoding allowed CIDRs: %w", err)
	}
	k.ExpiresAt = truncPtr(k.ExpiresAt)
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET name = ?, expires_at = ?, allowed_models = ?, metadata = ?,
allowed_cidrs = ?, rpm = ?, tpm = ?, max_streams = ?, budget_usd = ?, budget_period = ? WHERE id = ?`),
		k.Name, s.d.dbTimePtr(k.ExpiresAt), models, meta, cidrs, k.RPM, k.TPM, k.MaxStreams, k.BudgetUSD, k.BudgetPeriod, k.ID)
	if err != nil {
		return fmt.Errorf("updating key %q: %w", k.ID, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("updating key %q: %w", k.ID, err)
	}
	return nil
}

// RotateKeySecret replaces the secret (and SigV4 pair) of the key with
// the given ID in one statement: the current secret becomes the key's
// previous one until r.GraceUntil when that is after r.At, and is dropped
// otherwise; a previous secret already on record is dropped either way.
// The key keeps its ID, and with it its limits, budget and usage. An
// unknown or revoked key is store.ErrNotFound; a new hash or access key
// ID already in use is store.ErrConflict.
func (s *Store) RotateKeySecret(ctx context.Context, id string, r store.Rotation) error {
	switch {
	case len(r.Hash) != sha256.Size:
		return fmt.Errorf("rotating key %q: hash must be a %d-byte SHA-256: %w", id, sha256.Size, store.ErrInvalid)
	case (r.AWSAccessKeyID == "") != (len(r.AWSSecretSealed) == 0):
		return fmt.Errorf("rotating key %q: AWS access key ID and sealed secret must be set together: %w", id, store.ErrInvalid)
	}
	at := r.At.Truncate(time.Microsecond).UTC()
	grace := r.GraceUntil.After(at)
	var until any
	if grace {
		until = s.d.dbTime(r.GraceUntil)
	}
	// Every right-hand side reads the row as it was before the update, in
	// both engines: the previous_* columns take the current secret.
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET
previous_hash = CASE WHEN ? THEN hash ELSE NULL END,
previous_prefix = CASE WHEN ? THEN prefix ELSE '' END,
previous_aws_access_key_id = CASE WHEN ? THEN aws_access_key_id ELSE NULL END,
previous_aws_secret_sealed = CASE WHEN ? THEN aws_secret_sealed ELSE NULL END,
previous_until = ?,
hash = ?, prefix = ?, aws_access_key_id = ?, aws_secret_sealed = ?, rotated_at = ?
WHERE id = ? AND revoked_at IS NULL`),
		grace, grace, grace, grace, until,
		r.Hash, r.Prefix, nullString(r.AWSAccessKeyID), nullBytes(r.AWSSecretSealed), s.d.dbTime(at), id)
	if err != nil {
		if s.d.constraint(err) == constraintUnique {
			return fmt.Errorf("rotating key %q: new hash or access key ID already in use: %w", id, store.ErrConflict)
		}
		return fmt.Errorf("rotating key %q: %w", id, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("rotating key %q (unknown or revoked): %w", id, err)
	}
	return nil
}

// TouchKeys records when keys were last used: each key's last_used_at
// becomes the given time unless it is already later. Unknown IDs are
// skipped. All of it is one transaction.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording key use: %w", err)
	}
	defer tx.Rollback()
	q := s.d.rebind(`UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	for id, at := range used {
		t := s.d.dbTime(at.UTC())
		if _, err := tx.ExecContext(ctx, q, t, id, t); err != nil {
			return fmt.Errorf("recording use of key %q: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording key use: %w", err)
	}
	return nil
}

// sealedColumns are the columns of api_keys that hold values sealed under
// the master key.
var sealedColumns = []string{"aws_secret_sealed", "previous_aws_secret_sealed"}

// ResealSecrets re-seals every value the store holds sealed under the
// master key, in one transaction: reseal gets each value and returns its
// replacement. If reseal fails for any value, or any write does, nothing
// is changed and the error is returned. Writers of sealed values wait
// for the transaction (Postgres locks api_keys against writes; SQLite
// holds its write lock from the start). It returns how many values were
// re-sealed.
func (s *Store) ResealSecrets(ctx context.Context, reseal func(store.Sealed) ([]byte, error)) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("re-sealing secrets: %w", err)
	}
	defer tx.Rollback()
	lock := `LOCK TABLE api_keys IN EXCLUSIVE MODE`
	if s.d.name == sqliteDialect.name {
		// A write, though it changes nothing, takes SQLite's write lock now
		// rather than at the first update, when another writer may hold it.
		lock = `UPDATE api_keys SET id = id WHERE 1 = 0`
	}
	if _, err := tx.ExecContext(ctx, lock); err != nil {
		return 0, fmt.Errorf("re-sealing secrets: locking keys: %w", err)
	}
	var all []store.Sealed
	for _, col := range sealedColumns {
		rows, err := tx.QueryContext(ctx, `SELECT id, `+col+` FROM api_keys WHERE `+col+` IS NOT NULL ORDER BY id`)
		if err != nil {
			return 0, fmt.Errorf("re-sealing secrets: reading %s: %w", col, err)
		}
		for rows.Next() {
			v := store.Sealed{Table: "api_keys", Column: col}
			if err := rows.Scan(&v.ID, &v.Value); err != nil {
				rows.Close()
				return 0, fmt.Errorf("re-sealing secrets: reading %s: %w", col, err)
			}
			if len(v.Value) > 0 {
				all = append(all, v)
			}
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("re-sealing secrets: reading %s: %w", col, err)
		}
	}
	for _, v := range all {
		next, err := reseal(v)
		if err != nil {
			return 0, fmt.Errorf("re-sealing %s of key %s: %w", v.Column, v.ID, err)
		}
		res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET `+v.Column+` = ? WHERE id = ?`), next, v.ID)
		if err != nil {
			return 0, fmt.Errorf("re-sealing %s of key %s: %w", v.Column, v.ID, err)
		}
		if err := expectOneRow(res); err != nil {
			return 0, fmt.Errorf("re-sealing %s of key %s: %w", v.Column, v.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("re-sealing secrets: %w", err)
	}
	return len(all), nil
}
