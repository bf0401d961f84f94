-- Webhooks (api/webhook): each is a subscription to the events table with
-- its own delivery state. Kept in step with ../postgres, which explains
-- the columns.

-- +goose Up
CREATE TABLE webhooks (
    id              TEXT NOT NULL PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL,
    event_types     TEXT NOT NULL DEFAULT '',
    sealed_secret   TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    event_cursor    INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NULL,
    last_success_at DATETIME NULL,
    last_error_at   DATETIME NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    failing_since   DATETIME NULL,
    expired         INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     DATETIME NULL
);

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    event_type  TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL,
    at          DATETIME NOT NULL,
    outcome     TEXT NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
