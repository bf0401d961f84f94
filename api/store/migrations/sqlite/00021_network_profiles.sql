-- The 2.0.1 network connection profiles stations accepted (SetNetworkProfile),
-- one per configuration slot. Keep in step with ../postgres.

-- +goose Up
CREATE TABLE network_profiles (
    station_id       TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    slot             INTEGER NOT NULL,
    security_profile INTEGER NOT NULL,
    csms_url         TEXT NOT NULL,
    -- connectionData as sent, its VPN and APN passwords replaced.
    connection_data  TEXT NOT NULL,
    requested_by     TEXT NOT NULL DEFAULT '',
    command_id       TEXT NOT NULL DEFAULT '',
    accepted_at      DATETIME NOT NULL,
    PRIMARY KEY (station_id, slot)
);

-- +goose Down
DROP TABLE network_profiles;
