-- Each station's OCPP security profile (0 none, 1 Basic auth, 2 TLS +
-- Basic auth, 3 client certificate), checked at admission. Stations that
-- exist keep what they had: 1 with a password, 0 without.
-- Keep in step with the other dialect (same version, same meaning).

-- +goose Up
ALTER TABLE stations ADD COLUMN security_profile INTEGER NOT NULL DEFAULT 0;
UPDATE stations SET security_profile = 1 WHERE password_hash <> '';

-- +goose Down
ALTER TABLE stations DROP COLUMN security_profile;
