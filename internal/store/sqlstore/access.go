package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchyard/internal/store"
)

const adminTokenColumns = `id, name, role, tenants, hash, prefix, created_by, created_at, revoked_at`

// CreateAdminToken stores a new admin token. An empty ID is generated
// ("adm_…"), a zero CreatedAt is set to now, and on success t holds the
// stored values. A duplicate ID or hash is store.ErrConflict.
func (s *Store) CreateAdminToken(ctx context.Context, t *store.AdminToken) error {
	if len(t.Hash) != sha256.Size || t.Role == "" {
		return fmt.Errorf("admin token: needs a role and a SHA-256 hash: %w", store.ErrInvalid)
	}
	row := *t
	if row.ID == "" {
		row.ID = newID("adm_")
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = s.now()
	}
	row.CreatedAt = row.CreatedAt.Truncate(time.Microsecond).UTC()
	row.RevokedAt = truncPtr(row.RevokedAt)
	tenants, err := encodeList(row.Tenants)
	if err != nil {
		return fmt.Errorf("encoding admin token tenants: %w", err)
	}
	_, err = s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO admin_tokens (`+adminTokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		row.ID, row.Name, row.Role, tenants, row.Hash, row.Prefix, row.CreatedBy, s.d.dbTime(row.CreatedAt), s.d.dbTimePtr(row.RevokedAt))
	if err != nil {
		if s.d.constraint(err) == constraintUnique {
			return fmt.Errorf("creating admin token %q: %w", row.ID, store.ErrConflict)
		}
		return fmt.Errorf("creating admin token %q: %w", row.ID, err)
	}
	*t = row
	return nil
}

// AdminTokenByHash returns the admin token whose secret hashes to hash,
// revoked or not, or store.ErrNotFound.
func (s *Store) AdminTokenByHash(ctx context.Context, hash []byte) (*store.AdminToken, error) {
	if len(hash) == 0 {
		return nil, fmt.Errorf("admin token by hash: %w", store.ErrNotFound)
	}
	return s.adminTokenWhere(ctx, "hash", hash)
}

// AdminTokenByID returns the admin token with the given ID, or
// store.ErrNotFound.
func (s *Store) AdminTokenByID(ctx context.Context, id string) (*store.AdminToken, error) {
	return s.adminTokenWhere(ctx, "id", id)
}

func (s *Store) adminTokenWhere(ctx context.Context, col string, v any) (*store.AdminToken, error) {
	row := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+adminTokenColumns+` FROM admin_tokens WHERE `+col+` = ?`), v)
	t, err := scanAdminToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("admin token by %s: %w", col, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading admin token by %s: %w", col, err)
	}
	return t, nil
}

// ListAdminTokens returns every admin token, oldest first.
func (s *Store) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+adminTokenColumns+` FROM admin_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing admin tokens: %w", err)
	}
	defer rows.Close()
	var out []store.AdminToken
	for rows.Next() {
		t, err := scanAdminToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing admin tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing admin tokens: %w", err)
	}
	return out, nil
}

// RevokeAdminToken marks the token revoked as of at, keeping an earlier
// revocation time. An unknown ID is store.ErrNotFound.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`),
		s.d.dbTime(at), id)
	if err != nil {
		return fmt.Errorf("revoking admin token %q: %w", id, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("revoking admin token %q: %w", id, err)
	}
	return nil
}

func scanAdminToken(sc scanner) (*store.AdminToken, error) {
	var (
		t       store.AdminToken
		tenants string
		hash    []byte
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.Role, &tenants, &hash, &t.Prefix, &t.CreatedBy,
		timeColumn{t: &t.CreatedAt}, timeColumn{ptr: &t.RevokedAt}); err != nil {
		return nil, err
	}
	t.Hash = hash
	if err := decodeJSON(tenants, &t.Tenants); err != nil {
		return nil, fmt.Errorf("decoding tenants of admin token %q: %w", t.ID, err)
	}
	return &t, nil
}

const auditColumns = `seq, at, subject, role, action, target, outcome, change, source, request_id, prev_hash, hash`

// AppendAudit appends r to the audit chain: in one transaction that
// holds the chain's lock, it reads the last record, numbers r after it,
// links r to its hash and stores r with its own hash. On success r holds
// the stored values. Concurrent appends, from this process or any other
// on the same database, queue for the lock and form one chain.
func (s *Store) AppendAudit(ctx context.Context, r *store.AuditRecord) error {
	row := *r
	row.Time = row.Time.Truncate(time.Microsecond).UTC()
	if row.Time.IsZero() {
		row.Time = s.now().Truncate(time.Microsecond).UTC()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.auditLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.auditLock); err != nil {
				return fmt.Errorf("locking the audit chain: %w", err)
			}
		}
		var prevSeq int64
		var prevHash []byte
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prevHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading the audit chain's head: %w", err)
		}
		row.Seq, row.PrevHash = prevSeq+1, append([]byte{}, prevHash...)
		row.Hash = row.ChainHash(row.PrevHash)
		_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO audit_log (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			row.Seq, s.d.dbTime(row.Time), row.Subject, row.Role, row.Action, row.Target, row.Outcome, row.Change,
			row.Source, row.RequestID, row.PrevHash, row.Hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("appending to the audit log: %w", err)
	}
	*r = row
	return nil
}

// ListAudit returns a page of the audit log selected by f.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Subject != "" {
		add("subject = ?", f.Subject)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if !f.Since.IsZero() {
		add("at >= ?", s.d.dbTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", s.d.dbTime(f.Until))
	}
	if f.After > 0 {
		add("seq > ?", f.After)
	}
	if f.Before > 0 {
		add("seq < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 || limit > store.MaxAuditPage {
		limit = store.MaxAuditPage
	}
	q := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Ascending {
		q += ` ORDER BY seq ASC`
	} else {
		q += ` ORDER BY seq DESC`
	}
	q += fmt.Sprintf(` LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing the audit log: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		if err := rows.Scan(&r.Seq, timeColumn{t: &r.Time}, &r.Subject, &r.Role, &r.Action, &r.Target, &r.Outcome,
			&r.Change, &r.Source, &r.RequestID, &r.PrevHash, &r.Hash); err != nil {
			return nil, fmt.Errorf("listing the audit log: %w", err)
		}
		if r.PrevHash == nil {
			r.PrevHash = []byte{}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing the audit log: %w", err)
	}
	return out, nil
}
