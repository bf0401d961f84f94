-- API keys for tools and integrations. The secret is shown once and only
-- its SHA-256 is kept (it is 256 random bits: a slow hash adds nothing).
-- A revoked key stays listed, for the audit trail.

-- +goose Up
CREATE TABLE api_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NULL,
    revoked_at   DATETIME NULL,
    last_used_at DATETIME NULL
);

-- +goose Down
DROP TABLE api_keys;
