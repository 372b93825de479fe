-- The request log: the usage ledger's rows carry what a request did, and
-- captured payloads are kept apart under their own retention.
--
-- detail holds the routing strategy, the candidates with why each skipped
-- one was skipped, and every attempt, as JSON (empty on rows written
-- before this migration).

ALTER TABLE usage_records ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_records ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_records ADD COLUMN detail TEXT NOT NULL DEFAULT '';

-- Listings page newest first by (created_at, id); tenant and key already
-- have (column, created_at) indexes, model and channel get theirs here.
CREATE INDEX IF NOT EXISTS usage_records_model_created_idx ON usage_records (model, created_at);
CREATE INDEX IF NOT EXISTS usage_records_provider_created_idx ON usage_records (provider, created_at);

-- Captured payloads, already redacted, one per request ID. No foreign
-- key: a payload may outlive or predate its usage row's pruning.
CREATE TABLE IF NOT EXISTS request_payloads (
    request_id     TEXT PRIMARY KEY,
    request        TEXT NOT NULL,
    response       TEXT NOT NULL,
    request_bytes  BIGINT NOT NULL,
    response_bytes BIGINT NOT NULL,
    truncated      {{bool}} NOT NULL,
    created_at     {{timestamp}} NOT NULL
);

CREATE INDEX IF NOT EXISTS request_payloads_created_idx ON request_payloads (created_at);
