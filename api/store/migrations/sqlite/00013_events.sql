-- The event log: every live event (api/event), kept for the resumption
-- window (EVENT_RETENTION) so that a subscriber resumes after the last id
-- it saw on any core instance. seq is the event id.

-- +goose Up
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    at         DATETIME NOT NULL,
    station_id TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL
);
CREATE INDEX events_created_at ON events (created_at);

-- +goose Down
DROP TABLE events;
