-- Tariffs on stations and EVSEs, and the final cost of a transaction.
-- Keep in step with ../postgres.

-- +goose Up
-- evse_id 0: the station's tariff, for EVSEs (1.6: connectors) without their own.
CREATE TABLE tariffs (
    station_id  TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id     INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    per_kwh     REAL NOT NULL DEFAULT 0,
    per_minute  REAL NOT NULL DEFAULT 0,
    per_session REAL NOT NULL DEFAULT 0,
    updated_at  DATETIME NOT NULL,
    PRIMARY KEY (station_id, evse_id)
);
-- The cost by the tariff that applied, once the transaction ended.
ALTER TABLE transactions ADD COLUMN cost REAL NULL;
ALTER TABLE transactions ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE transactions DROP COLUMN cost_currency;
ALTER TABLE transactions DROP COLUMN cost;
DROP TABLE tariffs;
