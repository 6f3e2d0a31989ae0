-- +goose Up
CREATE TABLE field_groups (
    id          TEXT PRIMARY KEY,
    key         TEXT COLLATE "C" NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE global_fields (
    id         TEXT PRIMARY KEY,
    key        TEXT COLLATE "C" NOT NULL,
    label      TEXT NOT NULL,
    schema     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE global_field_groups (
    global_field_id TEXT NOT NULL REFERENCES global_fields (id) ON DELETE CASCADE,
    field_group_id  TEXT NOT NULL REFERENCES field_groups (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    position        INTEGER NOT NULL,
    PRIMARY KEY (global_field_id, field_group_id),
    UNIQUE (field_group_id, key)
);

CREATE TABLE tenant_fields (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    field_group_id TEXT NOT NULL REFERENCES field_groups (id) ON DELETE CASCADE,
    key            TEXT COLLATE "C" NOT NULL,
    label          TEXT NOT NULL,
    schema         TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, field_group_id, key)
);
CREATE INDEX tenant_fields_group_key ON tenant_fields (field_group_id, key);

CREATE TABLE entities (
    tenant_id      TEXT NOT NULL,
    field_group_id TEXT NOT NULL REFERENCES field_groups (id) ON DELETE CASCADE,
    entity_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, field_group_id, entity_id)
);

CREATE TABLE field_values (
    tenant_id      TEXT NOT NULL,
    field_group_id TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    field_key      TEXT NOT NULL,
    value          TEXT NOT NULL,
    value_text     TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, field_group_id, entity_id, field_key),
    FOREIGN KEY (tenant_id, field_group_id, entity_id)
        REFERENCES entities (tenant_id, field_group_id, entity_id) ON DELETE CASCADE
);
CREATE INDEX field_values_lookup ON field_values (field_group_id, field_key, value_text);
CREATE INDEX field_values_tenant_lookup ON field_values (tenant_id, field_group_id, field_key, value_text);

CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    payload     TEXT NOT NULL,
    dedup_key   TEXT
);
CREATE UNIQUE INDEX events_dedup ON events (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_tenant ON events (tenant_id, seq);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
DROP TABLE events;
DROP TABLE field_values;
DROP TABLE entities;
DROP TABLE tenant_fields;
DROP TABLE global_field_groups;
DROP TABLE global_fields;
DROP TABLE field_groups;
