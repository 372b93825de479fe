-- Billed spend imported from the clouds' cost exports (reconcile -save):
-- one row per channel and UTC day an export covers, zero when the export
-- covers the day and bills nothing on the channel. A later export of the
-- same days replaces their rows. Commitments with burn_down: billed count
-- these days at their billed amount and the ledger's estimate after them.
CREATE TABLE IF NOT EXISTS billed_days (
    channel       TEXT NOT NULL,
    day_start     {{timestamp}} NOT NULL,
    cost_nano_usd BIGINT NOT NULL,
    bill          TEXT NOT NULL,
    imported_at   {{timestamp}} NOT NULL,
    PRIMARY KEY (channel, day_start)
);
