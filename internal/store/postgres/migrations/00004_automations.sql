-- +goose Up
CREATE TABLE automations (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    active       BOOLEAN NOT NULL,
    activated_at TIMESTAMPTZ NOT NULL,
    definition   TEXT NOT NULL,
    secret       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX automations_tenant ON automations (tenant_id);

CREATE TABLE runs (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    automation_id   TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    trigger         TEXT NOT NULL,
    cause           TEXT NOT NULL,
    state           TEXT NOT NULL,
    step            INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    leased_until    TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT NOT NULL,
    steps           TEXT NOT NULL,
    error           TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX runs_due ON runs (next_attempt_at) WHERE state = 'pending';
CREATE INDEX runs_automation ON runs (automation_id, seq);
CREATE INDEX runs_event ON runs (event_id);

CREATE TABLE run_steps (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx              INTEGER NOT NULL,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    state            TEXT NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    duration_ms      BIGINT NOT NULL,
    request          TEXT NOT NULL,
    response_status  INTEGER NOT NULL,
    response_headers TEXT NOT NULL,
    response_body    TEXT NOT NULL,
    error            TEXT NOT NULL,
    notes            TEXT NOT NULL
);
CREATE INDEX run_steps_run ON run_steps (run_id, seq);

CREATE TABLE automation_timers (
    automation_id  TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL,
    field_group_id TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    field_key      TEXT NOT NULL,
    due_at         TIMESTAMPTZ NOT NULL,
    event_id       TEXT NOT NULL,
    value          TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (automation_id, tenant_id, field_group_id, entity_id, field_key)
);
CREATE INDEX automation_timers_due ON automation_timers (due_at);

-- +goose Down
DROP TABLE automation_timers;
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE automations;
