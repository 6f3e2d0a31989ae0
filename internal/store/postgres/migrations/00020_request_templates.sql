-- +goose Up
-- Request templates: a named HTTP request (method, URL, auth, headers,
-- query, body, timeout; request is its JSON) that http actions reference
-- by id and override in part. version counts its edits. tenant_id is
-- empty for the vendor's own templates.
CREATE TABLE request_templates (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    request    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX request_templates_name ON request_templates (tenant_id, name);

-- +goose Down
DROP TABLE request_templates;
