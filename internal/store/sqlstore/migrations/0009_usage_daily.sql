-- Daily rollup of the usage ledger, beside the hourly one.
--
-- usage_daily holds, for each UTC day, exactly the sums of that day's
-- usage_hourly rows: every rollup batch adds the records it rolls to their
-- hour's row and to their day's row in the same transaction, so the two
-- never disagree, late arrivals included. Sums over long windows read the
-- whole days from here, the hours at a window's partial-day edges from
-- usage_hourly and only the records not rolled yet from usage_records.
CREATE TABLE IF NOT EXISTS usage_daily (
    day_start           {{timestamp}} NOT NULL,
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
    PRIMARY KEY (day_start, tenant_id, key_id, model, provider, traffic, contracts, status_class)
);

CREATE INDEX IF NOT EXISTS usage_daily_tenant_idx ON usage_daily (tenant_id, day_start);
CREATE INDEX IF NOT EXISTS usage_daily_key_idx ON usage_daily (key_id, day_start);

-- Backfill from the hourly rollup, holding the rollup state row (as every
-- rollup does) so that no rollup adds to usage_hourly meanwhile.
UPDATE usage_rollup_state SET rolled_until = rolled_until WHERE id = 1;

INSERT INTO usage_daily (day_start, tenant_id, key_id, model, provider, traffic, contracts, status_class,
    requests, errors, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, latency_ns)
SELECT {{day_of_hour_start}}, tenant_id, key_id, model, provider, traffic, contracts, status_class,
    SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens),
    SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(latency_ns)
FROM usage_hourly
GROUP BY {{day_of_hour_start}}, tenant_id, key_id, model, provider, traffic, contracts, status_class;
