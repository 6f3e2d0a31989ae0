-- +goose Up
-- Retention: old history is pruned in small batches, so the columns it
-- selects on get indexes; settled rows only, since pending ones are never
-- pruned.
CREATE INDEX events_occurred ON events (occurred_at);
CREATE INDEX deliveries_settled ON deliveries (updated_at) WHERE state <> 'pending';
CREATE INDEX runs_settled ON runs (updated_at) WHERE state <> 'pending';
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX automation_timers_tenant ON automation_timers (tenant_id);

-- A deleted endpoint stays as a tombstone (gone from lists and fan-out)
-- until retention has taken its deliveries, so that an audit can still see
-- what was sent. Zero ("0001-01-01…") means not deleted.
ALTER TABLE webhook_endpoints ADD COLUMN deleted_at TEXT NOT NULL DEFAULT '0001-01-01T00:00:00.000000Z';

-- A tenant's own history retention, in days, where the vendor sells longer
-- (or shorter) history than the default.
CREATE TABLE tenant_retention (
    tenant_id  TEXT PRIMARY KEY,
    days       INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- An erasure of a tenant's data: a job that any restart resumes until it
-- is done.
CREATE TABLE tenant_erasures (
    tenant_id    TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    removed      BIGINT NOT NULL,
    event_id     TEXT NOT NULL
);
CREATE INDEX tenant_erasures_pending ON tenant_erasures (requested_at) WHERE state = 'pending';

-- +goose Down
DROP TABLE tenant_erasures;
DROP TABLE tenant_retention;
ALTER TABLE webhook_endpoints DROP COLUMN deleted_at;
DROP INDEX automation_timers_tenant;
DROP INDEX idempotency_keys_created;
DROP INDEX runs_settled;
DROP INDEX deliveries_settled;
DROP INDEX events_occurred;
