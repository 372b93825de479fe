-- Scoped admin tokens and the audit log.
--
-- An admin token is stored as the SHA-256 of its secret; tenants is a
-- JSON list of the tenant names a tenant-admin token is scoped to.
CREATE TABLE IF NOT EXISTS admin_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    tenants     TEXT NOT NULL,
    hash        {{bytes}} NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  {{timestamp}} NOT NULL,
    revoked_at  {{timestamp}}
);

-- The audit log is append-only: rows are only ever inserted, seq counts
-- from 1 without gaps, and each row's hash covers the previous row's hash
-- and the row itself (store.AuditRecord.ChainHash). Appends are
-- serialised (Postgres: an advisory lock; SQLite: its write lock).
CREATE TABLE IF NOT EXISTS audit_log (
    seq         BIGINT PRIMARY KEY,
    at          {{timestamp}} NOT NULL,
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    change      TEXT NOT NULL,
    source      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    prev_hash   {{bytes}} NOT NULL,
    hash        {{bytes}} NOT NULL
);

CREATE INDEX IF NOT EXISTS audit_log_subject_idx ON audit_log (subject, seq);
CREATE INDEX IF NOT EXISTS audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX IF NOT EXISTS audit_log_target_idx ON audit_log (target, seq);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
