-- The alert outbox: one row per alert and webhook endpoint. The unique
-- alert_key (kind, subject, threshold, period, endpoint) makes an alert
-- raised by several replicas, or again after a restart, a single row;
-- the replica whose insert wins holds its lease and delivers it. A
-- pending row (neither delivered nor given up) whose lease has lapsed is
-- taken over by any replica.

CREATE TABLE IF NOT EXISTS alert_outbox (
    id           TEXT PRIMARY KEY,
    alert_key    TEXT NOT NULL UNIQUE,
    endpoint     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   {{timestamp}} NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  {{timestamp}},
    delivered_at {{timestamp}},
    gave_up_at   {{timestamp}},
    last_error   TEXT NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS alert_outbox_pending_idx ON alert_outbox (delivered_at, gave_up_at, lease_until);
