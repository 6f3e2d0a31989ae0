-- +goose Up
-- When an entity was first saved, for the record automations send.
-- Entities saved before this migration take their last save's time.
ALTER TABLE entities ADD COLUMN created_at TIMESTAMPTZ;
UPDATE entities SET created_at = updated_at;
ALTER TABLE entities ALTER COLUMN created_at SET NOT NULL;

-- +goose Down
ALTER TABLE entities DROP COLUMN created_at;
