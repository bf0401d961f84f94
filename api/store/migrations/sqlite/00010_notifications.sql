-- 2.0.1 notifications kept for real: monitoring, events, display messages,
-- customer information, firmware publishing and data transfers. Keep in
-- step with ../postgres (same versions, same meaning).

-- +goose Up
-- report_parts / reports now hold every tbc/seqNo-split notification, not
-- only NotifyReport: kind is the notification's action.
CREATE TABLE report_parts_new (
    station_id   TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL DEFAULT 'NotifyReport',
    request_id   INTEGER NOT NULL,
    seq_no       INTEGER NOT NULL,
    tbc          BOOLEAN NOT NULL,
    generated_at DATETIME NOT NULL,
    -- The part's entries (JSON array), '[]' when it had none.
    report_data  TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    PRIMARY KEY (station_id, kind, request_id, seq_no)
);
INSERT INTO report_parts_new (station_id, request_id, seq_no, tbc, generated_at, report_data, created_at)
    SELECT station_id, request_id, seq_no, tbc, generated_at, report_data, created_at FROM report_parts;
DROP TABLE report_parts;
ALTER TABLE report_parts_new RENAME TO report_parts;
CREATE TABLE reports_new (
    station_id   TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL DEFAULT 'NotifyReport',
    request_id   INTEGER NOT NULL,
    parts        INTEGER NOT NULL,
    generated_at DATETIME NOT NULL,
    completed_at DATETIME NOT NULL,
    PRIMARY KEY (station_id, kind, request_id)
);
INSERT INTO reports_new (station_id, request_id, parts, generated_at, completed_at)
    SELECT station_id, request_id, parts, generated_at, completed_at FROM reports;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;
CREATE INDEX reports_latest_idx ON reports (station_id, kind, completed_at);

-- The variable monitors a station has (NotifyMonitoringReport, accepted
-- SetVariableMonitoring): the monitoring part of its device model.
CREATE TABLE variable_monitors (
    station_id         TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    monitor_id         INTEGER NOT NULL,
    component_name     TEXT NOT NULL,
    component_instance TEXT NOT NULL DEFAULT '',
    evse_id            INTEGER NULL,
    connector_id       INTEGER NULL,
    variable_name      TEXT NOT NULL,
    variable_instance  TEXT NOT NULL DEFAULT '',
    type               TEXT NOT NULL,
    value              REAL NOT NULL,
    severity           INTEGER NOT NULL,
    per_transaction    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at         DATETIME NOT NULL,
    PRIMARY KEY (station_id, monitor_id)
);

-- NotifyEvent entries, one row per eventData. severity is the monitor's,
-- when the CSMS knows the monitor; alert says it reached the alert level.
CREATE TABLE station_events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id         TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    event_id           INTEGER NOT NULL,
    occurred_at        DATETIME NOT NULL,
    event_trigger      TEXT NOT NULL,
    cause              INTEGER NULL,
    actual_value       TEXT NOT NULL,
    tech_code          TEXT NOT NULL DEFAULT '',
    tech_info          TEXT NOT NULL DEFAULT '',
    cleared            BOOLEAN NOT NULL DEFAULT FALSE,
    transaction_id     TEXT NOT NULL DEFAULT '',
    monitor_id         INTEGER NULL,
    notification_type  TEXT NOT NULL,
    component_name     TEXT NOT NULL,
    component_instance TEXT NOT NULL DEFAULT '',
    evse_id            INTEGER NULL,
    connector_id       INTEGER NULL,
    variable_name      TEXT NOT NULL,
    variable_instance  TEXT NOT NULL DEFAULT '',
    severity           INTEGER NULL,
    alert              BOOLEAN NOT NULL DEFAULT FALSE,
    received_at        DATETIME NOT NULL
);
-- A retried NotifyEvent stores nothing twice.
CREATE UNIQUE INDEX station_events_once ON station_events (station_id, event_id, occurred_at);
CREATE INDEX station_events_station_idx ON station_events (station_id, id);

-- DataTransfer messages stations sent, with the answer they got.
CREATE TABLE data_transfers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id   TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    ocpp_version TEXT NOT NULL,
    vendor_id    TEXT NOT NULL,
    message_id   TEXT NOT NULL DEFAULT '',
    -- The data as the station sent it (JSON), '' when absent.
    data         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    received_at  DATETIME NOT NULL
);
CREATE INDEX data_transfers_station_idx ON data_transfers (station_id, id);

-- PublishFirmwareStatusNotification's locations (JSON array) when Published.
ALTER TABLE station_status_reports ADD COLUMN locations TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE station_status_reports DROP COLUMN locations;
DROP TABLE data_transfers;
DROP TABLE station_events;
DROP TABLE variable_monitors;
CREATE TABLE report_parts_old (
    station_id   TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    request_id   INTEGER NOT NULL,
    seq_no       INTEGER NOT NULL,
    tbc          BOOLEAN NOT NULL,
    generated_at DATETIME NOT NULL,
    report_data  TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    PRIMARY KEY (station_id, request_id, seq_no)
);
INSERT INTO report_parts_old SELECT station_id, request_id, seq_no, tbc, generated_at, report_data, created_at
    FROM report_parts WHERE kind = 'NotifyReport';
DROP TABLE report_parts;
ALTER TABLE report_parts_old RENAME TO report_parts;
CREATE TABLE reports_old (
    station_id   TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    request_id   INTEGER NOT NULL,
    parts        INTEGER NOT NULL,
    generated_at DATETIME NOT NULL,
    completed_at DATETIME NOT NULL,
    PRIMARY KEY (station_id, request_id)
);
INSERT INTO reports_old SELECT station_id, request_id, parts, generated_at, completed_at
    FROM reports WHERE kind = 'NotifyReport';
DROP TABLE reports;
ALTER TABLE reports_old RENAME TO reports;
CREATE INDEX reports_latest_idx ON reports (station_id, completed_at);
