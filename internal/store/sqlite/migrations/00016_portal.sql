-- +goose Up
-- The tenant portal. A vendor's backend mints a link for one tenant; the
-- link's token is kept as its SHA-256 and can be redeemed once, before it
-- expires, for a portal session that ends when the link would have. Both
-- carry the tenant, the sections the portal shows (features, a JSON array)
-- and the vendor's theme (a JSON object).
CREATE TABLE portal_links (
    hash       TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    features   TEXT NOT NULL,
    theme      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX portal_links_expires_at ON portal_links (expires_at);

CREATE TABLE portal_sessions (
    hash       TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    features   TEXT NOT NULL,
    theme      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX portal_sessions_expires_at ON portal_sessions (expires_at);

-- +goose Down
DROP TABLE portal_sessions;
DROP TABLE portal_links;
