-- Operator commands (core→charger CALLs) with their outcomes, and the
-- bounded log of raw OCPP messages per station. Keep in step with
-- ../postgres (same versions, same meaning).

-- +goose Up
CREATE TABLE commands (
    -- Orders the history (newest first) and pages it.
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The OCPP message id of the CALL.
    id                TEXT NOT NULL UNIQUE,
    station_id        TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    ocpp_version      TEXT NOT NULL,
    action            TEXT NOT NULL,
    payload           TEXT NOT NULL,
    requested_by      TEXT NOT NULL DEFAULT '',
    -- The core instance whose caller waits; its reply queue gets the answer.
    core_id           TEXT NOT NULL,
    connection_id     TEXT NOT NULL DEFAULT '',
    -- pending, answered, charger_error, timeout, not_connected, failed
    status            TEXT NOT NULL,
    response          TEXT NULL,
    error_code        TEXT NOT NULL DEFAULT '',
    error_description TEXT NOT NULL DEFAULT '',
    created_at        DATETIME NOT NULL,
    -- When the caller gives up; the sweeper fails pending commands past it.
    expires_at        DATETIME NOT NULL,
    finished_at       DATETIME NULL
);
CREATE INDEX commands_station_seq ON commands (station_id, seq);
CREATE INDEX commands_pending ON commands (expires_at) WHERE status = 'pending';

CREATE TABLE station_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id    TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    at            DATETIME NOT NULL,
    -- "in": charger → CSMS, "out": CSMS → charger.
    direction     TEXT NOT NULL,
    -- CALL, CALLRESULT or CALLERROR
    message_type  TEXT NOT NULL,
    message_id    TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    connection_id TEXT NOT NULL DEFAULT '',
    frame         TEXT NOT NULL
);
CREATE INDEX station_messages_station_id ON station_messages (station_id, id);

-- +goose Down
DROP TABLE station_messages;
DROP TABLE commands;
