-- +goose Up
-- shared marks a global, non-secret variable that tenant-scoped automations
-- may read (as vars.<name>); no other global variable reaches them.
ALTER TABLE variables ADD COLUMN shared BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE variables DROP COLUMN shared;
