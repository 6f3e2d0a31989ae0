-- +goose Up
-- A dashboard login: the browser holds a random token in an HttpOnly
-- cookie; only the token's SHA-256 is kept, like an API key's. The session
-- acts as the key it was opened with, so deleting the key ends it.
CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
