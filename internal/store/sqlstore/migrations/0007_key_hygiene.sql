-- Key hygiene: a key's secret can be rotated with a grace window (the
-- replaced secret and SigV4 pair are kept, and accepted, until
-- previous_until), keys and tenants carry IP allow-lists (JSON lists of
-- CIDR prefixes), and a key records when it was last used (written at
-- most about once a minute per key).

ALTER TABLE api_keys ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN last_used_at {{timestamp}};
ALTER TABLE api_keys ADD COLUMN rotated_at {{timestamp}};
ALTER TABLE api_keys ADD COLUMN previous_hash {{bytes}};
ALTER TABLE api_keys ADD COLUMN previous_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN previous_aws_access_key_id TEXT;
ALTER TABLE api_keys ADD COLUMN previous_aws_secret_sealed {{bytes}};
ALTER TABLE api_keys ADD COLUMN previous_until {{timestamp}};

-- A secret in its grace window is looked up like a current one.
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_previous_hash_idx ON api_keys (previous_hash);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_previous_akid_idx ON api_keys (previous_aws_access_key_id);

ALTER TABLE tenants ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '[]';
