-- The display messages each 2.0.1 station holds, as the CSMS knows them,
-- and the criteria of the GetDisplayMessages requests whose report is
-- awaited. Keep in step with ../postgres.

-- +goose Up
CREATE TABLE display_messages (
    station_id     TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    message_id     INTEGER NOT NULL,
    priority       TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT '',
    start_at       DATETIME NULL,
    end_at         DATETIME NULL,
    transaction_id TEXT NOT NULL DEFAULT '',
    -- The MessageInfo as sent or reported (JSON).
    info           TEXT NOT NULL,
    -- set: accepted from SetDisplayMessage; reported: in NotifyDisplayMessages.
    source         TEXT NOT NULL,
    updated_at     DATETIME NOT NULL,
    PRIMARY KEY (station_id, message_id)
);

CREATE TABLE display_message_queries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    request_id INTEGER NOT NULL,
    -- The request's ids, priority and state (JSON).
    criteria   TEXT NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX display_message_queries_request ON display_message_queries (station_id, request_id);

-- +goose Down
DROP TABLE display_message_queries;
DROP TABLE display_messages;
