-- Firmware/log status reports, reservations, the local authorization list
-- each station holds, and charging profiles. Keep in step with ../postgres
-- (same versions, same meaning).

-- +goose Up
-- Firmware, diagnostics and log upload statuses as stations report them;
-- the newest per (station, kind) is shown on the station, a few older ones
-- are kept as history.
CREATE TABLE station_status_reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id  TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    -- "firmware" or "log" (1.6 DiagnosticsStatusNotification counts as log).
    kind        TEXT NOT NULL,
    -- The notification's action, e.g. DiagnosticsStatusNotification.
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    request_id  INTEGER NULL,
    reported_at DATETIME NOT NULL
);
CREATE INDEX station_status_reports_station_kind ON station_status_reports (station_id, kind, id);

-- Reservations the CSMS asked for; the id is the OCPP reservationId.
CREATE TABLE reservations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id     TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    ocpp_version   TEXT NOT NULL,
    -- 1.6: connector_id (0 = any); 2.0.1: evse_id (NULL = any).
    evse_id        INTEGER NULL,
    connector_id   INTEGER NOT NULL DEFAULT 0,
    connector_type TEXT NOT NULL DEFAULT '',
    id_token       TEXT NOT NULL,
    id_token_type  TEXT NOT NULL DEFAULT '',
    group_id_token TEXT NOT NULL DEFAULT '',
    expires_at     DATETIME NOT NULL,
    -- Pending (sent, no answer yet), the charger's ReserveNow status,
    -- Failed (no answer), Cancelled, Expired, Removed.
    status         TEXT NOT NULL,
    error          TEXT NOT NULL DEFAULT '',
    requested_by   TEXT NOT NULL DEFAULT '',
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL
);
CREATE INDEX reservations_station_id ON reservations (station_id, id);

-- The local authorization list version each station last accepted.
CREATE TABLE local_list_versions (
    station_id   TEXT NOT NULL PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    -- Full or Differential: how that version was sent.
    update_type  TEXT NOT NULL,
    entries      INTEGER NOT NULL,
    updated_at   DATETIME NOT NULL
);

-- What each station's accepted list holds, so that a differential update
-- sends only what changed since.
CREATE TABLE local_list_entries (
    station_id    TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    -- lower-cased token value: tokens are case-insensitive.
    token_key     TEXT NOT NULL,
    id_token      TEXT NOT NULL,
    id_token_type TEXT NOT NULL,
    status        TEXT NOT NULL,
    expires_at    DATETIME NULL,
    group_id      TEXT NOT NULL DEFAULT '',
    group_type    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (station_id, token_key)
);

-- Charging profiles: source "set" are those a station accepted from
-- SetChargingProfile (what the CSMS believes it has installed), source
-- "reported" those it listed in ReportChargingProfiles.
CREATE TABLE charging_profiles (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id            TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    source                TEXT NOT NULL,
    ocpp_version          TEXT NOT NULL,
    profile_id            INTEGER NOT NULL,
    -- 1.6 connectorId, 2.0.1 evseId; 0 = the whole station.
    evse_id               INTEGER NOT NULL,
    purpose               TEXT NOT NULL,
    stack_level           INTEGER NOT NULL,
    transaction_id        TEXT NOT NULL DEFAULT '',
    -- reported only: the GetChargingProfiles requestId and the limit source.
    request_id            INTEGER NOT NULL DEFAULT 0,
    charging_limit_source TEXT NOT NULL DEFAULT '',
    -- The profile's JSON in the station's OCPP version.
    profile               TEXT NOT NULL,
    requested_by          TEXT NOT NULL DEFAULT '',
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL
);
CREATE UNIQUE INDEX charging_profiles_set_key ON charging_profiles (station_id, profile_id) WHERE source = 'set';
CREATE UNIQUE INDEX charging_profiles_reported_key ON charging_profiles (station_id, request_id, evse_id, profile_id) WHERE source = 'reported';

-- +goose Down
DROP TABLE charging_profiles;
DROP TABLE local_list_entries;
DROP TABLE local_list_versions;
DROP TABLE reservations;
DROP TABLE station_status_reports;
