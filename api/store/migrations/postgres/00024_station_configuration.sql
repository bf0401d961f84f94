-- The OCPP 1.6 configuration keys each station last reported
-- (GetConfiguration) or accepted (ChangeConfiguration), kept by
-- api/ocpp/v16. Keep in step with ../sqlite.

-- +goose Up
CREATE TABLE station_configuration (
    station_id      TEXT COLLATE "C" NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    -- The key in lower case: 1.6 keys are CiString, so HeartbeatInterval
    -- and heartbeatinterval are one key.
    key_fold        TEXT COLLATE "C" NOT NULL,
    -- The key as the station (or the ChangeConfiguration) spelt it.
    key             TEXT NOT NULL,
    -- NULL: the station sent no value. A secret's value is never kept
    -- (api/redact's marker stands in for it).
    value           TEXT NULL,
    readonly        BOOLEAN NOT NULL,
    -- ChangeConfiguration answered RebootRequired: value is what the
    -- station takes once it restarts.
    awaiting_reboot BOOLEAN NOT NULL DEFAULT FALSE,
    reported_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, key_fold)
);

-- +goose Down
DROP TABLE station_configuration;
