-- Hourly rollup of the usage ledger.
--
-- Raw usage_records rows are folded into usage_hourly once their hour is
-- complete, and marked rolled in the same transaction, so every request is
-- counted exactly once: by its hour's aggregate when rolled, by its raw row
-- otherwise. A row that arrives late for an hour already rolled (a replica
-- flushing after a crash) is simply not rolled yet; the next rollup adds it
-- to that hour's aggregate. Only rolled rows are ever pruned.
--
-- The statements are IF NOT EXISTS where the engines allow it, so that
-- replaying this migration after usage_records was rebuilt is harmless.

ALTER TABLE usage_records ADD COLUMN rolled {{bool}} NOT NULL DEFAULT FALSE;

-- The rows the next rollup will take and that sums read raw: the current
-- hour and late arrivals. Queries repeat the predicate as written here so
-- that both engines use the partial index.
CREATE INDEX IF NOT EXISTS usage_records_unrolled_idx ON usage_records (created_at) WHERE NOT rolled;

-- One row per hour and combination of everything a usage summary can be
-- filtered or grouped by. contracts is the request's contract list as
-- stored in usage_records; status_class is 'ok' or 'error' (a record with
-- an error kind or a status of 400 or above), and errors always equals
-- requests on 'error' rows.
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour_start          {{timestamp}} NOT NULL,
    tenant_id           TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    model               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    traffic             TEXT NOT NULL,
    contracts           TEXT NOT NULL,
    status_class        TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    errors              BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nano_usd       BIGINT NOT NULL,
    latency_ns          BIGINT NOT NULL,
    PRIMARY KEY (hour_start, tenant_id, key_id, model, provider, traffic, contracts, status_class)
);

CREATE INDEX IF NOT EXISTS usage_hourly_tenant_idx ON usage_hourly (tenant_id, hour_start);
CREATE INDEX IF NOT EXISTS usage_hourly_key_idx ON usage_hourly (key_id, hour_start);

-- The rollup's single state row, which rollups and prunes lock to run one
-- at a time. rolled_until is the hour boundary below which the last rollup
-- left no raw row unrolled; pruned_before is the hour boundary below which
-- raw rows may have been pruned. Both are NULL until the first run.
CREATE TABLE IF NOT EXISTS usage_rollup_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_until  {{timestamp}},
    pruned_before {{timestamp}}
);

INSERT INTO usage_rollup_state (id) VALUES (1) ON CONFLICT DO NOTHING;
