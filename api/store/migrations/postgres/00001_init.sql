-- Users, stations with their connection registry, connectors and gateway
-- leases. Ids use the "C" collation so that keyset paging orders them
-- byte-wise, exactly as SQLite does.

-- +goose Up
CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- The store lower-cases emails before writing, so a plain unique index
-- enforces case-insensitive uniqueness.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE stations (
    id                       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
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
    last_boot                TIMESTAMPTZ NULL,
    ocpp_version             TEXT NOT NULL DEFAULT '',
    status                   TEXT NOT NULL DEFAULT 'Unavailable',
    status_reported_at       TIMESTAMPTZ NULL,
    connected                BOOLEAN NOT NULL DEFAULT FALSE,
    connection_id            TEXT NOT NULL DEFAULT '',
    gateway_id               TEXT NOT NULL DEFAULT '',
    last_seen                TIMESTAMPTZ NULL,
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL
);
-- Lease expiry looks stations up by gateway; most rows of an idle fleet
-- have none.
CREATE INDEX stations_gateway_id_idx ON stations (gateway_id) WHERE gateway_id <> '';

CREATE TABLE connectors (
    station_id        TEXT COLLATE "C" NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id           INTEGER NOT NULL,
    connector_id      INTEGER NOT NULL,
    status            TEXT NOT NULL DEFAULT '',
    error_code        TEXT NOT NULL DEFAULT '',
    info              TEXT NOT NULL DEFAULT '',
    vendor_id         TEXT NOT NULL DEFAULT '',
    vendor_error_code TEXT NOT NULL DEFAULT '',
    reported_at       TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, evse_id, connector_id)
);

CREATE TABLE gateways (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lease_expires_at TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX gateways_lease_expires_at_idx ON gateways (lease_expires_at);

-- +goose Down
DROP TABLE gateways;
DROP TABLE connectors;
DROP TABLE stations;
DROP TABLE users;
