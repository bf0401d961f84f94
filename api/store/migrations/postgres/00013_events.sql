-- The event log: every live event (api/event), kept for the resumption
-- window (EVENT_RETENTION) so that a subscriber resumes after the last id
-- it saw on any core instance. seq is the event id; inserts are serialized
-- (an advisory lock in store.AppendEvents) so that ids are in commit order.

-- +goose Up
CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    type       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    station_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    payload    TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_created_at ON events (created_at);

-- +goose Down
DROP TABLE events;
