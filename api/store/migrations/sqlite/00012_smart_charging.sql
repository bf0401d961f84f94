-- 2.0.1 smart charging kept for real: the limits stations report, the
-- charging needs and schedules of their EVs. Keep in step with ../postgres.

-- +goose Up
-- NotifyChargingLimit: the external limit of one source on the station
-- (evse_id 0) or one EVSE, until ClearedChargingLimit.
CREATE TABLE charging_limits (
    station_id    TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id       INTEGER NOT NULL,
    source        TEXT NOT NULL,
    grid_critical BOOLEAN NULL,
    -- The chargingSchedule array as the station sent it, '[]' when none.
    schedules     TEXT NOT NULL,
    reported_at   DATETIME NOT NULL,
    PRIMARY KEY (station_id, evse_id, source)
);

-- NotifyEVChargingNeeds, the latest per EVSE, and what the CSMS did with it.
CREATE TABLE ev_charging_needs (
    station_id          TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id             INTEGER NOT NULL,
    -- The chargingNeeds object as the station sent it.
    needs               TEXT NOT NULL,
    max_schedule_tuples INTEGER NULL,
    received_at         DATETIME NOT NULL,
    -- pending until planned; then the SetChargingProfile's answer or why none was sent.
    plan_status         TEXT NOT NULL DEFAULT 'pending',
    plan_detail         TEXT NOT NULL DEFAULT '',
    plan_profile_id     INTEGER NULL,
    plan_command_id     TEXT NOT NULL DEFAULT '',
    planned_at          DATETIME NULL,
    PRIMARY KEY (station_id, evse_id)
);

-- NotifyEVChargingSchedule, the latest per EVSE.
CREATE TABLE ev_charging_schedules (
    station_id  TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id     INTEGER NOT NULL,
    time_base   DATETIME NOT NULL,
    -- The chargingSchedule object as the station sent it.
    schedule    TEXT NOT NULL,
    received_at DATETIME NOT NULL,
    PRIMARY KEY (station_id, evse_id)
);

-- +goose Down
DROP TABLE ev_charging_schedules;
DROP TABLE ev_charging_needs;
DROP TABLE charging_limits;
