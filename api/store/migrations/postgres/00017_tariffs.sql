-- Tariffs on stations and EVSEs, and the final cost of a transaction.
-- Keep in step with ../sqlite.

-- +goose Up
-- evse_id 0: the station's tariff, for EVSEs (1.6: connectors) without their own.
CREATE TABLE tariffs (
    station_id  TEXT COLLATE "C" NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id     INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    per_kwh     DOUBLE PRECISION NOT NULL DEFAULT 0,
    per_minute  DOUBLE PRECISION NOT NULL DEFAULT 0,
    per_session DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, evse_id)
);
-- The cost by the tariff that applied, once the transaction ended.
ALTER TABLE transactions ADD COLUMN cost DOUBLE PRECISION NULL;
ALTER TABLE transactions ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE transactions DROP COLUMN cost_currency;
ALTER TABLE transactions DROP COLUMN cost;
DROP TABLE tariffs;
