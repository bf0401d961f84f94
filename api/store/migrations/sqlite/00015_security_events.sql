-- Security events: the stations' SecurityEventNotifications (both OCPP
-- versions) and the CSMS's own (refused admissions, rejected CSRs,
-- certificates about to expire). Kept in step with ../postgres.
--
-- No foreign key to stations: an auditor still wants a deleted station's
-- events, and refused admissions of unknown ids are kept under
-- station_id '' (the claimed id is in tech_info). Each station_id keeps
-- its newest rows (store.SecurityEventHistory), trimmed on its own and
-- never with the raw message log.

-- +goose Up
CREATE TABLE security_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id   TEXT NOT NULL,
    -- 'station' (SecurityEventNotification) or 'csms' (raised by the core).
    source       TEXT NOT NULL,
    type         TEXT NOT NULL,
    occurred_at  DATETIME NOT NULL,
    tech_info    TEXT NOT NULL DEFAULT '',
    remote_addr  TEXT NOT NULL DEFAULT '',
    cert_subject TEXT NOT NULL DEFAULT '',
    cert_issuer  TEXT NOT NULL DEFAULT '',
    -- A retried notification (same station, type and timestamp) is stored
    -- once; the CSMS's own events leave it empty.
    dedup_key    TEXT NOT NULL DEFAULT '',
    received_at  DATETIME NOT NULL
);
CREATE INDEX security_events_station_idx ON security_events (station_id, id);
CREATE INDEX security_events_occurred_idx ON security_events (occurred_at);
CREATE UNIQUE INDEX security_events_once ON security_events (station_id, dedup_key) WHERE dedup_key <> '';

-- +goose Down
DROP TABLE security_events;
