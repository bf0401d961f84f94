-- Webhooks (api/webhook): each is a subscription to the events table with
-- its own delivery state, so that delivery resumes where it stood after a
-- core restart. event_cursor is the last event id done with; attempts and
-- next_attempt_at are the retries of the event after it. One core instance
-- delivers a webhook at a time: it holds the lease (lease_owner until
-- lease_until) and every state change is fenced on it. The secret is kept
-- sealed (AES-GCM under a key derived from AUTH_SECRET), never in clear.

-- +goose Up
CREATE TABLE webhooks (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL,
    -- Comma-separated event types; empty: every type.
    event_types     TEXT NOT NULL DEFAULT '',
    sealed_secret   TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    event_cursor    BIGINT NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NULL,
    last_success_at TIMESTAMPTZ NULL,
    last_error_at   TIMESTAMPTZ NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    failing_since   TIMESTAMPTZ NULL,
    expired         BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     TIMESTAMPTZ NULL
);

-- The delivery log: one row per attempt (or per run of events given up),
-- trimmed after EVENT_RETENTION.
CREATE TABLE webhook_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    webhook_id  TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    BIGINT NOT NULL,
    event_type  TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
