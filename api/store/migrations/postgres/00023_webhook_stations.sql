-- The stations a webhook is limited to (api/webhook): their ids separated
-- by single spaces, which a station id cannot contain
-- (ocppj.ValidateIdentity); empty: every station. Keep in step with
-- ../sqlite.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN station_ids TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhooks DROP COLUMN station_ids;
