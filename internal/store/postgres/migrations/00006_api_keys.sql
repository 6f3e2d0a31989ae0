-- +goose Up
-- Keys get a label, an expiry, a revocation and a last use, so they can be
-- listed and revoked from the API. Zero times ("0001-01-01…") mean "none",
-- as everywhere in this schema.
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ NOT NULL DEFAULT '0001-01-01 00:00:00+00';
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ NOT NULL DEFAULT '0001-01-01 00:00:00+00';
ALTER TABLE api_keys ADD COLUMN revoked_at TIMESTAMPTZ NOT NULL DEFAULT '0001-01-01 00:00:00+00';
CREATE INDEX api_keys_created ON api_keys (created_at, id);

-- +goose Down
DROP INDEX api_keys_created;
ALTER TABLE api_keys DROP COLUMN revoked_at;
ALTER TABLE api_keys DROP COLUMN last_used_at;
ALTER TABLE api_keys DROP COLUMN expires_at;
ALTER TABLE api_keys DROP COLUMN prefix;
ALTER TABLE api_keys DROP COLUMN name;
