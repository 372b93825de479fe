-- Tenants, their client keys and the usage ledger.
--
-- Column types written as double-brace tokens are replaced per engine (see
-- dialect.go); everything else is the SQL subset SQLite and Postgres share.
-- Timestamps keep microseconds, JSON values are TEXT, and money is stored
-- as integer nano-dollars so that sums are exact.

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    disabled      {{bool}} NOT NULL,
    metadata      TEXT NOT NULL,
    rpm           BIGINT NOT NULL,
    tpm           BIGINT NOT NULL,
    max_streams   BIGINT NOT NULL,
    budget_usd    DOUBLE PRECISION NOT NULL,
    budget_period TEXT NOT NULL,
    created_at    {{timestamp}} NOT NULL,
    updated_at    {{timestamp}} NOT NULL
);

CREATE TABLE api_keys (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    name              TEXT NOT NULL,
    hash              {{bytes}} NOT NULL UNIQUE,
    prefix            TEXT NOT NULL,
    created_at        {{timestamp}} NOT NULL,
    expires_at        {{timestamp}},
    revoked_at        {{timestamp}},
    allowed_models    TEXT NOT NULL,
    metadata          TEXT NOT NULL,
    rpm               BIGINT NOT NULL,
    tpm               BIGINT NOT NULL,
    max_streams       BIGINT NOT NULL,
    budget_usd        DOUBLE PRECISION NOT NULL,
    budget_period     TEXT NOT NULL,
    -- NULL when the key has no SigV4 credentials; unique otherwise.
    aws_access_key_id TEXT UNIQUE,
    aws_secret_sealed {{bytes}}
);

CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at);

-- The ledger has no foreign keys: a usage record is never refused because
-- the tenant or key it names has changed since the request.
CREATE TABLE usage_records (
    id                  {{serial_pk}},
    -- NULL when the request had no ID; at most one record per ID otherwise.
    request_id          TEXT UNIQUE,
    tenant_id           TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    model               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    upstream_model      TEXT NOT NULL,
    dialect             TEXT NOT NULL,
    endpoint            TEXT NOT NULL,
    traffic             TEXT NOT NULL,
    stream              {{bool}} NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nano_usd       BIGINT NOT NULL,
    latency_ns          BIGINT NOT NULL,
    ttfb_ns             BIGINT NOT NULL,
    status              INTEGER NOT NULL,
    error_kind          TEXT NOT NULL,
    attempts            INTEGER NOT NULL,
    route               TEXT NOT NULL,
    contracts           TEXT NOT NULL,
    created_at          {{timestamp}} NOT NULL
);

CREATE INDEX usage_records_created_idx ON usage_records (created_at);
CREATE INDEX usage_records_tenant_created_idx ON usage_records (tenant_id, created_at);
CREATE INDEX usage_records_key_created_idx ON usage_records (key_id, created_at);
