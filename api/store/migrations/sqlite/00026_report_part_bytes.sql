-- The size of each report part's data, so that the bytes one report keeps
-- (api/report bounds them) are summed without reading the data. Keep in
-- step with ../postgres.

-- +goose Up
ALTER TABLE report_parts ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
UPDATE report_parts SET bytes = LENGTH(CAST(report_data AS BLOB));

-- +goose Down
ALTER TABLE report_parts DROP COLUMN bytes;
