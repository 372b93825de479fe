-- The stateful runtime: stored responses of the Responses API, the items
-- they were given and produced, and conversations with their items.
--
-- Items are JSON in the runtime's provider-neutral item shape (see
-- store.Item), never a vendor's. Rows are scoped by tenant through their
-- response or conversation. There are no foreign keys to tenants, as in the
-- usage ledger, and none between responses: an earlier response of a chain
-- may be deleted or expire while later ones remain.
--
-- The statements are IF NOT EXISTS so that replaying this migration over a
-- database whose schema_migrations table was lost or rebuilt is harmless.

CREATE TABLE IF NOT EXISTS responses (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    model                TEXT NOT NULL,
    status               TEXT NOT NULL,
    -- NULL when the response starts a chain or ran outside a conversation.
    previous_response_id TEXT,
    conversation_id      TEXT,
    metadata             TEXT NOT NULL,
    settings             TEXT NOT NULL,
    input_tokens         BIGINT NOT NULL,
    cached_input_tokens  BIGINT NOT NULL,
    output_tokens        BIGINT NOT NULL,
    reasoning_tokens     BIGINT NOT NULL,
    error_code           TEXT NOT NULL,
    error_message        TEXT NOT NULL,
    incomplete_reason    TEXT NOT NULL,
    created_at           {{timestamp}} NOT NULL,
    completed_at         {{timestamp}},
    expires_at           {{timestamp}} NOT NULL
);

CREATE INDEX IF NOT EXISTS responses_expires_idx ON responses (expires_at);

-- Input items come first, in the order given, then output items.
CREATE TABLE IF NOT EXISTS response_items (
    response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    output      {{bool}} NOT NULL,
    id          TEXT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (response_id, position),
    UNIQUE (response_id, id)
);

-- next_position numbers the next appended item; appends take the row lock
-- by bumping it, so concurrent appends to one conversation never collide.
CREATE TABLE IF NOT EXISTS conversations (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    next_position BIGINT NOT NULL,
    created_at    {{timestamp}} NOT NULL
);

CREATE TABLE IF NOT EXISTS conversation_items (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position        BIGINT NOT NULL,
    id              TEXT NOT NULL,
    data            TEXT NOT NULL,
    created_at      {{timestamp}} NOT NULL,
    PRIMARY KEY (conversation_id, position),
    UNIQUE (conversation_id, id)
);
