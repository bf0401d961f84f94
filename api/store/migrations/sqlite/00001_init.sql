-- Users, stations with their connection registry, connectors and gateway
-- leases. Keep in step with ../postgres (same versions, same meaning).
-- DATETIME (not TIMESTAMPTZ) because the driver only parses DATE, DATETIME
-- and TIMESTAMP columns back into time values; the store writes every time
-- in UTC with a fixed format, so text comparison orders them correctly.

-- +goose Up
CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
-- The store lower-cases emails before writing, so a plain unique index
-- enforces case-insensitive uniqueness.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE stations (
    id                       TEXT NOT NULL PRIMARY KEY,
    name                     TEXT NOT NULL DEFAULT '',
    password_hash            TEXT NOT NULL DEFAULT '',
    vendor                   TEXT NOT NULL DEFAULT '',
    model                    TEXT NOT NULL DEFAULT '',
    serial_number            TEXT NOT NULL DEFAULT '',
    charge_box_serial_number TEXT NOT NULL DEFAULT '',
    firmware_version         TEXT NOT NULL DEFAULT '',
    iccid                    TEXT NOT NULL DEFAULT '',
    imsi                     TEXT NOT NULL DEFAULT '',
    meter_type               TEXT NOT NULL DEFAULT '',
    meter_serial_number      TEXT NOT NULL DEFAULT '',
    registration_status      TEXT NOT NULL DEFAULT '',
    last_boot                DATETIME NULL,
    ocpp_version             TEXT NOT NULL DEFAULT '',
    status                   TEXT NOT NULL DEFAULT 'Unavailable',
    status_reported_at       DATETIME NULL,
    connected                BOOLEAN NOT NULL DEFAULT FALSE,
    connection_id            TEXT NOT NULL DEFAULT '',
    gateway_id               TEXT NOT NULL DEFAULT '',
    last_seen                DATETIME NULL,
    created_at               DATETIME NOT NULL,
    updated_at               DATETIME NOT NULL
);
-- Lease expiry looks stations up by gateway; most rows of an idle fleet
-- have none.
CREATE INDEX stations_gateway_id_idx ON stations (gateway_id) WHERE gateway_id <> '';

CREATE TABLE connectors (
    station_id        TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id           INTEGER NOT NULL,
    connector_id      INTEGER NOT NULL,
    status            TEXT NOT NULL DEFAULT '',
    error_code        TEXT NOT NULL DEFAULT '',
    info              TEXT NOT NULL DEFAULT '',
    vendor_id         TEXT NOT NULL DEFAULT '',
    vendor_error_code TEXT NOT NULL DEFAULT '',
    reported_at       DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    PRIMARY KEY (station_id, evse_id, connector_id)
);

CREATE TABLE gateways (
    id               TEXT NOT NULL PRIMARY KEY,
    lease_expires_at DATETIME NOT NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE INDEX gateways_lease_expires_at_idx ON gateways (lease_expires_at);

-- +goose Down
DROP TABLE gateways;
DROP TABLE connectors;
DROP TABLE stations;
DROP TABLE users;
