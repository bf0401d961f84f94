-- The size of each report part's data, so that the bytes one report keeps
-- (api/report bounds them) are summed without reading the data. Keep in
-- step with ../sqlite.

-- +goose Up
ALTER TABLE report_parts ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE report_parts SET bytes = OCTET_LENGTH(report_data);

-- +goose Down
ALTER TABLE report_parts DROP COLUMN bytes;
