-- +goose NO TRANSACTION
-- +goose Up
-- Pages freed by retention go back to the file system: incremental
-- auto-vacuum lets the pruner hand back a few pages at a time (PRAGMA
-- incremental_vacuum) instead of a VACUUM that would hold the database.
-- Switching a database that has tables needs one VACUUM, here, once.
PRAGMA auto_vacuum = INCREMENTAL;
VACUUM;

-- +goose Down
PRAGMA auto_vacuum = NONE;
VACUUM;
