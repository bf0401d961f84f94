-- The audit trail: every call that changes something (or that was refused
-- for its role), written in the same transaction as the change it records.
-- Listed newest first by seq, filtered by actor, station and time.

-- +goose Up
CREATE TABLE audit_records (
    seq         BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    addr        TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    station_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
    request     TEXT NOT NULL DEFAULT '{}',
    outcome     TEXT NOT NULL,
    code        TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_records_actor ON audit_records (actor, seq);
CREATE INDEX audit_records_station ON audit_records (station_id, seq) WHERE station_id <> '';
CREATE INDEX audit_records_at ON audit_records (at);

-- +goose Down
DROP TABLE audit_records;
