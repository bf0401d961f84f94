-- Station onboarding (api/onboarding): the operator's decision about a
-- station (Accepted, Pending, Rejected) and whether it is blocked. Keep in
-- step with ../sqlite (same versions, same meaning).

-- +goose Up
ALTER TABLE stations ADD COLUMN onboarding TEXT NOT NULL DEFAULT 'Accepted';
ALTER TABLE stations ADD COLUMN blocked BOOLEAN NOT NULL DEFAULT FALSE;
-- Operators list pending stations; the admission counts them.
CREATE INDEX stations_onboarding_idx ON stations (onboarding) WHERE onboarding <> 'Accepted';

-- +goose Down
DROP INDEX stations_onboarding_idx;
ALTER TABLE stations DROP COLUMN blocked;
ALTER TABLE stations DROP COLUMN onboarding;
