-- +goose Up
-- meta holds facts about the database itself, such as the master key check
-- value that lets a start with the wrong master key be refused.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE meta;
