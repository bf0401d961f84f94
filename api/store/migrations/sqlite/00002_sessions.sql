-- Charging sessions: id tokens, transactions (both OCPP versions), the
-- 2.0.1 transaction events that deduplicate retries, and every sampled
-- meter value. Keep in step with ../postgres (same versions, same meaning).

-- +goose Up
CREATE TABLE id_tokens (
    id                      TEXT NOT NULL PRIMARY KEY,
    value                   TEXT NOT NULL,
    type                    TEXT NOT NULL,
    status                  TEXT NOT NULL,
    expires_at              DATETIME NULL,
    group_id                TEXT NULL,
    max_active_transactions INTEGER NULL,
    created_at              DATETIME NOT NULL,
    updated_at              DATETIME NOT NULL
);
-- OCPP id tokens are case-insensitive (1.6 CiString, 2.0.1 IdTokenType):
-- one token per value whatever its case.
CREATE UNIQUE INDEX id_tokens_value_key ON id_tokens (lower(value));

CREATE TABLE transactions (
    -- The 1.6 transactionId the core hands out; AUTOINCREMENT so that an
    -- id is never handed out twice, even after the newest row is deleted.
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id           TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    -- 2.0.1: the station's transactionId; 1.6: id in decimal.
    transaction_uid      TEXT NOT NULL,
    ocpp_version         TEXT NOT NULL,
    evse_id              INTEGER NOT NULL DEFAULT 0,
    connector_id         INTEGER NOT NULL DEFAULT 0,
    id_token             TEXT NOT NULL DEFAULT '',
    id_token_type        TEXT NOT NULL DEFAULT '',
    auth_status          TEXT NOT NULL DEFAULT '',
    stop_id_token        TEXT NOT NULL DEFAULT '',
    started_at           DATETIME NOT NULL,
    stopped_at           DATETIME NULL,
    meter_start_wh       REAL NULL,
    meter_stop_wh        REAL NULL,
    meter_start_reported BOOLEAN NOT NULL DEFAULT FALSE,
    meter_stop_reported  BOOLEAN NOT NULL DEFAULT FALSE,
    energy_wh            REAL NULL,
    status               TEXT NOT NULL,
    stop_reason          TEXT NOT NULL DEFAULT '',
    seq_no               INTEGER NOT NULL DEFAULT 0,
    started_seen         BOOLEAN NOT NULL DEFAULT FALSE,
    offline              BOOLEAN NOT NULL DEFAULT FALSE,
    -- 1.6 StartTransaction dedup key; NULL (never equal) for 2.0.1.
    start_key            TEXT NULL,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
CREATE UNIQUE INDEX transactions_station_uid_key ON transactions (station_id, transaction_uid);
CREATE UNIQUE INDEX transactions_start_key ON transactions (station_id, start_key);
CREATE INDEX transactions_active_token_idx ON transactions (lower(id_token)) WHERE status = 'Active';
CREATE INDEX transactions_station_status_idx ON transactions (station_id, status);
CREATE INDEX transactions_started_at_idx ON transactions (started_at);

CREATE TABLE transaction_events (
    station_id      TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    transaction_uid TEXT NOT NULL,
    seq_no          INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    trigger_reason  TEXT NOT NULL,
    occurred_at     DATETIME NOT NULL,
    offline         BOOLEAN NOT NULL DEFAULT FALSE,
    -- The idTokenInfo status answered, so that a retry is answered the same.
    id_token_status TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    PRIMARY KEY (station_id, transaction_uid, seq_no)
);

CREATE TABLE meter_values (
    id              INTEGER PRIMARY KEY,
    station_id      TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    transaction_uid TEXT NULL,
    evse_id         INTEGER NOT NULL DEFAULT 0,
    connector_id    INTEGER NOT NULL DEFAULT 0,
    sampled_at      DATETIME NOT NULL,
    value           TEXT NOT NULL,
    value_wh        REAL NULL,
    measurand       TEXT NOT NULL,
    phase           TEXT NOT NULL DEFAULT '',
    unit            TEXT NOT NULL DEFAULT '',
    multiplier      INTEGER NOT NULL DEFAULT 0,
    context         TEXT NOT NULL,
    location        TEXT NOT NULL,
    format          TEXT NOT NULL,
    created_at      DATETIME NOT NULL
);
-- One reading per (station, transaction, evse, connector, time, measurand,
-- phase, location, context): a retried message stores nothing twice.
CREATE UNIQUE INDEX meter_values_reading_key ON meter_values
    (station_id, COALESCE(transaction_uid, ''), evse_id, connector_id, sampled_at, measurand, phase, location, context);
CREATE INDEX meter_values_transaction_idx ON meter_values (station_id, transaction_uid, measurand, sampled_at)
    WHERE transaction_uid IS NOT NULL;

-- +goose Down
DROP TABLE meter_values;
DROP TABLE transaction_events;
DROP TABLE transactions;
DROP TABLE id_tokens;
