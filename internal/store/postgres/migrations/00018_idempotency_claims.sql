-- +goose Up
-- An Idempotency-Key is claimed in the database before its request runs,
-- so that every instance sharing the database sees the claim: a row with
-- status 0 (no response yet), the random token of the request holding it,
-- and when the claim ends unless its request extends it (a process that
-- died holding a claim frees the key then). A finished response keeps its
-- token and a zero claimed_until.
ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN claimed_until TIMESTAMPTZ NOT NULL DEFAULT '0001-01-01 00:00:00+00';

-- +goose Down
-- A binary before this migration would replay a claim as a stored response
-- with status 0.
DELETE FROM idempotency_keys WHERE status = 0;
ALTER TABLE idempotency_keys DROP COLUMN claimed_until;
ALTER TABLE idempotency_keys DROP COLUMN claim_token;
