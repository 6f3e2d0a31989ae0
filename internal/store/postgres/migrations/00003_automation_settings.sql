-- +goose Up
CREATE TABLE variables (
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    secret     BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE oauth2_connections (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    token_url        TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    client_secret    TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    grant_type       TEXT NOT NULL,
    refresh_token    TEXT NOT NULL,
    access_token     TEXT NOT NULL,
    token_expires_at TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth2_connections_tenant ON oauth2_connections (tenant_id);

-- +goose Down
DROP TABLE oauth2_connections;
DROP TABLE variables;
