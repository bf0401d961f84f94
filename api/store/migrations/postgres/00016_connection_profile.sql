-- The security profile the station's current connection proved when it
-- was admitted (api/admission.Strength): raising the station's profile
-- closes the connection only when it proved less. Connections admitted
-- before this column count as 0, so a raise closes them, as it used to.
-- Keep in step with the other dialect (same version, same meaning).

-- +goose Up
ALTER TABLE stations ADD COLUMN connection_profile INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE stations DROP COLUMN connection_profile;
